"""The peer's input pipeline on a JPEG folder: torchvision `ImageFolder` + lightly `SimCLRTransform` +
`DataLoader(num_workers=2)`, timed in one process. Runs in the peer's virtualenv (README.md beside this
file) and prints one JSON line: `images_per_s` (source images, 2 views each).

    benchmarks/.venvs/lightly/bin/python benchmarks/peer/lightly_imagefolder.py --folder DIR --size 224 \
        [--batch-size 64] [--batches 20] [--warmup 3] [--workers 2]

`SimCLRTransform(input_size=size)` with lightly's defaults, SimCLR's ImageNet views: random resized crop
(scale 0.08-1), flip, colour jitter (strength 1.0, probability 0.8), grayscale 0.2, Gaussian blur 0.5,
then to a normalized tensor; ImageFolder decodes each JPEG whole with Pillow before cropping.
"""

import argparse
import json
import time

import torch

# PyPI's torchvision wheel does not load its C++ ops against the CPU torch; its Python side registers fake
# kernels for these two ops at import, which fails unless their schemas exist (see lightly_simclr.py).
for _op in ("torchvision::nms", "torchvision::qnms"):
    try:
        torch.library.define(_op, "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    except RuntimeError:
        pass

import torchvision  # noqa: E402
from lightly.transforms import SimCLRTransform  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", required=True)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the main process only collates; the workers decode and augment
    dataset = torchvision.datasets.ImageFolder(args.folder, transform=SimCLRTransform(input_size=args.size))
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, shuffle=True, num_workers=args.workers, drop_last=True,
        persistent_workers=False,
    )  # fmt: skip

    def forever():
        while True:  # a new epoch (and its worker processes) when one ends, as in training
            yield from loader

    batches = forever()
    for _ in range(args.warmup):
        next(batches)
    start = time.perf_counter()
    for _ in range(args.batches):
        views, _ = next(batches)
        assert len(views) == 2 and views[0].shape[-1] == args.size
    seconds = time.perf_counter() - start
    print(json.dumps({"images_per_s": args.batches * args.batch_size / seconds, "seconds": seconds}))


if __name__ == "__main__":
    main()

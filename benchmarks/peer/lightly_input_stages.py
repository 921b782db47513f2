"""The peer's 224 px input pipeline stage by stage (`profile_input.py` runs it): torchvision + lightly's
`SimCLRTransform` in a `DataLoader(num_workers=2)`, batches of 64, each stage adding one step to the one
before. Runs in the peer's virtualenv; prints one JSON line: `images_per_s` (source images, 2 views each).

    benchmarks/.venvs/lightly/bin/python benchmarks/peer/lightly_input_stages.py --listing FILE \
        --stage {read,decode,crop,jitter,grayscale,blur,full} [--size 224] [--batches 10] [--warmup 2]

Stages: `read` the file's bytes; `decode` the whole JPEG with Pillow (what `ImageFolder` does); `crop`
two random resized crops (scale 0.08-1) with flips, to float tensors; `jitter` + colour jitter (strength 1,
p 0.8); `grayscale` + grayscale (p 0.2); `blur` + Gaussian blur (p 0.5); `full` + normalisation: lightly's
`SimCLRTransform` with its defaults, the pipeline `lightly_imagefolder.py` times.
"""

import argparse
import json
import time

import torch

# PyPI's torchvision wheel does not load its C++ ops against the CPU torch (see lightly_simclr.py).
for _op in ("torchvision::nms", "torchvision::qnms"):
    try:
        torch.library.define(_op, "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    except RuntimeError:
        pass

from lightly.transforms import SimCLRTransform  # noqa: E402
from PIL import Image  # noqa: E402

STAGES = ("read", "decode", "crop", "jitter", "grayscale", "blur", "full")


def transform(stage, size):
    """`SimCLRTransform` with the steps after `stage` turned off (probability 0, no normalisation)."""
    step = STAGES.index(stage)
    return SimCLRTransform(
        input_size=size,
        cj_prob=0.8 if step >= STAGES.index("jitter") else 0.0,
        random_gray_scale=0.2 if step >= STAGES.index("grayscale") else 0.0,
        gaussian_blur=0.5 if step >= STAGES.index("blur") else 0.0,
        normalize={"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]} if stage == "full" else None,
    )


class Files(torch.utils.data.Dataset):
    def __init__(self, paths, stage, size):
        self.paths, self.stage = paths, stage
        self.views = transform(stage, size) if STAGES.index(stage) >= STAGES.index("crop") else None

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        path = self.paths[index]
        if self.stage == "read":
            with open(path, "rb") as f:
                return torch.tensor(len(f.read()))
        with open(path, "rb") as f:
            image = Image.open(f).convert("RGB")  # as torchvision's ImageFolder loads it
        if self.stage == "decode":
            return torch.tensor(image.size[0])
        return self.views(image)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listing", required=True, help="a text file of image paths, one a line")
    parser.add_argument("--stage", choices=STAGES, required=True)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the main process only collates; the workers decode and augment
    with open(args.listing, encoding="utf-8") as f:
        paths = [line.rstrip("\n") for line in f if line.strip()]
    loader = torch.utils.data.DataLoader(
        Files(paths, args.stage, args.size), batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
        drop_last=True, persistent_workers=False,
    )  # fmt: skip
    batches = iter(loader)
    for _ in range(args.warmup):
        next(batches)
    start = time.perf_counter()
    for _ in range(args.batches):
        next(batches)
    seconds = time.perf_counter() - start
    print(json.dumps({"images_per_s": args.batches * args.batch_size / seconds, "seconds": seconds}))


if __name__ == "__main__":
    main()

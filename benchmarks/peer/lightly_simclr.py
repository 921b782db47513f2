"""The peer: the same SimCLR step in PyTorch + lightly, timed in one process.

ResNet-18 with the small-image stem (3x3 stride-1 conv, no max-pool),
32x32x3 inputs, batch B x 2 views, lightly's `SimCLRProjectionHead(512, 512,
128)` and `NTXentLoss(temperature=0.5)`, SGD (lr 0.06, momentum 0.9): the
model of `benchmarks/bench_throughput.py`. Runs in its own virtualenv (see
README.md beside this file) and prints one JSON line.

    /work/venvs/peer/bin/python benchmarks/peer/lightly_simclr.py --data IMAGES.npy \
        --mode compute|e2e|imports [--layout nchw|channels_last] [--precision float32|bfloat16] [--workers 0] \
        [--steps 4] [--warmup 2]

`compute`: the step on two pre-made float views held in memory. `e2e`: the
step fed by a `DataLoader` over the uint8 images of `--data` (`[N, 32, 32,
3]`), each image turned into two views by lightly's `SimCLRTransform` with
SimCLR's CIFAR-10 settings (colour jitter strength 0.5, no blur), as ours.
`--precision bfloat16`: PyTorch's CPU mixed precision, the forward pass and
the loss under `torch.autocast("cpu", dtype=torch.bfloat16)` (float32
weights and optimizer; autocast runs convolutions and matmuls in bfloat16),
the counterpart of ours under Keras's `mixed_bfloat16`. `imports`: only the
peak RSS once torch, torchvision and lightly are imported (no `--data`).
"""

import argparse
import json
import resource
import time

import torch

# PyPI's torchvision wheel is a CUDA build whose C++ ops do not load against
# the CPU torch; its Python side registers fake kernels for these two ops at
# import, which fails unless their schemas exist. Nothing here calls them.
# The schemas are torchvision's own (csrc/ops/nms.cpp, quantized qnms).
for _op in ("torchvision::nms", "torchvision::qnms"):
    try:
        torch.library.define(_op, "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    except RuntimeError:  # already defined (a torchvision whose ops did load)
        pass

import numpy as np  # noqa: E402
import torchvision  # noqa: E402
from lightly.loss import NTXentLoss  # noqa: E402
from lightly.models.modules import SimCLRProjectionHead  # noqa: E402
from lightly.transforms import SimCLRTransform  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402


class SimCLRNet(nn.Module):
    def __init__(self):
        super().__init__()
        resnet = torchvision.models.resnet18()
        # Small-image stem (SimCLR appendix B.9): 3x3 stride 1, no max-pool.
        resnet.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        resnet.maxpool = nn.Identity()
        resnet.fc = nn.Identity()
        self.backbone = resnet
        self.projection_head = SimCLRProjectionHead(512, 512, 128)

    def forward(self, x):
        return self.projection_head(self.backbone(x))


class TwoViews(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images
        self.transform = SimCLRTransform(input_size=32, cj_strength=0.5, gaussian_blur=0.0)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.transform(Image.fromarray(self.images[index]))


def _cycle(loader):
    while True:
        yield from loader


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="uint8 .npy [N, 32, 32, 3] (compute, e2e)")
    parser.add_argument("--mode", choices=("compute", "e2e", "imports"), required=True)
    parser.add_argument("--layout", choices=("nchw", "channels_last"), default="nchw")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (e2e)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.mode == "imports":
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(json.dumps({"self_peak_rss_mib": peak, "mode": args.mode, "torch": torch.__version__}), flush=True)
        return
    if args.data is None:
        parser.error("--data is required for compute and e2e")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fmt = torch.channels_last if args.layout == "channels_last" else torch.contiguous_format
    images = np.load(args.data)

    model = SimCLRNet().to(memory_format=fmt)
    criterion = NTXentLoss(temperature=0.5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.06, momentum=0.9)
    model.train()

    if args.mode == "compute":
        generator = torch.Generator().manual_seed(0)
        shape = (args.batch_size, 3, 32, 32)
        fixed = [torch.rand(shape, generator=generator).contiguous(memory_format=fmt) for _ in range(2)]
        batches = iter(lambda: fixed, None)
    else:
        loader = torch.utils.data.DataLoader(
            TwoViews(images),
            batch_size=args.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=args.workers,
            persistent_workers=args.workers > 0,
            generator=torch.Generator().manual_seed(0),
        )
        batches = (views for views in _cycle(loader))

    def step():
        x0, x1 = next(batches)
        x0, x1 = x0.contiguous(memory_format=fmt), x1.contiguous(memory_format=fmt)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bfloat16"):
            z0, z1 = model(x0), model(x1)
            loss = criterion(z0, z1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    losses = [step() for _ in range(args.steps)]
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "images_per_s": args.steps * args.batch_size / seconds,
                "step_seconds": seconds / args.steps,
                "loss": losses[-1],
                "self_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                "mode": args.mode,
                "layout": args.layout,
                "precision": args.precision,
                "workers": args.workers,
                "threads": torch.get_num_threads(),
                "torch": torch.__version__,
                "torchvision": torchvision.__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

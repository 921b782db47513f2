"""The peer: the same SimCLR step in PyTorch + lightly, timed in one process.

ResNet-18 with the small-image stem (3x3 stride-1 conv, no max-pool),
32x32x3 inputs, batch B x 2 views, lightly's `SimCLRProjectionHead(512, 512,
128)` and `NTXentLoss(temperature=0.5)`, SGD (lr 0.06, momentum 0.9): the
model of `benchmarks/bench_throughput.py`. Runs in its own virtualenv (see
README.md beside this file) and prints one JSON line.

    benchmarks/.venvs/lightly/bin/python benchmarks/peer/lightly_simclr.py --data IMAGES.npy \
        --mode compute|e2e|profile|imports [--layout nchw|channels_last] [--precision float32|bfloat16] [--workers 0] \
        [--steps 4] [--warmup 2]

`compute`: the step on two pre-made float views held in memory. `e2e`: the
step fed by a `DataLoader` over the uint8 images of `--data` (`[N, 32, 32,
3]`), each image turned into two views by lightly's `SimCLRTransform` with
SimCLR's CIFAR-10 settings (colour jitter strength 0.5, no blur), as ours.
`--precision bfloat16`: PyTorch's CPU mixed precision, the forward pass and
the loss under `torch.autocast("cpu", dtype=torch.bfloat16)` (float32
weights and optimizer; autocast runs convolutions and matmuls in bfloat16),
the counterpart of ours under Keras's `mixed_bfloat16`. `profile`: `compute`,
then as many steps again under `torch.profiler`; the JSON line adds `ops`,
each op's self time per step with its region and autograd node
(`profile_regions`; `../profile_step.py` reads it). `imports`: only the peak
RSS once torch, torchvision and lightly are imported (no `--data`).
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
        # Named regions for `--mode profile` (`profile_regions`); free when no profiler runs.
        with torch.profiler.record_function("backbone"):
            features = self.backbone(x)
        with torch.profiler.record_function("head"):
            return self.projection_head(features)


class TwoViews(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images
        self.transform = SimCLRTransform(input_size=32, cj_strength=0.5, gaussian_blur=0.0)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.transform(Image.fromarray(self.images[index]))


REGIONS = ("backbone", "head", "loss")


def profile_regions(events):
    """`{(region, node, op): [self_us, calls]}` of a `torch.profiler` event list (`prof.events()`).

    `op` is the ATen op (or the profiler's own name of a region), counted by its self time so nothing is
    counted twice; `region` is `backbone`, `head` or `loss` (the named regions of the forward pass; an op of
    the backward pass belongs to the region of the forward op whose autograd node it runs, matched by
    sequence number), `optimizer` (inside `Optimizer.step` / `zero_grad`) or `other`; `node` is that
    autograd node's name (e.g. `ConvolutionBackward0`) for backward ops, else `""`.
    """

    def enclosing(event, test):
        while event is not None and not test(event):
            event = event.cpu_parent
        return event

    def forward_region(event):
        found = enclosing(event, lambda e: e.name in REGIONS or e.name.startswith("Optimizer."))
        if found is None:
            return None
        return "optimizer" if found.name.startswith("Optimizer.") else found.name

    region_of_sequence = {}
    for event in events:
        if event.sequence_nr >= 0 and not event.name.startswith("autograd::"):
            region = forward_region(event)
            if region in REGIONS:
                region_of_sequence.setdefault(event.sequence_nr, region)
    table = {}
    for event in events:
        node = enclosing(event, lambda e: e.name.startswith("autograd::engine::evaluate_function: "))
        if node is not None:
            region = region_of_sequence.get(node.sequence_nr, "other")
            node_name = node.name.split(": ", 1)[1]
        else:
            region, node_name = forward_region(event) or "other", ""
        entry = table.setdefault((region, node_name, event.name), [0.0, 0])
        entry[0] += event.self_cpu_time_total
        entry[1] += 1
    return table


def _cycle(loader):
    while True:
        yield from loader


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="uint8 .npy [N, 32, 32, 3] (compute, e2e)")
    parser.add_argument("--mode", choices=("compute", "e2e", "imports", "profile"), required=True)
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
        parser.error("--data is required for compute, e2e and profile")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fmt = torch.channels_last if args.layout == "channels_last" else torch.contiguous_format
    images = np.load(args.data)

    model = SimCLRNet().to(memory_format=fmt)
    criterion = NTXentLoss(temperature=0.5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.06, momentum=0.9)
    model.train()

    if args.mode in ("compute", "profile"):
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
            with torch.profiler.record_function("loss"):
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
    profile = {}
    if args.mode == "profile":
        # The timed steps above ran without the profiler; these are profiled, and their op times divided by
        # their number are each op's time per step.
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            start_profiled = time.perf_counter()
            for _ in range(args.steps):
                step()
            profiled = time.perf_counter() - start_profiled
        ops = [
            {"region": r, "node": n, "op": o, "ms_per_step": t / 1e3 / args.steps, "calls_per_step": c / args.steps}
            for (r, n, o), (t, c) in profile_regions(prof.events()).items()
        ]
        profile = {"profiled_step_seconds": profiled / args.steps, "ops": sorted(ops, key=lambda e: -e["ms_per_step"])}
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
                **profile,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

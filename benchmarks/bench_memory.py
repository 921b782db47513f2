"""Where the peak memory goes: ours against PyTorch + lightly, the SimCLR step of `run_peer_comparison.py`.

Every measurement is a fresh subprocess of `benchmarks/peer/keras_simclr.py`
(ours) or `benchmarks/peer/lightly_simclr.py` (the peer, in its virtualenv),
whose peak RSS is read from `wait4`, as in `run_peer_comparison.py`:

- `imports`: the process once the framework and the training stack are
  imported (TensorFlow, Keras, keras-contrastive; torch, torchvision,
  lightly), before any model exists.
- `compute` at each of `--batch-sizes`: the train step (`--warmup` + `--steps`
  steps) on a batch held in memory.

A least-squares line through the batch sizes splits each side's peak into a
per-image part (the slope: activations kept for the backward pass and the
step's temporaries, per source image, i.e. per 2 views) and a fixed part
(the intercept: the imports plus weights, gradients, optimizer state and the
runtime's caches). The JSON (`--out`) reports both parts for both sides and,
at the largest batch size, how the gap between the two peaks divides between
the imports, the rest of the fixed part and the per-image part.

    python benchmarks/bench_memory.py [--batch-sizes 64 128 256] [--ours-precision mixed_bfloat16] \
        [--peer-layout channels_last] [--peer-precision bfloat16] [--lock runs/BENCH_RUNNING] --out FILE
"""

import argparse
import sys

import numpy as np
from _results import check_peer_python, command_line, peer_python, write_result  # noqa: E402 (benchmarks/ is on sys.path)
from run_peer_comparison import OURS, THEIRS, Lock, random_images_file, run_measurement  # noqa: E402


def fit_line(xs, ys):
    """(slope, intercept) of the least-squares line through the points."""
    slope, intercept = np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)
    return float(slope), float(intercept)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--steps", type=int, default=1, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--ours-precision", choices=("float32", "mixed_bfloat16"), default="mixed_bfloat16")
    parser.add_argument("--peer-layout", choices=("nchw", "channels_last"), default="channels_last")
    parser.add_argument("--peer-precision", choices=("float32", "bfloat16"), default="bfloat16")
    parser.add_argument(
        "--peer-python", default=peer_python(), help="the lightly virtualenv's Python (benchmarks/peer/make_venvs.sh)"
    )
    parser.add_argument("--lock", help="benchmark lock file, held while measuring")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    check_peer_python(args.peer_python)
    sizes = sorted(set(args.batch_sizes))
    if len(sizes) < 2 or sizes[0] < 2:
        parser.error(f"--batch-sizes needs at least two different sizes >= 2 to fit a line; received {sizes}")
    data = random_images_file(max(sizes), "bench_memory_")
    step_flags = ["--data", data, "--steps", str(args.steps), "--warmup", str(args.warmup)]
    sides = {
        "ours": ([sys.executable, OURS], ["--precision", args.ours_precision]),
        "peer": (
            [args.peer_python, THEIRS],
            ["--layout", args.peer_layout, "--precision", args.peer_precision],
        ),
    }
    lock = Lock(args.lock)
    lock.acquire()
    measured = {}
    try:
        for side, (program, flags) in sides.items():
            _, peak = run_measurement([*program, "--mode", "imports"])
            measured[side] = {"imports_rss_mib": round(peak, 1), "peak_rss_mib_by_batch": {}}
            print(f"{side}: imports {peak:.0f} MiB", flush=True)
            for size in sizes:
                command = [*program, "--mode", "compute", *flags, *step_flags, "--batch-size", str(size)]
                _, peak = run_measurement(command)
                measured[side]["peak_rss_mib_by_batch"][str(size)] = round(peak, 1)
                print(f"{side}: batch {size:5d} peak {peak:.0f} MiB", flush=True)
    finally:
        lock.release()

    for side in measured:
        peaks = measured[side]["peak_rss_mib_by_batch"]
        slope, intercept = fit_line(sizes, [peaks[str(s)] for s in sizes])
        measured[side].update(
            {
                "mib_per_image": round(slope, 3),
                "fixed_mib": round(intercept, 1),
                "fixed_above_imports_mib": round(intercept - measured[side]["imports_rss_mib"], 1),
            }
        )
    ours, peer = measured["ours"], measured["peer"]
    largest = sizes[-1]
    gap = ours["peak_rss_mib_by_batch"][str(largest)] - peer["peak_rss_mib_by_batch"][str(largest)]
    result = {
        "batch_sizes": sizes,
        "ours": ours,
        "peer": peer,
        "ours_config": f"ours {args.ours_precision}",
        "peer_config": f"peer {args.peer_layout} {args.peer_precision}",
        "at_batch": largest,
        "peak_gap_mib": round(gap, 1),
        "gap_from_imports_mib": round(ours["imports_rss_mib"] - peer["imports_rss_mib"], 1),
        "gap_from_rest_of_fixed_mib": round(ours["fixed_above_imports_mib"] - peer["fixed_above_imports_mib"], 1),
        "gap_from_per_image_mib": round((ours["mib_per_image"] - peer["mib_per_image"]) * largest, 1),
        "ratio_mib_per_image": round(ours["mib_per_image"] / peer["mib_per_image"], 3),
        "images_are": "source images; each gives 2 augmented views through the encoder",
        "steps": args.steps,
        "warmup": args.warmup,
        "command": command_line(argv),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()

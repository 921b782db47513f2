"""XLA (`jit_compile=True`) against TensorFlow's default graph execution, on this machine: the SimCLR training
step of `run_peer_comparison.py` and the encoder's inference.

Each measurement is a fresh process of `peer/keras_simclr.py`: `--mode compute` (the training step on a batch
held in memory, `compile(jit_compile=...)`) and `--mode infer` (the ResNet-18 encoder in inference mode on
`--infer-batch` images per call, as `predict` and an export's serving function, in a
`tf.function(jit_compile=...)`), under each precision of `--precisions`, XLA and not alternating within each
round (the order reversed every other round). Writes the medians over rounds and `xla_over_default` (XLA's
images/s over the default's, the median of the rounds' own ratios).

    python benchmarks/bench_xla.py [--rounds 2] [--steps 3] [--warmup 1] [--precisions float32 mixed_bfloat16] \
        [--infer-batch 512] --out FILE
"""

import argparse
import statistics
import sys

from _results import command_line, write_result  # noqa: E402 (benchmarks/ is on sys.path)
from run_peer_comparison import OURS, paired_median, random_images_file, run_measurement  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256, help="training batch (source images)")
    parser.add_argument("--infer-batch", type=int, default=512)
    parser.add_argument(
        "--precisions", nargs="+", default=["float32", "mixed_bfloat16"], choices=("float32", "mixed_bfloat16")
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    data = random_images_file(max(args.batch_size, args.infer_batch), "bench_xla_")
    common = ["--data", data, "--steps", str(args.steps), "--warmup", str(args.warmup)]
    plan = []  # (task, precision, xla)
    for precision in args.precisions:
        for task in ("train", "infer"):
            plan += [(task, precision, False), (task, precision, True)]
    rates = {key: [] for key in plan}
    for r in range(args.rounds):
        for task, precision, xla in plan if r % 2 == 0 else plan[::-1]:
            mode, batch = ("compute", args.batch_size) if task == "train" else ("infer", args.infer_batch)
            command = [sys.executable, OURS, "--mode", mode, "--precision", precision, "--batch-size", str(batch)]
            result, _ = run_measurement(command + common + (["--jit-compile"] if xla else []))
            rates[task, precision, xla].append(result["images_per_s"])
            print(f"round {r + 1}: {task} {precision} xla={xla}: {result['images_per_s']:.1f} images/s", flush=True)
    results = {}
    for task, precision, xla in plan:
        if xla:
            default, compiled = rates[task, precision, False], rates[task, precision, True]
            results[f"{task} {precision}"] = {
                "default_images_per_s": round(statistics.median(default), 2),
                "xla_images_per_s": round(statistics.median(compiled), 2),
                "xla_over_default": round(paired_median(compiled, default), 3),
                "rounds_default": [round(x, 2) for x in default],
                "rounds_xla": [round(x, 2) for x in compiled],
            }
    write_result(
        {
            "results": results,
            "images_are": "train: source images (2 views each) per second; infer: images per second",
            "batch_size": args.batch_size,
            "infer_batch": args.infer_batch,
            "steps": args.steps,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "command": command_line(argv),
        },
        args.out,
    )


if __name__ == "__main__":
    main()

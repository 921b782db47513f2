"""Times README command 1 as a user runs it: `keras-contrastive train recipes/quickstart.yaml --output DIR`,
in a fresh process, from its start to its exit (the install excluded), and records what it measured.

    python benchmarks/bench_quickstart.py [--rounds 3] [--out FILE]
    python benchmarks/bench_quickstart.py --onednn-isa avx2 --out FILE   # a proxy, see below
    python benchmarks/bench_quickstart.py --onednn-off --out FILE        # the same proxy of TensorFlow's default

JSON keys: `printed` (what the last round printed), `wall_seconds` (median over the rounds) and
`rounds_wall_seconds`, the run's `train_seconds`,
`linear_probe_top1`, `raw_pixel_top1`, `random_init_top1`, `knn_top1`, the precision the recipe's `auto`
chose, `bar_seconds` (120 on a CPU with AVX-512, 180 without: issue #19) and `margin_over_raw_points`
(the linear probe minus raw pixels, in points; the bar is 2), plus the machine (CPU model, class, flags).

`--onednn-isa avx2` caps oneDNN's kernels at AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`) and runs float32, what
`precision: auto` picks without native bfloat16. It estimates, on an AVX-512 machine, how the quick-start
fares on an AVX2-only CPU; it is not a measurement of one (clock, cores and caches differ), and its JSON
says so (`proxy`).

`--onednn-off` runs TensorFlow with its oneDNN kernels off (`TF_ENABLE_ONEDNN_OPTS=0`) and float32: TensorFlow's
own default on a Linux CPU without AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX (every AVX2-only CPU), which
`import keras_contrastive` now overrides there (`hardware.configure_onednn`). Beside `--onednn-isa avx2` it
estimates what that override is worth on such a CPU; neither flag is for users.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from _results import command_line, write_result

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "quickstart.yaml")
KEYS = ("linear_probe_top1", "raw_pixel_top1", "random_init_top1", "knn_top1", "train_seconds", "epochs")


def run_once(run_dir, env, overrides):
    """One fresh `keras-contrastive train` of the quick-start: `(wall seconds, metrics, printed summary)`."""
    shutil.rmtree(run_dir, ignore_errors=True)
    executable = shutil.which("keras-contrastive")
    command = [executable] if executable else [sys.executable, "-m", "keras_contrastive.cli"]
    command += ["train", RECIPE, "--output", run_dir, *[f"--set={o}" for o in overrides]]
    start = time.perf_counter()
    process = subprocess.run(command, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {process.returncode}:\n{process.stderr[-3000:]}")
    with open(os.path.join(run_dir, "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    return wall, metrics, process.stdout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="fresh runs to time (default 1)")
    parser.add_argument("--run-dir", default=os.path.join("runs", "bench-quickstart"))
    parser.add_argument("--onednn-isa", choices=["avx2"], help="cap oneDNN at this ISA (an estimate, see above)")
    parser.add_argument("--onednn-off", action="store_true", help="TensorFlow's default on AVX2 CPUs (see above)")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="recipe override")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "bench_quickstart.json"))
    args = parser.parse_args(argv)

    env = dict(os.environ)
    overrides = list(args.set)
    if args.onednn_isa:
        env["ONEDNN_MAX_CPU_ISA"] = args.onednn_isa.upper()
        overrides.append("train.precision=float32")
    if args.onednn_off:
        env["TF_ENABLE_ONEDNN_OPTS"] = "0"
        overrides.append("train.precision=float32")
    walls, results = [], []
    for i in range(args.rounds):
        wall, metrics, printed = run_once(args.run_dir, env, overrides)
        walls.append(wall)
        results.append(metrics)
        summary = [line for line in printed.splitlines() if line.startswith("linear probe")]
        print(f"round {i + 1}: {wall:.1f} s wall, {metrics['train_seconds']} s training | {summary[-1:]}", flush=True)
    import yaml

    with open(os.path.join(args.run_dir, "recipe.yaml"), encoding="utf-8") as f:
        recipe = yaml.safe_load(f)
    from keras_contrastive.hardware import cpu_info
    from keras_contrastive.precision import resolve_precision

    cpu = cpu_info()
    proxy_flags = ["avx2"] if args.onednn_isa or args.onednn_off else cpu["flags"]
    precision = resolve_precision(recipe["train"]["precision"], proxy_flags)
    last = results[-1]
    result = {
        "wall_seconds": round(statistics.median(walls), 1),
        "rounds_wall_seconds": [round(w, 1) for w in walls],
        **{key: last.get(key) for key in KEYS},
        "rounds_linear_probe_top1": [r["linear_probe_top1"] for r in results],
        "rounds_train_seconds": [r["train_seconds"] for r in results],
        "margin_over_raw_points": round(100 * (last["linear_probe_top1"] - last["raw_pixel_top1"]), 2),
        "margin_over_random_init_points": round(100 * (last["linear_probe_top1"] - last["random_init_top1"]), 2),
        "precision": precision,
        "bar_seconds": 180 if args.onednn_isa or args.onednn_off or "avx512f" not in cpu["flags"] else 120,
        "proxy": (
            "oneDNN capped at AVX2 on an AVX-512 machine (ONEDNN_MAX_CPU_ISA=AVX2), float32: an estimate of an "
            "AVX2-only CPU, not a measurement of one"
            if args.onednn_isa
            else "TensorFlow's oneDNN kernels off (TF_ENABLE_ONEDNN_OPTS=0), float32: TensorFlow's default on an "
            "AVX2-only CPU, estimated on an AVX-512 machine"
            if args.onednn_off
            else None
        ),
        # What the last round printed (the Keras progress bar's lines end in carriage returns: its last state).
        "printed": [line.split("\r")[-1] for line in printed.splitlines() if line.strip()],
        "recipe": recipe,
        "overrides": overrides,
        "command": command_line(argv),
    }
    result["meets_bar"] = result["wall_seconds"] <= result["bar_seconds"] and result["margin_over_raw_points"] >= 2
    write_result(result, args.out)


if __name__ == "__main__":
    main()

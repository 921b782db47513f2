"""Time of the linear-probe fit (`evaluation.linear_probe`) with one BLAS thread against BLAS's default,
each in a fresh process, alternating, on the raw pixels of the shipped Fashion-MNIST subset (11,000 x 784).

    python benchmarks/bench_linear_probe.py [--rounds 3] [--out FILE]

JSON: `seconds[threads]` (median), `rounds_seconds`, `iterations[threads]` (every round's L-BFGS
iterations: one thread gives the same count every time), the top-1 of each, and the machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from _results import command_line, write_result

CHILD = r"""
import json, sys, time
from keras_contrastive.data.fashion_mnist import load_fashion_mnist_subset
from keras_contrastive.evaluation import linear_probe
(x_train, y_train), (x_test, y_test) = load_fashion_mnist_subset()
flat = lambda x: x.reshape(len(x), -1).astype("float32") / 255.0
threads = None if sys.argv[1] == "default" else int(sys.argv[1])
start = time.perf_counter()
result = linear_probe(flat(x_train), y_train, flat(x_test), y_test, blas_threads=threads)
print(json.dumps({"seconds": time.perf_counter() - start, "iterations": result["iterations"], "top1": result["top1"]}))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "bench_linear_probe.json"))
    args = parser.parse_args(argv)
    samples = {"1": [], "default": []}
    for round_ in range(args.rounds):
        for threads in ("1", "default") if round_ % 2 == 0 else ("default", "1"):
            out = subprocess.run([sys.executable, "-c", CHILD, threads], capture_output=True, text=True, check=True)
            sample = json.loads(out.stdout.strip().splitlines()[-1])
            samples[threads].append(sample)
            print(f"round {round_ + 1}, BLAS threads {threads}: {sample}", flush=True)
    result = {
        "seconds": {k: round(statistics.median(s["seconds"] for s in v), 2) for k, v in samples.items()},
        "rounds_seconds": {k: [round(s["seconds"], 2) for s in v] for k, v in samples.items()},
        "iterations": {k: [s["iterations"] for s in v] for k, v in samples.items()},
        "top1": {k: [s["top1"] for s in v] for k, v in samples.items()},
        "data": "raw pixels of fashion_mnist_subset, 11,000 x 784 train, 2,000 test",
        "command": command_line(argv),
    }
    result["speedup_one_thread"] = round(result["seconds"]["default"] / result["seconds"]["1"], 2)
    write_result(result, args.out)


if __name__ == "__main__":
    main()

"""Training-step time of the Fashion-MNIST `ConvNet` (the quick-start's SimCLR encoder): Keras's own
BatchNormalization against `FusedBatchNormalization` (one fused oneDNN op), in float32 and bfloat16 mixed
precision, each configuration in a fresh process.

    python benchmarks/bench_convnet_step.py [--widths 16 32] [--steps 20] [--rounds 2] [--out FILE]

JSON: `ms_per_step[width][precision][bn]` (median of the rounds), `fused_speedup[width][precision]`, the
batch, the steps and the machine. A step is one SimCLR `fit` step on 2 x `--batch` augmented 28 x 28 views,
fed by the real `tf.data` pipeline.
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
import keras
from keras import layers
from keras_contrastive.augment import SimCLRAugmentation
from keras_contrastive.backbones import conv_net
from keras_contrastive.data import load_data, pretrain_dataset
from keras_contrastive.models import SimCLR

width, precision, bn, batch, steps = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
if bn == "keras":  # the encoder as it was built before it used FusedBatchNormalization
    conv_net.FusedBatchNormalization = layers.BatchNormalization
keras.config.set_dtype_policy(precision)
splits = load_data("fashion_mnist_subset")
views = [SimCLRAugmentation((28, 28), crop_scale=(0.25, 1.0), jitter_strength=0.5, seed=s) for s in (1, 2)]
dataset = pretrain_dataset(splits.x_train, views, batch, shuffle=True, seed=0, repeat=True)
model = SimCLR(conv_net.ConvNet((28, 28, 1), width=width), projection_dim=128, projection_hidden_dim=512)
model.compile(optimizer=keras.optimizers.AdamW(2e-3))
model.fit(dataset, epochs=1, steps_per_epoch=3, verbose=0)  # tracing and warm-up
start = time.perf_counter()
model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
print(json.dumps({"ms_per_step": 1000 * (time.perf_counter() - start) / steps}))
"""


def measure(width, precision, bn, batch, steps):
    process = subprocess.run(
        [sys.executable, "-c", CHILD, str(width), precision, bn, str(batch), str(steps)],
        capture_output=True,
        text=True,
    )
    if process.returncode != 0:
        raise SystemExit(f"width {width} {precision} {bn}: exited with {process.returncode}\n{process.stderr[-2000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])["ms_per_step"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--precisions", nargs="+", default=["float32", "mixed_bfloat16"])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "bench_convnet_step.json"))
    args = parser.parse_args(argv)
    samples = {}
    for round_ in range(args.rounds):  # rounds alternate every configuration: drift hits all alike
        for width in args.widths:
            for precision in args.precisions:
                for bn in ("keras", "fused"):
                    ms = measure(width, precision, bn, args.batch, args.steps)
                    samples.setdefault((width, precision, bn), []).append(ms)
                    print(f"round {round_ + 1}: width {width} {precision} {bn} BN: {ms:.0f} ms/step", flush=True)
    ms_per_step, speedup = {}, {}
    for (width, precision, bn), values in samples.items():
        ms_per_step.setdefault(str(width), {}).setdefault(precision, {})[bn] = round(statistics.median(values), 1)
    for width, by_precision in ms_per_step.items():
        for precision, by_bn in by_precision.items():
            speedup.setdefault(width, {})[precision] = round(by_bn["keras"] / by_bn["fused"], 2)
    result = {
        "ms_per_step": ms_per_step,
        "fused_speedup": speedup,
        "rounds_ms_per_step": {f"{w} {p} {b}": [round(v, 1) for v in vs] for (w, p, b), vs in samples.items()},
        "batch": args.batch,
        "views_per_step": 2 * args.batch,
        "timed_steps": args.steps,
        "rounds": args.rounds,
        "command": command_line(argv),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()

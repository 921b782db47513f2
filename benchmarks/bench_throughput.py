"""SimCLR training throughput on this machine: ResNet-18 (small-image stem),
32x32x3 images, batch 256 x 2 views, SGD.

Prints and writes (JSON, --out) `compute_images_per_s` (the train step on an
already augmented batch held in memory), `e2e_images_per_s` (the same step fed
by the real tf.data pipeline with the SimCLR augmentation), and
`augment_images_per_s` (the pipeline alone, in this process), all counted in
source images (each gives 2 views; `*_views_per_s` count views), medians
over rounds, plus `peak_rss_mib`, the largest peak RSS of the training
processes.

Each training measurement is a fresh process (`benchmarks/peer/keras_simclr.py`,
`--warmup` untimed steps, then `--steps` timed ones), compute only and end
to end alternating within each round (the order reversed every other round):
repeated `fit` calls in one long-lived process were once bimodal on this
machine (the same configuration at 22 and at 50 images/s within one run;
not reproduced since, cause unknown).
`e2e_over_compute_paired` is the median of the rounds' own ratios, free of
the machine's drift between rounds. `--precision mixed_bfloat16` builds the
model under Keras's bfloat16 mixed precision policy (`keras-contrastive
train --precision mixed_bfloat16`).

    python benchmarks/bench_throughput.py [--steps 5] [--warmup 2] [--rounds 3] \
        [--precision float32|mixed_bfloat16] [--out FILE]
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _results import command_line, write_result  # noqa: E402 (benchmarks/ is on sys.path)
from run_peer_comparison import OURS, paired_median, random_images_file, run_measurement  # noqa: E402

from keras_contrastive.augment import SimCLRAugmentation  # noqa: E402
from keras_contrastive.backbones import ResNet18  # noqa: E402
from keras_contrastive.data import pretrain_dataset  # noqa: E402
from keras_contrastive.models import SimCLR  # noqa: E402


def _views():
    # SimCLR's CIFAR-10 augmentation (appendix B.9): s = 0.5, no blur.
    return [SimCLRAugmentation((32, 32), jitter_strength=0.5, seed=i) for i in (1, 2)]


def _model(jit_compile=False):
    keras.utils.set_random_seed(0)
    model = SimCLR(ResNet18(input_shape=(32, 32, 3), small_images=True), projection_dim=128, temperature=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.06, momentum=0.9), jit_compile=jit_compile)
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before them (at least 1: tracing)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating compute-only / end-to-end rounds")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--precision", choices=("float32", "mixed_bfloat16"), default="float32")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "bench_throughput.json"))
    args = parser.parse_args(argv)
    batch = args.batch_size
    data = random_images_file(batch * 16, "bench_throughput_")
    images = np.load(data)

    # Augmentation only: the tf.data pipeline that feeds training.
    iterator = iter(pretrain_dataset(images, _views(), batch, repeat=True, seed=0))
    for _ in range(3):
        next(iterator)
    n = 60
    start = time.perf_counter()
    for _ in range(n):
        next(iterator)
    augment_rate = n * batch / (time.perf_counter() - start)
    del iterator
    print(f"augmentation only: {augment_rate:.0f} images/s ({2 * augment_rate:.0f} views/s)", flush=True)

    # Compute only (one augmented batch held in memory, repeated) and end to
    # end (fed by the augmentation pipeline), each in a fresh process.
    common = ["--data", data, "--precision", args.precision, "--batch-size", str(batch)]
    common += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    rates = {"compute": [], "e2e": []}
    peaks = []
    for r in range(args.rounds):
        for mode in ("compute", "e2e") if r % 2 == 0 else ("e2e", "compute"):
            result, peak = run_measurement([sys.executable, OURS, "--mode", mode, *common])
            rates[mode].append(result["images_per_s"])
            peaks.append(peak)
        print(f"round {r + 1}: compute only {rates['compute'][-1]:.1f}, end to end {rates['e2e'][-1]:.1f} images/s")
    compute, e2e = rates["compute"], rates["e2e"]
    compute_rate, e2e_rate = float(np.median(compute)), float(np.median(e2e))
    print(
        f"median: compute only {compute_rate:.1f}, end to end {e2e_rate:.1f} images/s "
        f"({e2e_rate / compute_rate:.2f} x compute only)",
        flush=True,
    )

    result = {
        "compute_images_per_s": round(compute_rate, 2),
        "e2e_images_per_s": round(e2e_rate, 2),
        "e2e_over_compute": round(e2e_rate / compute_rate, 3),
        "e2e_over_compute_paired": round(paired_median(e2e, compute), 3),
        "precision": args.precision,
        "augment_images_per_s": round(augment_rate, 1),
        "compute_views_per_s": round(2 * compute_rate, 2),
        "e2e_views_per_s": round(2 * e2e_rate, 2),
        "augment_views_per_s": round(2 * augment_rate, 1),
        "rounds_compute_images_per_s": [round(v, 2) for v in compute],
        "rounds_e2e_images_per_s": [round(v, 2) for v in e2e],
        "peak_rss_mib": round(max(peaks), 1),
        "images_are": "source images; each gives 2 augmented views through the encoder",
        "batch_size": batch,
        "timed_steps": args.steps,
        "warmup_steps": args.warmup,
        "rounds": args.rounds,
        "model": "SimCLR ResNet-18 small-image stem, 32x32x3, SGD momentum",
        "command": command_line(argv),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()

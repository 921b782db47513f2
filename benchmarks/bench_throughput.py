"""SimCLR training throughput on this machine: ResNet-18 (small-image stem),
32x32x3 images, batch 256 x 2 views, SGD.

Prints and writes (JSON, --out) `compute_images_per_s` (the train step on an
already augmented batch held in memory), `e2e_images_per_s` (the same step fed
by the real tf.data pipeline with the SimCLR augmentation), and
`augment_images_per_s` (the pipeline alone), all counted in source images
(each gives 2 views; `*_views_per_s` count views), medians of alternating
rounds, plus `peak_rss_mib` of the process.

    python benchmarks/bench_throughput.py [--steps 8] [--rounds 3] [--out FILE]
"""

import argparse
import os
import platform
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _results import command_line, write_result  # noqa: E402 (benchmarks/ is on sys.path)

from keras_contrastive.augment import SimCLRAugmentation  # noqa: E402
from keras_contrastive.backbones import ResNet18  # noqa: E402
from keras_contrastive.data import pretrain_dataset  # noqa: E402
from keras_contrastive.models import SimCLR  # noqa: E402


def _views():
    # SimCLR's CIFAR-10 augmentation (appendix B.9): s = 0.5, no blur.
    return [SimCLRAugmentation((32, 32), jitter_strength=0.5, seed=i) for i in (1, 2)]


def _model():
    keras.utils.set_random_seed(0)
    model = SimCLR(ResNet18(input_shape=(32, 32, 3), small_images=True), projection_dim=128, temperature=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.06, momentum=0.9))
    return model


def _timed_fit(model, dataset, steps):
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="timed steps per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating compute-only / end-to-end rounds")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "bench_throughput.json"))
    args = parser.parse_args(argv)
    batch = args.batch_size
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(batch * 16, 32, 32, 3), dtype=np.uint8)

    # Augmentation only: the tf.data pipeline that feeds training.
    iterator = iter(pretrain_dataset(images, _views(), batch, repeat=True, seed=0))
    for _ in range(3):
        next(iterator)
    n = 60
    start = time.perf_counter()
    for _ in range(n):
        next(iterator)
    augment_rate = n * batch / (time.perf_counter() - start)
    del iterator  # stop its background threads before timing the model
    print(f"augmentation only: {augment_rate:.0f} images/s ({2 * augment_rate:.0f} views/s)", flush=True)

    # Compute only: one augmented batch held in memory, repeated. End to end:
    # the same model fed by the augmentation pipeline. Alternated, medians.
    first = next(iter(pretrain_dataset(images[:batch], _views(), batch, seed=0)))
    cached = tf.data.Dataset.from_tensors(first).repeat()
    pipeline = pretrain_dataset(images, _views(), batch, repeat=True, seed=0)
    model = _model()
    model.fit(cached, epochs=1, steps_per_epoch=3, verbose=0)  # trace and warm up
    model.fit(pipeline, epochs=1, steps_per_epoch=2, verbose=0)
    compute, e2e = [], []
    for r in range(args.rounds):
        compute.append(args.steps * batch / _timed_fit(model, cached, args.steps))
        e2e.append(args.steps * batch / _timed_fit(model, pipeline, args.steps))
        print(f"round {r + 1}: compute only {compute[-1]:.1f}, end to end {e2e[-1]:.1f} images/s", flush=True)
    compute_rate, e2e_rate = float(np.median(compute)), float(np.median(e2e))
    print(
        f"median: compute only {compute_rate:.1f}, end to end {e2e_rate:.1f} images/s "
        f"({e2e_rate / compute_rate:.2f} x compute only)",
        flush=True,
    )

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    result = {
        "compute_images_per_s": round(compute_rate, 2),
        "e2e_images_per_s": round(e2e_rate, 2),
        "e2e_over_compute": round(e2e_rate / compute_rate, 3),
        "augment_images_per_s": round(augment_rate, 1),
        "compute_views_per_s": round(2 * compute_rate, 2),
        "e2e_views_per_s": round(2 * e2e_rate, 2),
        "augment_views_per_s": round(2 * augment_rate, 1),
        "rounds_compute_images_per_s": [round(v, 2) for v in compute],
        "rounds_e2e_images_per_s": [round(v, 2) for v in e2e],
        "peak_rss_mib": round(peak, 1),
        "images_are": "source images; each gives 2 augmented views through the encoder",
        "batch_size": batch,
        "timed_steps": args.steps,
        "rounds": args.rounds,
        "model": "SimCLR ResNet-18 small-image stem, 32x32x3, SGD momentum",
        "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "command": command_line(argv or None),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()

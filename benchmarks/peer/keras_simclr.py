"""Ours: the SimCLR step of `benchmarks/bench_throughput.py`, timed in one process.

The counterpart of `lightly_simclr.py` beside this file, with the same flags
and the same JSON line, so that `benchmarks/run_peer_comparison.py` can run
each measurement in a fresh process. `--mode matmul` times a 4096 x 4096
matmul in TensorFlow instead (`--matmul-dtype float32`, the reference rate
of the issue, or `bfloat16`, what this CPU's AVX512_BF16 units reach).

    python benchmarks/peer/keras_simclr.py --data IMAGES.npy --mode compute|e2e|profile|infer|matmul|imports \
        [--steps 4] [--warmup 2] [--precision float32|mixed_bfloat16] [--matmul-dtype float32|bfloat16] \
        [--jit-compile]

`--precision` is the Keras dtype policy the model is built under
(`runs.train(precision=...)`): `mixed_bfloat16` runs convolutions, dense
layers and activations in bfloat16 with float32 weights, batch-norm
statistics, logits and loss.

`compute`: `fit` on one augmented batch held in memory. `e2e`: `fit` on
`pretrain_dataset` over the uint8 images of `--data`, SimCLR's CIFAR-10
augmentation (colour jitter strength 0.5, no blur). Steps are timed between
the ends of the warm-up and the last step (a callback), so tracing and
`fit`'s set-up are left out, as the peer's warm-up leaves out its own.
`--jit-compile` compiles the step with XLA (`compile(jit_compile=True)`).
`infer`: the encoder alone in inference mode on `--batch-size` images per
call (as `predict` and an export's serving function), XLA-compiled with
`--jit-compile`. `profile`: `compute`, then as many steps again under
TensorFlow's profiler; the JSON line adds `ops`, each op's time per step
(`../profile_step.py` reads it). `imports`: only the peak RSS once
TensorFlow, Keras and keras-contrastive are imported (what the process
holds before any model exists).
"""

import argparse
import glob
import json
import os
import resource
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench_throughput import _model, _views  # noqa: E402

from keras_contrastive.data import pretrain_dataset  # noqa: E402


class _StepClock(keras.callbacks.Callback):
    """Wall-clock time at the end of each step (reading the loss waits for it)."""

    def __init__(self):
        super().__init__()
        self.ends, self.losses = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))
        self.ends.append(time.perf_counter())


FUNCTION_CALLS = ("StatefulPartitionedCall", "PartitionedCall")


def op_times(logdir):
    """`{(op name, op type): [microseconds, calls]}` of the TensorFlow ops in the newest profile under
    `logdir` (`tf.profiler.experimental`), summed over the executor's threads: each op's wall time on the
    thread that ran it (ops on different threads may overlap). Names lose the function-call prefixes
    (`StatefulPartitionedCall/`)."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True), key=os.path.getmtime)
    space = xplane_pb2.XSpace()
    with open(paths[-1], "rb") as f:
        space.ParseFromString(f.read())
    table = {}
    for plane in space.planes:
        if plane.name != "/host:CPU":
            continue
        for line in plane.lines:
            for event in line.events:
                meta = plane.event_metadata[event.metadata_id]
                op_type = meta.display_name
                # An op's event is named "NAME:TYPE" with TYPE as its display name.
                if not op_type or "::" in op_type or not meta.name.endswith(":" + op_type):
                    continue
                if op_type in FUNCTION_CALLS:
                    continue
                name = meta.name[: -len(op_type) - 1]
                for prefix in FUNCTION_CALLS:
                    name = name.replace(prefix + "/", "")
                entry = table.setdefault((name, op_type), [0.0, 0])
                entry[0] += event.duration_ps / 1e6
                entry[1] += 1
    return table


def _inference(encoder, images, args):
    """Encoder features of `--batch-size` images per call in inference mode (as `model.predict` and an export's
    serving function), through `tf.function(jit_compile=args.jit_compile)`: images per second."""
    batch = tf.constant(images[: args.batch_size].astype(np.float32) / 255.0)
    embed = tf.function(lambda x: encoder(x, training=False), jit_compile=args.jit_compile)
    for _ in range(max(1, args.warmup)):
        embed(batch).numpy()
    start = time.perf_counter()
    for _ in range(args.steps):
        embed(batch).numpy()
    seconds = time.perf_counter() - start
    return {
        "images_per_s": args.steps * args.batch_size / seconds,
        "step_seconds": seconds / args.steps,
        "mode": args.mode,
        "jit_compile": args.jit_compile,
        "precision": args.precision,
        "tensorflow": tf.__version__,
    }


def matmul_gflops(size=4096, repeats=5, dtype="float32"):
    """`size x size` matmul rate of `dtype` in GFLOP/s (2 size^3 per product)."""
    a = tf.cast(tf.random.normal([size, size], seed=0), dtype)
    b = tf.cast(tf.random.normal([size, size], seed=1), dtype)
    product = tf.function(lambda: tf.matmul(a, b))
    product()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product().numpy()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / float(np.median(times)) / 1e9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="uint8 .npy [N, 32, 32, 3] (compute, e2e)")
    parser.add_argument("--mode", choices=("compute", "e2e", "profile", "infer", "matmul", "imports"), required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (at least 1: tracing)")
    parser.add_argument("--precision", choices=("float32", "mixed_bfloat16"), default="float32")
    parser.add_argument("--matmul-dtype", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--jit-compile", action="store_true", help="XLA: compile(jit_compile=True); infer: the same")
    args = parser.parse_args(argv)
    if args.mode == "imports":
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(json.dumps({"self_peak_rss_mib": peak, "mode": args.mode, "tensorflow": tf.__version__}), flush=True)
        return
    if args.mode == "matmul":
        rate = matmul_gflops(dtype=args.matmul_dtype)
        print(json.dumps({"matmul_gflops": rate, "dtype": args.matmul_dtype, "tensorflow": tf.__version__}), flush=True)
        return
    if args.data is None:
        parser.error("--data is required for compute, e2e, profile and infer")
    images = np.load(args.data)
    batch = args.batch_size
    pipeline = pretrain_dataset(images, _views(), batch, repeat=True, seed=0)
    if args.mode in ("compute", "profile"):
        first = next(iter(pretrain_dataset(images[:batch], _views(), batch, seed=0)))
        pipeline = tf.data.Dataset.from_tensors(first).repeat()
    keras.config.set_dtype_policy(args.precision)  # as training.compile_in_scope
    model = _model(jit_compile=args.jit_compile)
    if args.mode == "infer":
        print(json.dumps(_inference(model.encoder, images, args)), flush=True)
        return
    clock = _StepClock()
    warmup = max(1, args.warmup)
    model.fit(pipeline, epochs=1, steps_per_epoch=warmup + args.steps, verbose=0, callbacks=[clock])
    seconds = clock.ends[-1] - clock.ends[warmup - 1]
    profile = {}
    if args.mode == "profile":
        # The steps timed above ran without the profiler; these are profiled (the same traced step), and
        # each op's time over their number is its time per step.
        profiled = _StepClock()
        logdir = tempfile.mkdtemp(prefix="profile_step_")
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        model.fit(pipeline, epochs=1, steps_per_epoch=args.steps, verbose=0, callbacks=[profiled])
        tf.profiler.experimental.stop()
        ops = [
            {"name": n, "op": t, "ms_per_step": us / 1e3 / args.steps, "calls_per_step": c / args.steps}
            for (n, t), (us, c) in op_times(logdir).items()
        ]
        profile = {
            "profiled_step_seconds": (profiled.ends[-1] - start) / args.steps,
            "encoder_name": model.encoder.name,
            "projector_name": model.projector.name,
            "optimizer_name": model.optimizer.name,
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "ops": sorted(ops, key=lambda e: -e["ms_per_step"]),
        }
    print(
        json.dumps(
            {
                "images_per_s": args.steps * batch / seconds,
                "step_seconds": seconds / args.steps,
                "loss": clock.losses[-1],
                "self_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                "mode": args.mode,
                "precision": args.precision,
                "jit_compile": args.jit_compile,
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                **profile,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

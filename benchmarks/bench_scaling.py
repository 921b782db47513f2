"""How SimCLR's step and MoCo's queue scale: batch size and queue size.

Batch size (256 -> 4096): a SimCLR model on 32x32x3 inputs, compute only
(one batch of random images held in memory, 2 views), a few `fit` steps per
size: seconds per step and per image, the loss of the first step against
`log(2N - 1)` (its value for an untrained model, whose 2N - 1 candidates are
alike), and the NT-Xent loss alone (forward + backward on random
embeddings), whose logits grow as N^2. The encoder is the small `ConvNet`
(width 32, 3 stages) of the MoCo recipe, not ResNet-18: ResNet-18 at 4,096 x
2 views of 32x32 would keep ~55 GB of activations (3.5 GB at 256), more than
this machine has.

Queue size (4k -> 65k): `benchmarks/bench_queue.py` on a MoCo recipe, run
here with the sizes given. Writes both JSON files and a PNG with three
panels.

    python benchmarks/bench_scaling.py [--batch-sizes 256 512 1024 2048 4096] [--steps 2] \
        [--queue-recipe recipes/moco_v2_fashion_mnist.yaml] [--queue-sizes 0 4096 16384 32768 65536] \
        [--out benchmarks/results/bench_scaling.json] [--plot benchmarks/results/bench_scaling.png]
"""

import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_queue  # noqa: E402
from _results import save_figure  # noqa: E402

from keras_contrastive.backbones import ConvNet  # noqa: E402
from keras_contrastive.losses import nt_xent  # noqa: E402
from keras_contrastive.models import SimCLR  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


class _StepEnds(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.ends, self.losses = [], []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))  # running mean over the steps so far
        self.ends.append(time.perf_counter())


def simclr_step(batch_size, steps):
    """(seconds per step, first-step loss) of SimCLR + ConvNet at `batch_size`."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    views = tuple(rng.random((batch_size, 32, 32, 3), dtype=np.float32) for _ in range(2))
    data = tf.data.Dataset.from_tensors({"views": views}).repeat()
    model = SimCLR(ConvNet(input_shape=(32, 32, 3), width=32, stages=3), projection_dim=128, temperature=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.06, momentum=0.9))
    clock = _StepEnds()
    model.fit(data, epochs=1, steps_per_epoch=1 + steps, verbose=0, callbacks=[clock])
    return (clock.ends[-1] - clock.ends[0]) / steps, clock.losses[0]


def loss_only(batch_size, repeats=3, dim=128):
    """Seconds of one NT-Xent forward + backward on random `[N, dim]` pairs."""
    rng = np.random.default_rng(0)
    z_a = tf.constant(rng.standard_normal((batch_size, dim), dtype=np.float32))
    z_b = tf.constant(rng.standard_normal((batch_size, dim), dtype=np.float32))

    @tf.function
    def forward_backward(z_a, z_b):
        with tf.GradientTape() as tape:
            tape.watch([z_a, z_b])
            loss = nt_xent(z_a, z_b, temperature=0.5)
        return loss, tape.gradient(loss, [z_a, z_b])

    forward_backward(z_a, z_b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        loss, grads = forward_backward(z_a, z_b)
        float(loss), grads[0].numpy()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def plot(batch, queue, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = batch["batch_sizes"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    ax.plot(sizes, [1000 * s / n for s, n in zip(batch["step_seconds"], sizes)], "o-", label="whole step")
    ax.plot(sizes, [1000 * s / n for s, n in zip(batch["loss_only_seconds"], sizes)], "s--", label="NT-Xent alone")
    ax.set(xscale="log", yscale="log", xlabel="batch size N (2N views)", ylabel="ms per source image")
    ax.set_title("SimCLR step cost (ConvNet, 32x32x3)")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    ax.legend()
    ax = axes[1]
    ax.plot(sizes, batch["first_step_loss"], "o-", label="first-step loss")
    ax.plot(sizes, [math.log(2 * n - 1) for n in sizes], "k:", label="log(2N - 1)")
    ax.set(xscale="log", xlabel="batch size N", ylabel="NT-Xent loss")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    ax.set_title("Loss against batch size")
    ax.legend()
    ax = axes[2]
    qs = sorted(int(k) for k in queue["step_seconds"])
    ax.plot([max(q, 1) for q in qs], [queue["step_seconds"][str(q)] for q in qs], "o-")
    ax.set(xscale="log", xlabel="queue size K (0 plotted at 1)", ylabel="seconds per step")
    ax.set_title(f"MoCo step cost against queue (batch {queue['batch_size']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    parser.add_argument("--steps", type=int, default=2, help="timed steps per batch size (after 1 untimed)")
    parser.add_argument("--queue-recipe", default="recipes/moco_v2_fashion_mnist.yaml")
    parser.add_argument("--queue-sizes", type=int, nargs="+", default=[0, 4096, 16384, 32768, 65536])
    parser.add_argument("--queue-steps", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(RESULTS, "bench_scaling.json"))
    parser.add_argument("--queue-out", default=os.path.join(RESULTS, "bench_queue-scaling.json"))
    parser.add_argument("--plot", default=os.path.join(RESULTS, "bench_scaling.png"))
    args = parser.parse_args(argv)

    rows = {"step_seconds": [], "first_step_loss": [], "loss_only_seconds": []}
    for n in args.batch_sizes:
        seconds, loss = simclr_step(n, args.steps)
        rows["step_seconds"].append(round(seconds, 4))
        rows["first_step_loss"].append(round(loss, 4))
        rows["loss_only_seconds"].append(round(loss_only(n), 5))
        print(
            f"batch {n}: {seconds:.3f} s/step, {1000 * seconds / n:.3f} ms/image, first loss {loss:.3f} "
            f"(log(2N-1) = {math.log(2 * n - 1):.3f}), "
            f"NT-Xent alone {rows['loss_only_seconds'][-1]:.4f} s",
            flush=True,
        )
    batch = {
        "batch_sizes": args.batch_sizes,
        **rows,
        "log_2n_minus_1": [round(math.log(2 * n - 1), 4) for n in args.batch_sizes],
        "encoder": "ConvNet(input_shape=(32, 32, 3), width=32, stages=3), projection 128, SGD(0.06, momentum=0.9)",
        "timed_steps": args.steps,
        "command": "python " + " ".join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
    }
    bench_queue.main(
        [
            args.queue_recipe,
            "--sizes",
            *map(str, args.queue_sizes),
            "--steps",
            str(args.queue_steps),
            "--rounds",
            "2",
            "--out",
            args.queue_out,
        ]
    )
    with open(args.queue_out, encoding="utf-8") as f:
        queue = json.load(f)
    # bench_queue records the running script's name: say what it ran, on its own.
    queue["command"] = (
        f"python benchmarks/bench_queue.py {args.queue_recipe} --sizes {' '.join(map(str, args.queue_sizes))} "
        f"--steps {args.queue_steps} --rounds 2 --out {args.queue_out}"
    )
    with open(args.queue_out, "w", encoding="utf-8") as f:
        json.dump(queue, f, indent=2)
        f.write("\n")
    batch["queue"] = queue
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(batch, f, indent=2)
        f.write("\n")
    drawn = save_figure(plot, args.plot, batch, queue)
    print(json.dumps({k: v for k, v in batch.items() if k != "queue"}, indent=2))
    print(f"wrote {args.out}, {args.queue_out}" + (f", {args.plot}" if drawn else ""))


if __name__ == "__main__":
    main()

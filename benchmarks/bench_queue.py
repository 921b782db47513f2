"""What MoCo's queue costs: train-step time against the queue size.

Builds the recipe's MoCo model once per queue size (0 = no queue: the other
keys of the batch are the negatives) and times `fit` steps on one fixed,
already-augmented batch (compute only: no input pipeline), the sizes taken
in turn for several rounds so that drifts of the machine hit all alike.

    python benchmarks/bench_queue.py recipes/moco_v2_fashion_mnist.yaml \
        [--sizes 0 4096 16384 65536] [--steps 15] [--rounds 3] [--image-shape 28 28 1]
        [--set section.key=value ...] [--out FILE]

JSON: `step_seconds` (median per size), `overhead_vs_no_queue` (fraction),
`queue_dim`, `batch_size`, the command.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _results import command_line, write_result  # noqa: E402 (benchmarks/ is on sys.path)

from keras_contrastive import recipes  # noqa: E402
from keras_contrastive.optimizers import build_optimizer  # noqa: E402
from keras_contrastive.runs import image_task  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe")
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 4096, 16384, 65536])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image-shape", type=int, nargs=3, default=[28, 28, 1], metavar=("H", "W", "C"))
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "bench_queue.json"))
    args = parser.parse_args(argv)

    base = recipes.load(args.recipe, overrides=args.set)
    if base["method"]["name"] != "moco":
        parser.error(f"{args.recipe} is a {base['method']['name']} recipe: give a MoCo recipe.")
    batch_size = base["train"]["batch_size"]
    shape = tuple(args.image_shape)
    rng = np.random.default_rng(0)
    views = tuple(rng.random((batch_size, *shape), dtype=np.float32) for _ in range(2))
    data = tf.data.Dataset.from_tensors({"views": views}).repeat().prefetch(2)

    models = {}
    for size in args.sizes:
        recipe = recipes.apply_overrides(base, [f"method.queue_size={size}", "train.online_probe=false"])
        keras.utils.set_random_seed(0)
        model = image_task.build_model(recipe, shape)
        model.compile(optimizer=build_optimizer(recipe, 100))
        model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # trace and warm up
        models[size] = model

    times = {size: [] for size in args.sizes}
    for _ in range(args.rounds):
        for size, model in models.items():
            start = time.perf_counter()
            model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0)
            times[size].append((time.perf_counter() - start) / args.steps)
    medians = {size: statistics.median(t) for size, t in times.items()}
    reference = medians.get(0)
    result = {
        "step_seconds": {str(k): round(v, 4) for k, v in medians.items()},
        "overhead_vs_no_queue": (
            {str(k): round(v / reference - 1, 4) for k, v in medians.items() if k} if reference else None
        ),
        "queue_dim": base["method"]["projection_dim"],
        "batch_size": batch_size,
        "image_shape": list(shape),
        "encoder": base["encoder"],
        "steps_per_round": args.steps,
        "rounds": args.rounds,
        "recipe": args.recipe,
        "command": command_line(argv),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()

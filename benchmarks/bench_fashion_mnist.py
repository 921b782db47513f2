"""Trains a recipe, then measures its linear probe and kNN top-1 next to the
raw-pixel and random-init-encoder baselines, all by the same evaluation code.

    python benchmarks/bench_fashion_mnist.py recipes/simclr_fashion_mnist.yaml \
        [--set section.key=value ...] [--run-dir DIR] [--out FILE]

JSON keys: `linear_probe_top1`, `knn_top1`, `raw_pixel_top1`,
`random_init_top1` (fractions of the test set), `train_seconds` (wall time
of `fit`), `epochs`, plus the recipe and command.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _results import command_line, run_fields, write_result  # noqa: E402 (benchmarks/ is on sys.path)

from keras_contrastive import recipes, runs  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--run-dir", help="run directory (default: runs/bench-<recipe name>)")
    parser.add_argument(
        "--no-baselines",
        action="store_true",
        help="skip the raw-pixel and random-init baselines (they depend only on the data, encoder and seed)",
    )
    parser.add_argument("--out", help="JSON output (default: benchmarks/results/bench_fashion_mnist-<recipe>.json)")
    args = parser.parse_args(argv)
    name = os.path.splitext(os.path.basename(args.recipe))[0]
    run_dir = args.run_dir or os.path.join("runs", f"bench-{name}")
    out = args.out or os.path.join(os.path.dirname(__file__), "results", f"bench_fashion_mnist-{name}.json")

    baselines = "false" if args.no_baselines else "true"
    recipe = recipes.load(args.recipe, overrides=[*args.set, f"evaluate.baselines={baselines}"])
    start = time.perf_counter()
    metrics = runs.train(recipe, run_dir, verbose=2, command=command_line(argv))
    wall = time.perf_counter() - start
    result = {key: metrics.get(key) for key in ("linear_probe_top1", "knn_top1", "raw_pixel_top1", "random_init_top1")}
    result["total_seconds_with_evaluation"] = round(wall, 1)
    result.update(run_fields(metrics, args.recipe, args.set, run_dir, argv))
    write_result(result, out)


if __name__ == "__main__":
    main()

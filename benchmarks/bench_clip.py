"""Trains a CLIP recipe, then measures zero-shot classification and retrieval on the held-out pairs,
next to their chance levels and to the same model untrained (same seed, same evaluation code).

    python benchmarks/bench_clip.py recipes/clip_emoji_tuxpaint.yaml --out FILE \
        [--set section.key=value ...] [--run-dir DIR]

JSON keys: `zero_shot_top1` (held-out emoji, 9 groups, each described by its
Unicode subgroup names), `zero_shot_names_only_top1` (each group by its name
alone), `zero_shot_balanced_top1`,
`zero_shot_chance` (1 / 9), `zero_shot_majority` (a constant guess of the
largest group), `text_to_image_r5` / `image_to_text_r5` (and r1, r10) on the
held-out pairs with their `..._chance` (a random ranking's), `untrained` (the
same figures before training), `train_seconds` (wall time of `fit`),
`epochs`, plus the recipe, its overrides, the run directory and the command.
The run directory must be fresh: a timing never comes from a resumed run.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from _results import command_line, run_fields, write_result  # noqa: E402 (benchmarks/ is on sys.path)

from keras_contrastive import recipes, runs  # noqa: E402
from keras_contrastive.evaluation.image_text import evaluate_pairs  # noqa: E402
from keras_contrastive.runs import image_text_task  # noqa: E402

KEYS = (
    "zero_shot_top1",
    "zero_shot_balanced_top1",
    "zero_shot_names_only_top1",
    "zero_shot_names_only_balanced_top1",
    "zero_shot_chance",
    "zero_shot_majority",
    "zero_shot_examples",
    *(f"{direction}_r{k}{suffix}" for direction in ("text_to_image", "image_to_text") for k in (1, 5, 10)
      for suffix in ("", "_chance")),
    "pairs",
)  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe")
    parser.add_argument("--out", required=True, help="JSON output file")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--run-dir", help="run directory (default: runs/bench_clip-<recipe>-<time>)")
    args = parser.parse_args(argv)
    name = os.path.splitext(os.path.basename(args.recipe))[0]
    run_dir = args.run_dir or os.path.join("runs", f"bench_clip-{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if os.path.exists(os.path.join(run_dir, "progress.json")):
        sys.exit(f"bench_clip: {run_dir} already holds a run; a timing must come from a fresh one. Pass --run-dir.")
    recipe = recipes.load(args.recipe, overrides=args.set)

    # The untrained model (the seed training starts from), through the same evaluation.
    pairs = image_text_task.load_pairs(recipe)
    keras.utils.set_random_seed(recipe["train"]["seed"])
    untrained = image_text_task.build_clip_model(recipe, (*image_text_task.image_size_of(recipe), 3))
    before = evaluate_pairs(untrained, pairs.split("held_out"))
    del untrained
    keras.backend.clear_session()

    start = time.perf_counter()
    metrics = runs.train(recipe, run_dir, verbose=2, command=command_line(argv))
    result = {key: metrics.get(key) for key in KEYS}
    result.update(
        {
            "untrained": {key: before.get(key) for key in KEYS},
            "zero_shot_classes": metrics.get("zero_shot_classes"),
            "zero_shot_templates": metrics.get("zero_shot_templates"),
            "zero_shot_descriptions": metrics.get("zero_shot_descriptions"),
            "train_pairs": metrics["train_pairs"],
            "held_out_pairs": metrics["held_out_pairs"],
            "total_seconds_with_evaluation": round(time.perf_counter() - start, 1),
            "final_logit_scale": metrics["final_logit_scale"],
            **run_fields(metrics, args.recipe, args.set, run_dir, argv),
        }
    )
    write_result(result, args.out)


if __name__ == "__main__":
    main()

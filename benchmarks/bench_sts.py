"""Evaluates a SimCSE recipe's encoder on STS before training, trains it, evaluates again.

    python benchmarks/bench_sts.py recipes/simcse_unsup_small_wordnet.yaml --sts-dir ../shared/data/sts \
        --out benchmarks/results/bench_sts-simcse_unsup_small_wordnet.json [--set section.key=value ...] [--run-dir DIR]

JSON keys: `before` and `after` (each `{"STS12", ..., "STS16", "STSB",
"avg"}`, Spearman x 100 of cosine similarities, SimCSE's "all" setting; STSB
is STS-B *test*), `train_seconds` (wall time of `fit`, from the run's
progress; mining hard negatives happens before `fit`, `mine_seconds`), the
mining figures of a recipe that mines (`hard_negatives`, `mine_margin`,
`mine_corpus`, `mine_seconds`, `pairs_with_random_negative`), plus the
recipe, the run directory and the command. SICK-R is not available offline.
The "before" encoder is the recipe's encoder as built by training (same
seed): pre-trained weights for a preset, the random initialisation for a
from-scratch encoder. The run directory is fresh each time (a timing figure
must not come from a resumed run).
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from _results import command_line, run_fields, write_result  # noqa: E402 (benchmarks/ is on sys.path)

from keras_contrastive import recipes, runs  # noqa: E402
from keras_contrastive.evaluation import sts  # noqa: E402
from keras_contrastive.runs.text_task import build_text_model  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe")
    parser.add_argument("--sts-dir", required=True, help="SentEval-layout STS folder, e.g. ../shared/data/sts")
    parser.add_argument("--out", required=True, help="JSON output file")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--run-dir", help="run directory (default: runs/bench_sts-<recipe>-<time>)")
    args = parser.parse_args(argv)
    name = os.path.splitext(os.path.basename(args.recipe))[0]
    run_dir = args.run_dir or os.path.join("runs", f"bench_sts-{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if os.path.exists(os.path.join(run_dir, "progress.json")):
        sys.exit(f"bench_sts: {run_dir} already holds a run; a timing must come from a fresh one. Pass --run-dir.")

    recipe = recipes.load(args.recipe, overrides=args.set)
    data = sts.load_sts(args.sts_dir)

    start = time.perf_counter()
    keras.utils.set_random_seed(recipe["train"]["seed"])
    before_model = build_text_model(recipe)
    before = sts.evaluate_sts(runs.open_model(before_model).embed_text, data=data)
    before_seconds = time.perf_counter() - start
    print("before training:\n" + sts.format_sts_table(before), flush=True)
    del before_model
    keras.backend.clear_session()

    metrics = runs.train(recipe, run_dir, verbose=2, command=command_line(argv))
    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    start = time.perf_counter()
    after = sts.evaluate_sts(runs.open_model(model).embed_text, data=data)
    print("after training:\n" + sts.format_sts_table(after), flush=True)

    result = {
        "before": before,
        "after": after,
        "eval_seconds": round(before_seconds, 1),
        "SICKR": sts.UNAVAILABLE["SICKR"],
        # Hard-negative mining before training (data.hard_negatives), when the recipe mines.
        **{
            k: v
            for k, v in metrics.items()
            if k.startswith("mine") or k in ("hard_negatives", "pairs_with_random_negative")
        },
        **run_fields(metrics, args.recipe, args.set, run_dir, argv),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()

"""Chooses a text recipe's hyper-parameters on STS-B *dev*: trains each trial, scores STS-B dev after every epoch.

    python benchmarks/sweep_stsb_dev.py recipes/simcse_sup_minilm_stsb.yaml --sts-dir ../shared/data/sts \
        --out benchmarks/results/sweep_stsb_dev-simcse_sup_minilm_stsb.json \
        --trial 'lr2e-5: optimizer.learning_rate=2e-5' --trial 'lr5e-5: optimizer.learning_rate=5e-5' \
        [--precision auto|float32|mixed_bfloat16] [--as-loaded]

Each `--trial 'NAME: section.key=value ...'` trains the recipe with those
overrides into a fresh run directory and records the Spearman x 100 of
STS-B dev (`STSBenchmark/sts-dev.csv`) after each epoch (`dev_by_epoch`;
with a cosine schedule, epoch e of an E-epoch run is not an e-epoch run),
the training time and the run's mining figures. `--as-loaded` also scores
the recipe's encoder before training. Results are merged into `--out` by
trial name, so trials can run one at a time. STS-B test is never read here:
it is kept for the reported number (`bench_sts.py`).
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from _results import command_line, machine  # noqa: E402 (benchmarks/ is on sys.path)

from keras_contrastive import recipes, runs  # noqa: E402
from keras_contrastive.evaluation import sts  # noqa: E402
from keras_contrastive.runs.text_task import build_text_model  # noqa: E402


def stsb_dev_score(model, dev):
    first, second, gold = dev
    return 100.0 * sts.spearman(sts.cosine_scores(runs.open_model(model).embed_text, first, second), gold)


class DevEachEpoch(keras.callbacks.Callback):
    def __init__(self, dev):
        super().__init__()
        self.dev, self.scores, self.seconds = dev, [], 0.0

    def on_epoch_end(self, epoch, logs=None):
        start = time.perf_counter()
        score = stsb_dev_score(self.model, self.dev)
        self.seconds += time.perf_counter() - start
        self.scores.append(round(score, 2))
        print(f"\nepoch {epoch + 1}: STS-B dev {score:.2f}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe")
    parser.add_argument("--sts-dir", required=True, help="SentEval-layout STS folder, e.g. ../shared/data/sts")
    parser.add_argument("--out", required=True, help="JSON file; trials are merged into it by name")
    parser.add_argument("--trial", action="append", default=[], metavar="'NAME: section.key=value ...'")
    parser.add_argument(
        "--precision",
        choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"],
        help="training precision (default: the recipe's train.precision)",
    )
    parser.add_argument("--as-loaded", action="store_true", help="also score the encoder before training")
    args = parser.parse_args(argv)
    dev = sts.load_stsb(os.path.join(args.sts_dir, "STSBenchmark", "sts-dev.csv"))
    result = {"recipe": args.recipe, "trials": {}}
    if os.path.exists(args.out):
        with open(args.out, encoding="utf-8") as f:
            result = json.load(f)
    base = recipes.load(args.recipe)
    if args.as_loaded:
        keras.utils.set_random_seed(base["train"]["seed"])
        result["as_loaded_dev"] = round(stsb_dev_score(build_text_model(base), dev), 2)
        print(f"as loaded: STS-B dev {result['as_loaded_dev']:.2f}", flush=True)
    name = os.path.splitext(os.path.basename(args.recipe))[0]
    for trial in args.trial:
        label, _, sets = trial.partition(":")
        label, overrides = label.strip(), sets.split()
        if not label:
            sys.exit(f"sweep_stsb_dev: --trial {trial!r} has no name: write 'NAME: section.key=value ...'.")
        recipe = recipes.load(args.recipe, overrides=overrides)
        run_dir = os.path.join("runs", f"sweep-{name}-{label}-{time.strftime('%Y%m%d-%H%M%S')}")
        keras.backend.clear_session()
        monitor = DevEachEpoch(dev)
        metrics = runs.train(
            recipe, run_dir, verbose=2, callbacks=[monitor], precision=args.precision, command=command_line(argv)
        )
        result["trials"][label] = {
            "overrides": overrides,
            "precision": args.precision or recipe["train"]["precision"],
            "dev_by_epoch": monitor.scores,
            "final_dev": monitor.scores[-1],
            # fit's wall time includes the dev scoring after each epoch: it is subtracted.
            "train_seconds_without_dev": round(metrics["train_seconds"] - monitor.seconds, 1),
            "dev_seconds": round(monitor.seconds, 1),
            **{k: metrics.get(k) for k in ("train_seconds", "epochs", "steps_per_epoch", "batch_size", "final_loss")},
            **{k: v for k, v in metrics.items() if k.startswith("mine") or k.startswith("pairs_")},
            "hard_negatives": metrics.get("hard_negatives", 0),
            "run_dir": run_dir,
            "command": command_line(argv),
        }
        result["machine"] = machine()
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        print(json.dumps(result["trials"][label], indent=2), flush=True)


if __name__ == "__main__":
    main()

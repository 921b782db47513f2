"""The `keras-contrastive` command line.

keras-contrastive train RECIPE [--set section.key=value ...] [--output DIR] [--strategy auto]
keras-contrastive evaluate linear-probe --run DIR [--data SPEC] [--out FILE]
keras-contrastive evaluate knn --run DIR [--data SPEC] [--k 200] [--out FILE]
keras-contrastive evaluate sts --model PATH --sts-dir DIR [--out FILE]
keras-contrastive export --run DIR --to savedmodels/NAME [--version N]
"""

import argparse
import json
import os
import shlex
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA_HELP = "fashion_mnist, fashion_mnist_subset, tfds:NAME, folder:PATH (class sub-folders) or npz:PATH"


def _parser():
    parser = argparse.ArgumentParser(prog="keras-contrastive", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a recipe, then evaluate it (resumes an interrupted run)")
    train.add_argument("recipe", help="a YAML recipe, e.g. recipes/quickstart.yaml")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a key")
    train.add_argument("--output", help="run directory (default: runs/<recipe name>)")
    train.add_argument("--strategy", default="auto", choices=["auto", "one-device", "mirrored", "multi-worker"])
    train.add_argument("--precision", default="float32", choices=["float32", "mixed_float16", "mixed_bfloat16"])
    train.add_argument("--verbose", default="auto", help="Keras fit verbosity: auto, 0, 1 or 2")

    evaluate = sub.add_parser("evaluate", help="evaluate a trained run's encoder")
    kinds = evaluate.add_subparsers(dest="kind", required=True)
    for kind, text in (("linear-probe", "linear probe on frozen features"), ("knn", "weighted kNN top-1")):
        p = kinds.add_parser(kind, help=text)
        p.add_argument("--run", required=True, help="a run directory written by `train`")
        p.add_argument("--data", help=f"data spec ({DATA_HELP}); default: the run's recipe")
        p.add_argument("--out", help="also write the result as JSON to this file")
        if kind == "knn":
            p.add_argument("--k", type=int, default=200)
            p.add_argument("--temperature", type=float, default=0.1)
    sts = kinds.add_parser("sts", help="STS12-16 and STS-B Spearman x 100 of a sentence encoder")
    sts.add_argument(
        "--model",
        required=True,
        help="a text run directory, a .keras file, an exported SavedModel, "
        "a local keras-hub / Hugging Face preset folder, or 'minilm'",
    )
    sts.add_argument("--sts-dir", required=True, help="SentEval-layout STS folder, e.g. ../shared/data/sts")
    sts.add_argument("--pooling", choices=["cls", "mean"], default="mean", help="pooling of a preset (default mean)")
    sts.add_argument("--out", help="also write the result as JSON to this file")

    export = sub.add_parser("export", help="export a run's encoder as a TF Serving SavedModel")
    export.add_argument("--run", required=True, help="a run directory written by `train`")
    export.add_argument(
        "--to", help="model directory, e.g. savedmodels/simclr_fashion_mnist (default: savedmodels/<export.name>)"
    )
    export.add_argument("--version", type=int, help="version number (default: the next free one)")
    return parser


def _train(args):
    from keras_contrastive import recipes, training

    recipe = recipes.load(args.recipe, overrides=args.set)
    output = args.output or os.path.join("runs", os.path.splitext(os.path.basename(args.recipe))[0])
    verbose = args.verbose if args.verbose == "auto" else int(args.verbose)
    command = "keras-contrastive " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    metrics = training.train(
        recipe, output, strategy=args.strategy, verbose=verbose, precision=args.precision, command=command
    )
    print(json.dumps(metrics, indent=2, sort_keys=True))
    print(f"run written to {output}")


def _evaluate(args):
    from keras_contrastive import data, evaluation, training
    from keras_contrastive.io_utils import atomic_write_json

    if args.kind == "sts":
        from keras_contrastive.evaluation import sts

        return sts.run_sts_command(args.model, args.sts_dir, out=args.out, pooling=args.pooling)
    model, recipe = training.load_run(args.run)
    splits = data.load_data(args.data) if args.data else training.load_splits(recipe)
    encoder = model.encoder
    expected = tuple(encoder.input_shape[1:])
    if tuple(splits.image_shape) != expected:
        raise ValueError(
            f"--data {args.data or recipe['data']['source']} has images of shape {splits.image_shape}, but the "
            f"encoder of {args.run} takes {expected}: evaluate on data of the training shape."
        )
    batch = recipe["evaluate"]["batch_size"]
    train_f = evaluation.extract_features(encoder, splits.x_train, batch_size=batch)
    test_f = evaluation.extract_features(encoder, splits.x_test, batch_size=batch)
    if args.kind == "linear-probe":
        result = evaluation.linear_probe(train_f, splits.y_train, test_f, splits.y_test)
        result = {"linear_probe_top1": float(result["top1"]), **{k: v for k, v in result.items() if k != "top1"}}
    else:
        result = evaluation.knn_classify(
            train_f,
            splits.y_train,
            test_f,
            splits.y_test,
            k=args.k,
            temperature=args.temperature,
            num_classes=splits.num_classes,
        )
        result = {"knn_top1": float(result["top1"]), "k": args.k, "temperature": args.temperature}
    result["data"] = splits.name
    print(json.dumps(result, indent=2, sort_keys=True, default=float))
    if args.out:
        atomic_write_json(args.out, json.loads(json.dumps(result, default=float)))


def _export(args):
    from keras_contrastive import export, training

    model, recipe = training.load_run(args.run)
    target = args.to
    if target is None:
        name = recipe["export"]["name"] or os.path.basename(os.path.normpath(args.run))
        target = os.path.join("savedmodels", name)
    assets = {}
    for name in ("recipe.yaml", "metrics.json", "command.txt", "progress.json"):
        path = os.path.join(args.run, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                assets[name] = f.read()
    if model.modality == "text":  # raw strings in, tokenized in the graph
        from keras_contrastive.text import export_text_encoder

        path = export_text_encoder(model, target, version=args.version, assets=assets)
    else:
        path = export.export_encoder(model.encoder, target, version=args.version, assets=assets)
    print(f"exported {args.run} to {path}")


def main(argv=None):
    args = _parser().parse_args(argv)
    from keras_contrastive.recipes import RecipeError
    from keras_contrastive.training import TrainingError

    try:
        {"train": _train, "evaluate": _evaluate, "export": _export}[args.command](args)
    except (RecipeError, TrainingError, ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"keras-contrastive {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `keras-contrastive` command line.

keras-contrastive train RECIPE [--set section.key=value ...] [--output DIR] [--strategy auto]
keras-contrastive evaluate linear-probe --run DIR [--data SPEC] [--out FILE]
keras-contrastive evaluate knn --run DIR [--data SPEC] [--k 200] [--out FILE]
keras-contrastive evaluate sts --model PATH --sts-dir DIR [--out FILE]
keras-contrastive export --run DIR --to savedmodels/NAME [--version N] [--quantize int8|int4]
keras-contrastive evaluate zero-shot --model RUN --data SPEC --classes LIST [--templates LIST]
    [--descriptions FILE|none] [--out FILE]  # CLIP
keras-contrastive evaluate retrieval --model RUN [--data SPEC] [--out FILE]  # CLIP
keras-contrastive evaluate few-shot --run DIR --fraction 0.01|0.1 [--steps 300] [--out FILE]
keras-contrastive plot embeddings|similarity|temperature --run DIR --out FILE.png
keras-contrastive zoo publish --run DIR --name NAME [--root savedmodels] [--quantize int8|int4] | zoo list
"""

import argparse
import json
import os
import shlex
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DESCRIPTIONS_HELP = (
    "zero-shot class descriptions: a JSON file {class: [phrases]} (default for the emoji groups: each group's "
    "Unicode subgroup names; 'none': the class names alone)"
)
QUANTIZE_HELP = "int8: weight-only int8 Dense/Embedding kernels (a text encoder's size / 4); int4: 4-bit embeddings"
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
    for kind, text in (("zero-shot", "zero-shot top-1 of an image-text model (CLIP)"), ("retrieval", "R@1/5/10")):
        p = kinds.add_parser(kind, help=text)
        p.add_argument("--model", required=True, help="a CLIP run directory or .keras file")
        p.add_argument("--data", help="emoji, tuxpaint, emoji+tuxpaint, folder:PATH or manifest:PATH (default: run's)")
        p.add_argument("--split", choices=["held_out", "train", "all"], default="held_out")
        if kind == "zero-shot":
            p.add_argument("--classes", help="class names in label order: a file (one a line) or comma-separated")
            p.add_argument("--templates", help="prompt templates with {}: a file or comma-separated")
            p.add_argument("--descriptions", help=DESCRIPTIONS_HELP)
        p.add_argument("--out", help="also write the result as JSON to this file")

    few = kinds.add_parser("few-shot", help="fine-tune encoder + linear head on a fraction of labels, vs scratch")
    few.add_argument("--run", required=True, help="a run directory written by `train`")
    few.add_argument("--fraction", type=float, required=True, help="class-balanced fraction of labels, e.g. 0.01")
    few.add_argument("--data", help=f"data spec ({DATA_HELP}); default: the run's recipe")
    few.add_argument("--steps", type=int, default=300, help="fine-tuning steps, the same for both models")
    few.add_argument("--batch-size", type=int, default=64)
    few.add_argument("--learning-rate", type=float, default=1e-3)
    few.add_argument("--seed", type=int, default=0)
    few.add_argument("--out", help="also write the result as JSON to this file")

    export = sub.add_parser("export", help="export a run's encoder as a TF Serving SavedModel")
    export.add_argument("--run", required=True, help="a run directory written by `train`")
    export.add_argument(
        "--to", help="model directory, e.g. savedmodels/simclr_fashion_mnist (default: savedmodels/<export.name>)"
    )
    export.add_argument("--version", type=int, help="version number (default: the next free one)")
    export.add_argument("--classes", help="CLIP: zero-shot classes, a file or comma-separated (default: emoji groups)")
    export.add_argument("--templates", help="CLIP: zero-shot prompt templates with {}, a file or comma-separated")
    export.add_argument("--descriptions", help="CLIP: " + DESCRIPTIONS_HELP)
    export.add_argument("--quantize", choices=["int8", "int4"], help=QUANTIZE_HELP)

    plot = sub.add_parser("plot", help="PNG figures of a run: embeddings, view similarities, temperature")
    figures = plot.add_subparsers(dest="figure", required=True)
    for figure, text in (
        ("embeddings", "2-D projection (t-SNE, or PCA) of test-image features coloured by class"),
        ("similarity", "cosine-similarity heatmap of a batch of two views, positive pairs marked"),
        ("temperature", "NT-Xent loss and softmax sharpness against the temperature, one batch"),
    ):
        p = figures.add_parser(figure, help=text)
        p.add_argument("--run", required=True, help="a run directory written by `train`")
        p.add_argument("--out", required=True, help="PNG file to write")
        p.add_argument("--data", help=f"data spec ({DATA_HELP}); default: the run's recipe")
        p.add_argument("--seed", type=int, default=0)
        if figure == "embeddings":
            p.add_argument("--count", type=int, default=2000, help="test images to embed (default 2000)")
            p.add_argument("--projection", choices=["auto", "pca", "tsne"], default="auto")
        else:
            p.add_argument("--batch", type=int, default=16 if figure == "similarity" else 128, help="images")

    zoo = sub.add_parser("zoo", help="the model zoo under savedmodels/")
    actions = zoo.add_subparsers(dest="action", required=True)
    publish = actions.add_parser("publish", help="export a run into the zoo with its metadata")
    publish.add_argument("--run", required=True, help="a run directory written by `train`")
    publish.add_argument("--name", required=True, help="the model's name, e.g. simclr_quickstart")
    publish.add_argument("--root", help="the zoo folder (default: savedmodels)")
    publish.add_argument("--version", type=int, help="version number (default: the next free one)")
    publish.add_argument("--quantize", choices=["int8", "int4"], help=QUANTIZE_HELP)
    listing = actions.add_parser("list", help="list the zoo's models")
    listing.add_argument("--root", help="the zoo folder (default: savedmodels)")
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

    if args.kind == "few-shot":
        return _few_shot(args)
    if args.kind in ("zero-shot", "retrieval"):
        from keras_contrastive import clip_training

        kwargs = (
            {"classes": args.classes, "templates": args.templates, "descriptions": args.descriptions}
            if args.kind == "zero-shot"
            else {}
        )
        result = clip_training.evaluate_command(args.kind, args.model, args.data, split=args.split, **kwargs)
        print(json.dumps(result, indent=2, sort_keys=True))
        return atomic_write_json(args.out, result) if args.out else None
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


def run_assets(run_dir):
    """`{name: text}` of the run files an export carries in its `assets/`."""
    assets = {}
    for name in ("recipe.yaml", "metrics.json", "command.txt", "progress.json"):
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                assets[name] = f.read()
    return assets


def _export(args):
    from keras_contrastive import export, training

    model, recipe = training.load_run(args.run)
    target = args.to
    if target is None:
        name = recipe["export"]["name"] or os.path.basename(os.path.normpath(args.run))
        target = os.path.join("savedmodels", name)
    assets = run_assets(args.run)
    if getattr(args, "quantize", None):
        from keras_contrastive.export.quantize import quantize_weights

        quantize_weights(model, args.quantize)
        assets["quantization.txt"] = f"{args.quantize}: weight-only (export/quantize.py)\n"
    if model.modality == "image_text":  # CLIP: image tower, text tower, zero-shot classifier
        from keras_contrastive import clip_training

        paths = clip_training.export_run(
            model, target, recipe, args.version, assets, args.classes, args.templates, args.descriptions
        )
        path = ", ".join(paths.values())
    elif model.modality == "text":  # raw strings in, tokenized in the graph
        from keras_contrastive.text import export_text_encoder

        path = export_text_encoder(model, target, version=args.version, assets=assets)
    else:
        path = export.export_encoder(model.encoder, target, version=args.version, assets=assets)
    print(f"exported {args.run} to {path}")


def _few_shot(args):
    import keras

    from keras_contrastive import data, training
    from keras_contrastive.evaluation.few_shot import few_shot_comparison
    from keras_contrastive.io_utils import atomic_write_json

    model, recipe = training.load_run(args.run)
    splits = data.load_data(args.data) if args.data else training.load_splits(recipe)
    pretrained = keras.models.clone_model(model.encoder)
    pretrained.set_weights(model.encoder.get_weights())
    keras.utils.set_random_seed(args.seed)
    scratch = training.build_model(recipe, splits.image_shape).encoder  # same architecture, random weights
    result = few_shot_comparison(
        pretrained,
        scratch,
        splits,
        args.fraction,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    result.update({"run": args.run, "data": splits.name})
    print(json.dumps(result, indent=2, sort_keys=True))
    if args.out:
        atomic_write_json(args.out, result)


def _plot(args):
    from keras_contrastive import plots

    if args.figure == "embeddings":
        path = plots.embeddings_of_run(args.run, args.out, args.data, args.count, args.projection, args.seed)
    elif args.figure == "similarity":
        path = plots.similarity_of_run(args.run, args.out, args.data, args.batch, args.seed)
    else:
        path = plots.temperature_of_run(args.run, args.out, args.data, args.batch, args.seed)
    print(f"wrote {path}")


def _zoo(args):
    from keras_contrastive import zoo

    if args.action == "list":
        for item in zoo.list(args.root):
            print(f"{item['name']}\tversions {item['versions']}\t{item['path']}")
        return
    words = ["zoo", "publish", "--run", args.run, "--name", args.name]
    words += [f"--{k}={getattr(args, k)}" for k in ("root", "version", "quantize") if getattr(args, k) is not None]
    command = "keras-contrastive " + " ".join(shlex.quote(str(w)) for w in words)
    path = zoo.publish(
        args.run, args.name, root=args.root, version=args.version, command=command, quantize=args.quantize
    )
    print(f"published {args.run} as {path}")


def main(argv=None):
    args = _parser().parse_args(argv)
    from keras_contrastive.recipes import RecipeError
    from keras_contrastive.training import TrainingError

    try:
        commands = {"train": _train, "evaluate": _evaluate, "export": _export, "plot": _plot, "zoo": _zoo}
        commands[args.command](args)
    except (RecipeError, TrainingError, ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"keras-contrastive {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `keras-contrastive` command line: it parses arguments, calls one library function, prints the result.

keras-contrastive train RECIPE [--set section.key=value ...] [--output DIR] [--strategy auto]
    [--precision auto|float32|mixed_float16|mixed_bfloat16]
keras-contrastive evaluate linear-probe|knn --model RUN|EXPORT|ZOO_NAME [--data SPEC] [--out FILE]
keras-contrastive evaluate few-shot --model RUN|EXPORT|ZOO_NAME --fraction 0.01 [--steps 300] [--out FILE]
keras-contrastive evaluate sts --model PATH --sts-dir DIR [--out FILE]
keras-contrastive evaluate zero-shot --model RUN|EXPORT|ZOO_NAME [--data SPEC] [--classes LIST]
    [--templates LIST] [--descriptions FILE|none] [--out FILE]  # image-text (CLIP)
keras-contrastive evaluate retrieval --model RUN|EXPORT [--data SPEC] [--out FILE]  # image-text (CLIP)
keras-contrastive export --run DIR --to savedmodels/NAME [--version N] [--quantize int8|int4]
keras-contrastive export --index DIR --to savedmodels/NAME [--k 10] [--version N]  # a retrieval SavedModel
keras-contrastive plot embeddings|similarity|temperature --model RUN|EXPORT|ZOO_NAME --out FILE.png
keras-contrastive zoo publish --run DIR --name NAME [--root savedmodels] [--quantize int8|int4] | zoo list
keras-contrastive data shard folder:PATH --to DIR --shards N [--workers W] [--seed S]
keras-contrastive embed --model PATH --input FILE|FOLDER|SPEC --out FILE.npy|FILE.parquet [--no-normalize]
keras-contrastive index --model PATH --input FILE|FOLDER|SPEC|EMBED.npy ... --out DIR [--shard I/N] [--ann]
keras-contrastive index --merge DIR1 DIR2 ... --out DIR [--ann]
keras-contrastive search --index DIR (--query TEXT | --image FILE | --queries FILE) [--k 10] [--json]
keras-contrastive mine --model PATH --pairs TSV --corpus FILE|wordnet|stsb:PATH --out TSV [--k 1] [--margin 0.05]
"""

import argparse
import json
import os
import re
import shlex
import sys
import tempfile

# Names only (it imports nothing): the parser is built before TensorFlow loads.
from keras_contrastive.run_options import PRECISION_CHOICES, STRATEGIES

DESCRIPTIONS_HELP = (
    "zero-shot class descriptions: a JSON file {class: [phrases]} (default for the emoji groups: each group's "
    "Unicode subgroup names; 'none': the class names alone)"
)
QUANTIZE_HELP = "int8: weight-only int8 Dense/Embedding kernels (a text encoder's size / 4); int4: 4-bit embeddings"
MODEL_HELP = "a run directory, an exported SavedModel (version or model folder) or a zoo model's name"


def _model_argument(parser, help_text=MODEL_HELP):
    # --run: the older name of --model, for run directories.
    parser.add_argument("--model", "--run", dest="model", required=True, help=help_text)


def _parser():
    from keras_contrastive.data import sources as data_sources  # the accepted data specs, for the help

    parser = argparse.ArgumentParser(prog="keras-contrastive", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a recipe, then evaluate it (resumes an interrupted run)")
    train.add_argument("recipe", help="a YAML recipe, e.g. recipes/quickstart.yaml")
    train.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a key")
    train.add_argument("--output", help="run directory (default: runs/<recipe name>)")
    train.add_argument("--strategy", default="auto", choices=STRATEGIES)
    train.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        help="Keras dtype policy (default: the recipe's train.precision; auto: bfloat16 where the CPU has it)",
    )
    train.add_argument("--verbose", default="auto", help="Keras fit verbosity: auto, 0, 1 or 2")

    evaluate = sub.add_parser("evaluate", help="evaluate a model: a run, an export or a zoo model")
    kinds = evaluate.add_subparsers(dest="kind", required=True)
    for kind, text in (("linear-probe", "linear probe on frozen features"), ("knn", "weighted kNN top-1")):
        p = kinds.add_parser(kind, help=text)
        _model_argument(p)
        p.add_argument(
            "--data", help=f"data spec ({data_sources.help_text('image')}); default: the model's training data"
        )
        p.add_argument("--out", help="also write the result as JSON to this file")
        if kind == "knn":
            p.add_argument("--k", type=int, default=200)
            p.add_argument("--temperature", type=float, default=0.1)
    sts = kinds.add_parser("sts", help="STS12-16 and STS-B Spearman x 100 of a sentence encoder")
    _model_argument(
        sts,
        "a text run directory, a .keras file, an exported SavedModel, a zoo model, a local keras-hub / Hugging "
        "Face preset folder, or 'minilm'",
    )
    sts.add_argument("--sts-dir", required=True, help="SentEval-layout STS folder, e.g. ../shared/data/sts")
    sts.add_argument("--pooling", choices=["cls", "mean"], default="mean", help="pooling of a preset (default mean)")
    sts.add_argument("--out", help="also write the result as JSON to this file")
    for kind, text in (("zero-shot", "zero-shot top-1 of an image-text model (CLIP)"), ("retrieval", "R@1/5/10")):
        p = kinds.add_parser(kind, help=text)
        _model_argument(p, "a CLIP run directory, .keras file, export folder, or (zero-shot) a zoo classifier")
        p.add_argument("--data", help=f"{data_sources.help_text('image_text')} (default: the run's)")
        p.add_argument("--split", choices=["held_out", "train", "all"], default="held_out")
        if kind == "zero-shot":
            p.add_argument("--classes", help="class names in label order: a file (one a line) or comma-separated")
            p.add_argument("--templates", help="prompt templates with {}: a file or comma-separated")
            p.add_argument("--descriptions", help=DESCRIPTIONS_HELP)
        p.add_argument("--out", help="also write the result as JSON to this file")

    few = kinds.add_parser("few-shot", help="fine-tune encoder + linear head on a fraction of labels, vs scratch")
    _model_argument(few)
    few.add_argument("--fraction", type=float, required=True, help="class-balanced fraction of labels, e.g. 0.01")
    few.add_argument(
        "--data", help=f"data spec ({data_sources.help_text('image')}); default: the model's training data"
    )
    few.add_argument("--steps", type=int, default=300, help="fine-tuning steps, the same for both models")
    few.add_argument("--batch-size", type=int, default=64)
    few.add_argument("--learning-rate", type=float, default=1e-3)
    few.add_argument("--seed", type=int, default=0)
    few.add_argument("--out", help="also write the result as JSON to this file")

    export = sub.add_parser("export", help="export a run's encoder, or an index, as a TF Serving SavedModel")
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument("--run", help="a run directory written by `train`")
    what.add_argument("--index", help="an index directory: a retrieval SavedModel (query in, top-k ids out)")
    export.add_argument("--k", type=int, default=10, help="--index: results per query (default 10)")
    export.add_argument(
        "--to", help="model directory, e.g. savedmodels/simclr_fashion_mnist (default: savedmodels/<export.name>)"
    )
    export.add_argument("--version", type=int, help="version number (default: the next free one)")
    export.add_argument("--classes", help="CLIP: zero-shot classes, a file or comma-separated (default: emoji groups)")
    export.add_argument("--templates", help="CLIP: zero-shot prompt templates with {}, a file or comma-separated")
    export.add_argument("--descriptions", help="CLIP: " + DESCRIPTIONS_HELP)
    export.add_argument("--quantize", choices=["int8", "int4"], help=QUANTIZE_HELP)

    plot = sub.add_parser("plot", help="PNG figures of a model: embeddings, view similarities, temperature")
    figures = plot.add_subparsers(dest="figure", required=True)
    for figure, text in (
        ("embeddings", "2-D projection (t-SNE, or PCA) of test-image features coloured by class"),
        ("similarity", "cosine-similarity heatmap of a batch of two views, positive pairs marked"),
        ("temperature", "NT-Xent loss and softmax sharpness against the temperature, one batch"),
    ):
        p = figures.add_parser(figure, help=text)
        _model_argument(p)
        p.add_argument("--out", required=True, help="PNG file to write")
        p.add_argument(
            "--data", help=f"data spec ({data_sources.help_text('image')}); default: the model's training data"
        )
        p.add_argument("--seed", type=int, default=0)
        if figure == "embeddings":
            p.add_argument("--count", type=int, default=2000, help="test images to embed (default 2000)")
            p.add_argument("--projection", choices=["auto", "pca", "tsne"], default="auto")
        else:
            p.add_argument("--batch", type=int, default=16 if figure == "similarity" else 128, help="images")

    zoo = sub.add_parser("zoo", help="the model zoo (savedmodels/, or $KERAS_CONTRASTIVE_ZOO)")
    actions = zoo.add_subparsers(dest="action", required=True)
    publish = actions.add_parser("publish", help="export a run into the zoo with its metadata")
    publish.add_argument("--run", required=True, help="a run directory written by `train`")
    publish.add_argument("--name", required=True, help="the model's name, e.g. simclr_quickstart")
    publish.add_argument("--root", help="the zoo folder (default: $KERAS_CONTRASTIVE_ZOO, else savedmodels)")
    publish.add_argument("--version", type=int, help="version number (default: the next free one)")
    publish.add_argument("--quantize", choices=["int8", "int4"], help=QUANTIZE_HELP)
    listing = actions.add_parser("list", help="list the zoo's models")
    listing.add_argument("--root", help="the zoo folder (default: $KERAS_CONTRASTIVE_ZOO, else savedmodels)")

    data = sub.add_parser("data", help="prepare data: write an image folder as TFRecord shards")
    data_actions = data.add_subparsers(dest="action", required=True)
    shard = data_actions.add_parser("shard", help="write folder:PATH as TFRecord shards (read with tfrecord:DIR)")
    shard.add_argument("source", help="folder:PATH (class sub-folders or none; optional train/ and test/)")
    shard.add_argument("--to", required=True, help="output folder of the shards")
    shard.add_argument("--shards", type=int, required=True, help="shards of the training split")
    shard.add_argument("--workers", type=int, help="processes writing shards in parallel (default: CPU count)")
    shard.add_argument("--seed", type=int, default=0, help="seed of the order files are dealt to shards")

    mine = sub.add_parser("mine", help="mine hard negatives for (anchor, positive) pairs from a corpus")
    _model_argument(mine, "the sentence encoder: a text run, a .keras file, an export, a zoo model or 'minilm'")
    mine.add_argument("--pairs", required=True, help="anchor<TAB>positive lines (UTF-8)")
    mine.add_argument("--corpus", required=True, help=f"candidates: a text file or {data_sources.help_text('text')}")
    mine.add_argument("--out", required=True, help="triplets TSV to write: anchor<TAB>positive<TAB>negative")
    mine.add_argument("--k", type=int, default=1, help="negatives per pair (one line each; default 1)")
    mine.add_argument("--margin", type=float, default=0.05, help="skip sim >= sim(anchor, positive) - margin")
    mine.add_argument("--batch-size", type=int, default=128, help="sentences per encoder call")

    emb = sub.add_parser("embed", help="embed sentences or images into .npy (+ ids) or .parquet, for retrieval")
    _model_argument(emb, MODEL_HELP + ", a CLIP export folder, 'minilm' or a text preset folder")
    emb.add_argument(
        "--input",
        required=True,
        help="a text file (a sentence a line), an image folder, or a data spec "
        f"({data_sources.help_text(('text', 'image'))})",
    )
    emb.add_argument("--out", required=True, help="FILE.npy (ids in FILE.ids.txt) or FILE.parquet")
    emb.add_argument("--batch-size", type=int, default=256, help="inputs per model call")
    emb.add_argument("--no-normalize", action="store_true", help="keep the raw embeddings (default: L2-normalised)")
    emb.add_argument("--shard", metavar="I/N", help="embed part I (from 0) of N of the input: one part a machine")

    index = sub.add_parser("index", help="build a search index of a corpus (or merge index parts)")
    index.add_argument("--model", help=MODEL_HELP + ", 'minilm' or a text preset folder; it also embeds the queries")
    sources = index.add_mutually_exclusive_group(required=True)
    sources.add_argument(
        "--input", nargs="+", help="the corpus: a text file, an image folder, a data spec, or `embed` outputs"
    )
    sources.add_argument("--merge", nargs="+", metavar="DIR", help="index directories to merge (e.g. the shards)")
    index.add_argument("--out", required=True, help="the index directory (written atomically)")
    index.add_argument("--shard", metavar="I/N", help="index part I (from 0) of N of the corpus; merge them after")
    index.add_argument("--batch-size", type=int, default=256, help="inputs per model call")
    index.add_argument("--no-normalize", action="store_true", help="keep raw vectors (default: L2-normalised)")
    index.add_argument("--ann", action="store_true", help='also build the approximate engine (FAISS; the "ann" extra)')
    index.add_argument("--nlist", type=int, help="--ann: inverted lists (default about sqrt(N))")
    index.add_argument("--overwrite", action="store_true", help="replace an existing index at --out")

    search = sub.add_parser("search", help="query an index: top-k ids and scores")
    search.add_argument("--index", required=True, help="an index directory written by `index`")
    queries = search.add_mutually_exclusive_group(required=True)
    queries.add_argument("--query", help="a sentence")
    queries.add_argument("--image", help="an image file (PNG, JPEG, ...)")
    queries.add_argument("--queries", help="a text file (a query a line) or a .npy of query vectors [Q, D]")
    search.add_argument("--k", type=int, default=10, help="results per query (default 10)")
    search.add_argument("--json", action="store_true", help="print the results as JSON")
    search.add_argument("--engine", choices=["auto", "exact", "ann"], default="auto", help="auto: ann if built")
    search.add_argument("--nprobe", type=int, help="--engine ann: lists scanned per query (default 32)")
    search.add_argument("--model", help="embed the queries with this model (default: the index's; checked)")
    return parser


# --- parsing the values of list-like options -----------------------------------------------------------------
def parse_list(value, what):
    """Items of a list option: a file with one item a line, or items separated by commas."""
    if value is None:
        return None
    if os.path.isfile(value):
        with open(value, encoding="utf-8") as f:
            items = [line.strip() for line in f if line.strip()]
    else:
        items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise ValueError(f"--{what} {value!r} lists nothing: give a file (one a line) or comma-separated items.")
    return items


def parse_descriptions(value):
    """`--descriptions`: `"default"` when not given, `None` for `none`, else a JSON file `{class: [phrases]}`."""
    if value is None:
        return "default"
    if value.lower() == "none":
        return None
    if not os.path.isfile(value):
        raise FileNotFoundError(
            f'--descriptions {value!r} is not a file: give a JSON file {{"class": ["phrase", ...]}}, or \'none\' '
            "to describe each class by its name."
        )
    with open(value, encoding="utf-8") as f:
        try:
            descriptions = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f'--descriptions {value!r} is not JSON ({error}): write {{"class": ["phrase"]}}.')
    if not isinstance(descriptions, dict):
        raise ValueError(f"--descriptions {value!r} holds a {type(descriptions).__name__}, not {{class: [phrases]}}.")
    return descriptions


def _command_line(args):
    return "keras-contrastive " + " ".join(shlex.quote(a) for a in args.argv)


def _print_result(result, out=None):
    from keras_contrastive.io_utils import atomic_write_json

    result = json.loads(json.dumps(result, default=float))
    print(json.dumps(result, indent=2, sort_keys=True))
    if out:
        atomic_write_json(out, result)


def _percent(value):
    return f"{100 * value:.1f} %"


def training_summary(metrics):
    """One line of what a run measured, for people (the JSON above it holds everything)."""
    parts = []
    if metrics.get("linear_probe_top1") is not None:
        parts.append(f"linear probe {_percent(metrics['linear_probe_top1'])}")
        for key, name in (("raw_pixel_top1", "raw pixels"), ("random_init_top1", "random-init encoder")):
            if metrics.get(key) is not None:
                parts.append(f"{name} {_percent(metrics[key])}")
        if metrics.get("knn_top1") is not None:
            parts.append(f"kNN {_percent(metrics['knn_top1'])}")
    if metrics.get("zero_shot_top1") is not None:
        parts.append(
            f"zero-shot {_percent(metrics['zero_shot_top1'])} (chance {_percent(metrics['zero_shot_chance'])})"
        )
    if metrics.get("text_to_image_r@5") is not None:
        parts.append(f"text -> image R@5 {_percent(metrics['text_to_image_r@5'])}")
    if metrics.get("final_loss") is not None:
        parts.append(f"final loss {metrics['final_loss']:.4f}")
    parts.append(f"{metrics.get('epochs')} epochs in {metrics.get('train_seconds', 0):.0f} s")
    return " | ".join(parts)


# --- the commands --------------------------------------------------------------------------------------------
def _train(args):
    from keras_contrastive import recipes, runs

    overrides = list(args.set) + ([f"train.precision={args.precision}"] if args.precision else [])
    recipe = recipes.load(args.recipe, overrides=overrides)
    output = args.output or os.path.join("runs", os.path.splitext(os.path.basename(args.recipe))[0])
    verbose = args.verbose if args.verbose == "auto" else int(args.verbose)
    metrics = runs.train(recipe, output, strategy=args.strategy, verbose=verbose, command=_command_line(args))
    print(json.dumps(metrics, indent=2, sort_keys=True))
    print(training_summary(metrics))
    print(f"run written to {output}")
    if args.strategy == "multi-worker":
        # The workers left `runs.train` together (`distributed.finish_together`). Ending now, without Python's
        # teardown, keeps their ends within TensorFlow's heartbeat timeout (10 s) of each other: a worker that
        # outlives another by more logs "tasks are unhealthy (stopped sending heartbeats)" on a clean run.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _evaluate(args):
    from keras_contrastive import runs

    options = {
        "linear-probe": lambda: {"data_spec": args.data},
        "knn": lambda: {"data_spec": args.data, "k": args.k, "temperature": args.temperature},
        "few-shot": lambda: {
            "fraction": args.fraction,
            "data_spec": args.data,
            "steps": args.steps,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "seed": args.seed,
        },
        "sts": lambda: {"sts_dir": args.sts_dir, "pooling": args.pooling},
        "zero-shot": lambda: {
            "data_spec": args.data,
            "split": args.split,
            "classes": parse_list(args.classes, "classes"),
            "templates": parse_list(args.templates, "templates"),
            "descriptions": parse_descriptions(args.descriptions),
        },
        "retrieval": lambda: {"data_spec": args.data, "split": args.split},
    }[args.kind]()
    result = runs.evaluate_run(args.model, args.kind, **options)
    if args.kind == "sts":
        from keras_contrastive.evaluation.sts import format_sts_table

        print(format_sts_table({k: v for k, v in result.items() if k != "model"}))
    _print_result(result, args.out)


def _export(args):
    from keras_contrastive import runs

    if args.index:
        from keras_contrastive.search import export_index

        if not args.to:
            raise ValueError("export --index needs --to savedmodels/NAME, the retrieval model's folder.")
        if args.quantize or args.classes or args.templates or args.descriptions:
            raise ValueError("--quantize, --classes, --templates and --descriptions are for --run, not --index.")
        path = export_index(args.index, args.to, k=args.k, version=args.version)
        print(f"exported the index {args.index} to {path}")
        return
    paths = runs.export_run(
        args.run,
        to=args.to,
        version=args.version,
        quantize=args.quantize,
        classes=parse_list(args.classes, "classes"),
        templates=parse_list(args.templates, "templates"),
        descriptions=parse_descriptions(args.descriptions),
    )
    print(f"exported {args.run} to {', '.join(paths.values())}")


def _plot(args):
    from keras_contrastive import plots

    plots.require_plotting()  # before any model is loaded
    if args.figure == "embeddings":
        path = plots.embeddings_of_model(args.model, args.out, args.data, args.count, args.projection, args.seed)
    elif args.figure == "similarity":
        path = plots.similarity_of_model(args.model, args.out, args.data, args.batch, args.seed)
    else:
        path = plots.temperature_of_model(args.model, args.out, args.data, args.batch, args.seed)
    print(f"wrote {path}")


def _zoo(args):
    import warnings

    from keras_contrastive import zoo, zoo_publish

    if args.action == "list":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            items = zoo.list(args.root)
        if not items:
            print(zoo.empty_zoo_message(args.root or zoo.default_root()), file=sys.stderr)
        for item in items:
            print(f"{item['name']}\tversions {item['versions']}\t{item['path']}")
        return
    path = zoo_publish.publish(
        args.run, args.name, root=args.root, version=args.version, command=_command_line(args), quantize=args.quantize
    )
    print(f"published {args.run} as {path}")


def _data(args):
    from keras_contrastive.data.tfrecord import write_shards

    result = write_shards(args.source, args.to, args.shards, workers=args.workers, seed=args.seed)
    shards = result["shards"]
    counts = ", ".join(f"{n} {split} images in {shards[split]} shards" for split, n in result["counts"].items())
    print(f"wrote {counts} to {result['to']} ({result['written']} shards written, {result['kept']} already complete)")


def _mine(args):
    from keras_contrastive import runs

    result = runs.mine_triplets(
        args.model, args.pairs, args.corpus, args.out, k=args.k, margin=args.margin, batch_size=args.batch_size
    )
    _print_result(result)


def _embed(args):
    from keras_contrastive import runs

    result = runs.write_embeddings(
        args.model, args.input, args.out, batch_size=args.batch_size, normalize=not args.no_normalize, shard=args.shard
    )
    _print_result(result)


# A line of TensorFlow's C++ logging (absl's format: severity, month and day, time, thread, file:line]; TensorFlow
# 2.21 writes the time as 00:00:SECONDS), absl's note before its logging is initialised, and the continuation
# of TensorFlow's CPU-feature note.
TF_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags)"
)


def quiet_tensorflow(environ=None):
    """Hides the lines TensorFlow's C++ side prints when it starts (`E0000 ... failed call to cuInit` without
    a GPU, oneDNN notes, "rebuild TensorFlow with the appropriate compiler flags", absl's "All log messages
    before absl::InitializeLog()"), unless the user set `TF_CPP_MIN_LOG_LEVEL`: their setting is kept
    (`TF_CPP_MIN_LOG_LEVEL=0` shows everything). Sets the level to 3 for the rest of the process, before
    TensorFlow reads it. Python-side warnings are untouched. Returns the level in effect, and whether it was
    chosen here."""
    environ = os.environ if environ is None else environ
    if "TF_CPP_MIN_LOG_LEVEL" in environ:
        return environ["TF_CPP_MIN_LOG_LEVEL"], False
    environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return "3", True


def import_tensorflow_quietly():
    """Imports TensorFlow with the process's stderr (file descriptor 2) set aside, then writes back what was
    printed meanwhile except TensorFlow's C++ log lines (`TF_LOG_LINE`). The few lines TensorFlow's libraries
    print as they load come before it reads `TF_CPP_MIN_LOG_LEVEL`; Python warnings of the import are kept."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to set aside (a closed descriptor): nothing would be seen anyway
        import tensorflow  # noqa: F401

        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
    kept = [line for line in text.splitlines(keepends=True) if not TF_LOG_LINE.match(line)]
    if kept:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()


def _index(args):
    from keras_contrastive import search

    if args.merge:
        index = search.merge_indexes(args.merge, args.out, ann=args.ann, nlist=args.nlist, overwrite=args.overwrite)
    else:
        if not args.model:
            raise ValueError("index --input needs --model: the model that embeds the corpus (and later the queries).")
        inputs = args.input[0] if len(args.input) == 1 else args.input
        index = search.build_index(
            args.model,
            inputs,
            args.out,
            batch_size=args.batch_size,
            normalize=not args.no_normalize,
            shard=args.shard,
            ann=args.ann,
            nlist=args.nlist,
            overwrite=args.overwrite,
        )
    keys = ("model", "modality", "count", "dim", "normalized", "shard")
    _print_result({"index": index.path, **{key: index.meta.get(key) for key in keys}, "ann": index.has_ann})


def _read_queries(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--queries {path}: no such file (a text file, a query a line, or a .npy).")
    if path.endswith(".npy"):
        import numpy as np

        vectors = np.load(path)
        return vectors, [f"vector {i}" for i in range(len(vectors))]
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    if not lines:
        raise ValueError(f"--queries {path} holds no query: write one query a line.")
    return lines, lines


def _search(args):
    from keras_contrastive import search

    index = search.load_index(args.index)
    if args.query is not None:
        queries, labels = [args.query], [args.query]
    elif args.image is not None:
        queries, labels = index.read_images([args.image], args.model), [args.image]
    else:
        queries, labels = _read_queries(args.queries)
    result = index.search(queries, k=args.k, engine=args.engine, nprobe=args.nprobe, model=args.model)
    if args.json:
        print(json.dumps({"index": args.index, "k": args.k, "results": result.to_list(labels)}, indent=2))
        return
    for label, ids, scores in zip(labels, result.ids, result.scores):
        print(f"query: {label}")
        for rank, (i, score) in enumerate(zip(ids, scores), start=1):
            print(f"{rank:4d}  {score:.4f}  {i}")


def main(argv=None):
    _, quiet = quiet_tensorflow()
    args = _parser().parse_args(argv)  # `--help` loads no TensorFlow (the sources it lists are declared without)
    if quiet:
        import_tensorflow_quietly()
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command recorded in run and zoo metadata
    from keras_contrastive.recipes import RecipeError
    from keras_contrastive.runs import TrainingError

    try:
        commands = {"train": _train, "evaluate": _evaluate, "export": _export, "plot": _plot, "zoo": _zoo}
        commands["data"] = _data
        commands["mine"] = _mine
        commands["embed"] = _embed
        commands["index"] = _index
        commands["search"] = _search
        commands[args.command](args)
    except (RecipeError, TrainingError, ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"keras-contrastive {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

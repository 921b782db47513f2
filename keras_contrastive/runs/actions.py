"""Everything the command line does with a trained model, as library functions: export a run, evaluate
any model (run, export or zoo name) by linear probe, kNN, few-shot, STS, zero-shot or retrieval.

Each returns a dict (or the export's paths) and prints nothing; the CLI parses its arguments, calls one of
these and prints the result.
"""

import contextlib
import functools
import os

from keras_contrastive import data, evaluation
from keras_contrastive.data import image_text
from keras_contrastive.evaluation import retrieval, zero_shot
from keras_contrastive.evaluation.few_shot import few_shot_comparison
from keras_contrastive.evaluation.image_text import stream_pair_embeddings
from keras_contrastive.runs import core
from keras_contrastive.runs.image_task import data_dir_of, load_splits, stream_features
from keras_contrastive.runs.image_text_task import list_pairs, load_pairs
from keras_contrastive.runs.sources import open_model
from keras_contrastive.runs.train import task_for


# --- export ---------------------------------------------------------------------------------------------------
def _export_assets(run_dir, model, quantize=None):
    """The run files an export carries; with `quantize` the model's kernels are quantized first (in place)
    and `quantization.txt` says how."""
    assets = core.run_assets(run_dir)
    if quantize:
        from keras_contrastive.export.quantize import quantize_weights

        quantize_weights(model, quantize)
        assets["quantization.txt"] = f"{quantize}: weight-only (export/quantize.py)\n"
    return assets


def export_run(run_dir, to=None, version=None, quantize=None, classes=None, templates=None, descriptions="default"):
    """Exports a finished run as TF Serving SavedModel(s), its run files (`recipe.yaml`, `metrics.json`,
    `command.txt`, `progress.json`) in `assets/`.

    Args:
        run_dir: str. A run directory written by `train`.
        to: str or None. The model folder. Defaults to `savedmodels/<export.name>` (the recipe's), or
            `savedmodels/<run folder name>`.
        version: int or None. Defaults to the next free version.
        quantize: str or None. `"int8"` or `"int4"`: weight-only quantized kernels (`export.quantize`).
        classes, templates, descriptions: CLIP runs only, the zero-shot classifier's class names and prompt
            templates (lists of str; default: the emoji groups when the run's data hold emoji) and
            descriptions (`{class: [phrases]}`, `None` for the bare names, `"default"`).

    Returns:
        `{name: version folder}`: `encoder` for image and text runs; `image_tower`, `text_tower`,
        `zero_shot` for CLIP runs.
    """
    model, recipe = core.load_run(run_dir)
    if to is None:
        to = os.path.join("savedmodels", recipe["export"]["name"] or os.path.basename(os.path.normpath(run_dir)))
    task = task_for(recipe)
    options = {}
    if task.modality == "image_text":
        options = {"classes": classes, "templates": templates, "descriptions": descriptions}
    elif classes is not None or templates is not None or descriptions != "default":
        raise ValueError(
            f"{run_dir} is a {task.modality} run: zero-shot classes, templates and descriptions are for CLIP runs."
        )
    return task.export(model, to, version=version, assets=_export_assets(run_dir, model, quantize), **options)


def export_zero_shot_run(run_dir, to, version=None, quantize=None):
    """A CLIP run's zero-shot classifier alone (its default classes and prompts) as `to/<version>/`."""
    model, recipe = core.load_run(run_dir)
    if model.modality != "image_text":
        raise ValueError(
            f"{run_dir} is a {model.modality} run: only an image-text (CLIP) run has a zero-shot classifier."
        )
    assets = _export_assets(run_dir, model, quantize)
    return task_for(recipe).export_zero_shot(model, to, version=version, assets=assets)


# --- the data a model was trained on -------------------------------------------------------------------------
@contextlib.contextmanager
def recipe_data(source, data_spec):
    """Reading the data of `source`'s recipe (when `data_spec` is `None`): a missing file or folder is
    reported with the recipe key it came from and the way out, `--data SPEC` (the data moved since
    training, or the run was copied from another machine)."""
    try:
        yield
    except FileNotFoundError as e:
        if data_spec is not None or source.recipe is None:
            raise
        cfg = source.recipe["data"]
        where = f"data.source: {cfg['source']}" + (f", data.path: {cfg['path']}" if cfg.get("path") else "")
        raise FileNotFoundError(
            f"{e} {source.spec} was trained on its recipe's data ({where}), which is no longer there: give the "
            "data's new place with --data SPEC (e.g. --data folder:NEW_PATH; data_spec= in Python)."
        ) from e


# --- image evaluation -----------------------------------------------------------------------------------------
def image_splits(source, data_spec=None):
    """The labelled train / test images to evaluate `source` on: `data_spec` (any `data.load_data` spec), or
    the data of the recipe it was trained from; their shape must be the encoder's."""
    expected = source.image_shape
    if data_spec is None:
        if source.recipe is None:
            raise ValueError(
                f"{source.spec} does not say what it was trained on: give the data to evaluate on (--data)."
            )
        with recipe_data(source, data_spec):
            splits = load_splits(source.recipe)
    else:
        splits = data.load_data(data_spec)
    if tuple(splits.image_shape) != tuple(expected):
        raise ValueError(
            f"--data {data_spec or source.recipe['data']['source']} has images of shape {splits.image_shape}, but "
            f"the encoder of {source.spec} takes {expected}: evaluate on data of the training shape."
        )
    return splits


def _evaluate_options(source, batch_size=None):
    cfg = (source.recipe or {}).get("evaluate", {})
    return batch_size or cfg.get("batch_size", 512)


def image_features(source, data_spec=None, batch_size=512):
    """`(train features, train labels, test features, test labels, data name, classes)` of an image model
    on `data_spec` or its recipe's data. A streaming source (`folder:`, `tfrecord:`, `tfds:`) is streamed at
    the encoder's image shape (centred squares, only the features kept); in-memory data (`image_splits`)
    are embedded as arrays."""
    spec = data_spec or (source.recipe["data"]["source"] if source.recipe is not None else None)
    if spec is not None and data.is_streaming_spec(spec):
        height, width, channels = source.image_shape
        data_dir = data_dir_of(source.recipe) if data_spec is None else None
        with recipe_data(source, data_spec):
            stream = data.open_image_source(spec, image_size=(height, width), channels=channels, data_dir=data_dir)
        features = stream_features(lambda x: source.embed_images(x, batch_size=batch_size), stream, batch_size)
        return (*features, stream.name, stream.num_classes)
    splits = image_splits(source, data_spec)
    train = source.embed_images(splits.x_train, batch_size=batch_size)
    test = source.embed_images(splits.x_test, batch_size=batch_size)
    return train, splits.y_train, test, splits.y_test, splits.name, splits.num_classes


def evaluate_linear_probe(model, data_spec=None, batch_size=None):
    """Linear-probe top-1 of an image model's frozen features (the package's protocol: standardised features,
    multinomial logistic regression, L-BFGS)."""
    source = open_model(model)
    source.require("image", "Image features")
    train, y_train, test, y_test, name, _ = image_features(source, data_spec, _evaluate_options(source, batch_size))
    result = evaluation.linear_probe(train, y_train, test, y_test)
    return {
        "linear_probe_top1": float(result["top1"]),
        **{k: v for k, v in result.items() if k != "top1"},
        "model": source.spec,
        "data": name,
    }


def evaluate_knn(model, data_spec=None, k=200, temperature=0.1, batch_size=None):
    """Weighted kNN top-1 (cosine, votes `exp(sim / temperature)`) of an image model's frozen features."""
    source = open_model(model)
    source.require("image", "Image features")
    train, y_train, test, y_test, name, classes = image_features(
        source, data_spec, _evaluate_options(source, batch_size)
    )
    result = evaluation.knn_classify(train, y_train, test, y_test, k=k, temperature=temperature, num_classes=classes)
    return {"knn_top1": float(result["top1"]), "k": k, "temperature": temperature, "model": source.spec,
            "data": name}  # fmt: skip


def few_shot_run(model, fraction, data_spec=None, steps=300, batch_size=64, learning_rate=1e-3, seed=0):
    """Fine-tunes the encoder + a linear head on a class-balanced `fraction` of the labels, beside the same
    architecture trained from scratch the same way (`evaluation.few_shot_comparison`). An export is
    fine-tuned through its serving function (`keras.layers.TFSMLayer`, BatchNorm in inference mode)."""
    source = open_model(model)
    splits = image_splits(source, data_spec)
    pretrained = source.image_encoder()
    scratch = source.random_image_encoder(seed)
    result = few_shot_comparison(
        pretrained, scratch, splits, fraction, steps=steps, batch_size=batch_size, learning_rate=learning_rate,
        seed=seed,
    )  # fmt: skip
    result.update({"model": source.spec, "data": splits.name})
    return result


# --- text -----------------------------------------------------------------------------------------------------
def evaluate_sts(model, sts_dir, pooling="mean", batch_size=64):
    """STS12-16 and STS-B Spearman x 100 (`evaluation.evaluate_sts`) of a sentence encoder: a text run, a
    `.keras` file, an export, a zoo name, a local keras-hub / Hugging Face preset folder or `"minilm"`
    (untrained, `pooling` of its token features)."""
    source = open_model(model, pooling=pooling)
    results = evaluation.evaluate_sts(lambda s: source.embed_text(s, batch_size=batch_size), sts_dir)
    return {**results, "model": source.spec}


def mining_corpus(spec):
    """The candidate sentences of `mine_triplets`: a text file (one sentence a line), or any text source of
    `data.sources` (`wordnet` or `wordnet:DIR`, `stsb:PATH`: every sentence of an STS Benchmark CSV,
    whatever its score, `text:PATH`, `tsv:PATH`)."""
    spec = os.fspath(spec)
    if os.path.isfile(spec):
        return data.load_sentences(spec)
    try:
        parsed = data.sources.parse(spec, "text", what="--corpus")
    except data.sources.SourceError:
        raise FileNotFoundError(
            f"--corpus {spec!r} is not a text file (one sentence a line) or a text source "
            f"({data.sources.help_text('text')})."
        ) from None
    return parsed.kind.corpus(parsed)


def mine_triplets(model, pairs, corpus, out, k=1, margin=0.05, batch_size=128, progress=None):
    """Mines `k` hard negatives for each anchor<TAB>positive line of the file `pairs` from `corpus`
    (`mining_corpus`) under `model` (`mining.mine_hard_negatives`), and writes the triplets TSV `out`
    (anchor<TAB>positive<TAB>negative, one line per negative).

    Returns:
        A dict: `pairs`, `corpus` (sentences), `triplets` (lines written), `pairs_with_fewer_than_k`,
        `seconds`, `model`, `out`.
    """
    import time

    from keras_contrastive.mining import mine_hard_negatives, write_triplets

    anchors, positives, third = data.load_sentence_tuples(pairs)
    if third is not None:
        raise ValueError(f"--pairs {pairs} has three columns: mining takes anchor<TAB>positive pairs.")
    sentences = mining_corpus(corpus)
    source = open_model(model)
    source.require("text", "Mining hard negatives")
    start = time.perf_counter()
    mined = mine_hard_negatives(
        source, anchors, positives, sentences, k=k, margin=margin, batch_size=batch_size, progress=progress
    )
    lines = write_triplets(out, anchors, positives, mined["negatives"])
    return {
        "pairs": len(anchors),
        "corpus": len(sentences),
        "triplets": lines,
        "pairs_with_fewer_than_k": int(sum(len(n) < k for n in mined["negatives"])),
        "seconds": round(time.perf_counter() - start, 1),
        "model": source.spec,
        "out": os.fspath(out),
    }


# --- image-text -----------------------------------------------------------------------------------------------
class _Towers:
    """`encode_images` / `encode_text` of a CLIP export folder's image and text towers."""

    def __init__(self, towers):
        self.image_tower, self.text_tower = towers["image_tower"], towers["text_tower"]

    def encode_images(self, images, batch_size=256):
        return self.image_tower(images, batch_size=batch_size)

    def encode_text(self, captions):
        return self.text_tower(list(captions))


def _image_text_pairs(source, data_spec, split):
    if data_spec is None and source.recipe is None:
        raise ValueError(f"{source.spec} does not say what it was trained on: give the pairs to evaluate on (--data).")
    with recipe_data(source, data_spec):
        pairs = load_pairs(source.recipe, data_spec=data_spec, image_size=source.image_shape[:2])
    pairs = pairs.split(split)
    if not len(pairs):
        raise ValueError(f"The {split} split of {pairs.name} is empty: pass split 'all'.")
    return pairs


def _pair_listing(source, data_spec):
    """The `PairListing` of a streaming image-text source (`data_spec`, else the model's training data), or
    `None` for the in-memory ones."""
    if data_spec is None and source.recipe is None:
        raise ValueError(f"{source.spec} does not say what it was trained on: give the pairs to evaluate on (--data).")
    if data_spec is not None:
        return image_text.list_image_text(data_spec)
    with recipe_data(source, data_spec):
        return list_pairs(source.recipe)


def _image_text_encoder(source):
    return _Towers(source.towers) if source.kind == "clip_export" else source.clip_model()


def evaluate_retrieval(model, data_spec=None, split="held_out", batch_size=256):
    """Recall@1/5/10 image -> text and text -> image (beside a random ranking's) of an image-text model on
    the pairs of `data_spec` (default: its training data), one split."""
    source = open_model(model)
    source.require("image_text", "Retrieval")
    encoder = _image_text_encoder(source)
    listing = _pair_listing(source, data_spec)
    if listing is not None:  # a folder or a manifest: its images streamed, as the run evaluated them
        held = listing.split(split)
        if not len(held):
            raise ValueError(f"The {split} split of {listing.name} is empty: pass split 'all'.")
        images, pairs = stream_pair_embeddings(encoder, held, source.image_shape[:2], batch_size)
    else:
        pairs = _image_text_pairs(source, data_spec, split)
        images = encoder.encode_images(pairs.images, batch_size=batch_size)
    result = retrieval.retrieval_recall(images, encoder.encode_text(pairs.captions), pairs.captions)
    return {**result, "model": source.spec, "data": pairs.name, "split": split}


def evaluate_zero_shot(model, data_spec=None, classes=None, templates=None, descriptions="default",
                       split="held_out", batch_size=256):  # fmt: skip
    """Zero-shot top-1 of an image-text model on the labelled pairs of `data_spec` (default: its training
    data), one split (`evaluation.zero_shot.zero_shot_metrics`). `classes`: class names in label order (default:
    the data's); `templates`: prompt templates with `{}`; `descriptions`: `{class: [phrases]}`, `None` (names
    alone) or `"default"` (the emoji groups' Unicode subgroups).

    A zoo model (an exported zero-shot classifier) is scored over its own classes and prompts."""
    source = open_model(model)
    source.require("image_text", "Zero-shot classification")
    pairs = _image_text_pairs(source, data_spec, split)
    result = {"model": source.spec, "data": pairs.name, "split": split}
    if not zero_shot.labelled_pairs(pairs).any() or not (classes or pairs.class_names):
        raise ValueError(
            f"{pairs.name} carries no class labels: zero-shot needs labelled pairs (e.g. --data emoji, labelled by "
            "group) and their class names (--classes, in label order)."
        )
    if source.model is None and source.kind != "clip_export":  # an exported classifier: its own classes
        exported = source.exported
        if list(exported.class_names) != list(pairs.class_names or []):
            raise ValueError(
                f"{source.spec} classifies into {exported.class_names}, not the classes of {pairs.name} "
                f"({pairs.class_names}): evaluate it on data labelled with its classes."
            )
        classify = functools.partial(exported, batch_size=batch_size)
        return {**result, **zero_shot.classifier_zero_shot(classify, pairs, len(exported.class_names))}
    encoder = _image_text_encoder(source)
    result.update(zero_shot.zero_shot_metrics(encoder, pairs, classes, templates, descriptions, batch_size=batch_size))
    return result


# --- every evaluation, by name: the one list (the CLI's `evaluate KIND`, `evaluate_run`) --------------------------
# Each reads a model and its data, then calls its protocol in `evaluation/`.
PROTOCOLS = {
    # image
    "linear-probe": evaluate_linear_probe,
    "knn": evaluate_knn,
    "few-shot": few_shot_run,
    # text
    "sts": evaluate_sts,
    # image-text
    "zero-shot": evaluate_zero_shot,
    "retrieval": evaluate_retrieval,
}
EVALUATIONS = tuple(PROTOCOLS)


def evaluate_run(model, kind, **options):
    """`kind` (one of `EVALUATIONS`) of `model` (a run directory, an export, a zoo name, ...) with the
    options of that evaluation's function (`PROTOCOLS`: `evaluate_linear_probe`, `evaluate_knn`,
    `few_shot_run`, `evaluate_sts`, `evaluate_zero_shot`, `evaluate_retrieval`)."""
    if kind not in PROTOCOLS:
        raise ValueError(f"Unknown evaluation {kind!r}: use one of {', '.join(EVALUATIONS)}.")
    return PROTOCOLS[kind](model, **options)


__all__ = [
    "EVALUATIONS",
    "PROTOCOLS",
    "evaluate_knn",
    "evaluate_linear_probe",
    "evaluate_retrieval",
    "evaluate_run",
    "evaluate_sts",
    "evaluate_zero_shot",
    "export_run",
    "export_zero_shot_run",
    "few_shot_run",
    "image_features",
    "image_splits",
    "mine_triplets",
    "mining_corpus",
]

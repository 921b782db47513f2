"""The model zoo: exported encoders under `savedmodels/<name>/<version>/`.

Each version folder is a TF Serving SavedModel (written by
`keras-contrastive export`) whose `assets/metadata.json` says how it was made
and what it measured: the recipe, the data, the run's metrics, the training
wall time, the commands, the signatures, and `zoo_evaluation`, the scores of
the exported SavedModel itself under `evaluate` (what `tests/test_zoo.py`
re-checks).

    keras-contrastive zoo publish --run runs/quickstart --name simclr_quickstart
    python scripts/make_zoo_readme.py

This module is the zoo itself: where it is, listing, loading and re-evaluating its models.
Putting a run into it is `zoo_publish.publish`; its `README.md` is `zoo_readme.readme_text`.

>>> from keras_contrastive import zoo  # doctest: +SKIP
>>> zoo.list()  # doctest: +SKIP
[{'name': 'simclr_quickstart', 'versions': [1], 'latest': 1, 'path': '.../savedmodels/simclr_quickstart'}]
>>> model = zoo.load("simclr_quickstart")  # doctest: +SKIP
>>> model(images).shape, model.metadata["metrics"]["linear_probe_top1"]  # doctest: +SKIP
"""

import json
import os
import warnings

from keras_contrastive.export.layout import empty_zoo_message, model_versions, zoo_root
from keras_contrastive.export.loaded import METADATA, ExportedModel

MAX_MODEL_BYTES = 30 * 2**20  # one version folder (an int8 MiniLM encoder fits)
MAX_ZOO_BYTES = 100 * 2**20  # the whole savedmodels/ folder
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A loaded zoo model: an exported SavedModel with its metadata (callable on a batch).
ZooModel = ExportedModel


def default_root():
    """Where the zoo's models are (`export.layout.zoo_root`): `$KERAS_CONTRASTIVE_ZOO`, else the
    `savedmodels/` folder of the checkout the package runs from (an editable install), else `./savedmodels`.
    After a normal `pip install .`, set `KERAS_CONTRASTIVE_ZOO` (or pass `root=`) to a checkout's
    `savedmodels/`."""
    return zoo_root()


def default_sts_dir():
    """`$KERAS_CONTRASTIVE_STS_DIR`, else `../shared/data/sts` beside the repository."""
    return os.environ.get("KERAS_CONTRASTIVE_STS_DIR") or os.path.join(os.path.dirname(_REPO), "shared", "data", "sts")


def list(root=None):  # noqa: A001 (the zoo's API name)
    """The models in the zoo: `[{"name", "versions", "latest", "path"}]`, by name. An empty zoo gives `[]`
    and a `UserWarning` saying where models are expected (`export.layout.empty_zoo_message`)."""
    root = root or default_root()
    out = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        versions = model_versions(os.path.join(root, name))
        if versions and not name.startswith("."):
            out.append({"name": name, "versions": versions, "latest": versions[-1], "path": os.path.join(root, name)})
    if not out:
        warnings.warn(empty_zoo_message(root), UserWarning, stacklevel=2)
    return out


def directory_bytes(path):
    """Total size of the files under `path`."""
    total = 0
    for folder, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
    return total


def read_metadata(version_dir):
    """`assets/metadata.json` of a version folder (a clear error if missing)."""
    path = os.path.join(version_dir, "assets", METADATA)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} not found: {version_dir} was exported but not published. Publish it with "
            "`keras-contrastive zoo publish --run RUN --name NAME`."
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load(name, version=None, root=None):
    """The zoo model `name` (its latest version if `version` is None).

    Returns:
        A `ZooModel` (`export.loaded.ExportedModel`): callable on a batch, with `.metadata` and `.signatures`.
    """
    root = root or default_root()
    model_dir = os.path.join(root, name)
    versions = model_versions(model_dir)
    if not versions:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            known = ", ".join(m["name"] for m in list(root))
        if not known:
            raise FileNotFoundError(f"No zoo model {name!r}. {empty_zoo_message(root)}")
        raise FileNotFoundError(f"No zoo model {name!r} under {root} (models there: {known}).")
    version = versions[-1] if version is None else int(version)
    if version not in versions:
        raise FileNotFoundError(f"Zoo model {name!r} has versions {versions}; version {version} is not one.")
    path = os.path.join(model_dir, str(version))
    return ExportedModel(path, read_metadata(path))


def _fashion_mnist_subset_for(image_shape):
    """The shipped subset, resized / channel-tiled to `image_shape` if the model takes another."""
    from keras_contrastive import data

    splits = data.load_data("fashion_mnist_subset")
    if image_shape is None or tuple(image_shape) == splits.image_shape:
        return splits
    import tensorflow as tf

    def convert(x):
        x = tf.image.resize(x, image_shape[:2]) if tuple(image_shape[:2]) != x.shape[1:3] else x
        x = tf.repeat(x, image_shape[2], axis=-1) if image_shape[2] != x.shape[-1] else x
        return tf.cast(tf.round(x), tf.uint8).numpy()

    splits.x_train, splits.x_test = convert(splits.x_train), convert(splits.x_test)
    return splits


def evaluate(model, sts_dir=None):
    """Scores of a `ZooModel` through its serving signature, under the package's protocols.

    Image models: linear probe and kNN (`evaluation.evaluate_features`, the
    recipe's `knn_k` / `knn_temperature`) on the shipped Fashion-MNIST subset,
    fractions in `[0, 1]`. Text models: STS Spearman x 100 average
    (`evaluation.evaluate_sts`) when `sts_dir` exists, else `{}`. Image-text
    (CLIP) zero-shot classifiers: top-1 on the labelled held-out pairs of the
    run's data (the held-out emoji, never trained on).

    Returns:
        A dict: `data` and `linear_probe_top1`, `knn_top1` (images), `data`
        and `sts_avg` (text), or `data`, `zero_shot_top1`,
        `zero_shot_balanced_top1`, `zero_shot_examples` (image-text).
    """
    from keras_contrastive import evaluation

    if model.modality == "image_text":
        return _evaluate_zero_shot(model)

    if model.modality == "text":
        sts_dir = sts_dir or default_sts_dir()
        if not os.path.isdir(sts_dir):
            return {}
        results = evaluation.evaluate_sts(model, sts_dir)
        return {"data": "sts", "sts_avg": float(results["avg"])}
    if model.modality != "image":
        raise ValueError(f"zoo.evaluate: no protocol for modality {model.modality!r} yet.")
    cfg = (model.metadata.get("recipe") or {}).get("evaluate", {})
    splits = _fashion_mnist_subset_for(model.image_shape)
    scores = evaluation.evaluate_features(
        model(splits.x_train),
        splits.y_train,
        model(splits.x_test),
        splits.y_test,
        knn_k=cfg.get("knn_k", 200),
        knn_temperature=cfg.get("knn_temperature", 0.1),
    )
    return {"data": splits.name, "linear_probe_top1": scores["linear_probe_top1"], "knn_top1": scores["knn_top1"]}


def _evaluate_zero_shot(model):
    from keras_contrastive.evaluation.zero_shot import classifier_zero_shot, labelled_pairs
    from keras_contrastive.runs.image_text_task import load_pairs

    recipe = model.metadata["recipe"]
    pairs = load_pairs(recipe, image_size=model.image_shape[:2]).split("held_out")
    if not labelled_pairs(pairs).any():
        raise ValueError(f"{model.metadata.get('name')}: the held-out pairs of {pairs.name} carry no class labels.")
    scores = classifier_zero_shot(model, pairs, len(model.class_names))
    return {
        "data": pairs.name,
        **{k: scores[k] for k in ("zero_shot_top1", "zero_shot_balanced_top1", "zero_shot_examples")},
    }

"""The model zoo: exported encoders under `savedmodels/<name>/<version>/`.

Each version folder is a TF Serving SavedModel (written by
`keras-contrastive export`) whose `assets/metadata.json` says how it was made
and what it measured: the recipe, the data, the run's metrics, the training
wall time, the commands, the signatures, and `zoo_evaluation`, the scores of
the exported SavedModel itself under `evaluate` (what `tests/test_zoo.py`
re-checks).

    keras-contrastive zoo publish --run runs/quickstart --name simclr_quickstart
    python scripts/make_zoo_readme.py

>>> from keras_contrastive import zoo  # doctest: +SKIP
>>> zoo.list()  # doctest: +SKIP
[{'name': 'simclr_quickstart', 'versions': [1], 'latest': 1, 'path': '.../savedmodels/simclr_quickstart'}]
>>> model = zoo.load("simclr_quickstart")  # doctest: +SKIP
>>> model(images).shape, model.metadata["metrics"]["linear_probe_top1"]  # doctest: +SKIP
"""

import datetime
import json
import os
import re
import shutil
import warnings

import numpy as np

from keras_contrastive import runs
from keras_contrastive.export.layout import empty_zoo_message, model_versions, next_version, zoo_root
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
    from keras_contrastive.evaluation.zero_shot import zero_shot_accuracy
    from keras_contrastive.runs.image_text_task import load_pairs

    recipe = model.metadata["recipe"]
    pairs = load_pairs(recipe, image_size=model.image_shape[:2]).split("held_out")
    labelled = pairs.labels >= 0 if pairs.labels is not None else np.zeros(len(pairs), bool)
    if not labelled.any():
        raise ValueError(f"{model.metadata.get('name')}: the held-out pairs of {pairs.name} carry no class labels.")
    probabilities = model(pairs.images[labelled])
    scores = zero_shot_accuracy(probabilities, pairs.labels[labelled], len(model.class_names))
    return {"data": pairs.name, **{f"zero_shot_{k}": scores[k] for k in ("top1", "balanced_top1", "examples")}}


def _signature_summary(signatures):
    def spec(s):
        return {"dtype": s.dtype.name, "shape": [None if d is None else int(d) for d in s.shape]}

    out = {}
    for name, fn in sorted(signatures.items()):
        inputs = fn.structured_input_signature[1]
        outputs = fn.structured_outputs
        out[name] = {
            "inputs": {k: spec(v) for k, v in inputs.items()},
            "outputs": {k: spec(v) for k, v in outputs.items()},
        }
    return out


def _read_run_file(run_dir, name, parse=None):
    path = os.path.join(run_dir, name)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse(text) if parse else text


def _modality(recipe):
    from keras_contrastive import models

    if not recipe.get("method"):
        raise FileNotFoundError(
            "The run directory has no recipe.yaml: is it a run written by `keras-contrastive train`?"
        )
    return models.get_method(recipe["method"]["name"]).modality


def publish(run_dir, name, root=None, version=None, command=None, max_model_bytes=MAX_MODEL_BYTES,
            max_zoo_bytes=MAX_ZOO_BYTES, sts_dir=None, quantize=None):  # fmt: skip
    """Exports a finished run into the zoo as `root/name/<version>/` with `assets/metadata.json`.

    The export (`keras-contrastive export`, which also copies the run's
    `recipe.yaml`, `metrics.json`, `progress.json`, `command.txt` into
    `assets/`) is written to a hidden staging folder under `root`, evaluated
    through its serving signature (`evaluate`), given its metadata, checked
    against the size limits, then renamed into place: a refused or failed
    publish leaves the zoo as it was.

    Args:
        run_dir: str. A run directory written by `keras-contrastive train`.
        name: str. The model's name in the zoo.
        root: str or None. The zoo folder. Defaults to `default_root()`.
        version: int or None. Defaults to the next free version.
        command: str or None. The publishing command, recorded.
        max_model_bytes: int. Refuse a version folder larger than this.
            Defaults to 30 MB.
        max_zoo_bytes: int. Refuse if the zoo would grow past this. Defaults
            to 100 MB.
        sts_dir: str or None. STS data for text models. Defaults to
            `default_sts_dir()`.
        quantize: str or None. `"int8"` or `"int4"`: export with weight-only
            quantized kernels (`export.quantize`), e.g. for a text encoder
            over the size limit. Defaults to `None`.

    Returns:
        The version folder, as a str.
    """
    import yaml

    import keras_contrastive

    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ValueError(f"Zoo names are plain identifiers such as 'simclr_quickstart'. Received {name!r}.")
    root = root or default_root()
    model_dir = os.path.join(root, name)
    os.makedirs(root, exist_ok=True)
    if version is None:
        version = next_version(model_dir)
    final = os.path.join(model_dir, str(int(version)))
    if os.path.lexists(final):
        raise FileExistsError(f"{final} already exists; it was left untouched. Pass another --version.")
    staging = os.path.join(root, f".publish-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        recipe = yaml.safe_load(_read_run_file(run_dir, "recipe.yaml") or "{}")
        to = os.path.join(staging, name)
        if _modality(recipe) == "image_text":  # the zero-shot classifier: its text tower is too large for the zoo
            runs.export_zero_shot_run(run_dir, to, version=int(version), quantize=quantize)
        else:
            runs.export_run(run_dir, to=to, version=int(version), quantize=quantize)
        staged = os.path.join(staging, name, str(int(version)))
        metrics = _read_run_file(run_dir, "metrics.json", json.loads) or {}
        progress = _read_run_file(run_dir, "progress.json", json.loads) or {}
        train_command = (_read_run_file(run_dir, "command.txt") or "").strip() or None
        import keras
        import tensorflow as tf

        modality = _modality(recipe)
        metadata = {
            "name": name,
            "version": int(version),
            "method": recipe["method"]["name"],
            "modality": modality,
            "encoder": recipe.get("encoder", {}),
            "data": {"source": recipe.get("data", {}).get("source"), "name": metrics.get("data")},
            "recipe": recipe,
            "metrics": metrics,
            "train_seconds": progress.get("train_seconds", metrics.get("train_seconds")),
            "epochs": progress.get("epochs_done", metrics.get("epochs")),
            "command": train_command,
            "publish_command": command,
            "quantization": quantize,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "versions": {
                "keras_contrastive": keras_contrastive.__version__,
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
            },
        }
        model = ZooModel(staged, metadata)
        metadata["signatures"] = _signature_summary(model.signatures)
        metadata["zoo_evaluation"] = evaluate(model, sts_dir=sts_dir)
        with open(os.path.join(staged, "assets", METADATA), "w", encoding="utf-8") as f:
            json.dump(metadata, f, indent=2, sort_keys=True, default=float)
            f.write("\n")
        size = directory_bytes(staged)
        if size > max_model_bytes:
            raise ValueError(
                f"Refusing to publish {name}: its SavedModel is {size / 2**20:.1f} MB, over the "
                f"{max_model_bytes / 2**20:.0f} MB limit per zoo model. Use a smaller encoder (encoder.width)"
                + {None: ", or publish with --quantize int8 or int4.", "int8": ", or --quantize int4."}.get(
                    quantize, "."
                )
            )
        zoo_size = directory_bytes(root) - directory_bytes(staging) + size
        if zoo_size > max_zoo_bytes:
            raise ValueError(
                f"Refusing to publish {name}: the zoo would hold {zoo_size / 2**20:.1f} MB, over its "
                f"{max_zoo_bytes / 2**20:.0f} MB limit. Remove an old version first."
            )
        os.makedirs(model_dir, exist_ok=True)
        if os.path.lexists(final):
            raise FileExistsError(f"{final} already exists; it was left untouched. Pass another --version.")
        os.rename(staged, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _fmt(value, scale=100.0, digits=1):
    return "-" if value is None else f"{value * scale:.{digits}f}"


def readme_text(root=None):
    """`savedmodels/README.md`, generated from every model's metadata."""
    root = root or default_root()
    lines = [
        "# savedmodels/",
        "",
        "<!-- Generated by scripts/make_zoo_readme.py from each version's assets/metadata.json: do not edit. -->",
        "",
        "Exported encoders in TensorFlow Serving's layout, `savedmodels/<name>/<version>/` (a SavedModel:",
        "`saved_model.pb`, `variables/`, `assets/`). Every model here is produced only by training its recipe",
        "and publishing the run:",
        "",
        "```bash",
        "keras-contrastive train recipes/<recipe>.yaml --output runs/<recipe>",
        "keras-contrastive zoo publish --run runs/<recipe> --name <name>",
        "python scripts/make_zoo_readme.py",
        "```",
        "",
        "(or `python benchmarks/bench_*.py recipes/<recipe>.yaml`, which trains through the same",
        "`runs.train` and then measures; each model's own commands are listed below).",
        "`zoo publish` runs `export`, evaluates the exported SavedModel through its serving signature",
        "(`zoo_evaluation`: linear probe and kNN on the Fashion-MNIST subset shipped in the package; STS for",
        "text models; zero-shot top-1 on the held-out emoji for CLIP, which the zoo holds as its zero-shot",
        "classifier: image in, probabilities over the 9 emoji groups out) and writes `assets/metadata.json`",
        "(recipe, data, metrics, training time, commands, signatures) beside the run's `recipe.yaml`,",
        "`metrics.json`, `progress.json` and `command.txt`.",
        f"A model over {MAX_MODEL_BYTES // 2**20} MB, or a zoo over {MAX_ZOO_BYTES // 2**20} MB, is refused.",
        "`tests/test_zoo.py` reloads every model and checks it re-evaluates within 1 point.",
        "",
        "```python",
        "from keras_contrastive import zoo",
        "",
        'model = zoo.load("NAME")  # latest version; zoo.list() lists them',
        "embeddings = model(images)  # uint8 or float32 [N, H, W, C] -> [N, D] (CLIP: [N, classes])",
        'model.metadata["metrics"]',
        "```",
        "",
    ]
    entries = []
    for item in list(root):
        for version in item["versions"]:
            path = os.path.join(item["path"], str(version))
            try:
                entries.append((path, read_metadata(path)))
            except FileNotFoundError:
                entries.append((path, {"name": item["name"], "version": version}))
    if not entries:
        lines += ["No models yet.", ""]
        return "\n".join(lines)
    lines += [
        "| model | version | method | data | epochs | training | linear probe % | kNN % "
        "| SavedModel re-evaluated (subset probe, STS or zero-shot) | size |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path, meta in entries:
        metrics, zoo_eval = meta.get("metrics", {}), meta.get("zoo_evaluation", {})
        seconds = meta.get("train_seconds")
        zoo_probe = "-"
        if "linear_probe_top1" in zoo_eval:
            zoo_probe = f"probe {_fmt(zoo_eval['linear_probe_top1'])} %"
        elif "sts_avg" in zoo_eval:
            zoo_probe = f"STS {zoo_eval['sts_avg']:.1f}"
        elif "zero_shot_top1" in zoo_eval:
            zoo_probe = f"zero-shot {_fmt(zoo_eval['zero_shot_top1'])} %"
        lines.append(
            f"| `{meta.get('name')}` | {meta.get('version')} | {meta.get('method', '-')} | "
            f"{(meta.get('data') or {}).get('name') or '-'} | {meta.get('epochs', '-')} | "
            f"{'-' if seconds is None else f'{seconds / 60:.1f} min'} | {_fmt(metrics.get('linear_probe_top1'))} | "
            f"{_fmt(metrics.get('knn_top1'))} | {zoo_probe} | {directory_bytes(path) / 2**20:.1f} MB |"
        )
    lines.append("")
    for path, meta in entries:
        lines += [f"## `{meta.get('name')}` version {meta.get('version')}", ""]
        if meta.get("command"):
            lines += ["```bash", meta["command"], meta.get("publish_command") or "", "```", ""]
        for signature, spec in sorted((meta.get("signatures") or {}).items()):
            inputs = ", ".join(f"`{k}` {v['dtype']} {v['shape']}" for k, v in spec["inputs"].items())
            outputs = ", ".join(f"`{k}` {v['dtype']} {v['shape']}" for k, v in spec["outputs"].items())
            lines.append(f"- `{signature}`: {inputs} -> {outputs}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"

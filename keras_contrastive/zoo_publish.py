"""`publish`: a finished run into the zoo (`zoo`), exported, re-evaluated and described by its metadata.

keras-contrastive zoo publish --run runs/quickstart --name simclr_quickstart
"""

import datetime
import json
import os
import re
import shutil

from keras_contrastive import runs
from keras_contrastive.export.layout import next_version
from keras_contrastive.export.loaded import METADATA
from keras_contrastive.zoo import MAX_MODEL_BYTES, MAX_ZOO_BYTES, ZooModel, default_root, directory_bytes, evaluate


def signature_summary(signatures):
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
        metadata["signatures"] = signature_summary(model.signatures)
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

"""An exported SavedModel, loaded for use: call it on a batch, read what it is.

The exporters write TF Serving's layout, `<name>/<version>/` (`saved_model.pb`, `variables/`, `assets/`).
`ExportedModel` takes a version folder (or a model folder, whose highest version it loads) and tells from
its serving signature what it does:

| modality | `serving_default` | calling it |
|---|---|---|
| `image` | `images` float32 `[B, H, W, C]` -> `embedding` | uint8 or float pixels `[N, H, W, C]` -> `[N, D]` |
| `text` | `sentences` string `[B]` -> `embedding` | a list of strings -> `[N, D]` |
| `image_text` (a zero-shot classifier) | `image_bytes` -> `probabilities`, also `serve_images` | pixels -> `[N, K]` |

`assets/` carries the training run's `recipe.yaml` and `metrics.json` when the export came from a run, and
`metadata.json` when it was published to the zoo.
"""

import json
import os

import numpy as np
import tensorflow as tf

from keras_contrastive.export.export_encoder import SERVING_DEFAULT, embed_images
from keras_contrastive.export.layout import version_dir

METADATA = "metadata.json"


def _read_asset(path, name, parse=None):
    file = os.path.join(path, "assets", name)
    if not os.path.isfile(file):
        return None
    with open(file, encoding="utf-8") as f:
        text = f.read()
    return parse(text) if parse else text


def load_saved_model(path):
    """`tf.saved_model.load(path)`; a text export's TF Text ops are registered first if it needs them, with
    a clear error when TF Text is not installed."""
    path = os.fspath(path)
    try:
        return tf.saved_model.load(path)
    except (tf.errors.NotFoundError, ValueError, KeyError, RuntimeError) as error:  # TF raises each, by op
        if "Op type not registered" not in str(error) and "tensorflow_text" not in str(error):
            raise
    try:
        import tensorflow_text  # noqa: F401 (registers the tokenizer ops of text exports)
    except ImportError:
        raise ValueError(
            f'{path} is a text export, whose tokenizer needs TensorFlow Text: pip install "keras-contrastive[text]".'
        ) from None
    return tf.saved_model.load(path)


class ExportedModel:
    """A SavedModel written by the exporters, loaded: callable on a batch, with its assets.

    Args:
        path: str. A version folder (`<name>/<version>/`) or a model folder (its highest version).
        metadata: dict or None. Defaults to `assets/metadata.json` if present, else `{}`.

    Attributes:
        path: str. The version folder.
        metadata: dict. `assets/metadata.json` (zoo models), else `{}`.
        recipe: dict or None. The training run's recipe (raw YAML), if the export carries it.
        modality: str. `"image"`, `"text"` or `"image_text"` (a zero-shot classifier).
        class_names: list of str or None. A zero-shot classifier's classes.
        loaded: the `tf.saved_model.load` object; `signatures` its serving functions.
    """

    def __init__(self, path, metadata=None):
        resolved = version_dir(path)
        if resolved is None:
            raise FileNotFoundError(
                f"{path} holds no SavedModel: pass a version folder (with saved_model.pb) or a model folder of "
                "integer versions, as `keras-contrastive export` writes them."
            )
        self.path = resolved
        self.metadata = metadata if metadata is not None else (_read_asset(resolved, METADATA, json.loads) or {})
        import yaml

        self.recipe = self.metadata.get("recipe") or _read_asset(resolved, "recipe.yaml", yaml.safe_load)
        self.loaded = load_saved_model(resolved)
        self.signatures = dict(self.loaded.signatures)
        self.modality = self._modality()
        self.class_names = None
        if self.modality == "image_text":
            text = _read_asset(resolved, "classes.txt") or ""
            self.class_names = [line for line in text.split("\n") if line.strip()]

    def _modality(self):
        if SERVING_DEFAULT not in self.signatures:
            raise ValueError(f"{self.path} has no {SERVING_DEFAULT!r} signature: it was not written by an exporter.")
        signature = self.signatures[SERVING_DEFAULT]
        inputs = signature.structured_input_signature[1]
        if "probabilities" in signature.structured_outputs:
            return "image_text"
        if "sentences" in inputs:
            return "text"
        if "images" in inputs:
            return "image"
        raise ValueError(f"{self.path}: its {SERVING_DEFAULT!r} takes {sorted(inputs)}, which no exporter writes.")

    @property
    def image_shape(self):
        """`(H, W, C)` the model takes, or `None` for a text model."""
        signature = "serve_images" if self.modality == "image_text" else SERVING_DEFAULT
        spec = self.signatures[signature].structured_input_signature[1]
        return tuple(spec["images"].shape[1:]) if "images" in spec else None

    def __call__(self, inputs, batch_size=512):
        """Embeddings `[N, D]` of images or sentences (class probabilities `[N, K]` for a zero-shot
        classifier), computed `batch_size` at a time."""
        if self.modality == "text":
            from keras_contrastive.export.text_export import embed_with_export

            return embed_with_export(self.loaded, list(inputs), batch_size=batch_size)
        inputs = np.asarray(inputs)
        chunks = []
        for i in range(0, len(inputs), batch_size):
            images = inputs[i : i + batch_size]
            images = images.astype("float32") / 255.0 if images.dtype.kind in "iub" else images
            if self.modality == "image_text":
                out = self.signatures["serve_images"](images=tf.constant(images, tf.float32))["probabilities"]
                chunks.append(out.numpy())
            else:
                chunks.append(embed_images(self.loaded, images))
        return np.concatenate(chunks, axis=0)

    def __repr__(self):
        name = self.metadata.get("name") or os.path.basename(os.path.dirname(self.path))
        return f"ExportedModel({name!r}, modality={self.modality!r}, path={self.path!r})"

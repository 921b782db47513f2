"""Any model, not only runs: a run directory, a `.keras` file, an exported SavedModel or a zoo name, behind
one interface that evaluation, plots, few-shot and `embed` use.

    source = open_model("runs/quickstart")           # a run directory written by `train`
    source = open_model("savedmodels/simclr_quickstart/1")  # an export (TF Serving layout)
    source = open_model("simclr_quickstart")         # a zoo name (under `zoo_root()`)
    features = source.embed_images(x_uint8)          # [N, D]

A source knows its `modality` and, when it came from a run (exports carry the run's `recipe.yaml`), its
`recipe`: evaluation reads the run's data from it unless other data are given.
"""

import os

import keras
import numpy as np

from keras_contrastive import models
from keras_contrastive.export.layout import model_versions, version_dir, zoo_root
from keras_contrastive.export.loaded import ExportedModel
from keras_contrastive.runs import core

ACCEPTED = (
    "a run directory written by `keras-contrastive train`, a .keras file, an exported SavedModel (a version "
    "folder with saved_model.pb, or its model folder), a CLIP export folder (image_tower/, text_tower/), or the "
    "name of a zoo model"
)


def _images_to_float(images):
    images = np.asarray(images)
    return images.astype("float32") / 255.0 if images.dtype.kind in "iub" else images.astype("float32")


class ModelSource:
    """A model to evaluate, plot, fine-tune or embed with.

    Attributes:
        spec: str. What it was opened from.
        kind: str. `"run"`, `"keras"`, `"export"`, `"clip_export"` or `"zoo"`.
        modality: str. `"image"`, `"text"` or `"image_text"`.
        recipe: dict or None. The training recipe (validated, data paths unchecked), if known.
        model: the Keras method (`"run"` and `"keras"` kinds), else `None`.
        exported: `export.loaded.ExportedModel` (export and zoo kinds), else `None`.
    """

    def __init__(self, spec, kind, modality, recipe=None, model=None, exported=None, towers=None):
        self.spec = os.fspath(spec) if not isinstance(spec, keras.Model) else type(spec).__name__
        self.kind = kind
        self.modality = modality
        self.recipe = recipe
        self.model = model
        self.exported = exported
        self.towers = towers or {}

    def __repr__(self):
        return f"ModelSource({self.spec!r}, kind={self.kind!r}, modality={self.modality!r})"

    # --- images ---------------------------------------------------------------------------------------------
    @property
    def image_shape(self):
        """`(H, W, C)` the image encoder takes."""
        if self.model is not None:
            encoder = self.model.encoder
            return tuple(int(d) for d in encoder.input_shape[1:])
        exported = self.exported or self.towers.get("image_tower")
        return None if exported is None else tuple(int(d) for d in exported.image_shape)

    def require(self, modality, what):
        if self.modality != modality:
            raise ValueError(f"{what} needs an {modality} model; {self.spec} is a {self.modality} model.")

    def embed_images(self, images, batch_size=512):
        """Image features `[N, D]` of uint8 (or float in `[0, 1]`) images `[N, H, W, C]`: the encoder's
        output for a Keras model, the `serving_default` embedding of an export."""
        self.require("image", "Image features")
        if self.model is not None:
            from keras_contrastive.evaluation import extract_features

            return extract_features(self.model.encoder, images, batch_size=batch_size)
        return self.exported(images, batch_size=batch_size)

    def image_encoder(self):
        """A Keras model of images in `[0, 1]` to features, whose weights can be fine-tuned: a copy of a Keras
        encoder, or for an export the recipe's architecture given the export's weights (matched by name and
        shape, then checked to give the export's embeddings)."""
        self.require("image", "An image encoder")
        if self.model is not None:
            encoder = self.model.encoder
            copy = keras.models.clone_model(encoder)
            copy.set_weights(encoder.get_weights())
            return copy
        encoder = self.random_image_encoder()
        captured = {v.name.rsplit(":", 1)[0]: v for v in self.exported.signatures["serving_default"].variables}
        unmatched = [
            w.path for w in encoder.weights if w.path not in captured or tuple(captured[w.path].shape) != w.shape
        ]
        if unmatched:
            raise ValueError(
                f"{self.spec}: its weights do not match the architecture of its recipe ({unmatched[:3]} ...); a "
                "quantized export cannot be fine-tuned. Fine-tune the run directory it was exported from."
            )
        for weight in encoder.weights:
            weight.assign(captured[weight.path].numpy())
        probe = np.random.default_rng(0).random((4, *self.image_shape)).astype("float32")
        difference = float(np.max(np.abs(np.asarray(encoder(probe, training=False)) - self.exported(probe))))
        if difference > 1e-3:
            raise ValueError(f"{self.spec}: the rebuilt encoder differs from the export by {difference:g}.")
        return encoder

    def random_image_encoder(self, seed=0):
        """The same architecture, freshly initialised (from the recipe), for from-scratch baselines."""
        from keras_contrastive.runs.image_task import build_model

        if self.recipe is None:
            raise ValueError(
                f"{self.spec} does not carry its training recipe, so its architecture is unknown: use a run "
                "directory or an export made by `keras-contrastive export`."
            )
        keras.utils.set_random_seed(seed)
        return build_model(self.recipe, self.image_shape).encoder

    # --- text -----------------------------------------------------------------------------------------------
    def embed_text(self, sentences, batch_size=64, normalize=True):
        """Sentence embeddings `[N, D]`, L2-normalised unless `normalize=False` (an export's always are)."""
        self.require("text", "Sentence embeddings")
        if self.model is not None:
            return self.model.encode(list(sentences), batch_size=batch_size, normalize=normalize)
        return self.exported(list(sentences), batch_size=batch_size)

    # --- image-text -----------------------------------------------------------------------------------------
    def clip_model(self):
        """The Keras image-text model (a run or `.keras` file), or a clear error."""
        self.require("image_text", "Zero-shot and retrieval")
        if self.model is None:
            raise ValueError(
                f"{self.spec} is an exported zero-shot classifier: it classifies into its own classes "
                f"({', '.join(self.exported.class_names or [])}) but holds no text tower for retrieval or other "
                "classes. Use the CLIP run directory, or its export folder (image_tower/, text_tower/)."
            )
        return self.model


def _from_keras(model, spec, kind, recipe=None):
    modality = getattr(model, "modality", None)
    if modality is None:
        raise ValueError(f"{spec} holds a {type(model).__name__}, not a keras-contrastive method.")
    return ModelSource(spec, kind, modality, recipe=recipe, model=model)


def _recipe_of_export(exported):
    from keras_contrastive import recipes

    if not exported.recipe:
        return None
    return recipes.validate(exported.recipe, check_paths=False)


def open_model(spec, root=None, pooling="mean"):
    """A `ModelSource` from `spec`: a keras-contrastive method instance, a run directory, a `.keras` file, an
    exported SavedModel (version or model folder), a CLIP export folder, a zoo model name (under `root`,
    default `export.layout.zoo_root()`), or for sentence embeddings a local keras-hub / Hugging Face preset
    folder or `"minilm"` (the installed all-MiniLM-L6-v2, untrained here; `pooling` of its token features)."""
    if isinstance(spec, models.ContrastiveModel):
        return _from_keras(spec, spec, "keras")
    if isinstance(spec, ModelSource):
        return spec
    path = os.fspath(spec)
    if core.is_run_dir(path):
        model, recipe = core.load_run(path)
        return _from_keras(model, path, "run", recipe)
    if path.endswith(".keras") and os.path.isfile(path):
        return _from_keras(keras.saving.load_model(path), path, "keras")
    if version_dir(path) is not None and os.path.isdir(path):
        exported = ExportedModel(path)
        return ModelSource(path, "export", exported.modality, _recipe_of_export(exported), exported=exported)
    towers = {name: os.path.join(path, name) for name in ("image_tower", "text_tower", "zero_shot")}
    if os.path.isdir(path) and all(model_versions(towers[name]) for name in ("image_tower", "text_tower")):
        loaded = {name: ExportedModel(p) for name, p in towers.items() if model_versions(p)}
        recipe = _recipe_of_export(loaded["image_tower"])
        return ModelSource(path, "clip_export", "image_text", recipe, towers=loaded)
    if path == "minilm" or (os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.json"))):
        from keras_contrastive.text import build_text_encoder

        encoder = build_text_encoder("minilm", preset=None if path == "minilm" else path)
        return ModelSource(path, "preset", "text", model=models.SimCSE(encoder, pooling=pooling))
    if os.sep not in path and not os.path.exists(path):
        root = root or zoo_root()
        if model_versions(os.path.join(root, path)):
            exported = ExportedModel(os.path.join(root, path))
            return ModelSource(path, "zoo", exported.modality, _recipe_of_export(exported), exported=exported)
        raise FileNotFoundError(
            f"{path!r} is neither a file, a folder, nor a model of the zoo at {root}: give {ACCEPTED}."
        )
    if os.path.isdir(path):
        raise FileNotFoundError(
            f"{path} is not a finished run (no recipe.yaml and model.keras). Train it first with `keras-contrastive "
            f"train RECIPE --output {path}` (it resumes if interrupted). Nor is it an export (no saved_model.pb). "
            f"Give {ACCEPTED}."
        )
    raise FileNotFoundError(f"{path} not found: it is not a finished run, an export or a zoo model. Give {ACCEPTED}.")

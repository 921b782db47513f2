"""The image-text task (CLIP): image-caption pairs -> (images, texts) batches -> `fit` -> held-out
zero-shot and retrieval.

`metrics.json` holds, on the held-out pairs (never trained on): zero-shot top-1 over the data's classes
(the emoji groups) beside its chance level, and retrieval recall@1/5/10 both ways beside theirs
(`evaluation.image_text`).

Recipe keys used:
- `encoder`: the image tower (a backbone, e.g. `convnet`);
- `method`: the method's arguments, and `text_encoder`, a mapping
  `{name: minilm | small_transformer | bert_preset, ...builder arguments}`;
- `data.source`: `emoji`, `tuxpaint`, `emoji+tuxpaint`, `folder:PATH`, `manifest:PATH` (or `folder` /
  `manifest` with `data.path`); `data.image_size` (default 64 x 64);
- `augment`: the one image view (`crop_scale`, `crop_ratio`, `horizontal_flip`, jitter / grayscale /
  blur / solarize probabilities, one number each), as for image methods;
- `train` (not `online_probe` or `knn_monitor_every`), `optimizer`, `evaluate.batch_size`, `export.name`.

With `lock_text: true` the frozen text tower's features are computed once for all captions (LiT), so
training costs what the image tower costs.
"""

import os

import numpy as np

from keras_contrastive import backbones, models, recipes
from keras_contrastive.data import image_text, sources
from keras_contrastive.evaluation.image_text import evaluate_pairs, evaluate_streamed_pairs
from keras_contrastive.evaluation.zero_shot import default_descriptions, default_templates
from keras_contrastive.runs.task import Task
from keras_contrastive.runs.views import simclr_view

DEFAULT_IMAGE_SIZE = (64, 64)


def image_size_of(recipe):
    return tuple(recipe["data"]["image_size"] or DEFAULT_IMAGE_SIZE)


def load_pairs(recipe, data_spec=None, image_size=None):
    """The `ImageTextPairs` of the recipe's `data` section, or of `data_spec`, at `image_size` (default:
    the recipe's). All of them: `.split("train")` to train."""
    size = tuple(image_size or image_size_of(recipe))
    if data_spec is not None:
        return image_text.load_image_text(data_spec, size)
    cfg = recipe["data"]
    try:
        return image_text.load_image_text(cfg["source"], size, path=cfg["path"])
    except sources.SourceError as e:
        raise recipes.RecipeError(f"data.source: {e}") from None


def list_pairs(recipe):
    """The `image_text.PairListing` of a streaming source (`folder:PATH`, `manifest:PATH`), or `None` for the
    in-memory ones (`emoji`, `tuxpaint`)."""
    cfg = recipe["data"]
    try:
        return image_text.list_image_text(cfg["source"], path=cfg["path"])
    except sources.SourceError as e:
        raise recipes.RecipeError(f"data.source: {e}") from None


def build_text_tower(spec):
    """A text encoder from the recipe's `method.text_encoder` mapping, its keys checked like recipe keys."""
    from keras_contrastive.text import build_text_encoder, text_encoder_builder

    if not isinstance(spec, dict) or "name" not in spec:
        raise recipes.RecipeError(
            f"method.text_encoder: CLIP needs its text tower as a mapping with a name, e.g. "
            f"{{name: minilm, sequence_length: 32}} or {{name: small_transformer, num_layers: 2}}; got {spec!r}."
        )
    spec = dict(spec)
    name = spec.pop("name")
    try:
        schema = recipes.signature_schema(text_encoder_builder(name))
    except ValueError as e:
        raise recipes.RecipeError(f"method.text_encoder.name: {e}") from None
    for key, value in spec.items():
        if key not in schema:
            raise recipes.unknown_key_error(f"method.text_encoder.{key}", schema)
        spec[key] = recipes.check_type(f"method.text_encoder.{key}", value, schema[key][0])
    return build_text_encoder(name, **spec)


def build_clip_model(recipe, image_shape):
    """The recipe's image-text method on its image and text towers (not compiled)."""
    enc = dict(recipe["encoder"])
    image_encoder = backbones.build_backbone(enc.pop("name"), image_shape, **enc)
    method = dict(recipe["method"])
    cls = models.get_method(method.pop("name"))
    text_encoder = build_text_tower(method.pop("text_encoder"))
    return cls(image_encoder, text_encoder, **method)


def image_view(recipe, image_shape, seed=None):
    """The one augmented view of an image in a training pair (the recipe's `augment` section)."""
    cfg = recipe["augment"]
    seed = None if seed is None else seed + 1000
    return simclr_view(recipe, image_shape, cfg["blur_probability"], cfg["solarize_probability"], seed, "image_view")


def zero_shot_setup(recipe, classes=None, templates=None, descriptions="default"):
    """`(classes, templates, descriptions)` of a run's zero-shot classifier: by default the emoji groups (if
    its data holds emoji), their Unicode subgroup descriptions (`descriptions="default"`; `None`: the class
    names alone) and the emoji templates; `DEFAULT_TEMPLATES` for other data."""
    kind = sources.find(recipe["data"]["source"], "image_text")
    emoji = kind is not None and kind.prefix in ("emoji", "emoji+tuxpaint")
    if classes is None and emoji:
        classes = list(image_text.EMOJI_GROUPS)
    templates = list(templates or default_templates(classes))
    descriptions = default_descriptions(classes) if descriptions == "default" else descriptions
    return classes, templates, descriptions


class ImageTextTask(Task):
    """Image-caption pairs into an image-text method (CLIP); 20 % of the pairs are held out.

    A folder or a manifest streams its images from disk (listed, then each image decoded crop first by the
    image view as it is needed, captions tokenized in the graph); `emoji` and `tuxpaint` are small fixed
    sets read into memory."""

    modality = "image_text"

    def load_data(self):
        self.listing = list_pairs(self.recipe)
        if self.listing is not None:
            self.data = self.listing
            self.train_pairs = self.listing.split("train")
            return len(self.train_pairs)
        self.data = load_pairs(self.recipe)
        self.train_pairs = self.data.split("train")
        return len(self.train_pairs)

    @property
    def data_name(self):
        return self.data.name if self.data is not None else super().data_name

    @property
    def examples_name(self):
        return f"training pairs of {self.data_name}"

    @property
    def image_shape(self):
        return (*image_size_of(self.recipe), 3)

    def build_model(self):
        return build_clip_model(self.recipe, self.image_shape)

    def training_dataset(self, model):
        cfg = self.recipe["train"]
        captions = self.train_pairs.captions
        view = image_view(self.recipe, self.image_shape, seed=cfg["seed"])
        if self.listing is not None:
            texts = model.text_features(captions) if model.lock_text else list(captions)
            skip_log = os.path.join(self.work_dir, "skipped_files.txt") if self.work_dir else None
            return image_text.stream_pairs_dataset(
                self.train_pairs,
                texts,
                cfg["batch_size"],
                view,
                self.image_shape[:2],
                tokenizer=None if model.lock_text else model.text_encoder.tokenizer,
                seed=cfg["seed"],
                repeat=True,
                on_error=self.recipe["data"]["on_error"],
                skip_log=skip_log,
            )
        # A locked text tower's features are computed once; otherwise the batches carry token ids.
        texts = model.text_features(captions) if model.lock_text else model.tokenize(captions)
        return image_text.image_text_dataset(
            self.train_pairs.images,
            texts,
            cfg["batch_size"],
            augmentation=view,
            seed=cfg["seed"],
            repeat=True,
        )

    def training_metrics(self, model, history):
        return {
            "train_pairs": len(self.train_pairs),
            "held_out_pairs": int(np.sum(self.data.held_out)),
            "final_logit_scale": float(np.exp(model.logit_scale.scale.numpy())),
        }

    def evaluate(self, model):
        if not self.data.held_out.any():
            return {}
        batch_size = self.recipe["evaluate"]["batch_size"]
        if self.listing is None:
            return evaluate_pairs(model, self.data.split("held_out"), batch_size=batch_size)
        return evaluate_streamed_pairs(model, self.listing.split("held_out"), self.image_shape[:2], batch_size)

    def export(self, model, target, version=None, assets=None, classes=None, templates=None, descriptions="default"):
        """The image tower, the text tower and the zero-shot classifier (`export.clip_export.export_clip`),
        its classes, templates and descriptions from `zero_shot_setup`."""
        from keras_contrastive.export.clip_export import export_clip

        classes, templates, descriptions = zero_shot_setup(self.recipe, classes, templates, descriptions)
        return export_clip(
            model,
            target,
            class_names=classes,
            templates=templates,
            version=version,
            assets=assets,
            descriptions=descriptions,
        )

    def export_zero_shot(self, model, target, version=None, assets=None):
        """The zero-shot classifier alone (the zoo's form of an image-text model), with the defaults of
        `zero_shot_setup`."""
        from keras_contrastive.export.clip_export import export_zero_shot_classifier

        classes, templates, descriptions = zero_shot_setup(self.recipe)
        if not classes:
            raise ValueError(
                f"This CLIP run's data ({self.recipe['data']['source']}) carry no classes: the zoo holds a CLIP "
                "model as its zero-shot classifier. Export it with `keras-contrastive export --classes ...` instead."
            )
        path = export_zero_shot_classifier(model, target, classes, templates, version, assets, descriptions)
        return {"zero_shot": path}

"""Training CLIP from a recipe: image-caption pairs -> (images, texts) batches -> `fit` -> held-out evaluation.

`training.train` hands recipes whose method has `modality = "image_text"`
to `train` here. The run directory has the layout of an image run
(`recipe.yaml`, `backup/`, `logs/`, `history.csv`, `progress.json`,
`model.keras`, `metrics.json`). `metrics.json` holds, on the held-out pairs
(never trained on): zero-shot top-1 over the data's classes (the emoji
groups) beside its chance level, and retrieval recall@1/5/10 both ways beside
theirs.

Recipe keys used:
- `encoder`: the image tower (a backbone, e.g. `convnet`);
- `method`: `CLIP`'s arguments, and `text_encoder`, a mapping
  `{name: minilm | small_transformer | bert_preset, ...builder arguments}`;
- `data.source`: `emoji`, `tuxpaint`, `emoji+tuxpaint`, `folder:PATH`,
  `manifest:PATH` (or `folder` / `manifest` with `data.path`);
  `data.image_size` (default 64 x 64);
- `augment`: the image view (`crop_scale`, `crop_ratio`, `horizontal_flip`,
  jitter / grayscale / blur / solarize probabilities), as for image methods;
- `train`, `optimizer`, `evaluate.batch_size`.

With `lock_text: true` the frozen text tower's features are computed once
for all captions (LiT), so training costs what the image tower costs.
"""

import json
import os

import keras
import numpy as np

from keras_contrastive import backbones, models, recipes
from keras_contrastive.data import image_text
from keras_contrastive.io_utils import atomic_write_json

DEFAULT_IMAGE_SIZE = (64, 64)


def image_size_of(recipe):
    return tuple(recipe["data"]["image_size"] or DEFAULT_IMAGE_SIZE)


def load_pairs(recipe):
    """The `ImageTextPairs` of the recipe's `data` section (all of them; `.split("train")` to train)."""
    cfg = recipe["data"]
    source = cfg["source"]
    if source in ("folder", "manifest"):
        if not cfg["path"]:
            raise recipes.RecipeError(f"data.source: {source} needs data.path (or write {source}:PATH).")
        source = f"{source}:{cfg['path']}"
    try:
        return image_text.load_image_text(source, image_size_of(recipe))
    except ValueError as e:
        if str(e).startswith("Unknown image-text data"):
            raise recipes.RecipeError(f"data.source: {e}") from None
        raise


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
        schema = recipes._signature_schema(text_encoder_builder(name))
    except ValueError as e:
        raise recipes.RecipeError(f"method.text_encoder.name: {e}") from None
    for key, value in spec.items():
        if key not in schema:
            raise recipes._unknown(f"method.text_encoder.{key}", schema)
        spec[key] = recipes._check_type(f"method.text_encoder.{key}", value, schema[key][0])
    return build_text_encoder(name, **spec)


def build_clip_model(recipe, image_shape):
    """The recipe's CLIP on its image and text towers (not compiled)."""
    enc = dict(recipe["encoder"])
    image_encoder = backbones.build_backbone(enc.pop("name"), image_shape, **enc)
    method = dict(recipe["method"])
    cls = models.get_method(method.pop("name"))
    text_encoder = build_text_tower(method.pop("text_encoder"))
    return cls(image_encoder, text_encoder, **method)


def default_templates(pairs):
    from keras_contrastive.evaluation import zero_shot

    return zero_shot.EMOJI_TEMPLATES if pairs.class_names == image_text.EMOJI_GROUPS else zero_shot.DEFAULT_TEMPLATES


def default_descriptions(class_names):
    """The emoji groups' Unicode subgroup names (`image_text.emoji_group_descriptions`) when `class_names` are
    the emoji groups, else `None` (each class is described by its name)."""
    if class_names is not None and tuple(class_names) == image_text.EMOJI_GROUPS:
        return image_text.emoji_group_descriptions()
    return None


def evaluate_pairs(model, pairs, class_names=None, templates=None, batch_size=256, descriptions="default"):
    """Zero-shot (on the pairs that carry a class label) and retrieval metrics of `model` on `pairs`.

    `descriptions`: `{class: [phrases]}`, `None` (class names alone) or `"default"` (`default_descriptions`).
    With descriptions, the zero-shot accuracy from the bare class names is also given, as
    `zero_shot_names_only_top1` / `zero_shot_names_only_balanced_top1`.
    """
    from keras_contrastive.evaluation import retrieval, zero_shot

    image_embeddings = model.encode_images(pairs.images, batch_size=batch_size)
    metrics = retrieval.retrieval_recall(image_embeddings, model.encode_text(pairs.captions), pairs.captions)
    class_names = class_names or pairs.class_names
    templates = list(templates or default_templates(pairs))
    descriptions = default_descriptions(class_names) if descriptions == "default" else descriptions
    labelled = pairs.labels >= 0
    if class_names and labelled.any():
        images = pairs.images[labelled].astype("float32") / 255.0
        labels = pairs.labels[labelled]

        def scores(described):
            classifier = zero_shot.build_zero_shot_classifier(model, class_names, templates, described)
            probabilities = classifier.predict(images, batch_size=batch_size, verbose=0)
            return zero_shot.zero_shot_accuracy(probabilities, labels, len(class_names))

        metrics.update({f"zero_shot_{k}": v for k, v in scores(descriptions).items()})
        if descriptions is not None:
            names_only = scores(None)
            metrics.update({f"zero_shot_names_only_{k}": names_only[k] for k in ("top1", "balanced_top1")})
        metrics.update(
            {
                "zero_shot_classes": list(class_names),
                "zero_shot_templates": templates,
                "zero_shot_descriptions": descriptions,
            }
        )
    return metrics


def text_inputs(model, captions):
    """What the batches carry for `captions`: the locked tower's features, or token ids."""
    return model.text_features(captions) if model.lock_text else model.tokenize(captions)


def train(recipe, output_dir, strategy="auto", verbose="auto", callbacks=(), precision="float32", command=None):
    """Trains a CLIP recipe into `output_dir` (see `training.train`, same arguments), then evaluates it on the
    held-out pairs.

    Returns:
        The metrics dict also written to `output_dir/metrics.json`.
    """
    from keras_contrastive import training

    recipe = recipes.validate(recipe)
    strategy = training.resolve_strategy(strategy)
    output_dir, chief = training.open_run_dir(recipe, output_dir, strategy, command)
    cfg = recipe["train"]
    pairs = load_pairs(recipe)
    train_pairs = pairs.split("train")
    steps = training.check_batch_size(cfg, strategy, len(train_pairs), f"training pairs of {pairs.name}")
    image_shape = (*image_size_of(recipe), 3)
    keras.utils.set_random_seed(cfg["seed"])
    model = training.compile_in_scope(lambda: build_clip_model(recipe, image_shape), recipe, steps, strategy, precision)
    dataset = image_text.image_text_dataset(
        train_pairs.images,
        text_inputs(model, train_pairs.captions),
        cfg["batch_size"],
        augmentation=training.build_views(recipe, image_shape, seed=cfg["seed"])[0],
        seed=cfg["seed"],
        repeat=True,
    )
    history, progress = training.fit_run(model, dataset, cfg, steps, output_dir, verbose, callbacks)
    metrics = {
        **training.run_summary(recipe, pairs.name, history, progress, steps),
        "train_pairs": len(train_pairs),
        "held_out_pairs": int(np.sum(pairs.held_out)),
        "final_logit_scale": float(np.exp(model.logit_scale.scale.numpy())),
    }
    if not chief:
        return metrics
    training.save_model(model, output_dir)
    if pairs.held_out.any():
        metrics.update(evaluate_pairs(model, pairs.split("held_out"), batch_size=recipe["evaluate"]["batch_size"]))
    atomic_write_json(os.path.join(output_dir, "metrics.json"), metrics)
    return metrics


# --- the command line's `evaluate zero-shot | retrieval` and `export` of a CLIP run -------------------------------
def load_clip(path):
    """`(model, recipe or None)` of a CLIP run directory or `.keras` file."""
    from keras_contrastive import training

    path = os.fspath(path)
    if os.path.isdir(path):
        model, recipe = training.load_run(path)
    elif os.path.isfile(path) and path.endswith(".keras"):
        model, recipe = keras.saving.load_model(path), None
    else:
        raise FileNotFoundError(f"--model {path!r} is neither a run directory nor a .keras file.")
    if getattr(model, "modality", None) != "image_text":
        raise ValueError(f"--model {path!r} holds a {type(model).__name__}, not an image-text model (CLIP).")
    return model, recipe


def parse_list(value, what):
    """Items of a CLI list: a file with one item a line, or items separated by commas."""
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


def evaluation_pairs(model, recipe, data_spec=None, split="held_out"):
    """The pairs to evaluate on, at the model's image size: `data_spec` or the run's data, one split."""
    size = tuple(int(d) for d in model.encoder.input_shape[1:3])
    if data_spec is None:
        if recipe is None:
            raise ValueError("--data is needed with a .keras file (a run directory knows its data).")
        pairs = load_pairs({**recipe, "data": {**recipe["data"], "image_size": list(size)}})
    else:
        pairs = image_text.load_image_text(data_spec, size)
    pairs = pairs.split(split)
    if not len(pairs):
        raise ValueError(f"The {split} split of {pairs.name} is empty: pass --split all.")
    return pairs


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


def evaluate_command(
    kind, model_path, data_spec=None, classes=None, templates=None, split="held_out", descriptions=None
):
    """The result dict of `keras-contrastive evaluate zero-shot|retrieval`."""
    model, recipe = load_clip(model_path)
    pairs = evaluation_pairs(model, recipe, data_spec, split)
    classes, templates = parse_list(classes, "classes"), parse_list(templates, "templates")
    descriptions = parse_descriptions(descriptions)
    if kind == "retrieval":
        from keras_contrastive.evaluation import retrieval

        images, texts = model.encode_images(pairs.images), model.encode_text(pairs.captions)
        result = retrieval.retrieval_recall(images, texts, pairs.captions)
    else:
        class_names = classes or pairs.class_names
        if not class_names or not (pairs.labels >= 0).any():
            raise ValueError(
                f"{pairs.name} carries no class labels: zero-shot needs labelled pairs (e.g. --data emoji, labelled "
                "by group) and their class names (--classes, in label order)."
            )
        if pairs.class_names and len(class_names) != len(pairs.class_names):
            raise ValueError(
                f"--classes lists {len(class_names)} names but {pairs.name} has {len(pairs.class_names)} classes "
                f"({', '.join(pairs.class_names)}), in that order."
            )
        result = evaluate_pairs(model, pairs, class_names, templates, descriptions=descriptions)
        result = {k: v for k, v in result.items() if k.startswith("zero_shot_")}
    result.update({"model": os.fspath(model_path), "data": pairs.name, "split": split})
    return result


def zero_shot_setup(recipe, classes=None, templates=None, descriptions=None):
    """`(classes, templates, descriptions)` of a run's zero-shot classifier from the CLI's `--classes`,
    `--templates`, `--descriptions` values: by default the run's emoji groups (if its data holds emoji), their
    Unicode subgroup descriptions and `EMOJI_TEMPLATES`; `DEFAULT_TEMPLATES` for other data."""
    from keras_contrastive.evaluation.zero_shot import DEFAULT_TEMPLATES, EMOJI_TEMPLATES

    classes = parse_list(classes, "classes")
    emoji = "emoji" in str(recipe["data"]["source"]).split("+")
    if classes is None and emoji:
        classes = list(image_text.EMOJI_GROUPS)
    templates = parse_list(templates, "templates") or list(EMOJI_TEMPLATES if emoji else DEFAULT_TEMPLATES)
    descriptions = parse_descriptions(descriptions)
    descriptions = default_descriptions(classes) if descriptions == "default" else descriptions
    return classes, templates, descriptions


def export_run(model, target, recipe, version=None, assets=None, classes=None, templates=None, descriptions=None):
    """Exports a CLIP run (see `export.clip_export.export_clip`); the zero-shot classifier is set up by
    `zero_shot_setup` from the CLI's values."""
    from keras_contrastive.export.clip_export import export_clip

    classes, templates, descriptions = zero_shot_setup(recipe, classes, templates, descriptions)
    return export_clip(
        model,
        target,
        class_names=classes,
        templates=templates,
        version=version,
        assets=assets,
        descriptions=descriptions,
    )

"""Recipes: YAML files that say everything about a run, validated strictly.

A recipe has the top-level sections `method`, `encoder`, `data`, `augment`,
`optimizer`, `train`, `evaluate`, `export`. Every key has a known type; an
unknown key, a wrong type or a missing file is a `RecipeError` that names the
key and what was expected. The keys of `method` and `encoder` come from the
signatures of the registered method and backbone, so a new method's
arguments are recipe keys without touching this file. Any value can be
overridden as `section.key=value` (the CLI's `--set`), parsed as YAML.
"""

import copy
import difflib
import inspect
import os
import re

import yaml

from keras_contrastive import augment, backbones, models
from keras_contrastive import text as text_encoders
from keras_contrastive.data import sources
from keras_contrastive.optimizers import OPTIMIZERS, SCHEDULES
from keras_contrastive.run_options import PRECISION_CHOICES


class _RecipeLoader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-4` as a string; recipes read it as a number (YAML 1.2)."""


_RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml_load(text):
    return yaml.load(text, Loader=_RecipeLoader)  # noqa: S506 (a SafeLoader subclass)


class RecipeError(ValueError):
    """A recipe (or a `--set` override) that cannot be used as written."""


_ANY = object()

# section -> key -> (expected type(s), default). `None` in a type tuple means
# the key may be null.
_SCHEMA = {
    "data": {
        "source": ((str,), "fashion_mnist_subset"),
        "path": ((str, None), None),
        "image_size": ((list, None), None),
        # Streaming sources (folder:, tfrecord:, tfds:): the views' channels (null: from the first images).
        "channels": ((int, None), None),
        # A file that cannot be decoded: skip it and name it (counted in history.csv), or stop naming it.
        "on_error": ((str,), "skip"),
        # stsb:PATH (an STS Benchmark CSV): the pairs with a gold score >= min_gold (0-5) are the positives.
        "min_gold": ((float,), 4.0),
        # Pairs sources (stsb:, tsv: with two columns): hard_negatives > 0 mines that many negatives per pair
        # with the recipe's encoder as built, before training (one drawn per pair), skipping candidates whose
        # similarity is within mine_margin of the positive's (`mining.mine_hard_negatives`).
        "hard_negatives": ((int,), 0),
        "mine_margin": ((float,), 0.05),
        # stsb: also train on the pairs scored <= low_gold_negatives as (sentence1, sentence1, sentence2): each
        # sentence its own positive (a second dropout view), its low-scored partner its hard negative.
        "low_gold_negatives": ((float, None), None),
    },
    # "augment": from the augmentations' signatures (`_augment_schema`, below).
    "optimizer": {
        "name": ((str,), "adamw"),
        "learning_rate": ((float,), 1e-3),
        "weight_decay": ((float,), 1e-4),
        "momentum": ((float,), 0.9),
        "warmup_epochs": ((float,), 1.0),
        "schedule": ((str,), "warmup_cosine"),
        "eta": ((float,), 0.001),
    },
    "train": {
        "epochs": ((int,), 10),
        "batch_size": ((int,), 256),
        "seed": ((int,), 0),
        "steps_per_epoch": ((int, None), None),
        "online_probe": ((bool,), True),
        # Online kNN top-1 on the test split every N epochs (callbacks.KNNMonitor); 0 turns it off.
        "knn_monitor_every": ((int,), 0),
        # The Keras dtype policy; auto: mixed_bfloat16 on a CPU that runs bfloat16 natively, else float32.
        "precision": ((str,), "float32"),
    },
    "evaluate": {
        "knn_k": ((int,), 200),
        "knn_temperature": ((float,), 0.1),
        "baselines": ((bool,), False),
        "batch_size": ((int,), 512),
    },
    "export": {
        "name": ((str, None), None),
    },
}
_CHOICES = {
    ("optimizer", "name"): OPTIMIZERS,
    ("optimizer", "schedule"): SCHEDULES,
    ("train", "precision"): PRECISION_CHOICES,
    ("data", "on_error"): ("skip", "raise"),
}
SECTIONS = ("method", "encoder", "data", "augment", "optimizer", "train", "evaluate", "export")
# Constructor arguments that recipes do not set (the encoder, CLIP's image
# tower too, is built from the `encoder` section, the probe from the data's classes).
_NOT_RECIPE_KEYS = {"self", "encoder", "image_encoder", "probe_classes", "kwargs", "name", "input_shape", "depth"}


def _type_of_default(value):
    if isinstance(value, bool):
        return (bool,)
    if isinstance(value, (int, float)):
        return (float,) if isinstance(value, float) else (int,)
    if value is None:
        return (_ANY,)
    if isinstance(value, (tuple, list)):
        return (list,)
    return (type(value),)


def signature_schema(fn):
    """`{key: (types, default)}` of a builder's or constructor's arguments, as recipe keys."""
    schema = {}
    for key, param in inspect.signature(fn).parameters.items():
        if key in _NOT_RECIPE_KEYS or param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
            continue
        default = None if param.default is param.empty else param.default
        types = _type_of_default(default)
        if default is None:
            types = (_ANY, None)
        schema[key] = (types, list(default) if isinstance(default, tuple) else default)
    return schema


def _augment_schema():
    """The `augment` section: each view's arguments and defaults as `augment.SimCLRAugmentation` declares
    them, then the small crops' (`augment.multi_crop_views`) under the recipe's names."""
    view = signature_schema(augment.SimCLRAugmentation.__init__)
    schema = {key: value for key, value in view.items() if key not in ("image_size", "seed")}
    # A number, or one per view ([view_1, view_2]): BYOL's asymmetric views (`runs.views.build_views`).
    for key in ("blur_probability", "solarize_probability"):
        schema[key] = ((float, list), schema[key][1])
    crops = signature_schema(augment.multi_crop_views)
    # Multi-crop (SwAV): small crops after the two views; 0 (the recipe's default) keeps two views.
    schema["small_crops"] = ((int,), 0)
    schema["small_crop_size"] = ((int, None), crops["small_size"][1])
    schema["small_crop_scale"] = crops["small_scale"]
    return schema


_SCHEMA["augment"] = _augment_schema()


def _schema_for(section, recipe):
    if section == "method":
        name = recipe.get("method", {}).get("name", "simclr")
        try:
            cls = models.get_method(name)
        except ValueError as e:
            raise RecipeError(f"method.name: {e}") from None
        return {"name": ((str,), "simclr"), **signature_schema(cls.__init__)}
    if section == "encoder":
        name = recipe.get("encoder", {}).get("name", "convnet")
        if not isinstance(name, str):
            raise RecipeError(f"encoder.name: expected a string such as 'convnet', got {name!r}.")
        try:
            if text_encoders.is_text_encoder(name):  # minilm, bert_preset, small_transformer
                builder = text_encoders.text_encoder_builder(name)
            else:
                builder = None if name.startswith("keras.applications.") else backbones.backbone_builder(name)
        except ValueError as e:
            raise RecipeError(f"encoder.name: {e}") from None
        schema = {"name": ((str,), "convnet")}
        if builder is not None:
            schema.update(signature_schema(builder))
        return schema
    return _SCHEMA[section]


def _type_name(types):
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string", list: "a list"}
    parts = [names.get(t, "null" if t is None else "any value") for t in types]
    return " or ".join(parts)


def check_type(key, value, types):
    """`value` if it has one of `types` (numbers as float where a float is expected), else a `RecipeError`."""
    if _ANY in types:
        return value
    if value is None:
        if None in types:
            return None
    elif bool in types and isinstance(value, bool):
        return value
    elif int in types and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif float in types and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not -1e308 < value < 1e308:  # also NaN, and integers too large for a float
            raise RecipeError(f"{key}: expected a finite number, got {value!r}. Write a number such as 0.1.")
        return float(value)
    elif str in types and isinstance(value, str):
        return value
    elif list in types and isinstance(value, (list, tuple)):
        return list(value)
    raise RecipeError(f"{key}: expected {_type_name(types)}, got {value!r} ({type(value).__name__}).")


def unknown_key_error(key, known):
    """The `RecipeError` of an unknown key: "did you mean", and the known keys."""
    hint = difflib.get_close_matches(key.rsplit(".", 1)[-1], known, n=1)
    suggestion = f" Did you mean '{hint[0]}'?" if hint else ""
    return RecipeError(f"unknown recipe key '{key}'.{suggestion} Known keys here: {', '.join(sorted(known))}.")


# Keys a run of each modality never reads (`runs.*_task`): setting one to anything but its default is an
# error that says why, instead of a value silently ignored. A section name covers all its keys.
_IGNORED_BY_MODALITY = {
    "text": {
        "augment": "a text run has no image views (the noise of unsupervised SimCSE is dropout)",
        "data.image_size": "a text run reads sentences",
        "data.channels": "a text run reads sentences",
        "data.on_error": "a text run reads sentences (a line that is not UTF-8 is an error naming it)",
        "train.online_probe": "the online probe classifies image features; a text run has no labels to probe",
        "train.knn_monitor_every": "the kNN monitor classifies images; evaluate a text run on STS afterwards",
        "evaluate": "a text run is evaluated afterwards, on STS (`keras-contrastive evaluate sts`)",
    },
    "image_text": {
        "data.channels": "an image-text run's images are RGB",
        "augment.small_crops": "an image-text run has one image view per pair, no multi-crop",
        "augment.small_crop_size": "an image-text run has one image view per pair, no multi-crop",
        "augment.small_crop_scale": "an image-text run has one image view per pair, no multi-crop",
        "train.online_probe": "the online probe needs class labels for every example; pairs carry captions",
        "train.knn_monitor_every": "the kNN monitor needs labelled images; an image-text run reports zero-shot "
        "and retrieval after training",
        "evaluate.knn_k": "an image-text run is evaluated by zero-shot and retrieval, not kNN",
        "evaluate.knn_temperature": "an image-text run is evaluated by zero-shot and retrieval, not kNN",
        "evaluate.baselines": "the raw-pixel and random-init baselines are linear probes of labelled images",
    },
}


def _data_source_ignores(data_section, modality):
    """`{key: why}` of the `data` keys the recipe's `data.source` does not read (`data.sources`: each kind
    declares the keys it reads; a source the registry does not know is named when it is read)."""
    kind = sources.find(data_section["source"], modality)
    ignored = {}
    if kind is not None:
        reads = ", ".join(f"data.{k}" for k in kind.keys) or "no other data key"
        readers = {}
        for other in sources.kinds():
            for key in other.keys:
                readers.setdefault(key, {})[other.form] = None
        for key in data_section:
            if key == "source" or key in kind.keys:
                continue
            by = f"read by data.source {' or '.join(readers[key])} only" if key in readers else "read by no source"
            ignored[key] = f"{by}; data.source {kind.form} reads {reads}"
    if not data_section["hard_negatives"]:
        ignored.setdefault("mine_margin", "the margin of hard-negative mining, which data.hard_negatives=0 turns off")
    return ignored


def _optimizer_ignores(optimizer):
    """`{key: why}` of the `optimizer` keys the chosen optimizer and schedule do not read."""
    name, ignored = optimizer["name"], {}
    if name == "adam":
        ignored["weight_decay"] = "adam has no weight decay: use name: adamw (decoupled) or sgd"
    if name in ("adam", "adamw"):
        ignored["momentum"] = f"{name} has no momentum parameter (only sgd and lars read it)"
    if name != "lars":
        ignored["eta"] = "eta is LARS's trust coefficient (only lars reads it)"
    if optimizer["schedule"] == "constant":
        ignored["warmup_epochs"] = "the constant schedule has no warm-up: use schedule: warmup_cosine"
    return ignored


# What a run of a modality does where the schema's default says otherwise: a text or image-text run has no
# online probe, so its recipe says `online_probe: false` (and an explicit `true` is an error).
_EFFECTIVE_BY_MODALITY = {"text": {("train", "online_probe"): False}, "image_text": {("train", "online_probe"): False}}


def _check_ignored(result, schema_defaults, given):
    """Raises a `RecipeError` for a key set (to a non-default value) that the run would ignore."""
    try:
        modality = models.get_method(result["method"]["name"]).modality
    except ValueError:
        return
    schema_defaults = {section: dict(keys) for section, keys in schema_defaults.items()}
    for (section, key), value in _EFFECTIVE_BY_MODALITY.get(modality, {}).items():
        if key not in given.get(section, {}):
            result[section][key] = value
        schema_defaults[section][key] = value
    ignored = {}
    for dotted, why in _IGNORED_BY_MODALITY.get(modality, {}).items():
        section, _, key = dotted.partition(".")
        for k in [key] if key else list(result[section]):
            ignored[(section, k)] = why
    ignored.update({("optimizer", k): why for k, why in _optimizer_ignores(result["optimizer"]).items()})
    sourced = {("data", k): why for k, why in _data_source_ignores(result["data"], modality).items()}
    ignored.update({k: why for k, why in sourced.items() if k not in ignored})
    for (section, key), why in sorted(ignored.items()):
        if result[section][key] != schema_defaults[section][key]:
            kind = "this optimizer and schedule" if section == "optimizer" else f"this {modality.replace('_', '-')} run"
            if (section, key) in sourced:
                kind = "this data source"
            raise RecipeError(
                f"{section}.{key}: {result[section][key]!r} would be ignored by {kind}: {why}. Remove the key "
                f"(its default is {schema_defaults[section][key]!r})."
            )
    if modality == "image_text":
        for key in ("blur_probability", "solarize_probability"):
            if isinstance(result["augment"][key], list):
                raise RecipeError(
                    f"augment.{key}: {result['augment'][key]!r} gives one value per view, but an image-text run has "
                    "one image view per pair: give one number."
                )


def validate(recipe, source="recipe", check_paths=True):
    """Checks `recipe` (a dict) and returns a complete copy with defaults.

    A key the run would ignore (for the method's modality, or the chosen optimizer and schedule) is an
    error. `check_paths=False` skips checking that `data.path` exists: a finished run's recipe is used after
    its data moved, and data paths are checked when data are read."""
    if not isinstance(recipe, dict):
        raise RecipeError(
            f"{source}: a recipe is a mapping of sections ({', '.join(SECTIONS)}), got {type(recipe).__name__}."
        )
    for section in recipe:
        if section not in SECTIONS:
            raise unknown_key_error(str(section), SECTIONS)
        if not isinstance(recipe[section], (dict, type(None))):
            raise RecipeError(f"{section}: expected a mapping of keys, got {recipe[section]!r}.")
    recipe = {k: dict(v or {}) for k, v in recipe.items()}
    result, defaults = {}, {}
    for section in SECTIONS:
        schema = _schema_for(section, recipe)
        given = recipe.get(section, {})
        out = {}
        for key, value in given.items():
            if key not in schema:
                raise unknown_key_error(f"{section}.{key}", schema)
            out[key] = check_type(f"{section}.{key}", value, schema[key][0])
        for key, (_, default) in schema.items():
            out.setdefault(key, copy.deepcopy(default))
        defaults[section] = {key: default for key, (_, default) in schema.items()}
        if (section, "name") in _CHOICES or any(s == section for s, _ in _CHOICES):
            for (s, key), choices in _CHOICES.items():
                if s == section and out[key] not in choices:
                    raise RecipeError(f"{section}.{key}: expected one of {', '.join(choices)}, got {out[key]!r}.")
        result[section] = out
    _check_values(result, check_paths)
    _check_ignored(result, defaults, recipe)
    return result


def _check_values(recipe, check_paths=True):
    train = recipe["train"]
    if train["epochs"] < 1:
        raise RecipeError(f"train.epochs: expected at least 1, got {train['epochs']}.")
    if train["batch_size"] < 2:
        raise RecipeError(
            f"train.batch_size: expected at least 2 (each example needs other examples as negatives), "
            f"got {train['batch_size']}."
        )
    if train["knn_monitor_every"] < 0:
        raise RecipeError(f"train.knn_monitor_every: expected 0 (off) or more, got {train['knn_monitor_every']}.")
    if train["steps_per_epoch"] is not None and train["steps_per_epoch"] < 1:
        raise RecipeError(f"train.steps_per_epoch: expected at least 1 or null, got {train['steps_per_epoch']}.")
    for key in ("crop_scale", "crop_ratio", "small_crop_scale"):
        value = recipe["augment"][key]
        if len(value) != 2 or not all(isinstance(v, (int, float)) for v in value) or not 0 < value[0] <= value[1]:
            raise RecipeError(f"augment.{key}: expected [low, high] with 0 < low <= high, got {value!r}.")
    for key in ("jitter_probability", "grayscale_probability", "blur_probability", "solarize_probability"):
        value = recipe["augment"][key]
        per_view = value if isinstance(value, list) else [value]
        if (
            isinstance(value, list)
            and (len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
        ) or not all(0.0 <= v <= 1.0 for v in per_view):
            raise RecipeError(
                f"augment.{key}: expected a probability in [0, 1]"
                f"{' or a list of 2 (one per view)' if key in ('blur_probability', 'solarize_probability') else ''}"
                f", got {value!r}."
            )
    if recipe["augment"]["small_crops"] < 0 or (recipe["augment"]["small_crop_size"] or 1) < 1:
        raise RecipeError(
            "augment.small_crops and augment.small_crop_size: expected small_crops >= 0 and a size >= 1 or null, "
            f"got {recipe['augment']['small_crops']} and {recipe['augment']['small_crop_size']}."
        )
    if recipe["data"]["channels"] not in (None, 1, 3):
        raise RecipeError(f"data.channels: expected 1 (grey), 3 (RGB) or null, got {recipe['data']['channels']!r}.")
    size = recipe["data"]["image_size"]
    if size is not None and (len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size)):
        raise RecipeError(f"data.image_size: expected [height, width] of positive integers or null, got {size!r}.")
    if recipe["data"]["hard_negatives"] < 0:
        raise RecipeError(
            "data.hard_negatives: expected 0 (none) or the number of negatives to mine per pair, got "
            f"{recipe['data']['hard_negatives']}."
        )
    if not 0.0 <= recipe["data"]["min_gold"] <= 5.0:
        raise RecipeError(
            f"data.min_gold: STS gold scores run from 0 to 5; expected a threshold in [0, 5], got "
            f"{recipe['data']['min_gold']}."
        )
    path = recipe["data"]["path"]
    if check_paths and path is not None and not os.path.exists(os.path.expanduser(path)):
        raise RecipeError(f"data.path: {path!r} does not exist. Point it at the data, or set it to null.")
    for key in ("learning_rate",):
        if recipe["optimizer"][key] <= 0:
            raise RecipeError(f"optimizer.{key}: expected a positive number, got {recipe['optimizer'][key]}.")


def parse_override(text):
    """Parses `section.key=value` (value as YAML) into `(section, key, value)`."""
    if "=" not in text:
        raise RecipeError(f"--set {text!r}: expected section.key=value, for example train.epochs=2.")
    dotted, raw = text.split("=", 1)
    parts = dotted.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise RecipeError(f"--set {text!r}: expected section.key=value with one dot, for example train.epochs=2.")
    try:
        value = _yaml_load(raw)
    except yaml.YAMLError as e:
        raise RecipeError(f"--set {text!r}: the value is not valid YAML ({e}).") from None
    return parts[0], parts[1], value


def apply_overrides(recipe, overrides):
    """Returns a validated copy of `recipe` with `section.key=value` strings
    applied; a key that does not exist is an error, never silently added."""
    recipe = copy.deepcopy(recipe)
    for text in overrides or ():
        section, key, value = parse_override(text)
        if section not in SECTIONS:
            raise unknown_key_error(section, SECTIONS)
        schema = _schema_for(section, {**recipe, section: {**recipe.get(section, {}), key: value}})
        if key not in schema:
            hint = difflib.get_close_matches(key, schema, n=1)
            raise RecipeError(
                f"--set {text!r}: unknown recipe key '{section}.{key}'. Known keys in '{section}': "
                f"{', '.join(sorted(schema))}.{f' Did you mean {section}.{hint[0]}?' if hint else ''}"
            )
        recipe.setdefault(section, {})[key] = value
    return validate(recipe, source="recipe after --set")


def load(path, overrides=None, check_paths=True):
    """Reads, validates and completes the recipe at `path` (`check_paths`: see `validate`)."""
    if not os.path.isfile(path):
        raise RecipeError(f"recipe file {path!r} not found. Pass a YAML recipe such as recipes/quickstart.yaml.")
    with open(path, encoding="utf-8") as f:
        try:
            raw = _yaml_load(f)
        except yaml.YAMLError as e:
            raise RecipeError(f"{path}: not valid YAML ({e}).") from None
        except UnicodeDecodeError as e:
            raise RecipeError(
                f"{path}: not UTF-8 text (it holds the byte {e.object[e.start]:#04x}). Save the recipe as UTF-8."
            ) from None
    if raw is None:
        raise RecipeError(f"{path}: the recipe is empty. Start from recipes/quickstart.yaml.")
    recipe = validate(raw, source=path, check_paths=check_paths)
    return apply_overrides(recipe, overrides) if overrides else recipe


def dump(recipe):
    """The recipe as YAML text (sections in their canonical order)."""
    return yaml.safe_dump({s: recipe[s] for s in SECTIONS if s in recipe}, sort_keys=False)

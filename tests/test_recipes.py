import copy
import os

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from keras_contrastive import recipes
from keras_contrastive.recipes import RecipeError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = sorted(f for f in os.listdir(os.path.join(ROOT, "recipes")) if f.endswith(".yaml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_recipes_validate(name):
    recipe = recipes.load(os.path.join(ROOT, "recipes", name))
    assert set(recipe) == set(recipes.SECTIONS)
    assert recipe["train"]["epochs"] >= 1 and recipe["train"]["batch_size"] >= 2


def test_defaults_fill_missing_keys_and_method_keys_come_from_the_class():
    recipe = recipes.validate({"method": {"name": "simclr", "temperature": 0.1}})
    assert recipe["method"]["temperature"] == 0.1
    assert recipe["method"]["projection_dim"] == 128  # SimCLR's own default
    assert recipe["train"]["epochs"] == 10 and recipe["encoder"]["name"] == "convnet"


@pytest.mark.parametrize(
    "recipe,message",
    [
        ({"train": {"epoch": 3}}, "unknown recipe key 'train.epoch'. Did you mean 'epochs'?"),
        ({"trian": {}}, "unknown recipe key 'trian'. Did you mean 'train'?"),
        ({"train": {"epochs": "ten"}}, "train.epochs: expected an integer, got 'ten' (str)"),
        ({"train": {"batch_size": 2.5}}, "train.batch_size: expected an integer, got 2.5"),
        ({"train": {"batch_size": 1}}, "train.batch_size: expected at least 2"),
        (
            {"method": {"name": "simclr", "temperatur": 0.1}},
            "unknown recipe key 'method.temperatur'. Did you mean 'temperature'?",
        ),
        ({"method": {"name": "simclr", "temperature": "hot"}}, "method.temperature: expected a number, got 'hot'"),
        ({"method": {"name": "nope"}}, "method.name: Unknown method 'nope'"),
        ({"encoder": {"name": "convnet", "depth": 18}}, "unknown recipe key 'encoder.depth'"),
        ({"encoder": {"name": "resnet18", "width_multiplier": "wide"}}, "encoder.width_multiplier: expected a number"),
        ({"encoder": {"name": "vgg"}}, "encoder.name: Unknown encoder 'vgg'"),
        ({"data": {"path": "/no/such/dir"}}, "data.path: '/no/such/dir' does not exist"),
        ({"augment": {"crop_scale": [0.5]}}, "augment.crop_scale: expected [low, high]"),
        ({"augment": {"blur_probability": 1.5}}, "augment.blur_probability: expected a probability in [0, 1]"),
        ({"optimizer": {"name": "adagrad"}}, "optimizer.name: expected one of adamw, adam, sgd, lars"),
        ({"train": {"online_probe": "yes"}}, "train.online_probe: expected true or false"),
        ({"train": [1, 2]}, "train: expected a mapping of keys"),
        ({"data": {"min_gold": 3.0}}, "data.min_gold: 3.0 would be ignored by this data source"),
        ({"data": {"source": "stsb", "min_gold": 6}}, "data.min_gold: STS gold scores run from 0 to 5"),
        ({"data": {"source": "tsv", "hard_negatives": -1}}, "data.hard_negatives: expected 0 (none) or the number"),
        ({"data": {"source": "stsb", "mine_margin": 0.1}}, "mining, which data.hard_negatives=0 turns off"),
    ],
)
def test_bad_recipes_name_the_key(recipe, message):
    with pytest.raises(RecipeError) as info:
        recipes.validate(recipe)
    assert message in str(info.value)


def test_set_overrides_apply_and_are_checked():
    base = recipes.load(os.path.join(ROOT, "recipes", "quickstart.yaml"))
    before = copy.deepcopy(base)
    out = recipes.apply_overrides(base, ["train.epochs=7", "augment.crop_scale=[0.4, 1.0]", "method.temperature=0.1"])
    assert out["train"]["epochs"] == 7 and out["augment"]["crop_scale"] == [0.4, 1.0]
    assert out["method"]["temperature"] == 0.1
    assert base == before, "apply_overrides changed the recipe it was given"
    with pytest.raises(RecipeError, match="unknown recipe key 'train.epoch'. Known keys in 'train'"):
        recipes.apply_overrides(base, ["train.epoch=2"])
    with pytest.raises(RecipeError, match="expected section.key=value"):
        recipes.apply_overrides(base, ["train.epochs"])
    with pytest.raises(RecipeError, match="train.epochs: expected an integer"):
        recipes.apply_overrides(base, ["train.epochs=many"])


def test_missing_and_empty_recipe_files(tmp_path):
    with pytest.raises(RecipeError, match="recipe file '.*nope.yaml' not found"):
        recipes.load(str(tmp_path / "nope.yaml"))
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(RecipeError, match="the recipe is empty"):
        recipes.load(str(empty))
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: {epochs: [")
    with pytest.raises(RecipeError, match="not valid YAML"):
        recipes.load(str(broken))


def test_dump_round_trips():
    recipe = recipes.load(os.path.join(ROOT, "recipes", "quickstart.yaml"))
    assert recipes.validate(yaml.safe_load(recipes.dump(recipe))) == recipe


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(list(recipes.SECTIONS) + ["x"]), _values, max_size=4))
def test_parser_only_ever_raises_its_own_error(recipe):
    try:
        recipes.validate(recipe)
    except RecipeError:
        pass


def test_exponent_notation_is_a_number_in_files_and_overrides(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("optimizer:\n  learning_rate: 1e-4\n  weight_decay: 5E-6\n")
    recipe = recipes.load(str(path), ["optimizer.momentum=9e-1"])
    assert recipe["optimizer"]["learning_rate"] == 1e-4 and recipe["optimizer"]["weight_decay"] == 5e-6
    assert recipe["optimizer"]["momentum"] == 0.9


def test_augment_defaults_are_the_augmentations_own():
    from keras_contrastive.augment import SimCLRAugmentation, multi_crop_views
    from keras_contrastive.runs.views import simclr_view

    recipe = recipes.validate({})
    # The values every shipped run resolved (recipe.yaml files, the zoo's metadata): unchanged.
    assert recipe["augment"] == {
        "crop_scale": [0.08, 1.0],
        "crop_ratio": [0.75, 1.3333333],
        "horizontal_flip": True,
        "jitter_strength": 1.0,
        "jitter_probability": 0.8,
        "grayscale_probability": 0.2,
        "blur_probability": 0.0,
        "solarize_probability": 0.0,
        "small_crops": 0,
        "small_crop_size": None,
        "small_crop_scale": [0.05, 0.14],
    }
    # A view built from the default recipe is the augmentation built with its own defaults.
    view = simclr_view(recipe, (32, 32, 3), 0.0, 0.0, name="view").get_config()
    default = SimCLRAugmentation((32, 32), name="view").get_config()
    assert view == default
    small = multi_crop_views((32, 32), num_large_crops=0, num_small_crops=1)[0].get_config()
    assert list(small["crop_scale"]) == recipe["augment"]["small_crop_scale"]


def test_precision_and_optimizer_choices_are_the_run_layers():
    from keras_contrastive.optimizers import OPTIMIZERS, SCHEDULES
    from keras_contrastive.run_options import PRECISION_CHOICES, PRECISIONS

    assert PRECISION_CHOICES == ("auto", *PRECISIONS)
    for section, key, choices in (
        ("train", "precision", PRECISION_CHOICES),
        ("optimizer", "name", OPTIMIZERS),
        ("optimizer", "schedule", SCHEDULES),
    ):
        for value in choices:
            assert recipes.validate({section: {key: value}})[section][key] == value
        with pytest.raises(RecipeError, match=f"{section}.{key}: expected one of {', '.join(choices)}, got 'x'"):
            recipes.validate({section: {key: "x"}})

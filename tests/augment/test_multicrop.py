import doctest

import numpy as np
import pytest

from keras_contrastive import recipes
from keras_contrastive.augment import SimCLRAugmentation, multi_crop_views
from keras_contrastive.data import pretrain_dataset
from keras_contrastive.runs.views import build_views


def test_views_are_large_crops_then_small_crops():
    views = multi_crop_views((28, 28), num_small_crops=4, small_size=14, seed=0, jitter_strength=0.5)
    assert len(views) == 6 and all(isinstance(v, SimCLRAugmentation) for v in views)
    assert [v.image_size for v in views] == [(28, 28)] * 2 + [(14, 14)] * 4
    assert [v.crop_scale for v in views] == [(0.14, 1.0)] * 2 + [(0.05, 0.14)] * 4
    assert len({v.seed for v in views}) == 6 and views[0].jitter_strength == 0.5


def test_pretrain_dataset_batches_every_crop():
    images = np.random.default_rng(0).integers(0, 255, (8, 28, 28, 1), dtype=np.uint8)
    views = multi_crop_views(28, num_small_crops=3, seed=0)
    batch = next(iter(pretrain_dataset(images, views, batch_size=4)))["views"]
    # Default small size: 4/7 of the large one (SwAV's 96 px for 224 px).
    assert [tuple(v.shape) for v in batch] == [(4, 28, 28, 1)] * 2 + [(4, 16, 16, 1)] * 3
    assert all(float(np.min(v)) >= 0.0 and float(np.max(v)) <= 1.0 for v in batch)


def test_recipe_keys_build_multi_crop_views_and_keep_two_views_by_default():
    assert len(build_views(recipes.validate({}), (28, 28, 1), seed=0)) == 2
    recipe = recipes.validate(
        {
            "augment": {
                "crop_scale": [0.14, 1.0],
                "small_crops": 3,
                "small_crop_size": 24,
                "blur_probability": [1.0, 0.1],
            }
        }
    )
    views = build_views(recipe, (28, 28, 1), seed=0)
    assert [v.image_size for v in views] == [(28, 28)] * 2 + [(24, 24)] * 3
    assert [v.blur_probability for v in views] == [1.0, 0.1, 0.1, 0.1, 0.1]
    assert views[2].crop_scale == (0.05, 0.14) and len({v.seed for v in views}) == 5
    with pytest.raises(recipes.RecipeError, match="small_crops"):
        recipes.validate({"augment": {"small_crops": -1}})
    with pytest.raises(recipes.RecipeError, match="small_crop_scale"):
        recipes.validate({"augment": {"small_crop_scale": [0.2, 0.1]}})


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="at least one crop"):
        multi_crop_views(28, num_large_crops=0, num_small_crops=0)
    with pytest.raises(ValueError, match="crop_scale"):
        multi_crop_views(28, crop_scale=(0.2, 1.0))


def test_docstring_examples_run():
    from keras_contrastive.augment import multicrop

    assert doctest.testmod(multicrop, extraglobs={"np": np}, verbose=False).failed == 0

import doctest
import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.augment import Compose, RandomGrayscale, SimCLRAugmentation


def _images(b=8, c=3):
    return tf.constant(np.random.default_rng(0).random((b, 16, 16, c), np.float32))


@pytest.mark.parametrize("channels", [1, 3])
def test_rgb_and_grayscale(channels):
    aug = SimCLRAugmentation(12, blur_probability=0.5, solarize_probability=0.2)
    out = aug(_images(c=channels))
    assert out.shape == (8, 12, 12, channels)
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 1.0


def test_views_differ_per_image_and_per_call():
    x = tf.repeat(_images(b=1), 8, axis=0)
    aug = SimCLRAugmentation(16, seed=0)
    v1, v2 = aug(x).numpy(), aug(x).numpy()
    assert len({v1[i].tobytes() for i in range(8)}) == 8
    assert not np.allclose(v1, v2)


def test_seeded_determinism():
    x = _images()
    a = SimCLRAugmentation(12, blur_probability=1.0, seed=11)
    b = SimCLRAugmentation(12, blur_probability=1.0, seed=11)
    np.testing.assert_array_equal(a(x), b(x))
    np.testing.assert_array_equal(a(x), b(x))


def test_all_off_is_identity():
    x = _images()
    aug = SimCLRAugmentation(
        16,
        crop_scale=(1, 1),
        crop_ratio=(1, 1),
        horizontal_flip=False,
        jitter_probability=0.0,
        grayscale_probability=0.0,
    )
    np.testing.assert_allclose(aug(x), x, atol=1e-5)


def test_config_round_trip():
    aug = SimCLRAugmentation(
        (10, 12),
        crop_scale=(0.2, 1.0),
        jitter_strength=0.5,
        blur_probability=1.0,
        seed=3,
    )
    config = aug.get_config()
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(aug))
    assert isinstance(clone, SimCLRAugmentation) and clone.get_config() == config
    np.testing.assert_array_equal(aug(_images()), clone(_images()))


def test_compose_with_keras_layer_and_round_trip():
    compose = Compose([keras.layers.RandomFlip("horizontal", seed=1), RandomGrayscale(1.0)])
    out = compose(_images())
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    clone = Compose.from_config(compose.get_config())
    assert [type(layer) for layer in clone.layers] == [
        keras.layers.RandomFlip,
        RandomGrayscale,
    ]
    with pytest.raises(ValueError, match="keras.layers.Layer instances"):
        Compose([lambda x: x])


def test_docstring_examples_run():
    names = [
        "random_resized_crop",
        "random_color_jitter",
        "random_grayscale",
        "random_gaussian_blur",
        "random_solarize",
        "simclr_augmentation",
        "compose",
    ]
    for name in names:
        module = importlib.import_module(f"keras_contrastive.augment.{name}")
        results = doctest.testmod(module, extraglobs={"np": np, "tf": tf}, verbose=False)
        assert results.attempted > 0 and results.failed == 0, name

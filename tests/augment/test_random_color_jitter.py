import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.augment import RandomColorJitter


def _images(b=6, h=8, w=8, c=3, seed=0):
    return tf.constant(np.random.default_rng(seed).random((b, h, w, c), np.float32))


def test_probability_zero_is_identity():
    x = _images()
    np.testing.assert_array_equal(RandomColorJitter(probability=0.0)(x), x)
    np.testing.assert_array_equal(RandomColorJitter(strength=0.0)(x), x)


@pytest.mark.parametrize("channels", [1, 3])
def test_shape_range_and_change(channels):
    x = _images(c=channels)
    out = RandomColorJitter(probability=1.0, seed=0)(x)
    assert out.shape == x.shape and out.dtype == tf.float32
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 1.0
    per_image_change = tf.reduce_mean(tf.abs(out - x), axis=(1, 2, 3)).numpy()
    assert (per_image_change > 1e-3).all()


def test_matches_tf_image_reference_per_image():
    x = _images(b=5)
    layer = RandomColorJitter(strength=1.0, probability=1.0)
    b = tf.constant([0.5, 1.2, 1.0, 0.9, 1.6])
    c = tf.constant([1.5, 0.4, 1.0, 1.1, 0.2])
    s = tf.constant([0.3, 1.7, 1.0, 0.0, 1.3])
    h = tf.constant([0.15, -0.2, 0.0, 0.05, -0.1])
    out = layer.apply_factors(x, b, c, s, h)
    for i in range(5):
        ref = tf.clip_by_value(x[i] * b[i], 0.0, 1.0)
        ref = tf.clip_by_value(tf.image.adjust_contrast(ref, c[i]), 0.0, 1.0)
        ref = tf.image.adjust_saturation(ref, s[i])
        ref = tf.clip_by_value(tf.image.adjust_hue(ref, h[i]), 0.0, 1.0)
        np.testing.assert_allclose(out[i], ref, atol=2e-5)


def test_grayscale_gets_brightness_and_contrast_only():
    x = _images(b=2, c=1)
    layer = RandomColorJitter()
    out = layer.apply_factors(x, *[tf.constant([1.2, 0.7])] * 3, tf.constant([0.1, 0.1]))
    ref = tf.clip_by_value(x * tf.constant([1.2, 0.7])[:, None, None, None], 0, 1)
    mean = tf.reduce_mean(ref, axis=(1, 2), keepdims=True)
    ref = tf.clip_by_value((ref - mean) * tf.constant([1.2, 0.7])[:, None, None, None] + mean, 0, 1)
    np.testing.assert_allclose(out, ref, atol=1e-6)


def test_probability_is_per_image():
    x = _images(b=200, h=4, w=4)
    out = RandomColorJitter(probability=0.5, seed=1)(x)
    unchanged = tf.reduce_all(tf.equal(out, x), axis=(1, 2, 3)).numpy()
    assert 60 < unchanged.sum() < 140


def test_factor_ranges():
    layer = RandomColorJitter(strength=0.5)
    seeds = tf.reshape(tf.range(10), [5, 2])
    b, c, s, h = (t.numpy() for t in layer.sample_factors(10000, seeds))
    for f in (b, c, s):
        assert 0.6 <= f.min() < 0.62 and 1.38 < f.max() <= 1.4
    assert -0.1 <= h.min() < -0.09 and 0.09 < h.max() <= 0.1
    assert not np.allclose(b, c)


def test_config_round_trip_and_seeding():
    layer = RandomColorJitter(strength=0.5, probability=0.3, seed=4)
    clone = RandomColorJitter.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = _images()
    np.testing.assert_array_equal(layer(x), clone(x))

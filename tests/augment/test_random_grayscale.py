import numpy as np
import tensorflow as tf

from keras_contrastive.augment import RandomGrayscale


def _images(b=4, c=3):
    return tf.constant(np.random.default_rng(0).random((b, 5, 5, c), np.float32))


def test_probability_one_gives_equal_channels_and_keeps_luminance():
    x = _images()
    out = RandomGrayscale(probability=1.0)(x)
    assert out.shape == x.shape
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 1], out[..., 2])
    luma = tf.tensordot(x, tf.constant([0.299, 0.587, 0.114]), axes=1)
    out_luma = tf.tensordot(out, tf.constant([0.299, 0.587, 0.114]), axes=1)
    np.testing.assert_allclose(out_luma, luma, atol=1e-6)
    np.testing.assert_allclose(out[..., 0], luma, atol=1e-6)


def test_one_channel_is_a_no_op():
    x = _images(c=1)
    np.testing.assert_array_equal(RandomGrayscale(probability=1.0)(x), x)


def test_probability_is_per_image_and_zero_is_identity():
    x = _images(b=300)
    out = RandomGrayscale(probability=0.2, seed=0)(x)
    gray = tf.reduce_all(tf.equal(out[..., 0], out[..., 1]), axis=(1, 2)).numpy()
    kept = tf.reduce_all(tf.equal(out, x), axis=(1, 2, 3)).numpy()
    assert (gray != kept).all() and 30 < gray.sum() < 90
    np.testing.assert_array_equal(RandomGrayscale(probability=0.0)(x), x)


def test_config_round_trip():
    layer = RandomGrayscale(probability=0.4, seed=1, name="g")
    assert RandomGrayscale.from_config(layer.get_config()).get_config() == (layer.get_config())

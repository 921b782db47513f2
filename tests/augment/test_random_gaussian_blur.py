import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.augment import RandomGaussianBlur


def test_constant_image_keeps_its_mean_and_values():
    x = tf.fill([3, 12, 12, 3], 0.37)
    out = RandomGaussianBlur(probability=1.0, sigma=(0.5, 2.0), kernel_size=7)(x)
    np.testing.assert_allclose(out, x, atol=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_reduces_variance_of_noise_and_keeps_mean(channels):
    x = tf.constant(np.random.default_rng(0).random((4, 16, 16, channels), np.float32))
    out = RandomGaussianBlur(probability=1.0, sigma=(1.0, 2.0), kernel_size=5)(x)
    assert out.shape == x.shape
    assert (np.var(out, axis=(1, 2, 3)) < 0.5 * np.var(x, axis=(1, 2, 3))).all()
    np.testing.assert_allclose(np.mean(out, axis=(1, 2)), np.mean(x, axis=(1, 2)), atol=0.02)


def test_matches_a_per_image_reference():
    rng = np.random.default_rng(1)
    x = rng.random((2, 9, 9, 3)).astype(np.float32)
    layer = RandomGaussianBlur(probability=1.0, sigma=(0.3, 2.0), kernel_size=5, seed=7)
    out = layer(tf.constant(x)).numpy()
    # Recover each image's sigma from the draw the layer makes with the same seed.
    seeds = tf.transpose(tf.random.Generator.from_seed(7).make_seeds(layer.num_seeds))
    sigma = tf.random.stateless_uniform([2], seeds[0], 0.3, 2.0).numpy()
    for i in range(2):
        taps = np.arange(-2, 3)
        k = np.exp(-(taps**2) / (2 * sigma[i] ** 2))
        k /= k.sum()
        padded = np.pad(x[i], [(2, 2), (2, 2), (0, 0)], mode="reflect")
        rows = sum(k[j] * padded[j : j + 9] for j in range(5))
        ref = sum(k[j] * rows[:, j : j + 9] for j in range(5))
        np.testing.assert_allclose(out[i], ref, atol=1e-5)
    assert abs(sigma[0] - sigma[1]) > 1e-3  # per-image sigma


def test_dynamic_batch_inside_tf_data():
    x = np.random.default_rng(0).random((5, 8, 8, 3)).astype(np.float32)
    layer = RandomGaussianBlur(probability=1.0, kernel_size=3)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(2).map(layer)
    assert [b.shape[0] for b in ds] == [2, 2, 1]


def test_probability_zero_is_identity_and_config():
    x = tf.random.uniform([2, 8, 8, 3])
    np.testing.assert_array_equal(RandomGaussianBlur(probability=0.0)(x), x)
    layer = RandomGaussianBlur(0.3, sigma=1.5, kernel_size=9, seed=1)
    assert layer.sigma == (1.5, 1.5)
    clone = RandomGaussianBlur.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="odd"):
        RandomGaussianBlur(kernel_size=4)

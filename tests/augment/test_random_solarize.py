import numpy as np
import tensorflow as tf

from keras_contrastive.augment import RandomSolarize


def test_probability_one_inverts_values_at_or_above_threshold():
    x = tf.constant(np.linspace(0, 1, 11, dtype=np.float32).reshape(1, 11, 1, 1))
    out = RandomSolarize(probability=1.0, threshold=0.5)(x).numpy().ravel()
    v = x.numpy().ravel()
    np.testing.assert_allclose(out, np.where(v >= 0.5, 1 - v, v), atol=1e-7)


def test_default_probability_zero_is_identity():
    x = tf.random.uniform([3, 4, 4, 3])
    np.testing.assert_array_equal(RandomSolarize()(x), x)


def test_probability_per_image_and_config():
    x = tf.fill([200, 2, 2, 1], 0.9)
    out = RandomSolarize(probability=0.5, seed=0)(x).numpy()[:, 0, 0, 0]
    assert {round(float(v), 5) for v in out} == {0.1, 0.9}
    assert 60 < (out < 0.5).sum() < 140
    layer = RandomSolarize(0.2, threshold=0.7, seed=3)
    assert RandomSolarize.from_config(layer.get_config()).threshold == 0.7

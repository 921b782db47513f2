import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.augment import RandomResizedCrop


def _images(b=4, h=16, w=16, c=3, seed=0):
    return tf.constant(np.random.default_rng(seed).random((b, h, w, c), np.float32))


@pytest.mark.parametrize("channels", [1, 3])
def test_shape_and_range(channels):
    out = RandomResizedCrop((10, 12), seed=0)(_images(c=channels))
    assert out.shape == (4, 10, 12, channels) and out.dtype == tf.float32
    assert float(tf.reduce_min(out)) >= 0.0 and float(tf.reduce_max(out)) <= 1.0


def test_full_box_without_flip_is_identity():
    x = _images(h=12, w=12)
    out = RandomResizedCrop(12, scale=(1, 1), ratio=(1, 1), seed=0)(x)
    np.testing.assert_allclose(out, x, atol=1e-5)


def test_flip_folded_into_box_equals_flip_left_right():
    x = _images(b=64, h=10, w=10)
    crop = RandomResizedCrop(10, scale=(1, 1), ratio=(1, 1), horizontal_flip=True, seed=0)
    out = crop(x)
    flipped = tf.image.flip_left_right(x)
    is_flipped = [bool(np.allclose(out[i], flipped[i], atol=1e-5)) for i in range(64)]
    is_same = [bool(np.allclose(out[i], x[i], atol=1e-5)) for i in range(64)]
    assert all(f != s for f, s in zip(is_flipped, is_same))  # exactly one of both
    assert 16 <= sum(is_flipped) <= 48  # about half, drawn per image


def test_each_image_gets_its_own_crop():
    x = tf.repeat(_images(b=1), 16, axis=0)  # 16 identical images
    out = RandomResizedCrop(8, seed=3)(x).numpy()
    distinct = {out[i].tobytes() for i in range(16)}
    assert len(distinct) == 16


def test_sampled_boxes_respect_scale_ratio_and_image():
    crop = RandomResizedCrop(8, scale=(0.2, 0.5), ratio=(0.5, 2.0), seed=0)
    seeds = tf.constant([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]])
    boxes = crop.sample_boxes(4096, 30, 20, seeds).numpy()
    y1, x1, y2, x2 = boxes.T
    assert (y1 >= 0).all() and (x1 >= 0).all() and (y2 <= 1 + 1e-6).all()
    assert (x2 <= 1 + 1e-6).all()
    area = (y2 - y1) * (x2 - x1)
    assert area.min() >= 0.2 - 1e-5 and area.max() <= 0.5 + 1e-5
    ratio = ((x2 - x1) * 20) / ((y2 - y1) * 30)  # in pixels
    assert ratio.min() >= 0.5 - 1e-4 and ratio.max() <= 2.0 + 1e-4
    # log-uniform aspect ratio: about half the boxes are wider than tall.
    assert 0.4 < (ratio > 1).mean() < 0.6


def test_boxes_are_clipped_to_the_image():
    crop = RandomResizedCrop(8, scale=(1.0, 1.0), ratio=(2.0, 2.0), seed=0)
    boxes = crop.sample_boxes(8, 10, 10, tf.ones([5, 2], tf.int32)).numpy()
    np.testing.assert_allclose(boxes[:, 3] - boxes[:, 1], 1.0)  # width clipped
    np.testing.assert_allclose(boxes[:, 2] - boxes[:, 0], np.sqrt(0.5), rtol=1e-5)


def test_seeded_layers_repeat_and_calls_differ():
    x = _images()
    a, b = RandomResizedCrop(8, seed=5), RandomResizedCrop(8, seed=5)
    first_a, first_b = a(x), b(x)
    np.testing.assert_array_equal(first_a, first_b)
    assert not np.array_equal(a(x), first_a)  # next call draws anew


def test_config_round_trip():
    layer = RandomResizedCrop((6, 7), scale=(0.3, 0.9), horizontal_flip=True, seed=2)
    config = layer.get_config()
    clone = RandomResizedCrop.from_config(config)
    assert clone.get_config() == config
    assert clone.size == (6, 7) and clone.scale == (0.3, 0.9) and clone.seed == 2
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, RandomResizedCrop) and restored.horizontal_flip


def test_invalid_arguments():
    with pytest.raises(ValueError, match="scale must satisfy"):
        RandomResizedCrop(8, scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="ratio must be"):
        RandomResizedCrop(8, ratio=(2.0, 1.0))
    with pytest.raises(ValueError, match="1 \\(grayscale\\) or 3 \\(RGB\\) channels"):
        RandomResizedCrop(8)(tf.zeros([2, 8, 8, 4]))

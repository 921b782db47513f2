import doctest
import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.augment import RandomResizedCrop, SimCLRAugmentation
from keras_contrastive.data import images_dataset, pretrain_dataset


def _indexed_images(n, size=8, channels=3):
    # Image i is constant-valued i, so every pixel tells which image it is.
    return np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, size, size, channels)).copy()


def _add_noise(batch):
    return batch + tf.random.uniform(tf.shape(batch), 0.0, 0.001)


def test_element_structure_shapes_dtypes():
    images = _indexed_images(10)
    aug = SimCLRAugmentation(6, seed=0)
    ds = pretrain_dataset(images, [aug, aug], batch_size=4, labels=np.arange(10))
    spec = ds.element_spec
    assert set(spec) == {"views", "label"}
    assert len(spec["views"]) == 2
    element = next(iter(ds))
    v1, v2 = element["views"]
    assert v1.shape == (4, 6, 6, 3) and v1.dtype == tf.float32
    assert float(tf.reduce_min(v1)) >= 0.0 and float(tf.reduce_max(v1)) <= 1.0
    assert element["label"].shape == (4,)
    # drop_remainder: 10 images make 2 full batches.
    assert sum(1 for _ in ds) == 2


def test_two_views_of_the_same_batch_differ():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    aug = SimCLRAugmentation(16, seed=1)
    v1, v2 = next(iter(pretrain_dataset(images, [aug, aug], 8)))["views"]
    assert float(tf.reduce_mean(tf.abs(v1 - v2))) > 0.01


def test_labels_stay_aligned_with_images():
    n = 40
    images = _indexed_images(n)
    labels = np.arange(n) * 3 + 1
    ds = pretrain_dataset(images, [lambda x: x, _add_noise], 8, labels=labels, seed=3, repeat=True)
    for element in ds.take(12):
        index = np.round(element["views"][0][:, 0, 0, 0].numpy() * 255).astype(int)
        np.testing.assert_array_equal(element["label"].numpy(), index * 3 + 1)
        np.testing.assert_allclose(element["views"][1], element["views"][0], atol=0.002)


def test_one_epoch_covers_every_image_once_and_reshuffles():
    n = 30
    images = _indexed_images(n)
    ds = pretrain_dataset(images, [lambda x: x], 5, shuffle=True, seed=0)

    def epoch():
        return np.concatenate([np.round(e["views"][0][:, 0, 0, 0].numpy() * 255) for e in ds]).astype(int)

    first, second = epoch(), epoch()
    assert sorted(first.tolist()) == list(range(n))
    assert sorted(second.tolist()) == list(range(n))
    assert first.tolist() != list(range(n))  # shuffled
    assert first.tolist() != second.tolist()  # reshuffled each epoch
    # Same seed, same order of epochs.
    again = pretrain_dataset(images, [lambda x: x], 5, shuffle=True, seed=0)
    assert [e["views"][0][0, 0, 0, 0].numpy() for e in again] == [e for e in (first[::5] / 255).astype(np.float32)]


def test_no_shuffle_keeps_order_and_keeps_remainder():
    images = _indexed_images(7)
    ds = pretrain_dataset(images, [lambda x: x], 3, shuffle=False, drop_remainder=False)
    sizes = [int(e["views"][0].shape[0]) for e in ds]
    first = next(iter(ds))["views"][0][:, 0, 0, 0].numpy() * 255
    assert sizes == [3, 3, 1]
    np.testing.assert_allclose(first, [0, 1, 2], atol=1e-4)


def test_batch_size_below_two_is_rejected():
    with pytest.raises(ValueError, match="at least 2 examples per batch for negatives"):
        pretrain_dataset(_indexed_images(4), [lambda x: x], 1)


def test_batch_larger_than_dataset_is_rejected():
    with pytest.raises(ValueError, match=r"batch_size=8 is larger than the 5 images"):
        pretrain_dataset(_indexed_images(5), [lambda x: x], 8)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="uint8 numpy array"):
        pretrain_dataset(np.zeros((4, 2, 2, 1), np.float32), [lambda x: x], 2)
    with pytest.raises(ValueError, match="list of callables"):
        pretrain_dataset(_indexed_images(4), lambda x: x, 2)
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        pretrain_dataset(_indexed_images(4), [lambda x: x], 2, labels=np.zeros(3))


def test_keras_core_layer_as_a_view():
    images = np.zeros((8, 12, 12, 1), np.uint8)
    images[:, 4:8, :, :] = 255  # a horizontal bar
    rotate = keras.layers.RandomRotation(factor=(0.25, 0.25), fill_mode="constant")
    identity_crop = RandomResizedCrop(12, scale=(1, 1), ratio=(1, 1))
    ds = pretrain_dataset(images, [identity_crop, rotate], 4)
    crop_view, rotated = next(iter(ds))["views"]
    assert rotated.shape == (4, 12, 12, 1)
    # A quarter turn makes the horizontal bar vertical.
    np.testing.assert_allclose(crop_view[0, :, 0, 0], images[0, :, 0, 0] / 255, atol=1e-5)
    np.testing.assert_allclose(rotated[0, 0, :, 0], images[0, :, 0, 0] / 255, atol=1e-5)


def test_images_dataset_in_order_float():
    images = _indexed_images(5)
    batches = list(images_dataset(images, 2))
    assert [b.shape[0] for b in batches] == [2, 2, 1]
    assert batches[0].dtype == tf.float32
    np.testing.assert_allclose(batches[2][0, 0, 0, 0], 4 / 255)
    pairs = list(images_dataset(images, 4, labels=np.arange(5)))
    assert pairs[1][1].numpy().tolist() == [4]


def test_docstring_example_runs():
    # Doctest the module that defines pretrain_dataset.
    module = importlib.import_module("keras_contrastive.data.pipeline")
    results = doctest.testmod(module, verbose=False)
    assert results.attempted > 0 and results.failed == 0

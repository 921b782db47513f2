import doctest

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.backbones import ConvNet
from keras_contrastive.models import SwAV, get_method
from keras_contrastive.testing import run_replica_equivalence_test, run_serialization_test, run_train_step_test

SIZES = (16, 16, 12, 12)  # 2 large crops + 2 small crops


def _batch(n=8, sizes=SIZES, labels=True, seed=0):
    rng = np.random.default_rng(seed)
    batch = {"views": tuple(rng.random((n, s, s, 1), dtype=np.float32) for s in sizes)}
    if labels:
        batch["label"] = rng.integers(0, 3, n)
    return batch


def _model(sync=False, probe=3, encoder=None, **kwargs):
    encoder = encoder or ConvNet(input_shape=(16, 16, 1), width=4, stages=2, synchronized_bn=sync)
    kwargs = {"projection_dim": 8, "num_prototypes": 10, "synchronized_bn": sync, "probe_classes": probe, **kwargs}
    return SwAV(encoder, **kwargs)


def test_train_step_on_multi_crop_reports_loss_assignment_and_probe():
    history = run_train_step_test(_model(), _batch())
    assert set(history) == {"loss", "assignment_accuracy", "probe_loss", "probe_accuracy"}
    assert history["loss"][0] > 0 and 0.0 <= history["assignment_accuracy"][0] <= 1.0
    assert get_method("swav") is SwAV


class _CallRecorder(keras.layers.Layer):
    """Identity that records the shape of every batch the encoder gets."""

    shapes = []

    def call(self, x):
        if x.shape[0] is not None:  # not the symbolic build of the small-crop path
            _CallRecorder.shapes.append(tuple(x.shape))
        return x


def _tiny_encoder(*layers):
    """Conv + pooling, no BatchNorm: cheap, and the same on any replica count."""
    inputs = keras.Input((16, 16, 1))
    x = inputs
    for layer in (*layers, keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D()):
        x = layer(x)
    return keras.Model(inputs, x)


def test_encoder_is_called_once_per_resolution():
    model = _model(encoder=_tiny_encoder(_CallRecorder()))
    _CallRecorder.shapes.clear()
    views = _batch(sizes=(16, 16, 12, 12, 12))["views"]
    loss, logs, features, _ = model.compute_contrastive_loss(views, training=True)
    # Crops of one size go through together: 2 x 8 large, 3 x 8 small.
    assert _CallRecorder.shapes == [(16, 16, 16, 1), (24, 12, 12, 1)]
    assert features.shape == (8, model.feature_dim) and np.isfinite(float(loss))


def test_two_views_of_one_size_need_no_small_crops():
    model = _model(probe=None)
    loss, logs, _, _ = model.compute_contrastive_loss(_batch(sizes=(16, 16))["views"], training=True)
    assert np.isfinite(float(loss)) and set(logs) == {"assignment_accuracy"}


def test_prototypes_have_unit_norm_after_each_step_and_do_not_move_while_frozen():
    model = _model(probe=None)
    # Weight decay shrinks even frozen weights: the re-normalisation undoes it.
    model.compile(optimizer=keras.optimizers.AdamW(0.05, weight_decay=0.5))
    initial = model.prototypes.kernel.numpy().copy()
    kernels = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: kernels.append(model.prototypes.kernel.numpy().copy())
    )
    data = tf.data.Dataset.from_tensor_slices(_batch(n=16, labels=False)).batch(8)  # 2 steps per epoch
    model.fit(data, epochs=2, verbose=0, callbacks=[record])
    assert len(kernels) == 4 and int(model.freeze_steps.numpy()) == 2  # the first epoch, from fit
    for kernel in kernels:
        np.testing.assert_allclose(np.linalg.norm(kernel, axis=0), 1.0, atol=1e-5)
    for kernel in kernels[:2]:
        np.testing.assert_allclose(kernel, initial, atol=1e-6)
    assert np.max(np.abs(kernels[2] - kernels[1])) > 1e-3 and np.max(np.abs(kernels[3] - kernels[2])) > 1e-3


def test_two_replicas_equal_one_device_with_multi_crop_and_the_queue_in_use():
    def build():
        encoder = _tiny_encoder()
        # One Dense in the head: no BatchNorm anywhere, so no per-replica statistics.
        model = _model(
            encoder=encoder, projection_layers=1, freeze_prototypes_steps=0, queue_size=16, queue_start_epoch=0
        )
        model.queue_filled.assign(16)  # the queue counts as full: its contents join Sinkhorn-Knopp
        return model

    # The queue stores forward activations (not weight updates) of the two
    # runs: their float rounding differs by ~2e-5.
    difference, update = run_replica_equivalence_test(build, _batch(), atol=1e-4)
    assert difference <= 1e-4 < update


def test_queue_fills_from_its_start_epoch_and_is_then_used():
    model = _model(probe=None, queue_size=16, queue_start_epoch=1, freeze_prototypes_steps=0)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    data = tf.data.Dataset.from_tensor_slices(_batch(n=16, labels=False)).batch(8)
    model.fit(data, epochs=1, verbose=0)
    assert int(model.queue_filled.numpy()) == 0  # epoch 0: before the start
    model.fit(data, epochs=2, initial_epoch=1, verbose=0)
    assert int(model.queue_filled.numpy()) == 16
    views = _batch(labels=False)["views"]
    with_queue = float(model.compute_contrastive_loss(views, training=True)[0])
    model.queue_filled.assign(0)
    without = float(model.compute_contrastive_loss(views, training=True)[0])
    assert with_queue != pytest.approx(without, abs=1e-6)


def test_serialization_round_trip():
    model = _model(queue_size=16)
    loaded = run_serialization_test(model, _batch()["views"][0])
    assert loaded.num_prototypes == 10 and loaded.queue_size == 16
    np.testing.assert_array_equal(loaded.prototypes.kernel.numpy(), model.prototypes.kernel.numpy())


def test_a_flattened_encoder_needs_crops_with_the_same_feature_map():
    encoder = ConvNet(input_shape=(16, 16, 1), width=4, stages=2, output_pool="flatten")
    model = _model(encoder=encoder, probe=None)
    # 17 px ends on the same 4x4 map as 16 px; 12 px does not.
    loss = model.compute_contrastive_loss(_batch(sizes=(16, 16, 17))["views"], training=True)[0]
    assert np.isfinite(float(loss))
    with pytest.raises(ValueError, match="all crops need features of one size"):
        model.compute_contrastive_loss(_batch(sizes=(16, 16, 12))["views"], training=True)


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="temperature > 0"):
        _model(temperature=0.0)
    with pytest.raises(ValueError, match="num_large_crops >= 1"):
        _model(num_large_crops=0)
    with pytest.raises(ValueError, match="at least 2 views"):
        _model().compute_contrastive_loss(_batch(sizes=(16,))["views"])
    with pytest.raises(ValueError, match="large crops must share one size"):
        _model().compute_contrastive_loss(_batch(sizes=(16, 12))["views"])


def test_docstring_examples_run():
    from keras_contrastive.models import swav

    assert doctest.testmod(swav, extraglobs={"np": np}, verbose=False).failed == 0

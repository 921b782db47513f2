import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.backbones import ConvNet
from keras_contrastive.models import MoCo
from keras_contrastive.testing import fit_one_step, two_replica_strategy


def _model(**kw):
    kw = {"projection_dim": 8, "queue_size": 32, "bn_groups": 2, **kw}
    return MoCo(ConvNet(input_shape=(16, 16, 1), width=4, stages=2), **kw)


def _views(seed=0, n=8):
    rng = np.random.default_rng(seed)
    return tuple(rng.random((n, 16, 16, 1), dtype=np.float32) for _ in range(2))


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_the_loss_contrasts_each_query_with_its_key_against_the_queue():
    model = _model(shuffle_bn=False, temperature=0.3)
    q_view, k_view = _views()
    loss = float(model.compute_contrastive_loss((q_view, k_view), training=False)[0])
    q = _unit(model.projector(model.encoder(q_view)).numpy())
    k = _unit(model.target_projector(model.target_encoder(k_view)).numpy())
    negatives = _unit(model.queue.value.numpy())
    logits = np.concatenate([np.sum(q * k, axis=1, keepdims=True), q @ negatives.T], axis=1) / 0.3
    logits -= logits.max(axis=1, keepdims=True)
    reference = np.mean(-logits[:, 0] + np.log(np.exp(logits).sum(axis=1)))
    assert loss == pytest.approx(reference, abs=1e-5)


def test_after_a_step_the_queue_holds_the_normalised_keys_of_the_batch():
    model = _model(shuffle_bn=False, momentum=1.0)  # the target stays as it was: keys can be recomputed
    views = _views(1)
    keys = _unit(model.target_projector(model.target_encoder(views[1], training=True), training=True).numpy())
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model.fit(tf.data.Dataset.from_tensor_slices({"views": views}).batch(8), epochs=1, verbose=0)
    np.testing.assert_allclose(model.queue.value.numpy()[:8], keys, atol=1e-5)
    assert int(model.queue.pointer.numpy()) == 8


def test_shuffle_bn_permutes_keys_through_groups_and_restores_their_order():
    views = _views(2)
    plain = _model(shuffle_bn=False)
    shuffled = _model(shuffle_bn=True, bn_groups=4)
    shuffled.set_weights(plain.get_weights())
    # Inference: BatchNorm uses moving statistics, so grouping changes nothing
    # and the un-permuted keys must equal the plain keys row for row.
    np.testing.assert_allclose(
        shuffled._keys_for(views[1], 4, training=False), plain._keys_for(views[1], 1, training=False), atol=1e-5
    )
    # Training: each key is normalised within a random group of 2, not the whole batch.
    a = shuffled._keys_for(views[1], 4, training=True).numpy()
    b = plain._keys_for(views[1], 1, training=True).numpy()
    assert np.max(np.abs(a - b)) > 1e-3


def test_shuffle_bn_on_two_replicas_equals_one_device_with_the_same_groups():
    """Per-device BatchNorm (not synchronized): 2 replicas of 4 examples with
    bn_groups=2 form the same groups as 1 device with 2 groups of 4."""
    views = _views(3)
    batch = {"views": views}
    devices = tf.config.list_logical_devices("CPU")
    one_device = tf.distribute.OneDeviceStrategy(devices[0].name)
    with one_device.scope():
        keras.utils.set_random_seed(1)
        initial = _model().get_weights()
    one = fit_one_step(_model, batch, one_device, weights=initial, learning_rate=0.05)
    two = fit_one_step(_model, batch, two_replica_strategy(), weights=initial, learning_rate=0.05)
    # BatchNorm moving statistics are per replica by definition; all else must match.
    compared = 0
    for a, b, init in zip(one.weights, two.weights, initial):
        if "moving" in a.path:
            continue
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, err_msg=a.path)
        compared += int(np.max(np.abs(a.numpy() - init)) > 1e-4)
    assert compared >= 5  # the step moved weights, the queue and the targets
    np.testing.assert_allclose(one.queue.value.numpy(), two.queue.value.numpy(), atol=1e-5)


def test_bad_batches_and_arguments_name_the_fix():
    with pytest.raises(ValueError, match="divides by 4 per replica, or set method.bn_groups"):
        _model(bn_groups=4).compute_contrastive_loss(_views(n=6), training=True)
    with pytest.raises(ValueError, match="queue of at least one global batch"):
        _model(queue_size=4, shuffle_bn=False).compute_contrastive_loss(_views(n=8), training=True)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        _model(temperature=0)
    with pytest.raises(ValueError, match="momentum_schedule must be one of constant, cosine"):
        _model(momentum_schedule="linear")
    with pytest.raises(ValueError, match="exactly 2 views"):
        _model().compute_contrastive_loss(_views()[:1])


def test_without_a_queue_the_other_keys_of_the_batch_are_the_negatives():
    model = _model(queue_size=0, shuffle_bn=False)
    assert model.queue is None
    loss, logs, _, keys = model.compute_contrastive_loss(_views(), training=False)
    assert tuple(keys.shape) == (8, 8)
    assert np.isfinite(float(loss)) and 0.0 <= float(logs["contrastive_accuracy"]) <= 1.0

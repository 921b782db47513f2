import doctest

import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import distributed
from keras_contrastive.losses import nt_xent, supcon_loss
from keras_contrastive.testing import run_on_replicas, two_replica_strategy


def reference_supcon(views, labels, temperature):
    """SupCon L_out written the plain way (Khosla et al., 2020, equation (2)), in float64: loops over anchors."""
    z = np.concatenate([v.astype(np.float64) for v in views])
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    y = np.tile(labels, len(views))
    losses = []
    for i in range(len(z)):
        others = [a for a in range(len(z)) if a != i]
        denominator = np.sum([np.exp(z[i] @ z[a] / temperature) for a in others])
        positives = [p for p in others if y[p] == y[i]]
        losses.append(-np.mean([np.log(np.exp(z[i] @ z[p] / temperature) / denominator) for p in positives]))
    return float(np.mean(losses))


@pytest.mark.parametrize("num_views", [2, 3])
@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_supcon_matches_plain_reference(num_views, temperature):
    rng = np.random.default_rng(num_views)
    views = [rng.normal(size=(10, 6)).astype("float32") for _ in range(num_views)]
    labels = rng.integers(0, 3, 10)
    expected = reference_supcon(views, labels, temperature)
    np.testing.assert_allclose(float(supcon_loss(views, labels, temperature)), expected, rtol=1e-5)


def test_supcon_known_values():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 4)).astype("float32"), rng.normal(size=(6, 4)).astype("float32")
    # Every image its own class: the positives are the other views of the same image, as SimCLR's NT-Xent.
    np.testing.assert_allclose(float(supcon_loss([a, b], np.arange(6), 0.3)), float(nt_xent(a, b, 0.3)), rtol=1e-5)
    # One class and identical embeddings: each of the 2N - 1 others is a positive of probability 1 / (2N - 1).
    same = np.ones((5, 3), "float32")
    np.testing.assert_allclose(float(supcon_loss([same, same], np.zeros(5), 0.2)), np.log(9), rtol=1e-5)
    # Classes mapped to orthogonal directions, temperature small: the positives take all the mass.
    # Each anchor has 3 positives (its twin, the other image of its class twice) of probability 1/3 each.
    eye = np.eye(3, dtype="float32")
    points = eye[[0, 0, 1, 1, 2, 2]]
    loss = supcon_loss([points, points], np.array([0, 0, 1, 1, 2, 2]), temperature=0.01)
    np.testing.assert_allclose(float(loss), np.log(3), rtol=1e-4)


def test_supcon_on_two_replicas_equals_one_device_on_the_global_batch():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(8, 5)).astype("float32"), rng.normal(size=(8, 5)).astype("float32")
    labels = np.array([0, 1, 2, 0, 1, 1, 2, 0], "int32")
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
    loss = lambda x, y, t: supcon_loss([x, y], t, temperature=0.2)  # noqa: E731
    one, one_grads = run_on_replicas(tf.distribute.OneDeviceStrategy(devices[0]), loss, a, b, labels)
    two, two_grads = run_on_replicas(
        two_replica_strategy(), lambda x, y, t: distributed.scale_loss_for_replicas(loss(x, y, t)), a, b, labels
    )
    # Labels are gathered too: the replicas' losses add up to the global loss ...
    np.testing.assert_allclose(np.sum(two), one[0], rtol=1e-5)
    for g_two, g_one in zip(two_grads[:2], one_grads[:2]):  # ... with the one-device gradients
        np.testing.assert_allclose(g_two, g_one, rtol=1e-4, atol=1e-6)
    # Without the other replica's labels and embeddings the loss differs.
    local = [float(loss(a[i : i + 4], b[i : i + 4], labels[i : i + 4])) for i in (0, 4)]
    assert abs(np.mean(local) - one[0]) > 1e-2


def test_bad_arguments_name_the_problem():
    z = np.ones((4, 3), "float32")
    with pytest.raises(ValueError, match="at least 2 views"):
        supcon_loss([z], np.zeros(4))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        supcon_loss([z, z], np.zeros(4), temperature=0.0)


def test_docstring_examples_run():
    from keras_contrastive.losses import supcon

    assert doctest.testmod(supcon, verbose=False).failed == 0

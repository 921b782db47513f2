import doctest

import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import distributed
from keras_contrastive.losses import barlow_twins_loss
from keras_contrastive.testing import run_on_replicas, two_replica_strategy

HADAMARD = np.array([[1, 1, 1], [-1, 1, -1], [1, -1, -1], [-1, -1, 1]], "float32")


def reference_barlow_twins(z_a, z_b, lam=0.0051, eps=1e-5):
    """Barlow Twins written the plain way, in float64: each entry of C as a correlation over the batch."""
    z_a, z_b = z_a.astype(np.float64), z_b.astype(np.float64)
    n, d = z_a.shape
    on = off = 0.0
    for i in range(d):
        a = (z_a[:, i] - z_a[:, i].mean()) / np.sqrt(z_a[:, i].var() + eps)  # biased variance, as BatchNorm
        for j in range(d):
            b = (z_b[:, j] - z_b[:, j].mean()) / np.sqrt(z_b[:, j].var() + eps)
            c = sum(a[k] * b[k] for k in range(n)) / n
            if i == j:
                on += (1 - c) ** 2
            else:
                off += c**2
    return on + lam * off, (on, off)


@pytest.mark.parametrize("lam", [0.0051, 0.1, 1.0])
def test_barlow_twins_matches_plain_reference(lam):
    rng = np.random.default_rng(int(lam * 1000))
    z_a = rng.normal(size=(10, 6)).astype("float32")
    z_b = (z_a + rng.normal(size=(10, 6)) * 0.7 + 3.0).astype("float32")
    loss, terms = barlow_twins_loss(z_a, z_b, redundancy_weight=lam, return_terms=True)
    expected, (on, off) = reference_barlow_twins(z_a, z_b, lam)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    np.testing.assert_allclose([float(terms["invariance"]), float(terms["redundancy"])], [on, off], rtol=1e-5)


def test_barlow_twins_known_values():
    # Identical views: each dimension correlates perfectly with itself, so the invariance term is zero
    # (up to BatchNorm's epsilon), whatever the scale and offset of the embeddings.
    rng = np.random.default_rng(0)
    z = rng.normal(size=(16, 5)).astype("float32")
    _, terms = barlow_twins_loss(z, 4.0 * z - 2.0, return_terms=True)
    assert float(terms["invariance"]) == pytest.approx(0.0, abs=1e-8)
    # ... and uncorrelated dimensions leave no redundancy either: C = I.
    assert float(barlow_twins_loss(HADAMARD, HADAMARD)) == pytest.approx(0.0, abs=1e-8)
    # Anti-correlated views: C = -I, (1 - (-1))^2 per dimension.
    assert float(barlow_twins_loss(HADAMARD, -HADAMARD)) == pytest.approx(12.0, rel=1e-4)
    # Two equal dimensions in both views: C is all ones, 2 off-diagonal ones weighted by lambda.
    twin = HADAMARD[:, [0, 0]]
    assert float(barlow_twins_loss(twin, twin, redundancy_weight=0.5)) == pytest.approx(0.5 * 2, rel=1e-4)


def test_barlow_twins_on_two_replicas_equals_one_device_on_the_global_batch():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(8, 6)).astype("float32"), rng.normal(size=(8, 6)).astype("float32")
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
    loss = lambda x, y: barlow_twins_loss(x, y, redundancy_weight=0.1)  # noqa: E731
    one, one_grads = run_on_replicas(tf.distribute.OneDeviceStrategy(devices[0]), loss, a, b)
    two, two_grads = run_on_replicas(
        two_replica_strategy(), lambda x, y: distributed.scale_loss_for_replicas(loss(x, y)), a, b
    )
    np.testing.assert_allclose(two, [one[0] / 2] * 2, rtol=1e-5)
    for g_two, g_one in zip(two_grads, one_grads):
        np.testing.assert_allclose(g_two, g_one, rtol=1e-4, atol=1e-6)
    local = [float(loss(a[i : i + 4], b[i : i + 4])) for i in (0, 4)]
    assert abs(np.mean(local) - one[0]) > 1e-2


def test_barlow_twins_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="redundancy_weight >= 0"):
        barlow_twins_loss(HADAMARD, HADAMARD, redundancy_weight=-0.1)


def test_docstring_examples_run():
    from keras_contrastive.losses import barlow_twins

    assert doctest.testmod(barlow_twins, verbose=False).failed == 0

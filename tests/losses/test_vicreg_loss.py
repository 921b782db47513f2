import doctest

import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import distributed
from keras_contrastive.losses import vicreg_loss
from keras_contrastive.testing import run_on_replicas, two_replica_strategy

# Columns of a 4x4 Hadamard matrix without the constant one: zero mean, orthogonal, unbiased std sqrt(4/3) > 1.
HADAMARD = np.array([[1, 1, 1], [-1, 1, -1], [1, -1, -1], [-1, -1, 1]], "float32")


def reference_vicreg(z_a, z_b, lam=25.0, mu=25.0, nu=1.0, eps=1e-4):
    """VICReg written the plain way, in float64: loops over dimensions and pairs of dimensions."""
    z_a, z_b = z_a.astype(np.float64), z_b.astype(np.float64)
    n, d = z_a.shape
    invariance = sum((z_a[i, j] - z_b[i, j]) ** 2 for i in range(n) for j in range(d)) / (n * d)
    variance = covariance = 0.0
    for z in (z_a, z_b):
        variance += np.mean([max(0.0, 1.0 - np.sqrt(np.var(z[:, j], ddof=1) + eps)) for j in range(d)]) / 2
        off = 0.0
        for j in range(d):
            for k in range(d):
                if j != k:
                    off += np.cov(z[:, j], z[:, k])[0, 1] ** 2  # np.cov: 1 / (n - 1)
        covariance += off / d
    return lam * invariance + mu * variance + nu * covariance, (invariance, variance, covariance)


@pytest.mark.parametrize("scale", [0.1, 1.0, 3.0])
def test_vicreg_matches_plain_reference(scale):
    rng = np.random.default_rng(int(scale * 10))
    z_a = (scale * rng.normal(size=(12, 5))).astype("float32")
    z_b = (z_a + 0.5 * rng.normal(size=(12, 5))).astype("float32")
    loss, terms = vicreg_loss(z_a, z_b, return_terms=True)
    expected, (inv, var, cov) = reference_vicreg(z_a, z_b)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    np.testing.assert_allclose(
        [float(terms[k]) for k in ("invariance", "variance", "covariance")], [inv, var, cov], rtol=1e-5, atol=1e-7
    )
    weighted = vicreg_loss(z_a, z_b, invariance_weight=1.0, variance_weight=2.0, covariance_weight=3.0)
    np.testing.assert_allclose(float(weighted), reference_vicreg(z_a, z_b, 1.0, 2.0, 3.0)[0], rtol=1e-5)


def test_vicreg_known_values():
    # Identical, spread-out, uncorrelated views: every term is zero.
    assert float(vicreg_loss(HADAMARD, HADAMARD)) == 0.0
    # Collapsed views (one point): the variance hinge is 1 - sqrt(eps) in every dimension.
    ones = np.ones((6, 4), "float32")
    loss, terms = vicreg_loss(ones, ones, return_terms=True)
    np.testing.assert_allclose(float(terms["variance"]), 0.99, rtol=1e-6)
    np.testing.assert_allclose(float(loss), 25 * 0.99, rtol=1e-6)
    # A constant shift between the views costs its square in the invariance term only.
    _, terms = vicreg_loss(HADAMARD, HADAMARD + 0.5, return_terms=True)
    assert float(terms["invariance"]) == pytest.approx(0.25) and float(terms["covariance"]) == 0.0
    # Two perfectly correlated dimensions (equal columns, variance 4/3): 2 off-diagonal entries (4/3)^2, / d = 2.
    correlated = HADAMARD[:, [0, 0]]
    _, terms = vicreg_loss(correlated, correlated, return_terms=True)
    assert float(terms["covariance"]) == pytest.approx(2 * 2 * (4 / 3) ** 2 / 2, rel=1e-6)


def test_vicreg_on_two_replicas_equals_one_device_on_the_global_batch():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(8, 6)).astype("float32"), rng.normal(size=(8, 6)).astype("float32")
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
    one, one_grads = run_on_replicas(tf.distribute.OneDeviceStrategy(devices[0]), vicreg_loss, a, b)
    two, two_grads = run_on_replicas(
        two_replica_strategy(), lambda x, y: distributed.scale_loss_for_replicas(vicreg_loss(x, y)), a, b
    )
    # Each replica's loss is the global batch's, divided by the replica count ...
    np.testing.assert_allclose(two, [one[0] / 2] * 2, rtol=1e-5)
    # ... and the gradients the strategy sums are the one-device gradients.
    for g_two, g_one in zip(two_grads, one_grads):
        np.testing.assert_allclose(g_two, g_one, rtol=1e-4, atol=1e-6)
    # Per-replica statistics (no gather) would differ.
    local = [float(vicreg_loss(a[i : i + 4], b[i : i + 4])) for i in (0, 4)]
    assert abs(np.mean(local) - one[0]) > 1e-2


def test_vicreg_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="weights >= 0"):
        vicreg_loss(HADAMARD, HADAMARD, variance_weight=-1.0)
    with pytest.raises(ValueError, match="epsilon > 0"):
        vicreg_loss(HADAMARD, HADAMARD, epsilon=0.0)


def test_docstring_examples_run():
    from keras_contrastive.losses import vicreg

    assert doctest.testmod(vicreg, verbose=False).failed == 0

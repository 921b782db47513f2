import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import byol_loss


def test_byol_loss_equals_the_normalized_mse_reference():
    rng = np.random.default_rng(0)
    p, z = rng.normal(size=(6, 5)).astype("float32"), rng.normal(size=(6, 5)).astype("float32")
    pn = p / np.linalg.norm(p, axis=1, keepdims=True)
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    reference = np.mean(np.sum((pn - zn) ** 2, axis=1))
    assert float(byol_loss(p, z)) == pytest.approx(reference, abs=1e-5)
    assert float(byol_loss(p, 3.0 * p)) == pytest.approx(0.0, abs=1e-5)
    assert float(byol_loss(p, -p)) == pytest.approx(4.0, abs=1e-5)
    assert np.isfinite(float(byol_loss(np.zeros((2, 5), "float32"), z[:2])))


def test_byol_loss_sends_no_gradient_to_the_target():
    p = tf.Variable(np.random.default_rng(1).normal(size=(4, 3)).astype("float32"))
    z = tf.Variable(np.random.default_rng(2).normal(size=(4, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = byol_loss(p, z)
    grad_p, grad_z = tape.gradient(loss, [p, z])
    assert grad_z is None and float(tf.reduce_max(tf.abs(grad_p))) > 0

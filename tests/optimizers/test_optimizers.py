import keras
import numpy as np
import pytest

from keras_contrastive.optimizers import LARS, WarmupCosine


def test_lars_step_matches_hand_computation():
    w = keras.Variable(np.array([[3.0, 4.0]], "float32"))  # ||w|| = 5
    b = keras.Variable(np.array([1.0, 1.0], "float32"))
    opt = LARS(learning_rate=0.1, momentum=0.9, weight_decay=0.01, eta=0.001)
    g_w = np.array([[0.6, 0.8]], "float32")
    g_b = np.array([0.5, -0.5], "float32")
    opt.apply_gradients([(g_w, w), (g_b, b)])
    decayed = g_w + 0.01 * np.array([[3.0, 4.0]])
    trust = 0.001 * 5.0 / np.linalg.norm(decayed)
    np.testing.assert_allclose(w.numpy(), [[3.0, 4.0]] - 0.1 * trust * decayed, rtol=1e-6)
    # Rank-1 variables (biases, BN): plain momentum SGD, no decay, no trust ratio.
    np.testing.assert_allclose(b.numpy(), [1.0 - 0.05, 1.0 + 0.05], rtol=1e-6)
    # Second step uses momentum.
    opt.apply_gradients([(g_w, w), (g_b, b)])
    np.testing.assert_allclose(b.numpy(), [0.95 - 0.1 * (0.9 * 0.5 + 0.5), 1.05 + 0.1 * (0.9 * 0.5 + 0.5)], rtol=1e-6)


def test_lars_is_serializable():
    opt = LARS(learning_rate=WarmupCosine(0.3, 100, 10), momentum=0.8, weight_decay=1e-5, eta=0.02)
    config = keras.optimizers.serialize(opt)
    revived = keras.optimizers.deserialize(config)
    assert isinstance(revived, LARS)
    assert (revived.momentum, revived.lars_weight_decay, revived.eta) == (0.8, 1e-5, 0.02)
    assert isinstance(revived._learning_rate, WarmupCosine)
    with pytest.raises(ValueError, match="momentum=1.5"):
        LARS(momentum=1.5)


def test_warmup_cosine_values():
    s = WarmupCosine(peak_learning_rate=1.0, total_steps=110, warmup_steps=10, final_learning_rate=0.0)
    np.testing.assert_allclose(float(s(0)), 0.1, rtol=1e-6)
    np.testing.assert_allclose(float(s(9)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(float(s(10)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(float(s(60)), 0.5, atol=1e-6)
    np.testing.assert_allclose(float(s(110)), 0.0, atol=1e-6)
    values = [float(s(i)) for i in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert WarmupCosine.from_config(s.get_config()).get_config() == s.get_config()
    with pytest.raises(ValueError, match="warmup_steps=20"):
        WarmupCosine(1.0, total_steps=10, warmup_steps=20)

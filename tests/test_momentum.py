import math

import keras
import numpy as np
import pytest

from keras_contrastive.backbones import ConvNet
from keras_contrastive.layers import ProjectionHead
from keras_contrastive.momentum import cosine_momentum, make_target, update_momentum


def test_cosine_momentum_matches_the_closed_form_and_rises_monotonically():
    base, total = 0.996, 1000
    closed = lambda k: 1 - (1 - base) * (math.cos(math.pi * k / total) + 1) / 2  # noqa: E731
    assert cosine_momentum(0, total, base) == pytest.approx(base, abs=1e-12)
    assert cosine_momentum(total // 2, total, base) == pytest.approx((1 + base) / 2, abs=1e-12)
    assert cosine_momentum(total, total, base) == pytest.approx(1.0, abs=1e-12)
    values = [cosine_momentum(k, total, base) for k in range(total + 1)]
    assert all(b >= a for a, b in zip(values, values[1:]))
    assert values[1] > values[0] and values[-1] > values[-2]
    for k in (0, 137, 500, 999, 1000):
        assert values[k] == pytest.approx(closed(k), abs=1e-12)
        # the tensor path (used inside the train step) agrees in float32
        assert float(cosine_momentum(np.float32(k), np.float32(total), base)) == pytest.approx(closed(k), abs=1e-6)
    assert cosine_momentum(5000, total, base) == 1.0  # clamped past the end
    with pytest.raises(ValueError, match="total_steps > 0"):
        cosine_momentum(0, 0, base)


def test_make_target_copies_weights_and_no_target_variable_is_trainable():
    encoder = ConvNet(input_shape=(16, 16, 1), width=4, stages=2)
    target = make_target(encoder, None)
    assert target is not encoder and len(target.weights) == len(encoder.weights)
    for a, b in zip(encoder.weights, target.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert target.trainable_weights == [] and all(not v.trainable for v in target.weights)
    # its BatchNorm layers still normalise with batch statistics in training mode
    x = np.random.default_rng(0).random((8, 16, 16, 1), dtype=np.float32) * 5
    assert not np.allclose(target(x, training=True), target(x, training=False), atol=1e-3)
    head = ProjectionHead(8, 16)
    head.build((None, 12))
    head_target = make_target(head, (None, 12))
    assert head_target.trainable_weights == [] and len(head_target.weights) == len(head.weights)


def test_update_momentum_is_the_exact_ema_of_trainable_weights_only():
    head = ProjectionHead(8, 16)
    head.build((None, 12))
    target = make_target(head, (None, 12))
    rng = np.random.default_rng(1)
    for v in head.weights:
        v.assign(rng.normal(size=v.shape).astype("float32"))
    before = [v.numpy().copy() for v in target.weights]
    update_momentum(head, target, 0.9)
    for o, t, b in zip(head.weights, target.weights, before):
        expected = 0.9 * b + 0.1 * o.numpy() if o.trainable else b  # moving statistics keep their own
        np.testing.assert_allclose(t.numpy(), expected, atol=1e-6)
    update_momentum(head, target, 0.0)
    for o, t in zip(head.weights, target.weights):
        if o.trainable:
            np.testing.assert_array_equal(t.numpy(), o.numpy())
    other = ProjectionHead(8, 16, num_layers=1)
    other.build((None, 12))
    with pytest.raises(ValueError, match="make_target"):
        update_momentum(head, other, 0.5)


def test_keras_variables_of_a_target_stay_frozen_under_fit():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    target = make_target(model, None)
    assert len(target.trainable_variables) == 0 and len(target.non_trainable_variables) == 2

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.backbones.resnet import FusedBatchNormalization


def _pair(**kwargs):
    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, (8, 5, 5, 16)).astype("float32"))
    plain = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, **kwargs)
    fused = FusedBatchNormalization(momentum=0.9, epsilon=1e-5, **kwargs)
    plain.build(x.shape)
    fused.build(x.shape)
    weights = [np.random.default_rng(i).random(w.shape).astype("float32") + 0.5 for i, w in enumerate(plain.weights)]
    plain.set_weights(weights)
    fused.set_weights(weights)
    return x, plain, fused


def _train_call(layer, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * tf.sin(y))
    return y, tape.gradient(loss, [x, *layer.trainable_weights])


def test_fused_training_step_equals_keras_batch_normalization():
    x, plain, fused = _pair()
    y_plain, grads_plain = _train_call(plain, x)
    y_fused, grads_fused = _train_call(fused, x)
    np.testing.assert_allclose(y_fused, y_plain, rtol=1e-5, atol=1e-5)
    for g_fused, g_plain in zip(grads_fused, grads_plain):
        np.testing.assert_allclose(g_fused, g_plain, rtol=1e-4, atol=1e-4)
    # Moving statistics: the biased batch variance, as Keras's.
    for v_fused, v_plain in zip(fused.non_trainable_weights, plain.non_trainable_weights):
        np.testing.assert_allclose(v_fused.numpy(), v_plain.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fused(x, training=False), plain(x, training=False), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs", [{"center": False}, {"synchronized": True}])
def test_unfusable_configurations_fall_back_to_keras(kwargs):
    x, plain, fused = _pair(**kwargs)
    np.testing.assert_allclose(fused(x, training=True), plain(x, training=True), rtol=1e-5, atol=1e-5)


def test_serializes_as_its_own_class():
    layer = FusedBatchNormalization(momentum=0.9, epsilon=1e-5, name="bn")
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is FusedBatchNormalization
    assert restored.get_config()["epsilon"] == pytest.approx(1e-5)

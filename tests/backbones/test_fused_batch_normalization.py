import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.backbones.fused_batch_normalization import FusedBatchNormalization


def _pair(dtype="float32", **kwargs):
    x = tf.constant(np.random.default_rng(0).normal(2.0, 3.0, (8, 5, 5, 16)).astype("float32"))
    if dtype == "mixed_bfloat16":
        x = tf.cast(x, tf.bfloat16)
        kwargs["dtype"] = dtype
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
        y32 = tf.cast(y, tf.float32)
        loss = tf.reduce_sum(y32 * tf.sin(y32))
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


def _f32(value):
    return tf.cast(value, tf.float32).numpy()


def test_fused_bfloat16_training_step_equals_keras_batch_normalization():
    # mixed_bfloat16: bfloat16 inputs, outputs and input gradients; float32
    # weights, statistics and weight gradients; Keras's layer also computes in float32.
    x, plain, fused = _pair(dtype="mixed_bfloat16")
    assert fused.compute_dtype == "bfloat16" and fused.gamma.dtype == "float32"
    y_plain, grads_plain = _train_call(plain, x)
    y_fused, grads_fused = _train_call(fused, x)
    assert y_fused.dtype == tf.bfloat16 and grads_fused[0].dtype == tf.bfloat16
    assert [g.dtype for g in grads_fused[1:]] == [tf.float32, tf.float32]
    # Outputs within one or two bfloat16 roundings (8 significant bits: relative 2^-8).
    np.testing.assert_allclose(_f32(y_fused), _f32(y_plain), rtol=1e-2, atol=2e-2)
    for g_fused, g_plain in zip(grads_fused, grads_plain):
        scale = float(np.max(np.abs(_f32(g_plain))))
        np.testing.assert_allclose(_f32(g_fused), _f32(g_plain), rtol=2e-2, atol=2e-2 * scale)
    # Moving statistics: float32 statistics of the same bfloat16 inputs.
    for v_fused, v_plain in zip(fused.non_trainable_weights, plain.non_trainable_weights):
        assert v_fused.dtype == "float32"
        np.testing.assert_allclose(v_fused.numpy(), v_plain.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_f32(fused(x, training=False)), _f32(plain(x, training=False)), rtol=1e-2, atol=2e-2)


def test_fused_op_runs_for_float32_and_bfloat16(monkeypatch):
    calls = []
    original = tf.raw_ops.FusedBatchNormV3

    def spy(**kwargs):
        calls.append(kwargs["x"].dtype)
        return original(**kwargs)

    monkeypatch.setattr(tf.raw_ops, "FusedBatchNormV3", spy)
    for dtype in ("float32", "mixed_bfloat16"):
        x, _, fused = _pair(dtype=dtype)
        fused(x, training=True)
    assert calls == [tf.float32, tf.bfloat16]


@pytest.mark.parametrize("kwargs", [{"center": False}, {"synchronized": True}, {"renorm": True}])
def test_unfusable_configurations_fall_back_to_keras(kwargs):
    x, plain, fused = _pair(**kwargs)
    np.testing.assert_allclose(fused(x, training=True), plain(x, training=True), rtol=1e-5, atol=1e-5)


def test_frozen_layer_uses_moving_statistics_as_keras():
    # Keras runs a non-trainable BatchNormalization in inference mode even with training=True.
    x, plain, fused = _pair()
    plain.trainable = False
    fused.trainable = False
    np.testing.assert_allclose(fused(x, training=True), plain(x, training=True), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fused.moving_mean.numpy(), plain.moving_mean.numpy())


def test_serializes_as_its_own_class():
    layer = FusedBatchNormalization(momentum=0.9, epsilon=1e-5, name="bn")
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is FusedBatchNormalization
    assert restored.get_config()["epsilon"] == pytest.approx(1e-5)

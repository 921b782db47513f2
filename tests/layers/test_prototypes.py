import doctest

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.layers import Prototypes


def _unit_norms(layer):
    return np.linalg.norm(layer.kernel.numpy(), axis=0)


def test_scores_are_cosine_similarities_to_unit_prototypes():
    layer = Prototypes(6, 4, seed=0)
    np.testing.assert_allclose(_unit_norms(layer), 1.0, atol=1e-6)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32") * 3.0
    expected = (x / np.linalg.norm(x, axis=1, keepdims=True)) @ layer.kernel.numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, atol=1e-6)
    assert np.all(np.abs(layer(x).numpy()) <= 1.0 + 1e-6)


def test_normalize_weights_restores_unit_columns_and_keeps_directions():
    layer = Prototypes(6, 4, seed=0)
    before = layer.kernel.numpy()
    layer.kernel.assign(before * np.arange(1, 7, dtype="float32"))
    layer.normalize_weights()
    np.testing.assert_allclose(layer.kernel.numpy(), before, atol=1e-6)


def test_frozen_prototypes_get_a_zero_gradient():
    layer = Prototypes(6, 4, seed=0)
    x = tf.constant(np.random.default_rng(1).normal(size=(5, 4)).astype("float32"))
    for frozen, expect_zero in ((tf.constant(True), True), (tf.constant(False), False), (None, False)):
        with tf.GradientTape() as tape:
            out = tf.reduce_sum(layer(x, frozen=frozen) ** 2)
        (gradient,) = tape.gradient(out, layer.trainable_variables)
        assert (float(tf.reduce_max(tf.abs(gradient))) == 0.0) == expect_zero


def test_builds_from_input_and_serializes():
    layer = Prototypes(3)
    assert layer(np.ones((2, 5), "float32")).shape == (2, 3) and layer.dim == 5
    revived = Prototypes.from_config(layer.get_config())
    assert revived.get_config() == layer.get_config() and revived.kernel.shape == (5, 3)


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="num_prototypes >= 1"):
        Prototypes(0, 4)
    with pytest.raises(ValueError, match="dim=4"):
        Prototypes(3, 4)(np.ones((2, 5), "float32"))


def test_docstring_examples_run():
    from keras_contrastive.layers import prototypes

    assert doctest.testmod(prototypes, verbose=False).failed == 0
    assert keras.saving.get_registered_object("keras_contrastive>Prototypes") is Prototypes

import doctest

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.backbones import ConvNet
from keras_contrastive.losses import supcon_loss
from keras_contrastive.models import SupCon, get_method
from keras_contrastive.testing import run_serialization_test, run_train_step_test


def _encoder():
    return ConvNet(input_shape=(16, 16, 1), width=4, stages=2)


def _batch(n=8, views=2, seed=0, labels=True):
    rng = np.random.default_rng(seed)
    batch = {"views": tuple(rng.random((n, 16, 16, 1), dtype=np.float32) for _ in range(views))}
    if labels:
        batch["label"] = rng.permutation(np.arange(n) % 3)
    return batch


def test_train_step_reports_loss_positive_accuracy_and_probe():
    history = run_train_step_test(SupCon(_encoder(), projection_dim=8, probe_classes=3), _batch())
    assert set(history) == {"loss", "positive_accuracy", "probe_loss", "probe_accuracy"}
    assert 0.0 <= history["positive_accuracy"][0] <= 1.0
    assert get_method("supcon") is SupCon and SupCon.requires_labels


def test_the_loss_is_supcon_on_the_projected_views_and_the_labels():
    model = SupCon(_encoder(), projection_dim=8, temperature=0.2)
    batch = _batch(views=3)
    loss, logs, features = model.compute_contrastive_loss(batch["views"], labels=batch["label"])
    z = [model.projector(model.encoder(v)) for v in batch["views"]]
    assert float(loss) == pytest.approx(float(supcon_loss(z, batch["label"], 0.2)), rel=1e-5)
    # The nearest other view, found by hand: the share of anchors whose nearest view is of their class.
    e = np.concatenate([np.asarray(v) / np.linalg.norm(np.asarray(v), axis=1, keepdims=True) for v in z])
    similarity = e @ e.T - 10 * np.eye(len(e))
    y = np.tile(batch["label"], 3)
    assert float(logs["positive_accuracy"]) == pytest.approx(np.mean(y[similarity.argmax(axis=1)] == y))


def test_a_batch_without_labels_is_an_error_naming_the_fix():
    model = SupCon(_encoder(), projection_dim=8)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    data = tf.data.Dataset.from_tensor_slices(_batch(labels=False)).batch(8)
    with pytest.raises(ValueError, match="SupCon trains on labels: every batch needs 'label'"):
        model.fit(data, verbose=0)


def test_serialization_keeps_the_head():
    model = SupCon(_encoder(), projection_dim=8, temperature=0.3)
    loaded = run_serialization_test(model, _batch()["views"][0])
    assert loaded.temperature == 0.3
    for a, b in zip(loaded.projector.get_weights(), model.projector.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        SupCon(_encoder(), temperature=0.0)
    with pytest.raises(ValueError, match="at least 2 views"):
        SupCon(_encoder()).compute_contrastive_loss(_batch(views=1)["views"], labels=np.zeros(8))


def test_docstring_examples_run():
    from keras_contrastive.models import supcon

    assert doctest.testmod(supcon, extraglobs={"np": np}, verbose=False).failed == 0

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_contrastive.backbones import ConvNet
from keras_contrastive.models import ContrastiveModel


class _LabelMean(ContrastiveModel):
    """A method whose loss reads the labels: the mean label times the mean feature."""

    requires_labels = True

    def compute_contrastive_loss(self, views, training=False, labels=None):
        features = self.encoder(views[0], training=training)
        return ops.mean(ops.cast(labels, "float32")) * ops.mean(features), {}, features


def _data(labels):
    rng = np.random.default_rng(0)
    batch = {"views": (rng.random((4, 8, 8, 1), dtype=np.float32),) * 2}
    if labels:
        batch["label"] = np.array([0, 1, 2, 3])
    return tf.data.Dataset.from_tensor_slices(batch).batch(4)


def test_a_method_that_requires_labels_gets_them_and_a_batch_without_them_is_an_error():
    model = _LabelMean(ConvNet(input_shape=(8, 8, 1), width=4, stages=1))
    model.compile(optimizer="sgd")
    loss = model.evaluate(_data(labels=True), verbose=0, return_dict=True)["loss"]
    features = model.encoder(next(iter(_data(labels=True)))["views"][0])
    assert loss == pytest.approx(1.5 * float(np.mean(features)), rel=1e-5)
    with pytest.raises(ValueError, match="_LabelMean trains on labels: every batch needs 'label'"):
        model.fit(_data(labels=False), verbose=0)

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


class _Projected(ContrastiveModel):
    """Two views through `encode_views` and a head from `add_projector`; the loss counts `fit`'s hooks."""

    def __init__(self, encoder, projection_dim=3, projection_layers=1, **kwargs):
        super().__init__(encoder, **kwargs)
        self.projector = self.add_projector(projection_dim=projection_dim, projection_layers=projection_layers)
        self.calls = []

    def uses_fit_schedule(self):
        return True

    def on_fit_begin(self, steps_per_epoch, epochs):
        self.calls.append(("begin", steps_per_epoch, epochs))

    def on_fit_epoch_begin(self, epoch):
        self.calls.append(("epoch", epoch))

    def on_fit_epoch_end(self, epoch):
        self.calls.append(("end", epoch))

    def compute_contrastive_loss(self, views, training=False):
        features, (z_a, z_b) = self.encode_views(views, self.projector, training)
        return ops.mean(ops.square(z_a - z_b)), {}, features


def test_encode_views_is_one_encoder_call_split_per_view_and_the_head_is_saved_by_its_arguments():
    model = _Projected(ConvNet(input_shape=(8, 8, 1), width=4, stages=1), projection_dim=5)
    views = next(iter(_data(labels=False)))["views"]
    a, b = np.asarray(views[0]), np.asarray(views[1]) * 0.5
    features, (z_a, z_b) = model.encode_views((a, b), model.projector)
    both = model.projector(model.encoder(np.concatenate([a, b])))
    np.testing.assert_allclose(np.asarray(features), np.asarray(model.encoder(np.concatenate([a, b])))[:4], atol=1e-6)
    np.testing.assert_allclose(np.concatenate([np.asarray(z_a), np.asarray(z_b)]), np.asarray(both), atol=1e-6)
    assert (model.projection_dim, model.projection_layers) == (5, 1) and model.projector.output_dim == 5
    config = model.get_config()
    assert (config["projection_dim"], config["projection_layers"]) == (5, 1)
    with pytest.raises(ValueError, match="_Projected takes exactly 2 views per example, received 3"):
        model.encode_views((a, a, a))
    with pytest.raises(ValueError, match="_Projected takes at least 2 views per example, received 1"):
        model.encode_views((a,), exactly=None, at_least=2)
    with pytest.raises(ValueError, match="add_projector takes projection_dim, .* received projection_width"):
        model.add_projector(projection_width=3)


def test_fit_tells_a_method_its_schedule_through_one_set_of_hooks():
    model = _Projected(ConvNet(input_shape=(8, 8, 1), width=4, stages=1))
    model.compile(optimizer="sgd")
    model.fit(_data(labels=False).repeat(), epochs=3, initial_epoch=1, steps_per_epoch=2, verbose=0)
    assert model.calls == [("begin", 2, 3), ("epoch", 1), ("end", 1), ("epoch", 2), ("end", 2)]

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.backbones import ConvNet
from keras_contrastive.losses import byol_loss
from keras_contrastive.models import BYOL
from keras_contrastive.momentum import cosine_momentum


def _model(**kw):
    kw = {"projection_dim": 8, "projection_hidden_dim": 16, "prediction_hidden_dim": 16, **kw}
    return BYOL(ConvNet(input_shape=(16, 16, 1), width=4, stages=2), **kw)


def _views(seed=0, n=8):
    rng = np.random.default_rng(seed)
    return tuple(rng.random((n, 16, 16, 1), dtype=np.float32) for _ in range(2))


def test_the_loss_is_symmetric_prediction_against_the_other_views_target():
    model = _model()
    v1, v2 = _views()
    loss = float(model.compute_contrastive_loss((v1, v2), training=False)[0])
    p = lambda v: model.predictor(model.projector(model.encoder(v)))  # noqa: E731
    z = lambda v: model.target_projector(model.target_encoder(v))  # noqa: E731
    expected = float(byol_loss(p(v1), z(v2)) + byol_loss(p(v2), z(v1)))
    assert loss == pytest.approx(expected, abs=1e-5)
    swapped = float(model.compute_contrastive_loss((v2, v1), training=False)[0])
    assert swapped == pytest.approx(loss, abs=1e-5)


def test_the_momentum_follows_the_cosine_schedule_over_the_steps_fit_runs():
    model = _model(momentum=0.9)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    data = tf.data.Dataset.from_tensor_slices({"views": _views(1)}).batch(4).repeat()
    history = model.fit(data, epochs=2, steps_per_epoch=2, verbose=0).history
    assert float(model.momentum_total_steps.numpy()) == 4.0
    assert int(model.optimizer.iterations.numpy()) == 4
    # the last step taken is step 3 of 4
    assert float(model.current_momentum()) == pytest.approx(cosine_momentum(3, 4, 0.9), abs=1e-6)
    assert history["momentum"][1] > history["momentum"][0] >= 0.9 - 1e-6


def test_cosine_schedule_without_known_steps_asks_for_steps_per_epoch():
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    data = tf.data.Dataset.from_tensor_slices({"views": _views(1)}).batch(4).repeat().filter(lambda x: True)
    with pytest.raises(ValueError, match="pass steps_per_epoch to fit"):
        model.fit(data, epochs=1, verbose=0)

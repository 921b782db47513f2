import doctest

import numpy as np
import pytest

from keras_contrastive.backbones import ConvNet
from keras_contrastive.losses import barlow_twins_loss
from keras_contrastive.models import BarlowTwins, get_method
from keras_contrastive.testing import run_serialization_test, run_train_step_test


def _model(**kw):
    kw = {"projection_dim": 16, "projection_hidden_dim": 16, "probe_classes": 3, **kw}
    return BarlowTwins(ConvNet(input_shape=(16, 16, 1), width=4, stages=2), **kw)


def _batch(n=8, seed=0):
    rng = np.random.default_rng(seed)
    views = tuple(rng.random((n, 16, 16, 1), dtype=np.float32) for _ in range(2))
    return {"views": views, "label": rng.integers(0, 3, n)}


def test_train_step_reports_both_terms_and_the_probe():
    history = run_train_step_test(_model(), _batch())
    assert set(history) == {"loss", "invariance", "redundancy", "probe_loss", "probe_accuracy"}
    assert get_method("barlow_twins") is BarlowTwins


def test_the_loss_is_barlow_twins_on_the_projected_views_with_the_models_weights():
    model = _model(redundancy_weight=0.25)
    v1, v2 = _batch()["views"]
    loss, logs, features = model.compute_contrastive_loss((v1, v2), training=False)
    z1, z2 = model.projector(model.encoder(v1)), model.projector(model.encoder(v2))
    expected, terms = barlow_twins_loss(z1, z2, redundancy_weight=0.25, return_terms=True)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    for name in ("invariance", "redundancy"):
        assert float(logs[name]) == pytest.approx(float(terms[name]), rel=1e-5)
    np.testing.assert_allclose(np.asarray(features), np.asarray(model.encoder(v1)), atol=1e-6)


def test_serialization_keeps_the_projector():
    model = _model(redundancy_weight=0.02)
    loaded = run_serialization_test(model, _batch()["views"][0])
    assert loaded.redundancy_weight == 0.02 and loaded.projector.output_dim == 16
    for a, b in zip(loaded.projector.get_weights(), model.projector.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="redundancy_weight must be >= 0"):
        _model(redundancy_weight=-1.0)
    with pytest.raises(ValueError, match="exactly 2 views"):
        _model().compute_contrastive_loss(_batch()["views"][:1])


def test_docstring_examples_run():
    from keras_contrastive.models import barlow_twins

    assert doctest.testmod(barlow_twins, verbose=False).failed == 0

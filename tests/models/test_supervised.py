import doctest

import numpy as np
import pytest

from keras_contrastive.backbones import ConvNet
from keras_contrastive.models import Supervised, get_method
from keras_contrastive.testing import run_serialization_test, run_train_step_test


def _encoder():
    return ConvNet(input_shape=(16, 16, 1), width=4, stages=2)


def _batch(n=8, views=2, seed=0):
    rng = np.random.default_rng(seed)
    views = tuple(rng.random((n, 16, 16, 1), dtype=np.float32) for _ in range(views))
    return {"views": views, "label": rng.permutation(np.arange(n) % 3)}


def test_supervised_reference_is_cross_entropy_over_every_view():
    model = Supervised(_encoder(), num_classes=3)
    rng = np.random.default_rng(1)
    model.classifier.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.classifier.get_weights()])
    batch = _batch(views=2)
    loss, logs, _ = model.compute_contrastive_loss(batch["views"], labels=batch["label"])
    logits = np.concatenate([np.asarray(model.classifier(model.encoder(v))) for v in batch["views"]]).astype(np.float64)
    y = np.tile(batch["label"], 2)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert float(loss) == pytest.approx(-np.mean(log_p[np.arange(len(y)), y]), rel=1e-5)
    assert float(logs["accuracy"]) == pytest.approx(np.mean(logits.argmax(axis=1) == y))


def test_train_step_and_serialization_keep_the_classifier():
    history = run_train_step_test(Supervised(_encoder(), num_classes=3), _batch())
    assert set(history) == {"loss", "accuracy"} and get_method("supervised") is Supervised
    assert history["loss"][0] == pytest.approx(np.log(3), rel=1e-5)  # zero-initialised classifier: uniform
    model = Supervised(_encoder(), num_classes=3)
    model.classifier.set_weights([np.full(w.shape, 0.1, "float32") for w in model.classifier.get_weights()])
    loaded = run_serialization_test(model, _batch()["views"][0])
    assert loaded.num_classes == 3
    np.testing.assert_array_equal(loaded.classifier.get_weights()[0], model.classifier.get_weights()[0])


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="num_classes >= 2"):
        Supervised(_encoder(), num_classes=1)
    # Labels are keyword-only and required (a batch without them fails in the base class, naming the fix).
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'labels'"):
        Supervised(_encoder()).compute_contrastive_loss(_batch()["views"])


def test_docstring_examples_run():
    from keras_contrastive.models import supervised

    assert doctest.testmod(supervised, extraglobs={"np": np}, verbose=False).failed == 0

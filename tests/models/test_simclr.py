import keras
import numpy as np
import pytest

from keras_contrastive.backbones import ConvNet
from keras_contrastive.models import SimCLR, get_method
from keras_contrastive.testing import run_replica_equivalence_test, run_serialization_test, run_train_step_test


def _batch(n=8, size=16, labels=True, seed=0):
    rng = np.random.default_rng(seed)
    batch = {
        "views": (rng.random((n, size, size, 1), dtype=np.float32), rng.random((n, size, size, 1), dtype=np.float32))
    }
    if labels:
        batch["label"] = rng.integers(0, 3, n)
    return batch


def _model(sync=False, probe=3):
    encoder = ConvNet(input_shape=(16, 16, 1), width=4, stages=2, synchronized_bn=sync)
    return SimCLR(encoder, projection_dim=8, synchronized_bn=sync, probe_classes=probe)


def test_train_step_reports_loss_accuracy_and_probe():
    history = run_train_step_test(_model(), _batch())
    assert set(history) == {"loss", "contrastive_accuracy", "probe_loss", "probe_accuracy"}
    assert history["loss"][0] > 0 and 0.0 <= history["contrastive_accuracy"][0] <= 1.0


def test_train_step_without_labels_skips_the_probe():
    model = _model()
    history = run_train_step_test(model, _batch(labels=False))
    assert history["probe_loss"] == [0.0]


def test_probe_never_changes_the_encoder():
    # With the contrastive loss scaled away the probe's gradient alone must not reach the encoder.
    model = _model()
    model.temperature = 1e9  # flat logits: zero contrastive gradient
    before = [w.numpy().copy() for w in model.encoder.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    import tensorflow as tf

    model.fit(tf.data.Dataset.from_tensor_slices(_batch()).batch(8), verbose=0)
    after = [w.numpy() for w in model.encoder.trainable_weights]
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(before, after)) < 1e-6
    assert float(np.max(np.abs(model.probe.kernel.numpy()))) > 0


def test_two_replicas_equal_one_device_on_the_global_batch():
    difference, update = run_replica_equivalence_test(lambda: _model(sync=True), _batch())
    assert difference <= 1e-5 < update


def test_serialization_round_trip():
    model = _model()
    loaded = run_serialization_test(model, _batch()["views"][0])
    assert loaded.temperature == model.temperature and loaded.projector.output_dim == 8


def test_model_call_returns_encoder_features():
    model = _model(probe=None)
    images = _batch()["views"][0]
    np.testing.assert_array_equal(model.predict(images, verbose=0), model.encoder.predict(images, verbose=0))
    assert model.predict(images, verbose=0).shape == (8, model.feature_dim)


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="temperature"):
        SimCLR(ConvNet(input_shape=(16, 16, 1), width=4), temperature=0.0)
    with pytest.raises(ValueError, match="keras.Model"):
        SimCLR(lambda x: x)
    with pytest.raises(ValueError, match="exactly 2 views"):
        _model().compute_contrastive_loss(_batch()["views"] * 2)
    with pytest.raises(ValueError, match=r"Registered methods: .*simclr"):
        get_method("simclr_v9")
    with pytest.raises(ValueError, match="pretrain_dataset"):
        _model()._unpack((np.zeros((2, 16, 16, 1)),))

import doctest

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.backbones import ConvNet
from keras_contrastive.losses import dino_loss
from keras_contrastive.models import DINO, get_method
from keras_contrastive.testing import run_replica_equivalence_test, run_serialization_test, run_train_step_test

SIZES = (16, 16, 12, 12)  # 2 large crops + 2 small crops


def _batch(n=8, sizes=SIZES, labels=True, seed=0):
    rng = np.random.default_rng(seed)
    batch = {"views": tuple(rng.random((n, s, s, 1), dtype=np.float32) for s in sizes)}
    if labels:
        batch["label"] = rng.integers(0, 3, n)
    return batch


def _model(probe=3, encoder=None, **kwargs):
    encoder = encoder or ConvNet(input_shape=(16, 16, 1), width=4, stages=2)
    kwargs = {"projection_dim": 8, "projection_hidden_dim": 16, "num_prototypes": 20, "probe_classes": probe, **kwargs}
    return DINO(encoder, **kwargs)


def _data(batch, size=8):
    return tf.data.Dataset.from_tensor_slices(batch).batch(size)


def test_train_step_on_multi_crop_reports_loss_entropy_temperature_momentum_and_probe():
    history = run_train_step_test(_model(), _batch())
    assert set(history) == {
        "loss",
        "teacher_entropy",
        "teacher_temperature",
        "momentum",
        "probe_loss",
        "probe_accuracy",
    }
    assert 0.0 <= history["teacher_entropy"][0] <= np.log(20) + 1e-5
    assert history["teacher_temperature"][0] == pytest.approx(0.04)
    assert get_method("dino") is DINO


def test_the_loss_is_every_student_crop_against_the_teachers_other_large_crops():
    model = _model(probe=None)
    model.center.assign(np.random.default_rng(1).normal(size=(1, 20)).astype("float32"))
    views = _batch()["views"]
    loss, logs, features, center = model.compute_contrastive_loss(views, training=False)

    def head(encoder, projector, prototypes, x):
        return prototypes(projector(encoder(x)))

    student = [head(model._encoder_for(v.shape[1:]), model.projector, model.prototypes, v) for v in views]
    teacher = [head(model.teacher_encoder, model.teacher_projector, model.teacher_prototypes, v) for v in views[:2]]
    expected = dino_loss(student, teacher, model.center.numpy(), 0.1, 0.04)
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    mean_teacher = np.concatenate([np.asarray(t) for t in teacher]).mean(axis=0, keepdims=True)
    np.testing.assert_allclose(np.asarray(center), mean_teacher, rtol=1e-5, atol=1e-6)


def test_after_a_step_the_center_is_the_ema_of_the_teachers_batch_mean():
    model = _model(probe=None, center_momentum=0.7)
    initial_center = np.random.default_rng(2).normal(size=(1, 20)).astype("float32")
    model.center.assign(initial_center)
    batch = _batch(labels=False)
    large = np.concatenate(batch["views"][:2])
    # The step's forward pass sees the teacher before its EMA update (BatchNorm on the batch, as in training).
    teacher = model.teacher_prototypes(model.teacher_projector(model.teacher_encoder(large, training=True)))
    expected = 0.7 * initial_center + 0.3 * np.mean(np.asarray(teacher), axis=0, keepdims=True)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model.fit(_data(batch), epochs=1, verbose=0)
    np.testing.assert_allclose(model.center.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("momentum", [0.0, 1.0])
def test_the_teacher_is_the_ema_of_the_student_with_unit_prototypes(momentum):
    model = _model(probe=None, momentum=momentum, momentum_schedule="constant")
    teacher_before = [w.numpy().copy() for w in model.teacher_projector.weights + model.teacher_prototypes.weights]
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.fit(_data(_batch(labels=False)), epochs=1, verbose=0)
    teacher = model.teacher_projector.weights + model.teacher_prototypes.weights
    student = model.projector.weights + model.prototypes.weights
    for t, s, before in zip(teacher, student, teacher_before):
        np.testing.assert_allclose(t.numpy(), s.numpy() if momentum == 0.0 else before, atol=1e-6)
    assert np.max(np.abs(student[0].numpy() - teacher_before[0])) > 1e-4  # the student moved
    for kernel in (model.prototypes.kernel, model.teacher_prototypes.kernel):
        np.testing.assert_allclose(np.linalg.norm(kernel.numpy(), axis=0), 1.0, atol=1e-5)
    assert not model.teacher_encoder.trainable_weights and not model.teacher_prototypes.trainable_weights


def test_the_teacher_temperature_warms_up_linearly_over_the_first_epochs():
    model = _model(
        probe=None, warmup_teacher_temperature=0.02, teacher_temperature=0.06, warmup_teacher_temperature_epochs=1.0
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    data = _data(_batch(n=16, labels=False)).repeat()
    history = model.fit(data, epochs=2, steps_per_epoch=2, verbose=0).history
    # Epoch 1: steps 0 and 1 of a 2-step warm-up (0.02, 0.04); epoch 2: 0.06 (the logged value is the epoch's mean).
    assert history["teacher_temperature"][0] == pytest.approx(0.03, abs=1e-6)
    assert history["teacher_temperature"][1] == pytest.approx(0.06, abs=1e-6)
    assert float(model.steps_per_epoch.numpy()) == 2.0


def test_two_replicas_equal_one_device_with_multi_crop_and_the_center():
    def build():
        inputs = keras.Input((16, 16, 1))
        x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
        model = _model(probe=None, encoder=keras.Model(inputs, x), momentum=0.9, momentum_schedule="constant")
        model.center.assign(np.linspace(-1, 1, 20, dtype="float32")[None])
        return model

    difference, update = run_replica_equivalence_test(build, _batch(labels=False))
    assert difference <= 1e-5 < update


def test_serialization_keeps_the_teacher_the_center_and_the_prototypes():
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model.fit(_data(_batch()), epochs=1, verbose=0)
    assert np.max(np.abs(model.center.numpy())) > 0
    loaded = run_serialization_test(model, _batch()["views"][0])
    for name in ("center", "teacher_encoder", "teacher_projector", "teacher_prototypes", "prototypes"):
        ours, theirs = getattr(model, name), getattr(loaded, name)
        ours = ours.weights if hasattr(ours, "weights") else [ours]
        theirs = theirs.weights if hasattr(theirs, "weights") else [theirs]
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="temperatures must be > 0"):
        _model(teacher_temperature=0.0)
    with pytest.raises(ValueError, match="center_momentum in"):
        _model(center_momentum=1.5)
    with pytest.raises(ValueError, match="at least 2 views"):
        _model().compute_contrastive_loss(_batch(sizes=(16,))["views"])
    with pytest.raises(ValueError, match="large crops must share one size"):
        _model().compute_contrastive_loss(_batch(sizes=(16, 12))["views"])
    model = _model(warmup_teacher_temperature_epochs=1.0)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    unknown_length = _data(_batch(labels=False)).repeat().filter(lambda x: True)
    with pytest.raises(ValueError, match="pass steps_per_epoch to fit"):
        model.fit(unknown_length, epochs=1, verbose=0)


def test_docstring_examples_run():
    from keras_contrastive.models import dino

    assert doctest.testmod(dino, extraglobs={"np": np}, verbose=False).failed == 0

"""What MoCo and BYOL share: EMA targets that get no gradient, the exact EMA
after the optimizer step, and target weights, queue and momentum step kept
by save -> load and by an interrupted-then-resumed run."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import recipes, runs
from keras_contrastive.backbones import ConvNet
from keras_contrastive.models import BYOL, MoCo
from keras_contrastive.testing import run_serialization_test, run_train_step_test


def _moco(**kw):
    kw = {"projection_dim": 8, "queue_size": 32, "bn_groups": 2, **kw}
    return MoCo(ConvNet(input_shape=(16, 16, 1), width=4, stages=2), **kw)


def _byol(**kw):
    kw = {"projection_dim": 8, "projection_hidden_dim": 16, "prediction_hidden_dim": 16, **kw}
    return BYOL(ConvNet(input_shape=(16, 16, 1), width=4, stages=2), **kw)


BUILDERS = {"moco": _moco, "byol": _byol}


def _batch(seed=0, n=8):
    rng = np.random.default_rng(seed)
    return {"views": tuple(rng.random((n, 16, 16, 1), dtype=np.float32) for _ in range(2))}


def _target_weights(model):
    return model.target_encoder.weights + model.target_projector.weights


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_the_target_gets_no_gradient_and_is_not_trainable(name):
    model = BUILDERS[name]()
    target_ids = {id(v) for v in _target_weights(model)}
    assert target_ids and not any(id(v) in target_ids for v in model.trainable_weights)
    assert all(not v.trainable for v in _target_weights(model))
    views = _batch()["views"]
    with tf.GradientTape(persistent=True) as tape:
        loss = model.compute_contrastive_loss(views, training=True)[0]
    gradients = tape.gradient(loss, [v.value for v in _target_weights(model)])
    assert all(g is None for g in gradients)
    online = tape.gradient(loss, [v.value for v in model.trainable_weights])
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in online if g is not None) > 0


@pytest.mark.parametrize("name,expected_m", [("moco", 0.99), ("byol", 0.99)])
def test_after_one_step_the_target_is_the_ema_of_the_updated_online_weights(name, expected_m):
    # BYOL's cosine schedule at step 0 is its base momentum; MoCo's is constant.
    model = BUILDERS[name](momentum=expected_m)
    rng = np.random.default_rng(5)
    for online, target in model._target_pairs:  # online != target before the step
        for v in target.weights:
            v.assign(v.numpy() + rng.normal(scale=0.1, size=v.shape).astype("float32"))
    before = [v.numpy().copy() for v in _target_weights(model)]
    run_train_step_test(model, _batch(), optimizer=keras.optimizers.SGD(0.5))
    online_after = [w for online, _ in model._target_pairs for w in online.weights]
    checked = 0
    for t, b, o in zip(_target_weights(model), before, online_after):
        if o.trainable:
            np.testing.assert_allclose(t.numpy(), expected_m * b + (1 - expected_m) * o.numpy(), atol=1e-6)
            checked += 1
    assert checked >= 6


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_save_and_load_keep_targets_queue_and_momentum_step(name, tmp_path):
    model = BUILDERS[name]()
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    batch = _batch(3)
    model.fit(tf.data.Dataset.from_tensor_slices(batch).batch(8).repeat(), epochs=1, steps_per_epoch=3, verbose=0)
    loaded = run_serialization_test(model, batch["views"][0])
    for a, b in zip(_target_weights(model), _target_weights(loaded)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(loaded.optimizer.iterations.numpy()) == 3
    if name == "moco":
        np.testing.assert_array_equal(loaded.queue.value.numpy(), model.queue.value.numpy())
        assert int(loaded.queue.pointer.numpy()) == 24
    else:
        assert float(loaded.momentum_total_steps.numpy()) == 3.0
        # the loaded model continues the schedule where it stopped
        assert float(loaded.current_momentum()) == pytest.approx(float(model.current_momentum()), abs=1e-7)


class _Interrupt(Exception):
    pass


class _StopAfter(keras.callbacks.Callback):
    """Records the state at the end of an epoch, then interrupts the run."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.state = epoch, None

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            self.state = _state(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise _Interrupt()


class _RecordAtStart(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.state = _state(self.model)


def _state(model):
    state = {
        "iterations": int(model.optimizer.iterations.numpy()),
        "targets": [v.numpy().copy() for v in _target_weights(model)],
        "total": float(model.momentum_total_steps.numpy()),
    }
    if getattr(model, "queue", None) is not None:
        state["queue"] = model.queue.value.numpy().copy()
        state["pointer"] = int(model.queue.pointer.numpy())
    return state


@pytest.mark.slow  # two training runs per method
@pytest.mark.parametrize("name", ["moco", "byol"])
def test_an_interrupted_run_resumes_with_targets_queue_and_momentum_step(name, tmp_path):
    recipe = recipes.validate(
        {
            "method": {"name": name, "projection_dim": 16}
            | ({"queue_size": 256} if name == "moco" else {"projection_hidden_dim": 32, "prediction_hidden_dim": 32}),
            "encoder": {"name": "convnet", "width": 8},
            "data": {"source": "fashion_mnist_subset"},
            "train": {"epochs": 3, "steps_per_epoch": 3, "batch_size": 64, "online_probe": False},
        }
    )
    stop = _StopAfter(2)
    with pytest.raises(_Interrupt):
        runs.train(recipe, str(tmp_path), verbose=0, callbacks=[stop])
    assert stop.state["iterations"] == 6
    start = _RecordAtStart()
    metrics = runs.train(recipe, str(tmp_path), verbose=0, callbacks=[start])
    assert metrics["epochs"] == 3
    restored = start.state
    assert restored["iterations"] == 6  # the momentum step: BYOL's schedule continues from it
    for a, b in zip(restored["targets"], stop.state["targets"]):
        np.testing.assert_array_equal(a, b)
    if name == "moco":
        np.testing.assert_array_equal(restored["queue"], stop.state["queue"])
        assert restored["pointer"] == stop.state["pointer"] == (6 * 64) % 256
    history = (tmp_path / "history.csv").read_text().strip().splitlines()
    assert len(history) == 4  # header + epochs 1, 2, 3: none redone or lost

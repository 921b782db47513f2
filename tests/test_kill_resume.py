"""Reliability of a run directory: SIGKILL and resume, non-finite losses, and
writes that never leave a half-written file where a good one was (issue #10)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import yaml

from keras_contrastive import io_utils, recipes, runs
from keras_contrastive.data import load_fashion_mnist_subset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The kill lands in epoch 3 (after epoch 2's backup), so 3 epochs are enough: the resumed run trains the last.
EPOCHS, STEPS = 3, 12
# A fresh TensorFlow import takes seconds, far more on a loaded machine.
TIMEOUT = 600


def _check_optimizer_steps(model, epochs, steps):
    # Iterations drive the warm-up + cosine schedule: restored with the optimizer, never restarted.
    assert int(model.optimizer.iterations.numpy()) == epochs * steps


def _check_queue(model, epochs, steps, batch):
    # Every step enqueued one batch of keys, across the kill: the pointer says so.
    assert int(model.queue.pointer.numpy()) == (epochs * steps * batch) % model.queue_size
    np.testing.assert_allclose(np.linalg.norm(model.queue.value.numpy(), axis=1), 1.0, atol=1e-4)


def _check_momentum_schedule(model, epochs, steps):
    # The cosine schedule spans the whole run (not the resumed part) and ends at 1.
    assert float(model.momentum_total_steps.numpy()) == epochs * steps
    assert float(model.current_momentum()) == pytest.approx(
        1 - (1 - model.momentum) * (np.cos(np.pi * (epochs * steps - 1) / (epochs * steps)) + 1) / 2, abs=1e-6
    )


# One entry per method: its recipe `method` section and a check of the state a
# resume must restore (MoCo/BYOL: also the queue pointer and momentum step).
METHODS = [
    pytest.param(
        {"name": "simclr", "projection_dim": 16, "projection_hidden_dim": 32, "temperature": 0.2},
        [_check_optimizer_steps],
        id="simclr",
    ),
    pytest.param(
        {"name": "moco", "projection_dim": 16, "queue_size": 128, "bn_groups": 2, "momentum": 0.9},
        [_check_optimizer_steps, lambda m, e, s: _check_queue(m, e, s, batch=32)],
        id="moco",
    ),
    pytest.param(
        {"name": "byol", "projection_dim": 16, "projection_hidden_dim": 32, "prediction_hidden_dim": 32},
        [_check_optimizer_steps, lambda m, e, s: _check_momentum_schedule(m, e, s)],
        id="byol",
    ),
]


@pytest.fixture(scope="module")
def tiny_npz(tmp_path_factory):
    """512 + 128 Fashion-MNIST images: fast epochs, and a fast final evaluation."""
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist_subset()
    path = tmp_path_factory.mktemp("data") / "tiny.npz"
    np.savez(path, x_train=x_train[:512], y_train=y_train[:512], x_test=x_test[:128], y_test=y_test[:128])
    return str(path)


def _tiny_recipe(tmp_path, npz, method):
    recipe = {
        "method": method,
        "encoder": {"name": "convnet", "width": 8, "stages": 2},
        "data": {"source": f"npz:{npz}"},
        "augment": {"crop_scale": [0.25, 1.0], "jitter_strength": 0.5, "grayscale_probability": 0.0},
        "optimizer": {"name": "adamw", "learning_rate": 1e-3, "warmup_epochs": 1.0},
        "train": {"epochs": EPOCHS, "batch_size": 32, "steps_per_epoch": STEPS, "seed": 0},
        "evaluate": {"baselines": False, "knn_k": 10, "batch_size": 256},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


def _backup_epoch(run):
    try:
        return io_utils.read_json(os.path.join(run, "backup", "training_metadata.json"), {"epoch": 0})["epoch"]
    except (OSError, ValueError):  # being replaced right now
        return 0


def _history_rows(run):
    with open(os.path.join(run, "history.csv"), newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow  # two training processes per method
@pytest.mark.parametrize("method,checks", METHODS)
def test_sigkill_mid_epoch_then_the_same_command_resumes(tmp_path, tiny_npz, method, checks):
    run = str(tmp_path / "run")
    command = [sys.executable, "-m", "keras_contrastive.cli", "train", _tiny_recipe(tmp_path, tiny_npz, method)]
    command += ["--output", run, "--verbose", "0"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        # Kill during epoch 3: a fraction of an epoch after epoch 2's backup.
        deadline, done_at = time.monotonic() + TIMEOUT, {}
        while _backup_epoch(run) < 2:
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the first run never finished 2 epochs"
            done_at.setdefault(_backup_epoch(run), time.monotonic())
            time.sleep(0.02)
        epoch_seconds = time.monotonic() - done_at.get(1, done_at[0])
        time.sleep(0.4 * epoch_seconds)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=60) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    killed_after = _backup_epoch(run)
    assert 2 <= killed_after < EPOCHS, f"the kill did not land mid-run (backup at epoch {killed_after})"
    assert not os.path.exists(os.path.join(run, "model.keras"))
    rows_before = _history_rows(run)[:killed_after]

    second = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=TIMEOUT)
    assert second.returncode == 0, second.stderr[-3000:]

    # Every epoch exactly once, the finished ones untouched.
    rows = _history_rows(run)
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    assert rows[:killed_after] == rows_before
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    assert io_utils.read_json(os.path.join(run, "progress.json"))["epochs_done"] == EPOCHS
    metrics = io_utils.read_json(os.path.join(run, "metrics.json"))
    assert metrics["epochs"] == EPOCHS and metrics["steps_per_epoch"] == STEPS
    # One committed backup, no temporary file of the killed process left behind.
    backup = sorted(os.listdir(os.path.join(run, "backup")))
    assert backup == [f"epoch-{EPOCHS}.weights.h5", "training_metadata.json"], backup

    model = keras.saving.load_model(os.path.join(run, "model.keras"))
    for check in checks:
        check(model, EPOCHS, STEPS)


# --- non-finite losses --------------------------------------------------------


def _tiny_run_dir(path, poison=False):
    """A finished-looking run directory with a small SimCLR model."""
    from keras_contrastive.backbones import ConvNet
    from keras_contrastive.models import SimCLR

    model = SimCLR(ConvNet(input_shape=(28, 28, 1), width=4, stages=1), projection_dim=8)
    if poison:
        kernel = model.encoder.get_layer("head_conv").kernel
        kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    os.makedirs(path, exist_ok=True)
    model.save(os.path.join(path, "model.keras"))
    (path / "recipe.yaml").write_text(recipes.dump(recipes.validate({})))
    return model


def test_export_refuses_non_finite_weights_and_writes_nothing(tmp_path, capsys):
    from keras_contrastive import cli

    _tiny_run_dir(tmp_path / "run", poison=True)
    target = tmp_path / "savedmodels" / "diverged"
    assert cli.main(["export", "--run", str(tmp_path / "run"), "--to", str(target)]) == 2
    message = capsys.readouterr().err
    assert "Refusing to export" in message and "head_conv" in message and "NaN or infinite" in message
    assert "learning_rate" in message  # the fix
    assert not target.exists()


def test_a_nan_loss_from_the_command_line_exits_2_naming_the_step(tmp_path, tiny_npz, capsys):
    from keras_contrastive import cli

    path = _tiny_recipe(tmp_path, tiny_npz, {"name": "simclr", "projection_dim": 8, "temperature": 1e-45})
    args = ["train", path, "--output", str(tmp_path / "run"), "--verbose", "0", "--set", "train.epochs=1"]
    assert cli.main(args) == 2
    message = capsys.readouterr().err
    assert "the loss became nan at epoch 1, step 1" in message or "the loss became inf at epoch 1, step 1" in message
    assert "lower optimizer.learning_rate" in message and "temperature" in message
    assert not (tmp_path / "run" / "model.keras").exists()
    # No backup of the diverged epoch was committed.
    assert not (tmp_path / "run" / "backup" / "training_metadata.json").exists()


# --- no half-written file where a good one was --------------------------------


def test_atomic_write_failing_midway_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    io_utils.atomic_write_json(str(path), {"top1": 0.9})

    def fail(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="disk full"):
        io_utils.atomic_write_json(str(path), {"top1": 0.1, "padding": "x" * 100_000})
    assert json.loads(path.read_text()) == {"top1": 0.9}
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_model_save_failing_midway_keeps_the_old_model(tmp_path, tiny_npz, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"the good model")
    recipe = recipes.load(_tiny_recipe(tmp_path, tiny_npz, {"name": "simclr", "projection_dim": 8}))
    recipe = recipes.apply_overrides(recipe, ["train.epochs=1", "train.steps_per_epoch=2"])

    def save_half_then_fail(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK half")
        raise OSError("killed while saving")

    monkeypatch.setattr(keras.Model, "save", save_half_then_fail)
    with pytest.raises(OSError, match="killed while saving"):
        runs.train(recipe, str(run), verbose=0)
    assert (run / "model.keras").read_bytes() == b"the good model"
    assert not [n for n in os.listdir(run) if n.startswith(".model-")]


def test_backup_failing_midway_keeps_the_last_good_backup(tmp_path, tiny_npz, monkeypatch):
    run = tmp_path / "run"
    recipe = recipes.load(_tiny_recipe(tmp_path, tiny_npz, {"name": "simclr", "projection_dim": 8}))
    recipe = recipes.apply_overrides(recipe, ["train.epochs=1", "train.steps_per_epoch=2"])
    runs.train(recipe, str(run), verbose=0)
    backup = run / "backup"
    good = {name: (backup / name).read_bytes() for name in os.listdir(backup)}
    assert sorted(good) == ["epoch-1.weights.h5", "training_metadata.json"]

    original = keras.Model.save_weights

    def save_half_then_fail(self, filepath, *args, **kwargs):
        original(self, filepath, *args, **kwargs)
        with open(filepath, "r+b") as f:
            f.truncate(100)
        raise OSError("killed while saving")

    monkeypatch.setattr(keras.Model, "save_weights", save_half_then_fail)
    (run / "recipe.yaml").unlink()  # resume the same run for one more epoch
    with pytest.raises(OSError, match="killed while saving"):
        runs.train(recipes.apply_overrides(recipe, ["train.epochs=2"]), str(run), verbose=0)
    assert {name: (backup / name).read_bytes() for name in os.listdir(backup)} == good
    # The history holds the epoch whose backup failed; resuming redoes that epoch and logs it once.
    monkeypatch.setattr(keras.Model, "save_weights", original)
    metrics = runs.train(recipes.apply_overrides(recipe, ["train.epochs=2"]), str(run), verbose=0)
    assert metrics["epochs"] == 2
    assert [int(r["epoch"]) for r in _history_rows(str(run))] == [0, 1]

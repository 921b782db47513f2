"""KNNMonitor: the logged value is knn_classify on the encoder's features, every N epochs only."""

import csv
import glob
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import data, recipes, runs
from keras_contrastive.augment import SimCLRAugmentation
from keras_contrastive.backbones import ConvNet
from keras_contrastive.callbacks import KNNMonitor
from keras_contrastive.evaluation import extract_features, knn_classify
from keras_contrastive.models import SimCLR
from keras_contrastive.runs import core

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tensorboard_steps(log_dir, tag):
    steps = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    steps[event.step] = float(tf.make_ndarray(value.tensor))
    return steps


@pytest.fixture(scope="module")
def subset():
    splits = data.load_data("fashion_mnist_subset")
    return splits.x_train[:256], splits.y_train[:256], splits.x_test[:128], splits.y_test[:128]


def test_logged_value_is_knn_classify_of_the_encoder_every_n_epochs_only(subset, tmp_path):
    x_train, y_train, x_test, y_test = subset
    keras.utils.set_random_seed(0)
    views = [SimCLRAugmentation((28, 28), crop_scale=(0.5, 1.0), seed=s) for s in (1, 2)]
    dataset = data.pretrain_dataset(x_train, views, batch_size=64)
    model = SimCLR(ConvNet(input_shape=(28, 28, 1), width=4, stages=2), projection_dim=16, temperature=0.5)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    monitor = KNNMonitor(x_train, y_train, x_test, y_test, every=2, k=20, log_dir=str(tmp_path / "logs"))
    history = model.fit(
        dataset,
        epochs=5,
        steps_per_epoch=2,
        verbose=0,
        callbacks=[monitor, keras.callbacks.CSVLogger(str(tmp_path / "history.csv"))],
    )

    logged = history.history["val_knn_top1"]
    assert len(logged) == 5
    assert [math.isnan(v) for v in logged] == [True, False, True, False, True]
    # The value logged at epoch 4 is knn_classify of the features that measurement extracted.
    bank, held_out = monitor.last_features
    direct = knn_classify(bank, y_train, held_out, y_test, k=20, temperature=0.1)["top1"]
    assert logged[3] == direct
    assert 0.0 < logged[1] <= 1.0 and 0.0 < logged[3] <= 1.0

    # A monitor on the final weights gives exactly knn_classify of extract_features of the encoder.
    now = monitor.measure()
    expected = knn_classify(
        extract_features(model.encoder, x_train), y_train, extract_features(model.encoder, x_test), y_test, k=20
    )["top1"]
    assert now == expected

    with open(tmp_path / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["val_knn_top1"] == "nan" for row in rows] == [True, False, True, False, True]
    assert float(rows[1]["val_knn_top1"]) == logged[1]

    # TensorBoard gets the measured epochs only (steps are 0-based epochs), as Keras logs validation metrics.
    steps = _tensorboard_steps(str(tmp_path / "logs" / "validation"), "epoch_knn_top1")
    assert sorted(steps) == [1, 3]
    np.testing.assert_allclose([steps[1], steps[3]], [logged[1], logged[3]], rtol=1e-6)


def test_bad_arguments_are_named():
    x = np.zeros((4, 28, 28, 1), "uint8")
    with pytest.raises(ValueError, match="`every` must be an integer >= 1. Received 0"):
        KNNMonitor(x, [0] * 4, x, [0] * 4, every=0)
    with pytest.raises(ValueError, match="3 labels"):
        KNNMonitor(x, [0] * 3, x, [0] * 4)


def test_recipe_key_wires_the_monitor_into_training(tmp_path):
    fast = [
        "train.epochs=2",
        "train.steps_per_epoch=2",
        "train.batch_size=64",
        "train.knn_monitor_every=2",
        "evaluate.baselines=false",
        "encoder.width=4",
    ]
    recipe = recipes.load(os.path.join(ROOT, "recipes", "quickstart.yaml"), fast)
    metrics = runs.train(recipe, str(tmp_path), verbose=0)
    with open(tmp_path / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["val_knn_top1"] for r in rows][0] == "nan"
    # The last epoch's monitor and the final evaluation score the same encoder on the same splits.
    assert float(rows[1]["val_knn_top1"]) == pytest.approx(metrics["knn_top1"], abs=1e-9)
    assert sorted(_tensorboard_steps(str(tmp_path / "logs" / "validation"), "epoch_knn_top1")) == [1]
    with pytest.raises(recipes.RecipeError, match="train.knn_monitor_every: expected 0"):
        recipes.apply_overrides(recipe, ["train.knn_monitor_every=-1"])


def test_a_run_written_before_the_key_existed_still_resumes(tmp_path):
    recipe = recipes.load(os.path.join(ROOT, "recipes", "quickstart.yaml"))
    old = recipes.dump(recipe).replace("  knn_monitor_every: 0\n", "")
    assert old != recipes.dump(recipe)
    (tmp_path / "recipe.yaml").write_text(old)
    (tmp_path / "backup").mkdir()
    strategy = runs.resolve_strategy("one-device")
    core.open_run_dir(recipe, str(tmp_path), strategy, None)  # the same recipe: resumes
    other = recipes.apply_overrides(recipe, ["train.knn_monitor_every=3"])
    with pytest.raises(runs.TrainingError, match="holds a run of a different recipe"):
        core.open_run_dir(other, str(tmp_path), strategy, None)

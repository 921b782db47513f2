import json
import os

import pytest

from keras_contrastive import recipes, runs
from keras_contrastive.testing import two_replica_strategy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = os.path.join(ROOT, "recipes", "quickstart.yaml")
FAST = [
    "train.epochs=2",
    "train.steps_per_epoch=3",
    "train.batch_size=64",
    "evaluate.baselines=false",
    "encoder.width=8",
]


@pytest.mark.slow  # real training to an accuracy: 2 epochs of the quick-start and three linear probes
def test_the_quickstart_beats_its_own_random_init_encoder_and_raw_pixels(tmp_path):
    """The quick-start recipe for 2 of its 3 epochs: its linear probe beats the same encoder untrained and
    the raw pixels, both measured by the same code in the same run (the README's promise)."""
    recipe = recipes.load(QUICKSTART, ["train.epochs=2"])
    assert recipe["evaluate"]["baselines"]
    metrics = runs.train(recipe, str(tmp_path / "quickstart"), verbose=0)
    assert metrics["epochs"] == 2 and metrics["steps_per_epoch"] == 11000 // recipe["train"]["batch_size"]
    assert metrics["linear_probe_top1"] > metrics["random_init_top1"] + 0.01, metrics
    assert metrics["linear_probe_top1"] > metrics["raw_pixel_top1"] + 0.01, metrics


def test_quickstart_cut_to_a_few_steps_resumes_and_refuses_another_recipe(tmp_path):
    recipe = recipes.load(QUICKSTART, FAST)
    metrics = runs.train(recipe, str(tmp_path), verbose=0)
    assert metrics["epochs"] == 2 and metrics["steps_per_epoch"] == 3
    # 10 classes: chance is 0.1; a few steps of SimCLR features are far above it.
    assert metrics["linear_probe_top1"] > 0.5 and metrics["knn_top1"] > 0.3
    assert metrics["train_seconds"] > 0
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    for name in ("model.keras", "recipe.yaml", "history.csv", "progress.json"):
        assert (tmp_path / name).exists(), name
    assert (tmp_path / "logs").is_dir() and (tmp_path / "backup").is_dir()
    assert len((tmp_path / "history.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs

    # Running the same recipe again resumes: no finished epoch is redone.
    again = runs.train(recipe, str(tmp_path), verbose=0)
    assert again["epochs"] == 2
    assert len((tmp_path / "history.csv").read_text().strip().splitlines()) == 3

    # Another recipe into the same directory is refused.
    other = recipes.apply_overrides(recipe, ["train.seed=5"])
    with pytest.raises(runs.TrainingError, match="holds a run of a different recipe"):
        runs.train(other, str(tmp_path), verbose=0)


def test_batch_must_divide_by_replicas_and_fit_the_data(tmp_path):
    recipe = recipes.load(QUICKSTART, FAST + ["train.batch_size=63"])
    with pytest.raises(runs.TrainingError, match="train.batch_size=63 does not divide by the 2 replicas"):
        runs.train(recipe, str(tmp_path / "a"), strategy=two_replica_strategy(), verbose=0)
    recipe = recipes.load(QUICKSTART, FAST + ["train.batch_size=100000"])
    with pytest.raises(runs.TrainingError, match="larger than the .* training images"):
        runs.train(recipe, str(tmp_path / "b"), verbose=0)


def test_unknown_strategy_and_missing_run(tmp_path):
    with pytest.raises(ValueError, match="Unknown strategy 'tpu'"):
        runs.resolve_strategy("tpu")
    with pytest.raises(FileNotFoundError, match="is not a finished run"):
        runs.load_run(str(tmp_path))


def test_a_non_finite_loss_stops_with_the_step_and_keeps_the_last_good_backup(tmp_path):
    good = recipes.load(QUICKSTART, FAST + ["train.epochs=1", "optimizer.name=sgd", "optimizer.schedule=constant"])
    runs.train(good, str(tmp_path / "run"), verbose=0)
    backup = sorted(p.name for p in (tmp_path / "run" / "backup").iterdir())
    before = {name: (tmp_path / "run" / "backup" / name).read_bytes() for name in backup}

    # Same run directory, resumed for a second epoch with a temperature whose logits overflow.
    (tmp_path / "run" / "recipe.yaml").unlink()
    bad = recipes.apply_overrides(good, ["train.epochs=2", "method.temperature=1e-45"])
    with pytest.raises(
        runs.TrainingError, match=r"the loss became (nan|inf) at epoch 2, step 1\. Likely causes: .*temperature"
    ):
        runs.train(bad, str(tmp_path / "run"), verbose=0)
    after = {name: (tmp_path / "run" / "backup" / name).read_bytes() for name in backup}
    assert after == before, "the backup of the last good epoch was overwritten"


def test_mixed_float16_training_from_a_recipe(tmp_path):
    import keras

    recipe = recipes.load(QUICKSTART, FAST + ["train.epochs=1"])
    metrics = runs.train(recipe, str(tmp_path), verbose=0, precision="mixed_float16")
    assert metrics["final_loss"] > 0 and metrics["linear_probe_top1"] > 0.5
    assert keras.config.dtype_policy().name == "float32", "the global policy must be restored"
    model, _ = runs.load_run(str(tmp_path))
    assert model.encoder.get_layer("stage1_conv1").compute_dtype == "float16"
    with pytest.raises(ValueError, match="train.precision: expected one of auto, float32, .* got 'float8'"):
        runs.train(recipe, str(tmp_path / "b"), verbose=0, precision="float8")

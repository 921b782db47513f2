"""Training runs on streaming sources: a corrupt file is skipped, named and counted in history.csv; with
`data.on_error: raise` the run stops naming it and keeps its last finished epoch."""

import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from keras_contrastive import recipes, runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = os.path.join(ROOT, "recipes", "quickstart.yaml")


def _folder(root, per_class=8):
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("test", per_class // 2)):
        for label in range(2):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(rng.normal(70 + 100 * label, 30, (20, 26, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=90)
    return root


def _recipe(folder, *sets):
    tiny = ["encoder.width=4", "evaluate.baselines=false", "evaluate.knn_k=3", "data.image_size=[16, 16]"]
    return recipes.load(QUICKSTART, [f"data.source=folder:{folder}", *tiny, *sets])


def test_a_corrupt_file_is_skipped_named_and_counted_in_history(tmp_path):
    folder = _folder(tmp_path / "images")
    broken = folder / "train" / "class1" / "broken.jpg"
    broken.write_bytes((folder / "train" / "class1" / "0.jpg").read_bytes()[:200])
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match=f"skipped 1 unreadable image file\\(s\\) \\(\\d+ reads\\): {broken}"):
        metrics = runs.train(_recipe(folder, "train.epochs=2", "train.batch_size=17"), str(run), verbose=0)
    # Each epoch's single step reads every file, and the pipeline reads ahead: at least one skip an epoch.
    names = (run / "skipped_files.txt").read_text().split()
    assert set(names) == {str(broken)} and metrics["train_images"] == 17
    with open(run / "history.csv", encoding="utf-8") as f:
        counts = [float(r["skipped_files"]) for r in csv.DictReader(f)]
    assert len(counts) == 2 and counts[0] >= 1 and sum(counts) == metrics["skipped_files"] <= len(names)
    assert 0.0 <= metrics["linear_probe_top1"] <= 1.0 and metrics["test_images"] == 8


def test_on_error_raise_stops_naming_the_file_and_keeps_the_last_finished_epoch(tmp_path):
    folder = _folder(tmp_path / "images")
    run = tmp_path / "run"
    runs.train(_recipe(folder, "train.epochs=1", "train.batch_size=8", "data.on_error=raise"), str(run), verbose=0)
    broken = folder / "train" / "class0" / "zz.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (run / "recipe.yaml").unlink()  # the same run, one epoch more
    recipe = _recipe(folder, "train.epochs=2", "train.batch_size=17", "data.on_error=raise")
    with pytest.raises(runs.TrainingError, match=f"could not read or decode the image {broken}: remove or replace"):
        runs.train(recipe, str(run), verbose=0)
    assert json.loads((run / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    assert json.loads((run / "progress.json").read_text())["epochs_done"] == 1

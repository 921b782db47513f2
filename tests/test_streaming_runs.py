"""Training runs on streaming sources: corrupt files are skipped, named and counted (distinct files, failed
reads) the same in history.csv, metrics.json and the warnings; with
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


def test_skipped_files_are_counted_as_distinct_files_and_reads_the_same_everywhere(tmp_path):
    # Bad files in both splits: training reads the train split every epoch (and reads ahead), evaluation
    # reads both splits; each failed read is a line of skipped_files.txt, each file counted once.
    folder = _folder(tmp_path / "images")
    good = (folder / "train" / "class1" / "0.jpg").read_bytes()
    bad = [folder / "train" / "class0" / "bad0.jpg", folder / "train" / "class1" / "bad1.jpg"]
    bad += [folder / "test" / "class1" / "bad2.png"]
    bad[0].write_bytes(good[:200])  # truncated
    bad[1].write_bytes(b"not an image")
    bad[2].write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    run = tmp_path / "run"
    with pytest.warns(UserWarning) as caught:
        metrics = runs.train(_recipe(folder, "train.epochs=2", "train.batch_size=18"), str(run), verbose=0)
    lines = (run / "skipped_files.txt").read_text().splitlines()
    assert set(lines) == {str(b) for b in bad} and len(lines) > len(bad)  # files repeated: one line a read
    assert metrics["skipped_files"] == 3 and metrics["skipped_reads"] == len(lines)
    assert metrics["train_images"] == 18 and metrics["test_images"] == 8  # listed; evaluated (read)
    on_disk = json.loads((run / "metrics.json").read_text())
    assert (on_disk["skipped_files"], on_disk["skipped_reads"]) == (3, len(lines))
    with open(run / "history.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    # The first epoch's step reads every train file (the pipeline reads ahead: a later epoch may find its
    # reads done); the history counts distinct files and reads as the metrics do.
    files, reads = [float(r["skipped_files"]) for r in rows], [int(float(r["skipped_reads"])) for r in rows]
    assert len(rows) == 2 and files[0] == 2.0 and files[1] <= 2.0 and reads[0] >= 2
    assert sum(reads) < len(lines)  # evaluation's reads come after training's
    messages = [str(w.message) for w in caught if "unreadable" in str(w.message)]
    for epoch in (1, 2):
        expected = f"epoch {epoch}: skipped {int(files[epoch - 1])} unreadable image file(s) ({reads[epoch - 1]} reads)"
        assert (expected in " ".join(messages)) == (reads[epoch - 1] > 0), (expected, messages)
    assert f"training and evaluation: skipped 3 unreadable image file(s) ({len(lines)} reads)" in messages[-1]
    assert 0.0 <= metrics["linear_probe_top1"] <= 1.0


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

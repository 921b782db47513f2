"""`parquet:PATH`: a real Parquet file of sentences and one of image paths, read back, then a 2-step training
run each; a missing column, a missing image and a cell that is not UTF-8 each a clear error or a skipped,
named row; without pyarrow, an error naming the pip extra."""

import os
import sys

import numpy as np
import pytest
from PIL import Image

from keras_contrastive import data, recipes, runs
from keras_contrastive.runs.text_task import load_text_columns
from keras_contrastive.text.testing import TINY_SENTENCES, TINY_TEXT_ENCODER, TINY_VOCABULARY

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICKSTART = os.path.join(ROOT, "recipes", "quickstart.yaml")


def _text_recipe(tmp_path, source):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(TINY_VOCABULARY) + "\n", encoding="utf-8")
    return recipes.validate({
        "method": {"name": "simcse", "pooling": "mean", "temperature": 0.1},
        "encoder": {**TINY_TEXT_ENCODER, "vocabulary": str(vocab)},
        "data": {"source": source},
        "optimizer": {"name": "adamw", "learning_rate": 0.01, "warmup_epochs": 0.0},
        "train": {"epochs": 1, "steps_per_epoch": 2, "batch_size": 4, "online_probe": False},
    })  # fmt: skip


def _write(file, /, **columns):
    pq.write_table(pa.table(columns), file)
    return file


def test_a_parquet_file_of_triplets_reads_back_and_trains_two_steps(tmp_path):
    rows = [(s, s.upper(), TINY_SENTENCES[(i + 3) % len(TINY_SENTENCES)]) for i, s in enumerate(TINY_SENTENCES[:8])]
    path = _write(tmp_path / "triplets.parquet", sentence=[r[0] for r in rows], positive=[r[1] for r in rows],
                  negative=[r[2] for r in rows], other=list(range(8)))  # fmt: skip
    recipe = _text_recipe(tmp_path, f"parquet:{path}")
    assert list(zip(*load_text_columns(recipe))) == rows
    metrics = runs.train(recipe, str(tmp_path / "run"), verbose=0)
    assert metrics["sentences"] == 8 and metrics["steps_per_epoch"] == 2 and np.isfinite(metrics["final_loss"])


def test_a_parquet_file_of_image_paths_reads_back_and_trains_two_steps(tmp_path):
    paths, labels = [], []
    for i in range(24):
        label = i % 2
        folder = tmp_path / "images"
        folder.mkdir(exist_ok=True)
        pixels = np.zeros((16, 16, 3), np.uint8)
        pixels[..., 2 * label] = 100 + i  # class 0 red, class 1 blue
        Image.fromarray(pixels).save(folder / f"{i}.png")
        paths.append(f"images/{i}.png")
        labels.append(label)
    path = _write(tmp_path / "images.parquet", path=paths + ["images/missing.png"], label=labels + [1])
    source = data.open_image_source(f"parquet:{path}")
    assert source.class_names == ("0", "1") and source.image_shape == (16, 16, 3)
    assert source.train.num_examples + source.test.num_examples == 25 and source.test.num_examples > 0
    recipe = recipes.load(QUICKSTART, [f"data.source=parquet:{path}", "encoder.width=4", "evaluate.baselines=false",
                                       "evaluate.knn_k=3", "train.epochs=1", "train.steps_per_epoch=2",
                                       "train.batch_size=8"])  # fmt: skip
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="missing.png"):
        metrics = runs.train(recipe, str(run), verbose=0)
    assert metrics["steps_per_epoch"] == 2 and np.isfinite(metrics["final_loss"])
    assert metrics["skipped_files"] == 1  # the missing image: skipped and named, as a folder's bad file
    assert set((run / "skipped_files.txt").read_text().splitlines()) == {str(tmp_path / "images" / "missing.png")}
    _write(path, path=paths, label=labels)
    splits = data.load_data(f"parquet:{path}")
    x, y = np.concatenate([splits.x_train, splits.x_test]), np.concatenate([splits.y_train, splits.y_test])
    np.testing.assert_array_equal(np.where(x[:, 0, 0, 2] > 0, 1, 0), y)


def test_a_missing_column_a_bad_cell_and_no_pyarrow_are_named(tmp_path, monkeypatch):
    path = _write(tmp_path / "x.parquet", text=["hello"])
    with pytest.raises(data.DataError, match=r"lacks the column 'sentence' \(columns found: \['text'\]\)"):
        load_text_columns(_text_recipe(tmp_path, f"parquet:{path}"))
    _write(path, file=["a.png"], label=["cat"])
    with pytest.raises(data.DataError, match=r"lacks the column 'path' \(columns found: \['file', 'label'\]\)"):
        data.open_image_source(f"parquet:{path}")
    _write(path, sentence=pa.array([b"fine", b"bad \xff byte"], pa.binary()))
    with pytest.raises(data.DataError, match=r"x.parquet, row 2, column 'sentence': not UTF-8 text \(byte 0xff\)"):
        load_text_columns(_text_recipe(tmp_path, f"parquet:{path}"))
    _write(path, path=["images/0.png", None], label=[1, 2])
    with pytest.raises(data.DataError, match=r"row 2, column 'path': the cell is empty"):
        data.open_image_source(f"parquet:{path}")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(data.DataError, match="Could not read the Parquet file .*broken.parquet"):
        load_text_columns(_text_recipe(tmp_path, f"parquet:{tmp_path / 'broken.parquet'}"))
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ImportError, match=r'pip install "keras-contrastive\[parquet\]"'):
        load_text_columns(_text_recipe(tmp_path, f"parquet:{path}"))

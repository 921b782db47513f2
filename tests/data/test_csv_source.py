"""`csv:PATH`: a real CSV of sentences and one of image paths, read back, then a 2-step training run each;
a missing column, a missing image and a cell that is not UTF-8 each a clear error or a skipped, named row."""

import os

import numpy as np
import pytest
from PIL import Image

from keras_contrastive import data, recipes, runs
from keras_contrastive.data import sources
from keras_contrastive.runs.text_task import load_text_columns
from keras_contrastive.text.testing import TINY_SENTENCES, TINY_TEXT_ENCODER, TINY_VOCABULARY

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


def _images(tmp_path, rows=24):
    """PNGs in `tmp_path/images/<colour>/`, and `[(path relative to tmp_path, colour)]`."""
    listed = []
    for i in range(rows):
        colour = ("red", "blue")[i % 2]
        folder = tmp_path / "images" / colour
        folder.mkdir(parents=True, exist_ok=True)
        pixels = np.zeros((16, 16, 3), np.uint8)
        pixels[..., 0 if colour == "red" else 2] = 100 + i
        Image.fromarray(pixels).save(folder / f"{i}.png")
        listed.append((f"images/{colour}/{i}.png", colour))
    return listed


def test_a_csv_of_sentence_pairs_reads_back_and_trains_two_steps(tmp_path):
    pairs = [(s, s.upper()) for s in TINY_SENTENCES[:8]]
    path = tmp_path / "pairs.csv"
    path.write_text("sentence,positive\n" + "".join(f'"{a}","{b}"\n' for a, b in pairs), encoding="utf-8")
    recipe = _text_recipe(tmp_path, f"csv:{path}")
    assert list(zip(*load_text_columns(recipe))) == pairs
    assert sources.parse(f"csv:{path}", "text").kind.corpus(sources.parse(f"csv:{path}", "text"))[:2] == [
        pairs[0][0], pairs[1][0]]  # fmt: skip
    metrics = runs.train(recipe, str(tmp_path / "run"), verbose=0)
    assert metrics["sentences"] == 8 and metrics["steps_per_epoch"] == 2 and np.isfinite(metrics["final_loss"])
    # One column: unsupervised sentences; data.path may hold the file.
    (tmp_path / "single.csv").write_text("sentence\nfirst one\nsecond one\n", encoding="utf-8")
    single = recipes.validate(
        {**_text_recipe(tmp_path, "csv"), "data": {"source": "csv", "path": str(tmp_path / "single.csv")}}
    )
    assert load_text_columns(single) == (["first one", "second one"],)


def test_a_csv_of_image_paths_reads_back_and_trains_two_steps(tmp_path):
    listed = _images(tmp_path)
    listed.append(("images/red/missing.png", "red"))  # a row whose image does not exist
    path = tmp_path / "images.csv"
    path.write_text("path,label\n" + "".join(f"{p},{c}\n" for p, c in listed), encoding="utf-8")
    source = data.open_image_source(f"csv:{path}")
    assert source.class_names == ("blue", "red") and source.image_shape == (16, 16, 3)
    assert source.train.num_examples + source.test.num_examples == 25 and source.test.num_examples > 0
    recipe = recipes.load(QUICKSTART, [f"data.source=csv:{path}", "encoder.width=4", "evaluate.baselines=false",
                                       "evaluate.knn_k=3", "train.epochs=1", "train.steps_per_epoch=2",
                                       "train.batch_size=8"])  # fmt: skip
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="missing.png"):
        metrics = runs.train(recipe, str(run), verbose=0)
    assert metrics["steps_per_epoch"] == 2 and np.isfinite(metrics["final_loss"])
    # The missing image is skipped and named, as a folder's unreadable file.
    assert metrics["skipped_files"] == 1
    assert set((run / "skipped_files.txt").read_text().splitlines()) == {str(tmp_path / "images/red/missing.png")}
    # Read into memory (`load_data`, e.g. few-shot): labels follow the colours; the missing image is named.
    path.write_text("path,label\n" + "".join(f"{p},{c}\n" for p, c in listed[:-1]), encoding="utf-8")
    splits = data.load_data(f"csv:{path}")
    x, y = np.concatenate([splits.x_train, splits.x_test]), np.concatenate([splits.y_train, splits.y_test])
    np.testing.assert_array_equal(np.where(x[:, 0, 0, 0] > 0, 1, 0), y)  # red (1) has its red channel lit
    path.write_text("path\nimages/red/missing.png\nimages/red/0.png\n", encoding="utf-8")
    unlabelled = data.open_image_source(f"csv:{path}", image_size=(16, 16), channels=3)
    assert not unlabelled.labelled and unlabelled.test is None and unlabelled.train.num_examples == 2


def test_a_missing_column_is_named_with_the_columns_found(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("text\nhello\n", encoding="utf-8")
    with pytest.raises(data.DataError, match=r"lacks the column 'sentence' \(columns found: \['text'\]\)"):
        load_text_columns(_text_recipe(tmp_path, f"csv:{path}"))
    path.write_text("file,label\na.png,cat\n", encoding="utf-8")
    with pytest.raises(data.DataError, match=r"lacks the column 'path' \(columns found: \['file', 'label'\]\)"):
        data.open_image_source(f"csv:{path}")
    path.write_text("sentence,negative\na,b\n", encoding="utf-8")
    with pytest.raises(data.DataError, match="'negative' column but no 'positive'"):
        load_text_columns(_text_recipe(tmp_path, f"csv:{path}"))


def test_a_cell_that_is_not_utf8_or_empty_is_named_by_row_and_column(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"sentence,positive\nfine,good\nbad \xff byte,ok\n")
    with pytest.raises(data.DataError, match=r"x.csv, row 2, column 'sentence': not UTF-8 text"):
        load_text_columns(_text_recipe(tmp_path, f"csv:{path}"))
    path.write_bytes(b"path,label\nimages/\xe9.png,cat\n")
    with pytest.raises(data.DataError, match=r"row 1, column 'path': not UTF-8 text"):
        data.open_image_source(f"csv:{path}")
    path.write_text("sentence,positive\nfine,\n", encoding="utf-8")
    with pytest.raises(data.DataError, match=r"row 1, column 'positive': the cell is empty"):
        load_text_columns(_text_recipe(tmp_path, f"csv:{path}"))
    path.write_text("sentence,positive\na,b,c\n", encoding="utf-8")
    with pytest.raises(data.DataError, match="line 2: 3 cells but 2 columns"):
        load_text_columns(_text_recipe(tmp_path, f"csv:{path}"))
    with pytest.raises(FileNotFoundError, match="CSV file .*nowhere.csv' not found"):
        load_text_columns(_text_recipe(tmp_path, f"csv:{tmp_path / 'nowhere.csv'}"))

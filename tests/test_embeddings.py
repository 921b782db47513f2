"""`runs.embed` / `keras-contrastive embed`: the files hold the model's own embeddings, ids aligned, text and images."""

import json
import os
import re

import keras
import numpy as np
import pytest
import yaml
from PIL import Image

from keras_contrastive import cli, data, runs
from keras_contrastive.runs import embeddings as embedding
from keras_contrastive.text.testing import TINY_SENTENCES, TINY_TEXT_ENCODER, TINY_VOCABULARY


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """A finished tiny SimCSE run (1-layer, 8-wide encoder, 2 epochs on TINY_SENTENCES)."""
    root = tmp_path_factory.mktemp("text_run")
    (root / "vocab.txt").write_text("\n".join(TINY_VOCABULARY) + "\n", encoding="utf-8")
    (root / "sentences.txt").write_text("\n".join(TINY_SENTENCES) + "\n", encoding="utf-8")
    recipe = {
        "method": {"name": "simcse", "pooling": "mean", "temperature": 0.1},
        "encoder": {**TINY_TEXT_ENCODER, "vocabulary": str(root / "vocab.txt")},
        "data": {"source": f"text:{root / 'sentences.txt'}"},
        "optimizer": {"name": "adamw", "learning_rate": 0.01, "warmup_epochs": 0.0},
        "train": {"epochs": 2, "batch_size": 4, "online_probe": False},
    }  # fmt: skip
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    run = str(root / "run")
    assert cli.main(["train", str(root / "recipe.yaml"), "--output", run, "--verbose", "0"]) == 0
    return run


def _sentence_file(path):
    # Blank lines are skipped; ids are the line numbers of the others.
    lines = ["the cat sat on the mat .", "", "a dog ran in the park .", "   ", "birds sing", "a fast blue car"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ["1", "3", "5", "6"], [lines[0], lines[2], lines[4], lines[5]]


@pytest.mark.parametrize("suffix", [".npy", ".parquet"])
def test_text_embeddings_equal_the_models_own_ids_aligned(text_run, tmp_path, suffix, capsys):
    ids, sentences = _sentence_file(tmp_path / "in.txt")
    out = str(tmp_path / f"out{suffix}")
    assert cli.main(["embed", "--model", text_run, "--input", str(tmp_path / "in.txt"), "--out", out]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["count"] == 4 and summary["dim"] == 8 and summary["normalized"] is True
    got_ids, vectors = embedding.read_embeddings(out)
    model = keras.saving.load_model(os.path.join(text_run, "model.keras"))
    assert got_ids == ids
    np.testing.assert_allclose(vectors, model.encode(sentences), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    if suffix == ".npy":
        assert sorted(os.listdir(tmp_path)) == ["in.txt", "out.ids.txt", "out.npy"]  # no temporary left
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(out)
        assert table.column_names == ["id", "embedding", "text"] and table.column("text").to_pylist() == sentences
    # Unnormalised, and in chunks of 3 (streamed): the same rows.
    raw_ids, raw = embedding.embed(text_run, str(tmp_path / "in.txt"), normalize=False)
    assert raw_ids == ids
    np.testing.assert_allclose(raw, model.encode(sentences, normalize=False), atol=1e-5)
    assert np.abs(np.linalg.norm(raw, axis=1) - 1.0).max() > 1e-3
    chunked = embedding.write_embeddings(text_run, sentences, str(tmp_path / f"chunked{suffix}"), chunk_size=3)
    assert chunked["count"] == 4
    np.testing.assert_allclose(embedding.read_embeddings(chunked["out"])[1], vectors, atol=1e-6)


def test_text_export_embeds_as_the_run(text_run, tmp_path):
    target = str(tmp_path / "export")
    assert cli.main(["export", "--run", text_run, "--to", target]) == 0
    ids, sentences = _sentence_file(tmp_path / "in.txt")
    for model in (target, os.path.join(target, "1")):  # the model folder (latest version) or a version folder
        got_ids, vectors = embedding.embed(model, str(tmp_path / "in.txt"), batch_size=3)
        run = keras.saving.load_model(os.path.join(text_run, "model.keras"))
        assert got_ids == ids
        np.testing.assert_allclose(vectors, run.encode(sentences), atol=1e-5)


def _image_folder(root, images):
    paths = []
    for i, image in enumerate(images):
        folder = root / ("shirts" if i % 2 else "shoes") / ("deep" if i % 3 == 0 else "")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0]).save(folder / f"{i:02d}.png")
        paths.append(os.path.relpath(folder / f"{i:02d}.png", root))
    (root / "notes.txt").write_text("not an image\n")
    return paths


@pytest.mark.parametrize("suffix", [".npy", ".parquet"])
def test_image_embeddings_equal_the_encoders_own_ids_aligned(tiny_run_dir, tmp_path, suffix):
    images = data.load_data("fashion_mnist_subset").x_test[:10]
    paths = _image_folder(tmp_path / "images", images)
    out = str(tmp_path / f"images{suffix}")
    assert cli.main(["embed", "--model", tiny_run_dir, "--input", str(tmp_path / "images"), "--out", out]) == 0
    ids, vectors = embedding.read_embeddings(out)
    model, _ = runs.load_run(tiny_run_dir)
    own = model.encoder.predict(images / 255.0, verbose=0)
    order = np.argsort(paths)  # the folder is read in sorted path order
    assert ids == sorted(paths)
    np.testing.assert_allclose(vectors, (own / np.linalg.norm(own, axis=1, keepdims=True))[order], atol=1e-5)

    # The export, and a data spec (npz: train then test rows), give the same vectors.
    target = str(tmp_path / "export")
    assert cli.main(["export", "--run", tiny_run_dir, "--to", target]) == 0
    np.testing.assert_allclose(embedding.embed(target, str(tmp_path / "images"))[1], vectors, atol=1e-5)
    labels = np.zeros(10, "int64")
    np.savez(tmp_path / "d.npz", x_train=images[:6], y_train=labels[:6], x_test=images[6:], y_test=labels[6:])
    spec_ids, spec_vectors = embedding.embed(tiny_run_dir, f"npz:{tmp_path / 'd.npz'}", normalize=False)
    assert spec_ids == [f"train/{i}" for i in range(6)] + [f"test/{i}" for i in range(4)]
    np.testing.assert_allclose(spec_vectors, own, atol=1e-5)


def test_bad_inputs_are_clear_errors(text_run, tiny_run_dir, tmp_path, capsys):
    images = tmp_path / "images"
    _image_folder(images, data.load_data("fashion_mnist_subset").x_test[:2])
    _sentence_file(tmp_path / "in.txt")
    cases = [
        ([text_run, str(images), "x.npy"], "embeds texts, but image folder .* holds images: pass texts"),
        ([tiny_run_dir, str(tmp_path / "in.txt"), "x.npy"], "embeds images, but text file .* holds texts"),
        ([text_run, str(tmp_path / "in.txt"), str(tmp_path / "x.csv")], "write FILE.npy .* or FILE.parquet"),
        ([text_run, str(tmp_path / "nope"), "x.npy"], "'.*nope' is not a text file, a folder of images or a data"),
        ([str(tmp_path / "nomodel"), str(tmp_path / "in.txt"), "x.npy"], "nomodel not found: it is not a finished run"),
    ]
    for (model, inputs, out), message in cases:
        assert cli.main(["embed", "--model", model, "--input", inputs, "--out", out]) == 2
        assert re.search(message, capsys.readouterr().err), message
    (tmp_path / "latin.txt").write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="latin.txt: line 2 is not valid UTF-8"):
        embedding.embed(text_run, str(tmp_path / "latin.txt"))

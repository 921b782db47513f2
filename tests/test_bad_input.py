"""Bad input, one test per case: each checks that the message names the
problem and the fix (issue #10; README "Errors you may meet" lists them)."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from keras_contrastive import cli, recipes, runs
from keras_contrastive.data import load_data
from keras_contrastive.export import SERVING_DEFAULT, embed_images, export_encoder, load_exported
from keras_contrastive.testing import two_replica_strategy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def npz_dir(tmp_path_factory):
    """Small npz data sets: 28x28 grey, 28x28 RGB, 6x6 grey."""
    root = tmp_path_factory.mktemp("npz")
    rng = np.random.default_rng(0)
    for name, shape in (("gray", (28, 28)), ("rgb", (28, 28, 3)), ("tiny", (6, 6))):
        x = rng.integers(0, 256, size=(48, *shape), dtype=np.uint8)
        y = np.arange(48) % 4
        np.savez(root / f"{name}.npz", x_train=x[:32], y_train=y[:32], x_test=x[32:], y_test=y[32:])
    return root


def _recipe_file(tmp_path, sections):
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(sections) if isinstance(sections, dict) else sections)
    return str(path)


def _cli_error(capsys, *args):
    """Runs the CLI in this process; returns its message, checking exit status 2."""
    assert cli.main([str(a) for a in args]) == 2
    return capsys.readouterr().err


def _train_error(capsys, tmp_path, sections, *extra):
    return _cli_error(capsys, "train", _recipe_file(tmp_path, sections), "--output", tmp_path / "run", *extra)


def _fast(npz, **train):
    return {
        "data": {"source": f"npz:{npz}"},
        "encoder": {"name": "convnet", "width": 4, "stages": 2},
        "train": {"epochs": 1, "batch_size": 8, "steps_per_epoch": 1, **train},
        "evaluate": {"baselines": False, "knn_k": 5},
    }


def _run_dir(path, image_shape):
    """A finished-looking run directory: a small SimCLR model and its recipe."""
    from keras_contrastive.backbones import ConvNet
    from keras_contrastive.models import SimCLR

    path.mkdir(parents=True)
    SimCLR(ConvNet(input_shape=image_shape, width=4, stages=1), projection_dim=8).save(str(path / "model.keras"))
    (path / "recipe.yaml").write_text(recipes.dump(recipes.validate({"export": {"name": "tiny"}})))
    return str(path)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    return load_exported(export_encoder(encoder, tmp_path_factory.mktemp("savedmodels") / "tiny"))


# --- recipes and the command line ---------------------------------------------


def test_bad_input_unknown_recipe_key(tmp_path, capsys):
    message = _train_error(capsys, tmp_path, {"train": {"epoch": 3}})
    assert "unknown recipe key 'train.epoch'" in message and "Did you mean 'epochs'?" in message


def test_bad_input_wrong_type(tmp_path, capsys):
    message = _train_error(capsys, tmp_path, {"train": {"epochs": "ten"}})
    assert "train.epochs: expected an integer, got 'ten' (str)" in message


def test_bad_input_not_a_finite_number(tmp_path, capsys):
    message = _train_error(capsys, tmp_path, "optimizer:\n  learning_rate: .nan\n")
    assert "optimizer.learning_rate: expected a finite number, got nan" in message
    assert "Write a number such as 0.1" in message


def test_bad_input_set_on_a_key_that_does_not_exist(capsys):
    message = _cli_error(capsys, "train", "recipes/quickstart.yaml", "--set", "train.epoch=2")
    assert "--set 'train.epoch=2': unknown recipe key 'train.epoch'" in message
    assert "Did you mean train.epochs?" in message and "Known keys in 'train'" in message


def test_bad_input_unknown_method(tmp_path, capsys):
    message = _train_error(capsys, tmp_path, {"method": {"name": "simclrr"}})
    assert "method.name: Unknown method 'simclrr'" in message and "Registered methods: " in message


def test_bad_input_recipe_file_not_found(tmp_path, capsys):
    message = _cli_error(capsys, "train", tmp_path / "nope.yaml")
    assert "nope.yaml' not found" in message and "Pass a YAML recipe such as recipes/quickstart.yaml" in message


def test_bad_input_recipe_not_utf8(tmp_path, capsys):
    (tmp_path / "latin1.yaml").write_bytes("train:\n  epochs: 2  # café\n".encode("latin-1"))
    message = _cli_error(capsys, "train", tmp_path / "latin1.yaml")
    assert "latin1.yaml: not UTF-8 text (it holds the byte 0xe9)" in message and "Save the recipe as UTF-8" in message


def test_bad_input_batch_of_one(tmp_path, capsys):
    message = _train_error(capsys, tmp_path, {"train": {"batch_size": 1}})
    assert "train.batch_size: expected at least 2" in message and "other examples as negatives" in message


# --- data ----------------------------------------------------------------------


def test_bad_input_missing_data_path(tmp_path, capsys):
    message = _train_error(capsys, tmp_path, {"data": {"path": str(tmp_path / "no_such_dir")}})
    assert f"data.path: '{tmp_path / 'no_such_dir'}' does not exist" in message
    assert "Point it at the data, or set it to null" in message


def test_bad_input_missing_data_file_and_a_fixed_rerun(tmp_path, npz_dir, capsys):
    message = _train_error(capsys, tmp_path, _fast(tmp_path / "missing.npz"))
    assert "missing.npz' not found" in message and "holding x_train, y_train, x_test, y_test" in message
    # The failed run does not block its --output: the corrected recipe gets past the resume check.
    message = _train_error(capsys, tmp_path, _fast(npz_dir / "gray.npz", batch_size=64))
    assert "different recipe" not in message and "lower train.batch_size" in message


def test_bad_input_empty_dataset(tmp_path, capsys):
    x = np.zeros((4, 8, 8), np.uint8)
    np.savez(tmp_path / "empty.npz", x_train=x, y_train=np.zeros(4, int), x_test=x[:0], y_test=np.zeros(0, int))
    message = _train_error(capsys, tmp_path, _fast(tmp_path / "empty.npz"))
    assert "has an empty train or test split (4 train, 0 test images)" in message
    assert "Save at least one image in each of x_train and x_test" in message


def test_bad_input_float_images_outside_0_1(tmp_path):
    x = np.full((4, 8, 8), 3.0, np.float32)
    np.savez(tmp_path / "f.npz", x_train=x, y_train=np.zeros(4, int), x_test=x, y_test=np.zeros(4, int))
    with pytest.raises(ValueError) as info:
        load_data(f"npz:{tmp_path / 'f.npz'}")
    assert "float images must lie in [0, 1]" in str(info.value)
    assert "Scale them to [0, 1] or store them as uint8" in str(info.value)


def _png(path, size=(8, 8)):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, 128).save(path)


def test_bad_input_corrupt_image_in_a_folder(tmp_path):
    for cls in "ab":
        _png(tmp_path / cls / "0.png")
        _png(tmp_path / cls / "1.png")
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(ValueError) as info:
        load_data(f"folder:{tmp_path}")
    assert f"Could not decode image '{tmp_path / 'b' / 'broken.png'}'" in str(info.value)
    assert "Remove or replace the file" in str(info.value)


def test_bad_input_images_of_different_sizes(tmp_path):
    for cls in "ab":
        _png(tmp_path / cls / "0.png")
        _png(tmp_path / cls / "1.png")
    _png(tmp_path / "b" / "big.png", size=(12, 10))
    with pytest.raises(ValueError) as info:
        load_data(f"folder:{tmp_path}")
    assert "big.png' is 12x10" in str(info.value) and "data.image_size in a recipe" in str(info.value)


def test_bad_input_grayscale_data_into_an_rgb_run(tmp_path, npz_dir, capsys):
    run = _run_dir(tmp_path / "run", (28, 28, 3))
    message = _cli_error(capsys, "evaluate", "knn", "--run", run, "--data", f"npz:{npz_dir / 'gray.npz'}")
    assert "has images of shape (28, 28, 1), but the encoder of" in message and "takes (28, 28, 3)" in message
    assert "evaluate on data of the training shape" in message


def test_bad_input_image_smaller_than_the_encoder_needs(tmp_path, npz_dir, capsys):
    sections = _fast(npz_dir / "tiny.npz")
    sections["encoder"]["stages"] = 3
    message = _train_error(capsys, tmp_path, sections)
    assert "ConvNet with stages=3 halves the image 3 times, so it needs images of at least 8x8" in message
    assert "received input_shape=(6, 6, 1)" in message and "Use fewer encoder.stages" in message


# --- training ------------------------------------------------------------------


def test_bad_input_global_batch_not_divisible_by_replicas(tmp_path, npz_dir):
    recipe = recipes.validate(_fast(npz_dir / "gray.npz", batch_size=7))
    with pytest.raises(runs.TrainingError) as info:
        runs.train(recipe, str(tmp_path), strategy=two_replica_strategy(), verbose=0)
    assert "train.batch_size=7 does not divide by the 2 replicas" in str(info.value)
    assert "use a multiple of 2 (for example 6)" in str(info.value)


def test_bad_input_batch_larger_than_the_data(tmp_path, npz_dir, capsys):
    message = _train_error(capsys, tmp_path, _fast(npz_dir / "gray.npz", batch_size=64))
    assert "train.batch_size=64 is larger than the 32 training images" in message
    assert "lower train.batch_size" in message


def test_bad_input_resume_with_a_different_recipe(tmp_path, npz_dir, capsys):
    run = tmp_path / "run"
    (run / "backup").mkdir(parents=True)
    (run / "recipe.yaml").write_text(recipes.dump(recipes.validate({"train": {"seed": 5}})))
    message = _train_error(capsys, tmp_path, _fast(npz_dir / "gray.npz"))
    assert "holds a run of a different recipe" in message
    assert "Resume it with the same recipe and --set values, or train into a new --output directory" in message


def test_bad_input_evaluate_a_run_that_is_not_finished(tmp_path, capsys):
    message = _cli_error(capsys, "evaluate", "linear-probe", "--run", tmp_path)
    assert "is not a finished run" in message and "Train it first with `keras-contrastive train RECIPE" in message


# --- export and serving --------------------------------------------------------


def test_bad_input_export_onto_an_existing_version(tmp_path, capsys):
    run = _run_dir(tmp_path / "run", (8, 8, 1))
    (tmp_path / "savedmodels" / "tiny" / "1").mkdir(parents=True)
    (tmp_path / "savedmodels" / "tiny" / "1" / "saved_model.pb").write_bytes(b"served")
    message = _cli_error(capsys, "export", "--run", run, "--to", tmp_path / "savedmodels" / "tiny", "--version", 1)
    assert f"'{tmp_path / 'savedmodels' / 'tiny' / '1'}' already exists; it was left untouched" in message
    assert "Pass another --version" in message
    assert (tmp_path / "savedmodels" / "tiny" / "1" / "saved_model.pb").read_bytes() == b"served"


def test_bad_input_savedmodel_called_with_the_wrong_dtype(saved_model):
    pixels = np.full((2, 8, 8, 1), 200, np.uint8)
    with pytest.raises(ValueError) as info:
        embed_images(saved_model, pixels)
    assert "takes float32 [batch, 8, 8, 1] in [0, 1]; received uint8 pixels" in str(info.value)
    assert "Pass images.astype('float32') / 255" in str(info.value)
    # A client calling the signature itself (as TF Serving does) gets the same fix from the graph.
    with pytest.raises(tf.errors.InvalidArgumentError, match="divide uint8 pixels by 255"):
        saved_model.signatures[SERVING_DEFAULT](images=tf.constant(pixels, tf.float32))
    good = embed_images(saved_model, pixels.astype("float32") / 255)
    assert good.shape == (2, 4) and np.isfinite(good).all()


def test_bad_input_savedmodel_called_with_the_wrong_shape(saved_model):
    with pytest.raises(ValueError) as info:
        embed_images(saved_model, np.zeros((2, 8, 8, 3), np.float32))
    assert "received shape (2, 8, 8, 3)" in str(info.value)
    assert "Resize the images to 8x8 with 1 channel(s)" in str(info.value)
    with pytest.raises(ValueError, match=r"received one image \(8, 8, 1\)\. Add a batch axis: images\[None\]"):
        embed_images(saved_model, np.zeros((8, 8, 1), np.float32))


# --- text (SimCSE) ---------------------------------------------------------------


def test_bad_input_empty_text_file(tmp_path):
    from keras_contrastive.data.text import load_sentences

    (tmp_path / "empty.txt").write_text("\n   \n\n", encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_sentences(tmp_path / "empty.txt")
    assert f"{tmp_path / 'empty.txt'}: no sentences (the file is empty or has only blank lines)" in str(info.value)
    assert "Put one sentence per line in a UTF-8 text file" in str(info.value)


def test_bad_input_non_utf8_text_file(tmp_path):
    from keras_contrastive.data.text import load_sentences

    (tmp_path / "latin1.txt").write_bytes("a fine line\nun café crème\n".encode("latin-1"))
    with pytest.raises(ValueError) as info:
        load_sentences(tmp_path / "latin1.txt")
    assert f"{tmp_path / 'latin1.txt'}: line 2 is not valid UTF-8 (byte 0xe9 at column 7)" in str(info.value)
    assert "Re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8" in str(info.value)


def test_bad_input_over_long_line_is_truncated_not_an_error(tmp_path):
    # By design (keras_contrastive/data/text.py) a long line is no error: the
    # tokenizer cuts it to max_characters, then to sequence_length tokens.
    from keras_contrastive.data.text import load_sentences
    from keras_contrastive.text.tokenizer import SentenceTokenizer

    (tmp_path / "long.txt").write_text("word " * 200_000 + "\nshort\n", encoding="utf-8")
    sentences = load_sentences(tmp_path / "long.txt")
    assert len(sentences) == 2 and len(sentences[0]) == 999_999
    tokenizer = SentenceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "word"], sequence_length=6)
    ids = tokenizer(tf.constant(sentences)).numpy().tolist()
    assert ids == [[2, 4, 4, 4, 4, 3], [2, 1, 3, 0, 0, 0]]

import doctest
import importlib
import os
import re
import time

import numpy as np
import pytest
from PIL import Image

from keras_contrastive.data import DataSplits, load_data


def _npz(tmp_path, **arrays):
    path = tmp_path / "arrays.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


def _arrays(n_train=6, n_test=4, shape=(5, 5, 3), dtype=np.uint8):
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n_train, *shape)).astype(dtype),
        "y_train": np.arange(n_train) % 3,
        "x_test": rng.integers(0, 256, (n_test, *shape)).astype(dtype),
        "y_test": np.arange(n_test) % 3,
    }


# --- npz -----------------------------------------------------------------------


def test_npz_good(tmp_path):
    arrays = _arrays()
    splits = load_data(_npz(tmp_path, **arrays))
    assert isinstance(splits, DataSplits)
    np.testing.assert_array_equal(splits.x_train, arrays["x_train"])
    assert splits.num_classes == 3 and splits.name == "arrays"
    assert splits.image_shape == (5, 5, 3)


def test_npz_adds_channel_and_converts_unit_floats(tmp_path):
    arrays = _arrays(shape=(4, 4))
    arrays["x_train"] = arrays["x_train"] / 255.0
    splits = load_data(_npz(tmp_path, **arrays))
    assert splits.x_train.shape == (6, 4, 4, 1) and splits.x_train.dtype == np.uint8
    np.testing.assert_array_equal(splits.x_train[..., 0], _arrays(shape=(4, 4))["x_train"])


def test_npz_rejects_floats_outside_unit_range(tmp_path):
    arrays = _arrays()
    arrays["x_test"] = arrays["x_test"].astype(np.float32)  # 0..255 floats
    with pytest.raises(ValueError, match=r"x_test: float images must lie in \[0, 1\]"):
        load_data(_npz(tmp_path, **arrays))


def test_npz_missing_key_names_it_and_keys_found(tmp_path):
    arrays = _arrays()
    del arrays["y_test"]
    with pytest.raises(ValueError, match=r"no array 'y_test'.*keys found: \['x_test', "):
        load_data(_npz(tmp_path, **arrays))


def test_npz_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_data(f"npz:{tmp_path / 'nope.npz'}")


def test_npz_empty_split(tmp_path):
    arrays = _arrays(n_test=0)
    with pytest.raises(ValueError, match="empty"):
        load_data(_npz(tmp_path, **arrays))


# --- folder --------------------------------------------------------------------


def _image(path, size=(6, 4), value=0, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 255 - value, 7)
    Image.new(mode, size, color).save(path)


def test_folder_train_test_layout(tmp_path):
    for split, n in (("train", 3), ("test", 1)):
        for label, cls in enumerate(["cat", "dog"]):
            for i in range(n):
                _image(tmp_path / split / cls / f"{i}.png", value=10 * label + i)
    splits = load_data(f"folder:{tmp_path}")
    assert splits.x_train.shape == (6, 4, 6, 3) and splits.x_test.shape == (2, 4, 6, 3)
    assert splits.class_names == ("cat", "dog") and splits.num_classes == 2
    # Labels match the folder an image came from (red channel = 10 * label + i).
    np.testing.assert_array_equal(splits.x_train[:, 0, 0, 0] // 10, splits.y_train)
    assert splits.y_test.tolist() == [0, 1]


def test_folder_auto_split_is_the_streaming_hash_split_and_deterministic(tmp_path):
    from keras_contrastive.data.image_source import _hash_fraction

    for label, cls in enumerate(["a", "b", "c"]):
        for i in range(10):
            _image(tmp_path / cls / f"{i:02d}.png", value=10 * label + i, mode="L")
    splits = load_data(f"folder:{tmp_path}")
    # The split training streams: a file is a test file when the hash of its relative path is < 0.2.
    held = sorted(10 * label + i for label, cls in enumerate("abc") for i in range(10)
                  if _hash_fraction(f"{cls}/{i:02d}.png", 0) < 0.2)  # fmt: skip
    assert sorted(splits.x_test[:, 2, 2, 0].tolist()) == held and 0 < len(held) < 30
    assert splits.x_train.shape == (30 - len(held), 4, 6, 1) and splits.x_test.shape == (len(held), 4, 6, 1)
    again = load_data(f"folder:{tmp_path}")
    np.testing.assert_array_equal(splits.x_test, again.x_test)
    other = load_data(f"folder:{tmp_path}", seed=1)
    assert not np.array_equal(splits.x_test, other.x_test)
    # Every image lands in exactly one split, with its class's label.
    values = np.concatenate([splits.x_train, splits.x_test])[:, 2, 2, 0]
    assert sorted(values.tolist()) == list(range(30))
    np.testing.assert_array_equal(splits.x_train[:, 0, 0, 0] // 10, splits.y_train)
    np.testing.assert_array_equal(splits.x_test[:, 0, 0, 0] // 10, splits.y_test)


def test_folder_unlabeled_or_without_test_files_is_named(tmp_path):
    _image(tmp_path / "loose" / "0.png")
    with pytest.raises(ValueError, match="loose.*has no class sub-folders"):
        load_data(f"folder:{tmp_path / 'loose'}")
    _image(tmp_path / "one" / "a" / "0.png")
    with pytest.raises(ValueError, match="no image fell in the test split"):
        load_data(f"folder:{tmp_path / 'one'}", test_fraction=0.01)


def test_folder_reads_jpeg_and_mixed_modes_as_rgb(tmp_path):
    _image(tmp_path / "train" / "a" / "0.jpeg", value=200, mode="RGB")
    _image(tmp_path / "train" / "a" / "1.JPG", value=100, mode="L")
    _image(tmp_path / "train" / "b" / "0.png", value=50, mode="L")
    _image(tmp_path / "test" / "b" / "1.png", value=60, mode="L")
    splits = load_data(f"folder:{tmp_path}")
    assert splits.image_shape == (4, 6, 3)
    x = np.concatenate([splits.x_train, splits.x_test]).astype(int)
    assert x[:, 1, 1, 1].max() == 100  # the grey images, repeated over RGB
    assert any(abs(v - 200) <= 3 for v in x[:, 1, 1, 0])  # JPEG decoded


def test_folder_corrupt_file_is_named(tmp_path):
    _image(tmp_path / "a" / "0.png")
    _image(tmp_path / "b" / "0.png")
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match=r"broken\.png.*Remove or replace"):
        load_data(f"folder:{tmp_path}")


def test_folder_mismatched_sizes_names_two_files_and_fix(tmp_path):
    _image(tmp_path / "a" / "0.png", size=(6, 4))
    _image(tmp_path / "a" / "1.png", size=(6, 4))
    _image(tmp_path / "b" / "big.png", size=(8, 8))
    with pytest.raises(ValueError) as info:
        load_data(f"folder:{tmp_path}")
    message = str(info.value)
    assert re.search(r"[01]\.png' is 6x4", message)
    assert "big.png" in message and "8x8" in message and "image_size=" in message
    splits = load_data(f"folder:{tmp_path}", image_size=(5, 7), test_fraction=0.5)  # a/0.png held out
    assert splits.image_shape == (5, 7, 3)


def test_folder_empty_and_missing(tmp_path):
    with pytest.raises(ValueError, match=f"{tmp_path}.*holds no image"):
        load_data(f"folder:{tmp_path}")
    (tmp_path / "cls").mkdir()
    (tmp_path / "cls" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"cls.*holds no image"):
        load_data(f"folder:{tmp_path}")
    with pytest.raises(FileNotFoundError, match="missing_dir"):
        load_data(f"folder:{tmp_path / 'missing_dir'}")


def test_folder_train_without_test(tmp_path):
    _image(tmp_path / "train" / "a" / "0.png")
    with pytest.raises(ValueError, match="train/ sub-folder but no test/"):
        load_data(f"folder:{tmp_path}")


# --- tfds, fashion_mnist, errors ---------------------------------------------------


def test_tfds_offline_fails_fast_naming_the_dataset(tmp_path):
    start = time.monotonic()
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        load_data("tfds:cifar10", data_dir=str(tmp_path))
    assert time.monotonic() - start < 30
    message = str(info.value)
    assert "'cifar10'" in message and "not prepared" in message
    assert "download_and_prepare" in message and "folder:PATH" in message
    assert str(tmp_path) in message


def test_tfds_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="TFDS does not know the dataset 'no_such_ds_x'"):
        load_data("tfds:no_such_ds_x", data_dir=str(tmp_path))


def test_fashion_mnist_subset_spec():
    splits = load_data("fashion_mnist_subset")
    assert splits.x_train.shape == (11000, 28, 28, 1) and splits.num_classes == 10
    assert splits.class_names[9] == "Ankle boot"


@pytest.mark.skipif(
    not os.path.isdir("/usr/share/datasets/fashion-mnist"),
    reason="Debian package dataset-fashion-mnist is not installed",
)
def test_fashion_mnist_spec():
    splits = load_data("fashion_mnist")
    assert splits.x_test.shape == (10000, 28, 28, 1) and splits.name == "fashion_mnist"


@pytest.mark.parametrize("spec", ["cifar10", "tfds:", "npz", "xyz:data/x.csv"])
def test_unknown_spec_lists_accepted_forms(spec):
    with pytest.raises(ValueError) as info:
        load_data(spec)
    message = str(info.value)
    assert repr(spec) in message
    for form in ("fashion_mnist_subset", "tfds:NAME", "folder:PATH", "npz:PATH"):
        assert form in message


def test_unknown_kwarg_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"does not take \['image_size'\]"):
        load_data("fashion_mnist_subset", image_size=(4, 4))


def test_datasplits_validates():
    x = np.zeros((2, 3, 3, 1), np.uint8)
    y = np.array([0, 1])
    with pytest.raises(ValueError, match="outside"):
        DataSplits(x, y, x, y, num_classes=1, name="t")
    with pytest.raises(ValueError, match="x_test must be a uint8"):
        DataSplits(x, y, x.astype(np.float32), y, num_classes=2, name="t")
    with pytest.raises(ValueError, match="1 or 3 channels"):
        DataSplits(np.zeros((2, 3, 3, 2), np.uint8), y, x, y, num_classes=2, name="t")


def test_docstring_examples_run():
    for name in ("data_splits", "fashion_mnist"):
        module = importlib.import_module(f"keras_contrastive.data.{name}")
        if name == "fashion_mnist" and not os.path.isdir("/usr/share/datasets/fashion-mnist"):
            continue
        results = doctest.testmod(module, verbose=False)
        assert results.attempted > 0 and results.failed == 0, name

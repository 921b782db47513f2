import gzip
import os
from importlib import resources

import numpy as np
import pytest

from keras_contrastive.data import fashion_mnist
from keras_contrastive.data.fashion_mnist import (
    SUBSET_FILENAME,
    load_fashion_mnist,
    load_fashion_mnist_subset,
)
from keras_contrastive.data.idx import write_idx

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
needs_debian = pytest.mark.skipif(
    not os.path.isfile(os.path.join(DEBIAN_DIR, "t10k-labels-idx1-ubyte.gz")),
    reason="Debian package dataset-fashion-mnist is not installed",
)


@pytest.fixture(scope="module")
def full():
    return load_fashion_mnist(DEBIAN_DIR)


def _raw_uint8(name, offset):
    # An independent parse: skip the header bytes, no use of read_idx.
    with gzip.open(os.path.join(DEBIAN_DIR, name)) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


@needs_debian
def test_full_set_shapes_dtypes_and_labels(full):
    (x_train, y_train), (x_test, y_test) = full
    assert x_train.shape == (60000, 28, 28, 1) and x_test.shape == (10000, 28, 28, 1)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert y_train.min() == 0 and y_train.max() == 9
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    # Published first labels of Fashion-MNIST (zalandoresearch README/Keras docs).
    assert y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert y_test[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    np.testing.assert_array_equal(y_test, _raw_uint8("t10k-labels-idx1-ubyte.gz", 8))
    raw_images = _raw_uint8("t10k-images-idx3-ubyte.gz", 16).reshape(10000, 28, 28)
    np.testing.assert_array_equal(x_test[..., 0], raw_images)


def _write_fake_set(folder, n_train=6, n_test=4, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(
            folder / f"{prefix}-images-idx3-ubyte{ext}",
            rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
        )
        write_idx(
            folder / f"{prefix}-labels-idx1-ubyte{ext}",
            (np.arange(n) % 10).astype(np.uint8),
        )


@pytest.mark.parametrize("gz", [True, False])
def test_explicit_path_is_used_first(tmp_path, gz):
    _write_fake_set(tmp_path / "fm", gz=gz)
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(str(tmp_path / "fm"))
    assert x_train.shape == (6, 28, 28, 1) and x_test.shape == (4, 28, 28, 1)
    assert y_test.tolist() == [0, 1, 2, 3]


def test_search_order_then_defaults(tmp_path, monkeypatch):
    _write_fake_set(tmp_path / "cache", n_train=3)
    _write_fake_set(tmp_path / "debian", n_train=5)
    monkeypatch.setattr(
        fashion_mnist,
        "default_search_dirs",
        lambda: [str(tmp_path / "cache"), str(tmp_path / "debian")],
    )
    assert len(load_fashion_mnist()[0][0]) == 3
    with pytest.warns(UserWarning, match="not found in path="):
        assert len(load_fashion_mnist(str(tmp_path / "nowhere"))[0][0]) == 3


def test_keras_cache_is_searched(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert fashion_mnist.default_search_dirs()[0] == str(tmp_path / "kh" / "datasets" / "fashion-mnist")
    _write_fake_set(tmp_path / "kh" / "datasets" / "fashion-mnist", n_train=2)
    assert len(load_fashion_mnist()[0][0]) == 2


def test_missing_files_lists_places_and_fixes(tmp_path, monkeypatch):
    searched = [str(tmp_path / "cache"), str(tmp_path / "usr")]
    monkeypatch.setattr(fashion_mnist, "default_search_dirs", lambda: searched)
    # An incomplete set does not count as found.
    _write_fake_set(tmp_path / "cache")
    os.remove(tmp_path / "cache" / "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist(str(tmp_path / "nonexistent"))
    message = str(info.value)
    for place in [str(tmp_path / "nonexistent"), *searched]:
        assert place in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "path=" in message
    assert "fashion_mnist_subset" in message


def test_corrupt_file_is_named(tmp_path):
    _write_fake_set(tmp_path / "fm")
    bad = tmp_path / "fm" / "train-labels-idx1-ubyte.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\xff\xff\xff\xff" + b"\x00" * 10)
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte.gz"):
        load_fashion_mnist(str(tmp_path / "fm"))


def test_mismatched_counts_are_named(tmp_path):
    _write_fake_set(tmp_path / "fm")
    write_idx(tmp_path / "fm" / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz.*does not match"):
        load_fashion_mnist(str(tmp_path / "fm"))


# --- embedded subset ---------------------------------------------------------


@pytest.fixture(scope="module")
def subset():
    return load_fashion_mnist_subset(return_indices=True)


def test_subset_file_is_at_most_5_mb():
    resource = resources.files("keras_contrastive.data") / "assets" / SUBSET_FILENAME
    assert len(resource.read_bytes()) <= 5_000_000
    licence = resources.files("keras_contrastive.data") / "assets"
    assert "Zalando SE" in (licence / "FASHION_MNIST_LICENSE.txt").read_text("utf-8")


def test_subset_shapes_and_balance(subset):
    (x_train, y_train), (x_test, y_test), (i_train, i_test) = subset
    assert x_train.shape == (11000, 28, 28, 1) and x_test.shape == (2000, 28, 28, 1)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert np.bincount(y_train, minlength=10).tolist() == [1100] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [200] * 10
    # Original order, no duplicates.
    assert np.all(np.diff(i_train) > 0) and np.all(np.diff(i_test) > 0)
    assert 0 <= i_train.min() and i_train.max() < 60000 and i_test.max() < 10000


def test_plain_loader_matches_indexed_loader(subset):
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist_subset()
    np.testing.assert_array_equal(x_train, subset[0][0])
    np.testing.assert_array_equal(y_test, subset[1][1])


@needs_debian
def test_subset_images_are_genuine_rows(subset, full):
    (x_train, y_train), (x_test, y_test), (i_train, i_test) = subset
    (fx_train, fy_train), (fx_test, fy_test) = full
    # Search the first 5 subset images in the full set, without the indices.
    flat = fx_train.reshape(60000, -1)
    for k in range(5):
        hits = np.flatnonzero((flat == x_train[k].reshape(-1)).all(axis=1))
        assert i_train[k] in hits
        assert fy_train[hits[0]] == y_train[k]
    # And all of them at their recorded positions, with their labels.
    np.testing.assert_array_equal(x_train, fx_train[i_train])
    np.testing.assert_array_equal(y_train, fy_train[i_train])
    np.testing.assert_array_equal(x_test, fx_test[i_test])
    np.testing.assert_array_equal(y_test, fy_test[i_test])

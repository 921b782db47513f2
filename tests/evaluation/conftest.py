import functools
import gzip
import types

import numpy as np
import pytest

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path, count):
    """The first `count` items of a gzipped IDX file (ubyte data only)."""
    with gzip.open(path, "rb") as f:
        header = f.read(4)
        ndim = header[3]
        dims = [int.from_bytes(f.read(4), "big") for _ in range(ndim)]
        item_size = int(np.prod(dims[1:], dtype=np.int64))
        data = f.read(count * item_size)
    return np.frombuffer(data, dtype=np.uint8).reshape([count] + dims[1:])


@pytest.fixture(scope="session")
def fashion_mnist_small():
    """600 train and 200 test Fashion-MNIST images, uint8 [N, 28, 28, 1]."""
    root = FASHION_MNIST_DIR
    x_train = read_idx(f"{root}/train-images-idx3-ubyte.gz", 600)[..., None]
    y_train = read_idx(f"{root}/train-labels-idx1-ubyte.gz", 600)
    x_test = read_idx(f"{root}/t10k-images-idx3-ubyte.gz", 200)[..., None]
    y_test = read_idx(f"{root}/t10k-labels-idx1-ubyte.gz", 200)
    return types.SimpleNamespace(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)


@pytest.fixture(scope="session")
def make_tiny_encoder(make_tiny_encoder):
    """The root `tiny_encoder`, 8 filters with stride 2, 16 features, zero biases (these tests' expected values)."""
    return functools.partial(make_tiny_encoder, feature_dim=16, filters=8, strides=2, biases=None)

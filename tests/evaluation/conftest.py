import gzip
import types

import keras
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


def tiny_encoder(input_shape, seed=0, feature_dim=16):
    """Conv2D + GlobalAveragePooling + Dense with seeded initialisers."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(
                8,
                3,
                strides=2,
                activation="relu",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            ),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(
                feature_dim,
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
            ),
        ]
    )


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
def make_tiny_encoder():
    return tiny_encoder

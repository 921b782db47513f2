"""Fashion-MNIST, read from its original IDX files or from the embedded subset.

Fashion-MNIST: Xiao, Rasul and Vollgraf, 2017,
https://arxiv.org/abs/1708.07747. MIT licensed, (c) 2017 Zalando SE.
"""

import io
import lzma
import os
import warnings
from importlib import resources

import numpy as np

from keras_contrastive.data.idx import read_idx

FASHION_MNIST_CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
SUBSET_FILENAME = "fashion_mnist_subset.npz.xz"


def default_search_dirs():
    """The folders searched for the IDX files when no `path` is given.

    Returns:
        A list of str: the Keras dataset cache
        (`$KERAS_HOME/datasets/fashion-mnist`, `~/.keras/...` by default) and
        the folder of the Debian package `dataset-fashion-mnist`.
    """
    keras_home = os.environ.get("KERAS_HOME", os.path.join("~", ".keras"))
    return [
        os.path.expanduser(os.path.join(keras_home, "datasets", "fashion-mnist")),
        "/usr/share/datasets/fashion-mnist",
    ]


def _find_files(folder):
    """Returns {key: file path} if all four files are in `folder`, else None."""
    found = {}
    for key, stem in _FILES.items():
        for name in (stem + ".gz", stem):
            candidate = os.path.join(folder, name)
            if os.path.isfile(candidate):
                found[key] = candidate
                break
        else:
            return None
    return found


def load_fashion_mnist(path=None):
    """Loads the full Fashion-MNIST (60,000 train and 10,000 test images).

    The original IDX files (gzipped or not) are looked for in `path`, then in
    the Keras cache `~/.keras/datasets/fashion-mnist`, then in
    `/usr/share/datasets/fashion-mnist` (Debian package
    `dataset-fashion-mnist`). Nothing is downloaded.

    Args:
        path: str or None. A folder holding `train-images-idx3-ubyte.gz`,
            `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz` and
            `t10k-labels-idx1-ubyte.gz`. Defaults to `None` (search the default
            folders only).

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images of shape
        `[N, 28, 28, 1]` and int64 labels in `[0, 10)`.

    Example:

    >>> (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    >>> x_train.shape, x_test.shape
    ((60000, 28, 28, 1), (10000, 28, 28, 1))
    """
    places = ([os.fspath(path)] if path is not None else []) + default_search_dirs()
    for i, place in enumerate(places):
        files = _find_files(place)
        if files is None:
            continue
        if path is not None and i > 0:
            warnings.warn(
                f"Fashion-MNIST files not found in path={os.fspath(path)!r}; using {place!r} instead.",
                stacklevel=2,
            )
        arrays = {key: read_idx(file) for key, file in files.items()}
        return _check_and_shape(arrays, files)
    listed = "\n".join(f"  - {place}" for place in places)
    names = ", ".join(stem + ".gz" for stem in _FILES.values())
    raise FileNotFoundError(
        "Fashion-MNIST not found. Looked for the four IDX files "
        f"({names}) in:\n{listed}\n"
        "Fixes: install them with `apt-get install dataset-fashion-mnist` "
        "(into /usr/share/datasets/fashion-mnist), or pass "
        "`path=` a folder holding them, or use the embedded subset "
        "(`load_fashion_mnist_subset()` or "
        "`load_data('fashion_mnist_subset')`)."
    )


def _check_and_shape(arrays, files):
    for split in ("train", "test"):
        x, y = arrays["x_" + split], arrays["y_" + split]
        x_file, y_file = files["x_" + split], files["y_" + split]
        if x.ndim != 3 or x.dtype != np.uint8:
            raise ValueError(
                f"{x_file!r} should hold uint8 images of shape [N, H, W]; it holds "
                f"{x.dtype} of shape {x.shape}. Check that the files are not swapped."
            )
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(
                f"{y_file!r} holds labels of shape {y.shape}, which does not match "
                f"the {len(x)} images of {x_file!r}. Check that the files belong "
                "together."
            )
        arrays["x_" + split] = x[..., None]
        arrays["y_" + split] = y.astype(np.int64)
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_fashion_mnist_subset(return_indices=False):
    """Loads the class-balanced subset of Fashion-MNIST shipped in the package.

    The subset (made by `scripts/make_fashion_mnist_subset.py`) has 1,100
    train images per class drawn from the 60,000 train images and 200 test
    images per class drawn from the 10,000 test images, in their original
    order. It needs no download and no Debian package.

    Args:
        return_indices: bool. Also return the positions of the images in the
            full train and test sets. Defaults to `False`.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images of shape
        `[N, 28, 28, 1]` and int64 labels in `[0, 10)`; with
        `return_indices=True`, also `(train_indices, test_indices)`.
    """
    resource = resources.files("keras_contrastive.data") / "assets" / SUBSET_FILENAME
    try:
        raw = lzma.decompress(resource.read_bytes())
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, lzma.LZMAError, ValueError) as e:
        raise OSError(
            f"Could not read the embedded Fashion-MNIST subset {str(resource)!r} "
            f"({e}). Reinstall keras-contrastive, or regenerate the file with "
            "`python scripts/make_fashion_mnist_subset.py`."
        ) from e
    out = []
    for split in ("train", "test"):
        # Stored sorted by class (it compresses better); restore original order.
        order = np.argsort(arrays[f"{split}_indices"], kind="stable")
        out.append(
            (
                arrays[f"x_{split}"][order][..., None],
                arrays[f"y_{split}"][order].astype(np.int64),
                arrays[f"{split}_indices"][order].astype(np.int64),
            )
        )
    (x_train, y_train, i_train), (x_test, y_test, i_test) = out
    if return_indices:
        return (x_train, y_train), (x_test, y_test), (i_train, i_test)
    return (x_train, y_train), (x_test, y_test)

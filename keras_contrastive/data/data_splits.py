"""`DataSplits` and `load_data`: every image source (`data.sources`) as arrays in memory."""

import dataclasses
import os

import numpy as np

from keras_contrastive.data import sources
from keras_contrastive.data.fashion_mnist import (
    FASHION_MNIST_CLASS_NAMES,
    load_fashion_mnist,
    load_fashion_mnist_subset,
)


@dataclasses.dataclass
class DataSplits:
    """Train and test images with integer labels.

    Args:
        x_train: numpy array. uint8 train images `[N, H, W, C]`, C = 1 or 3.
        y_train: numpy array. int train labels `[N]` in `[0, num_classes)`.
        x_test: numpy array. uint8 test images `[M, H, W, C]`.
        y_test: numpy array. int test labels `[M]`.
        num_classes: int. Number of classes.
        name: str. Name of the data set.
        class_names: tuple of str or None. Name of each class, if known.
            Defaults to `None`.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str
    class_names: tuple = None

    def __post_init__(self):
        for split in ("train", "test"):
            x, y = getattr(self, "x_" + split), getattr(self, "y_" + split)
            if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4:
                raise ValueError(
                    f"DataSplits {self.name!r}: x_{split} must be a uint8 numpy array "
                    f"[N, H, W, C]; received {getattr(x, 'dtype', type(x))} of shape "
                    f"{getattr(x, 'shape', None)}."
                )
            if x.shape[-1] not in (1, 3):
                raise ValueError(
                    f"DataSplits {self.name!r}: x_{split} must have 1 or 3 channels; received shape {x.shape}."
                )
            if not isinstance(y, np.ndarray) or y.ndim != 1 or y.dtype.kind not in "iu":
                raise ValueError(
                    f"DataSplits {self.name!r}: y_{split} must be a 1-D integer numpy "
                    f"array; received {getattr(y, 'dtype', type(y))} of shape "
                    f"{getattr(y, 'shape', None)}."
                )
            if len(x) != len(y):
                raise ValueError(
                    f"DataSplits {self.name!r}: {len(x)} images in x_{split} but {len(y)} labels in y_{split}."
                )
            if len(x) == 0:
                raise ValueError(
                    f"DataSplits {self.name!r}: the {split} split is empty. Provide at least one image per split."
                )
            if y.min() < 0 or y.max() >= self.num_classes:
                raise ValueError(
                    f"DataSplits {self.name!r}: y_{split} has labels in "
                    f"[{y.min()}, {y.max()}], outside "
                    f"[0, num_classes={self.num_classes})."
                )
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"DataSplits {self.name!r}: train images {self.x_train.shape[1:]} and "
                f"test images {self.x_test.shape[1:]} differ in shape."
            )

    @property
    def image_shape(self):
        """`(H, W, C)` of the images."""
        return tuple(self.x_train.shape[1:])


def load_data(spec, **kwargs):
    """Loads an image data set as `DataSplits`, without any download.

    `spec` is any image source of `data.sources` (`data.sources.help_text("image")`):

    - `"fashion_mnist"`: the full Fashion-MNIST from its IDX files (see
      `load_fashion_mnist`); `path=None`.
    - `"fashion_mnist_subset"`: the subset embedded in the package.
    - `"npz:PATH"`: a `.npz` with `x_train`, `y_train`, `x_test`, `y_test`;
      images uint8 or float in `[0, 1]`, `[N, H, W]` or `[N, H, W, C]`.
    - a streamed source (`folder:PATH`, `tfrecord:GLOB`, `tfds:NAME`, ...):
      listed as training lists it (`open_image_source`: the same files, labels
      and train / test split), then every image decoded into memory. Its
      classes must be labelled and it must have a test split.
      `image_size=None` (`(H, W)` to resize every image to), `seed=0`,
      `test_fraction=0.2`, and for `tfds:` `data_dir=None`.

    Args:
        spec: str. Which data set, in one of the forms above.
        **kwargs: the keyword arguments of that form.

    Returns:
        A `DataSplits`.

    Example:

    >>> splits = load_data("fashion_mnist_subset")
    >>> splits.x_train.shape, splits.num_classes
    ((11000, 28, 28, 1), 10)
    """
    parsed = sources.parse(spec, "image")
    kind = parsed.kind
    _check_kwargs(parsed.text, kwargs, kind.options)
    if kind.in_memory:
        return kind.load(parsed, **kwargs)
    return _read_streamed(parsed, **kwargs)


def fashion_mnist_splits(name, path=None):
    """The `DataSplits` of `fashion_mnist` (from the IDX files at `path`) or `fashion_mnist_subset`."""
    if name == "fashion_mnist":
        (x_train, y_train), (x_test, y_test) = load_fashion_mnist(path)
    else:
        (x_train, y_train), (x_test, y_test) = load_fashion_mnist_subset()
    return DataSplits(x_train, y_train, x_test, y_test, 10, name, FASHION_MNIST_CLASS_NAMES)


def _check_kwargs(spec, kwargs, allowed):
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(
            f"load_data({spec!r}) does not take {unknown}; it takes {list(allowed) or 'no keyword arguments'}."
        )


# --- streamed sources, read into memory ----------------------------------------


def _read_streamed(spec, image_size=None, seed=0, test_fraction=0.2, data_dir=None):
    """A streamed source listed by `open_image_source` (its files, labels and split), its images decoded."""
    from keras_contrastive.data.image_source import open_image_source

    if image_size is not None:
        image_size = tuple(int(v) for v in image_size)
        if len(image_size) != 2 or min(image_size) < 1:
            raise ValueError(f"image_size must be (H, W) > 0; received {image_size}.")
    # The listing's own size and channels are not needed: every image is decoded below (size 1x1, 3 channels
    # skip peeking at the first images).
    source = open_image_source(
        spec, image_size=(1, 1), channels=3, data_dir=data_dir, test_fraction=test_fraction, seed=seed
    )
    if not source.labelled:
        raise ValueError(
            f"{source.name} has no class sub-folders (no labels), so it cannot be read as labelled train and test "
            "images. Lay it out as PATH/<class name>/<image>.png (optionally under PATH/train and PATH/test)."
        )
    splits = [s for s in (source.train, source.test) if s is not None]
    items = [
        [(item.numpy(), int(label), name.numpy().decode("utf-8", "replace")) for item, label, name in s.records()]
        for s in splits
    ]
    # A listing's records are file paths, a TFRecord's or TFDS's the encoded bytes.
    files = [i.decode("utf-8") if s.kind == "files" else i for s, rows in zip(splits, items) for i, _, _ in rows]
    names = [name for rows in items for _, _, name in rows]
    x = read_images(files, image_size, names)  # a file that does not decode, or sizes that differ: named first
    if source.test is None:
        raise ValueError(
            f"{source.name}: no image fell in the test split. Add images, raise test_fraction, or provide train/ "
            "and test/ sub-folders."
        )
    y = np.array([label for rows in items for _, label, _ in rows], dtype=np.int64)
    n = len(items[0])
    root = spec.argument
    name = os.path.basename(os.path.normpath(root)) if spec.kind.prefix == "folder" else root
    return DataSplits(x[:n], y[:n], x[n:], y[n:], int(source.num_classes), name, source.class_names)


# --- npz:PATH ----------------------------------------------------------------


def _to_uint8_images(x, what):
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(
            f"{what}: expected images [N, H, W] or [N, H, W, C] with C = 1 or 3; received shape {x.shape}."
        )
    if x.dtype == np.uint8:
        return x
    if x.size == 0:
        return x.astype(np.uint8)
    lo, hi = x.min(), x.max()
    if x.dtype.kind == "f":
        if lo < 0.0 or hi > 1.0 or not np.isfinite(x).all():
            raise ValueError(
                f"{what}: float images must lie in [0, 1]; received values in "
                f"[{lo}, {hi}]. Scale them to [0, 1] or store them as uint8."
            )
        return np.round(x * 255.0).astype(np.uint8)
    if x.dtype.kind in "iu" and lo >= 0 and hi <= 255:
        return x.astype(np.uint8)
    raise ValueError(
        f"{what}: images must be uint8, or float in [0, 1]; received {x.dtype} with values in [{lo}, {hi}]."
    )


def _to_labels(y, what):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"{what}: labels must be a 1-D integer array; received {y.dtype} of shape {y.shape}.")
    if y.size and y.min() < 0:
        raise ValueError(f"{what}: labels must be >= 0; found {y.min()}.")
    return y.astype(np.int64)


def load_npz(path):
    """The `DataSplits` of a `.npz` holding `x_train`, `y_train`, `x_test`, `y_test`."""
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"npz file {path!r} not found. Pass 'npz:PATH' with the path of a .npz "
            "holding x_train, y_train, x_test, y_test (e.g. made with np.savez)."
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            found = sorted(npz.files)
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in found]
            if missing:
                raise ValueError(
                    f"npz file {path!r} has no array {missing[0]!r} (missing: "
                    f"{missing}); keys found: {found}. Save it with "
                    "np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...)."
                )
            arrays = {k: npz[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, EOFError) as e:
        raise ValueError(f"Could not read npz file {path!r} ({e}).") from e
    out = {}
    for split in ("train", "test"):
        out["x_" + split] = _to_uint8_images(arrays["x_" + split], f"{path}: x_{split}")
        out["y_" + split] = _to_labels(arrays["y_" + split], f"{path}: y_{split}")
    if len(out["y_train"]) == 0 or len(out["y_test"]) == 0:
        raise ValueError(
            f"npz file {path!r} has an empty train or test split ({len(out['y_train'])} train, "
            f"{len(out['y_test'])} test images). Save at least one image in each of x_train and x_test."
        )
    num_classes = int(max(out["y_train"].max(), out["y_test"].max())) + 1
    name = os.path.splitext(os.path.basename(path))[0]
    return DataSplits(num_classes=num_classes, name=name, **out)


# --- decoding ---------------------------------------------------------------


def read_images(files, image_size=None, names=None):
    """uint8 `[N, H, W, C]` of `files` (paths, or encoded bytes named by `names`): grey images as one channel
    unless any image has colour (then all RGB), each resized to `image_size` `(H, W)` if given, else all of
    one size (an error names two that differ)."""
    import io

    from PIL import Image

    images, sizes, modes = [], {}, set()
    for i, item in enumerate(files):
        path = names[i] if names is not None else item
        try:
            with Image.open(io.BytesIO(item) if isinstance(item, bytes) else item) as im:
                im.load()
                gray = im.mode in ("1", "L", "LA", "I", "I;16", "F")
                im = im.convert("L" if gray else "RGB")
                if image_size is not None:
                    h, w = image_size
                    im = im.resize((w, h), Image.BILINEAR)
                array = np.asarray(im, dtype=np.uint8)
        except (OSError, ValueError, SyntaxError) as e:
            raise ValueError(f"Could not decode image {path!r} ({e}). Remove or replace the file.") from e
        sizes.setdefault(array.shape[:2], path)
        if len(sizes) > 1:
            (s1, p1), (s2, p2) = list(sizes.items())[:2]
            raise ValueError(
                f"Images differ in size: {p1!r} is {s1[1]}x{s1[0]} (WxH) but {p2!r} is "
                f"{s2[1]}x{s2[0]}. Pass image_size=(H, W) (data.image_size in a recipe) to resize them all."
            )
        modes.add(array.ndim)
        images.append(array)
    # Any colour image makes the whole set RGB; grey images are then repeated.
    if 3 in modes:
        images = [a if a.ndim == 3 else np.repeat(a[..., None], 3, axis=-1) for a in images]
        return np.stack(images)
    return np.stack(images)[..., None]

"""`DataSplits` and `load_data`: one entry point for every image source."""

import dataclasses
import os

import numpy as np

from keras_contrastive.data.fashion_mnist import (
    FASHION_MNIST_CLASS_NAMES,
    load_fashion_mnist,
    load_fashion_mnist_subset,
)

ACCEPTED_SPECS = (
    "'fashion_mnist' (full set, from the IDX files; optional path=)",
    "'fashion_mnist_subset' (embedded in the package)",
    "'tfds:NAME' (an already prepared TFDS dataset; optional data_dir=)",
    "'folder:PATH' (one sub-folder of PNG/JPEG images per class)",
    "'npz:PATH' (arrays x_train, y_train, x_test, y_test)",
)
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


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

    Accepted `spec`s and their keyword arguments:

    - `"fashion_mnist"`: the full Fashion-MNIST from its IDX files (see
      `load_fashion_mnist`); `path=None`.
    - `"fashion_mnist_subset"`: the subset embedded in the package.
    - `"tfds:NAME"`: a TFDS data set that is already prepared in `data_dir`
      (never downloaded); `data_dir=None`, `train_split="train"`,
      `test_split="test"`.
    - `"folder:PATH"`: `PATH/<class>/<image>.png|jpg`. If `PATH` has `train/`
      and `test/` sub-folders, each is read that way; otherwise a seeded,
      stratified split holds out `test_fraction` of each class.
      `image_size=None` (`(H, W)` to resize every image to), `seed=0`,
      `test_fraction=0.2`.
    - `"npz:PATH"`: a `.npz` with `x_train`, `y_train`, `x_test`, `y_test`;
      images uint8 or float in `[0, 1]`, `[N, H, W]` or `[N, H, W, C]`.

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
    if not isinstance(spec, str):
        raise ValueError(f"spec must be a str; received {spec!r}. {_accepted()}")
    kind, _, arg = spec.partition(":")
    if spec == "fashion_mnist":
        _check_kwargs(spec, kwargs, ("path",))
        (x_train, y_train), (x_test, y_test) = load_fashion_mnist(kwargs.get("path"))
        return DataSplits(
            x_train,
            y_train,
            x_test,
            y_test,
            10,
            "fashion_mnist",
            FASHION_MNIST_CLASS_NAMES,
        )
    if spec == "fashion_mnist_subset":
        _check_kwargs(spec, kwargs, ())
        (x_train, y_train), (x_test, y_test) = load_fashion_mnist_subset()
        return DataSplits(
            x_train,
            y_train,
            x_test,
            y_test,
            10,
            "fashion_mnist_subset",
            FASHION_MNIST_CLASS_NAMES,
        )
    if kind in ("tfds", "folder", "npz") and arg:
        loader, allowed = {
            "tfds": (_load_tfds, ("data_dir", "train_split", "test_split")),
            "folder": (_load_folder, ("image_size", "seed", "test_fraction")),
            "npz": (_load_npz, ()),
        }[kind]
        _check_kwargs(spec, kwargs, allowed)
        return loader(arg, **kwargs)
    raise ValueError(f"Unknown data spec {spec!r}. {_accepted()}")


def _accepted():
    return "Accepted forms: " + "; ".join(ACCEPTED_SPECS) + "."


def _check_kwargs(spec, kwargs, allowed):
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(
            f"load_data({spec!r}) does not take {unknown}; it takes {list(allowed) or 'no keyword arguments'}."
        )


# --- tfds:NAME ---------------------------------------------------------------


def _load_tfds(name, data_dir=None, train_split="train", test_split="test"):
    import tensorflow_datasets as tfds

    how_to = (
        f"To provide it offline: on a machine with internet run "
        f"`tfds.builder({name!r}, data_dir=DIR).download_and_prepare()`, copy DIR "
        "here and pass `data_dir=DIR`; or export the images to a folder "
        "('folder:PATH') or to arrays ('npz:PATH')."
    )
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # DatasetNotFoundError and friends
        raise ValueError(
            f"TFDS does not know the dataset {name!r} ({type(e).__name__}). Check the "
            f"name (see `tfds.list_builders()`). {how_to}"
        ) from None
    if not builder.is_prepared():
        raise FileNotFoundError(
            f"TFDS dataset {name!r} is not prepared in data_dir="
            f"{builder.data_dir_root if data_dir is None else data_dir!r} and "
            f"load_data never downloads. {how_to}"
        )
    splits = {}
    for split in (train_split, test_split):
        if split not in builder.info.splits:
            raise ValueError(
                f"TFDS dataset {name!r} has no split {split!r}; it has "
                f"{sorted(builder.info.splits)}. Pass train_split=/test_split=."
            )
        if builder.info.supervised_keys is None:
            raise ValueError(
                f"TFDS dataset {name!r} has no (image, label) supervised keys, so "
                "load_data cannot read it. Export it to 'folder:PATH' or 'npz:PATH'."
            )
        try:
            x, y = tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True, batch_size=-1))
        except Exception as e:
            raise ValueError(
                f"Could not read split {split!r} of TFDS dataset {name!r} as one "
                f"array ({e}); its images may differ in size. Export it resized to "
                "'folder:PATH' (with image_size=) or 'npz:PATH'."
            ) from e
        splits[split] = (
            _to_uint8_images(x, f"tfds:{name}[{split}] images"),
            np.asarray(y),
        )
    label = builder.info.features[builder.info.supervised_keys[1]]
    num_classes = getattr(label, "num_classes", None)
    class_names = tuple(getattr(label, "names", None) or ()) or None
    (x_train, y_train), (x_test, y_test) = splits[train_split], splits[test_split]
    if num_classes is None:
        num_classes = int(max(y_train.max(), y_test.max())) + 1
    return DataSplits(
        x_train,
        y_train.astype(np.int64),
        x_test,
        y_test.astype(np.int64),
        int(num_classes),
        name,
        class_names,
    )


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


def _load_npz(path):
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


# --- folder:PATH -------------------------------------------------------------


def _list_classes(root):
    """{class name: sorted image paths} for the class sub-folders of `root`."""
    if not os.path.isdir(root):
        raise FileNotFoundError(
            f"Image folder {root!r} not found. Pass 'folder:PATH' with PATH holding one sub-folder of images per class."
        )
    classes = {}
    for entry in sorted(os.listdir(root)):
        sub = os.path.join(root, entry)
        if entry.startswith(".") or not os.path.isdir(sub):
            continue
        files = sorted(
            os.path.join(sub, f)
            for f in os.listdir(sub)
            if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS)
        )
        if not files:
            raise ValueError(
                f"Class folder {sub!r} holds no image ({'/'.join(IMAGE_EXTENSIONS)}). Add images or remove the folder."
            )
        classes[entry] = files
    if not classes:
        raise ValueError(
            f"Image folder {root!r} has no class sub-folders. Lay it out as "
            "PATH/<class name>/<image>.png (optionally under PATH/train and PATH/test)."
        )
    return classes


def _read_images(paths, image_size):
    from PIL import Image

    images, sizes, modes = [], {}, set()
    for path in paths:
        try:
            with Image.open(path) as im:
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


def _load_folder(path, image_size=None, seed=0, test_fraction=0.2):
    if image_size is not None:
        image_size = tuple(int(v) for v in image_size)
        if len(image_size) != 2 or min(image_size) < 1:
            raise ValueError(f"image_size must be (H, W) > 0; received {image_size}.")
    root = os.path.normpath(path)
    has = {s: os.path.isdir(os.path.join(root, s)) for s in ("train", "test")}
    if has["train"] and has["test"]:
        train = _list_classes(os.path.join(root, "train"))
        test = _list_classes(os.path.join(root, "test"))
        unknown = sorted(set(test) - set(train))
        if unknown:
            raise ValueError(
                f"{os.path.join(root, 'test')!r} has classes {unknown} that "
                f"{os.path.join(root, 'train')!r} lacks. Use the same class folders."
            )
        class_names = sorted(train)
        index = {c: i for i, c in enumerate(class_names)}
        train_files = [(f, index[c]) for c in class_names for f in train[c]]
        test_files = [(f, index[c]) for c in sorted(test) for f in test[c]]
    elif has["train"] or has["test"]:
        present, absent = ("train", "test") if has["train"] else ("test", "train")
        raise ValueError(
            f"{root!r} has a {present}/ sub-folder but no {absent}/. Add "
            f"{os.path.join(root, absent)!r}, or put the class folders directly in "
            f"{root!r} for an automatic split."
        )
    else:
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1); received {test_fraction}.")
        classes = _list_classes(root)
        class_names = sorted(classes)
        rng = np.random.default_rng(seed)
        train_files, test_files = [], []
        for label, name in enumerate(class_names):
            files = classes[name]
            order = rng.permutation(len(files))
            n_test = int(round(len(files) * test_fraction))
            n_test = min(max(n_test, 1 if len(files) > 1 else 0), len(files) - 1)
            test_files += [(files[i], label) for i in sorted(order[:n_test])]
            train_files += [(files[i], label) for i in sorted(order[n_test:])]
        if not test_files:
            raise ValueError(
                f"{root!r}: every class has a single image, so nothing is left for "
                "a test split. Add images or provide train/ and test/ sub-folders."
            )
    x = _read_images([f for f, _ in train_files + test_files], image_size)
    n = len(train_files)
    y = np.array([label for _, label in train_files + test_files], dtype=np.int64)
    return DataSplits(
        x[:n],
        y[:n],
        x[n:],
        y[n:],
        len(class_names),
        os.path.basename(root),
        tuple(class_names),
    )

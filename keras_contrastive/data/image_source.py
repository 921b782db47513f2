"""Image sources that stream from disk: `folder:PATH`, `tfrecord:GLOB` and `tfds:NAME`.

`open_image_source(spec, ...)` lists a source without reading its images and returns an `ImageSource`: its
train and test `ImageSplit`s, class names, and the image size and channel count of the views. A split
yields `(encoded image, label, name)` records in a `tf.data` pipeline (`ImageSplit.records`); the decoding,
cropping and views are `data.streaming`'s.

- `folder:PATH`: JPEG, PNG, BMP and GIF files (by extension, any case) under `PATH`. Each sub-folder of
  `PATH` is a class (its images may sit in nested folders); a folder without sub-folders is unlabeled. With
  `PATH/train` and `PATH/test`, each is listed that way; otherwise a test split is drawn by a hash of each
  file's relative path (`test_fraction` of the files, stable when files are added). The listing is written
  to a text file, one `label<TAB>path` per line, as the folder is walked: Python never holds the list, and
  the pipeline reads it with `TextLineDataset`, so neither grows with the folder beyond the file names.
- `tfrecord:GLOB` (or a folder written by `write_shards`): `tf.train.Example`s with `image/encoded` and
  optionally `image/class/label` (int64) and `image/filename`, the convention of TF's ImageNet TFRecords
  (whose labels run 1-1000, 0 being "background": 1001 classes here, one never seen), or TFDS's record
  files' `image`, `label`, `file_name`. A folder holds `train-*` and `test-*` (or `validation-*`) shards and, written by
  `keras-contrastive data shard`, `shards.json` with the counts and class names; a glob is one training
  split (its records are counted once when no `shards.json` says how many there are).
- `tfds:NAME`: an already prepared TFDS data set (`data_dir`), read with its images left encoded
  (`tfds.decode.SkipDecoding`) so the crop comes before the decode. Never downloaded.
"""

import atexit
import contextlib
import dataclasses
import glob
import hashlib
import json
import os
import shutil
import tempfile

import tensorflow as tf

from keras_contrastive.data import sources
from keras_contrastive.data.sources import IMAGE_EXTENSIONS

SHARDS_FILE = "shards.json"
TEST_PREFIXES = ("test", "validation")


class DataError(ValueError):
    """Data that cannot be read as given: the message names the path and the fix."""


@dataclasses.dataclass
class ImageSplit:
    """One split of a streaming source: where its records are and how many there are.

    Args:
        kind: str. `"files"` (a listing of image files), `"tfrecord"` or `"tfds"`.
        num_examples: int. Records in the split.
        num_files: int. Files the records are spread over (the unit of FILE sharding).
        labelled: bool. Whether records carry a class label (else the label is -1).
        location: what `records` reads: the listing file, the shard files, or `(builder, split name)`.
    """

    kind: str
    num_examples: int
    num_files: int
    labelled: bool
    location: object

    def sharding(self, num_shards):
        """`"file"` when each of `num_shards` input pipelines can read its own files, else `"data"`."""
        return "file" if self.num_files >= num_shards else "data"

    def records(self, num_shards=1, index=0, shuffle=False, seed=None, repeat=False, shuffle_buffer=None):
        """A `tf.data.Dataset` of `(source, label, name)`: `source` is what `read` turns into the encoded
        image (a file's path, or the record's bytes), `label` an int32 (-1 without labels), `name` a string
        that names the record in messages.

        Input pipeline `index` of `num_shards` reads its own files when there are enough of them (FILE
        sharding), else every `num_shards`-th record (DATA sharding). Shuffling is of the whole listing for
        files, of the shard order then within `shuffle_buffer` records for TFRecord and TFDS."""
        if self.kind == "files":
            ds = tf.data.TextLineDataset(self.location)
            ds = ds.shard(num_shards, index) if num_shards > 1 else ds
            if shuffle:
                ds = ds.shuffle(self.num_examples, seed=seed, reshuffle_each_iteration=True)
            if repeat:
                ds = ds.repeat()

            def parse(line):
                label, path = tf.unstack(tf.strings.split(line, "\t", maxsplit=1), num=2)
                return path, tf.strings.to_number(label, tf.int32), path

            return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        buffer = int(shuffle_buffer or min(self.num_examples, 2048))
        if self.kind == "tfrecord":
            files = tf.data.Dataset.from_tensor_slices(list(self.location))
            by_file = self.sharding(num_shards) == "file" and num_shards > 1
            if by_file:
                files = files.shard(num_shards, index)
            if shuffle:
                files = files.shuffle(len(self.location), seed=seed, reshuffle_each_iteration=True)
            if repeat:
                files = files.repeat()

            def read_file(path):
                return tf.data.TFRecordDataset(path).enumerate().map(lambda i, r: (r, path, i))

            ds = files.interleave(
                read_file, cycle_length=min(8, len(self.location)), num_parallel_calls=tf.data.AUTOTUNE
            )
            if num_shards > 1 and not by_file:
                ds = ds.shard(num_shards, index)
            if shuffle:
                ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
            return ds.map(_parse_example, num_parallel_calls=tf.data.AUTOTUNE)
        builder, split, image_key, label_key = self.location
        return _tfds_records(builder, split, image_key, label_key, num_shards, index, shuffle, seed, repeat, buffer)

    @property
    def read(self):
        """The function `source -> encoded bytes` of this split's records."""
        return tf.io.read_file if self.kind == "files" else tf.identity


# The keys of TF's ImageNet TFRecords (`image/encoded`, ...) and, second, of TFDS's own record files
# (`image`, `label`, `file_name`): whichever a record holds.
_KEYS = {"image": ("image/encoded", "image"), "label": ("image/class/label", "label"),
         "name": ("image/filename", "file_name")}  # fmt: skip


def _parse_example(record, path, index):
    spec = {}
    for key in _KEYS["image"] + _KEYS["name"]:
        spec[key] = tf.io.FixedLenFeature([], tf.string, default_value="")
    for key in _KEYS["label"]:
        spec[key] = tf.io.FixedLenFeature([], tf.int64, default_value=-1)
    features = tf.io.parse_single_example(record, spec)

    def first(keys, missing):
        value = features[keys[1]]
        return tf.where(features[keys[0]] != missing, features[keys[0]], value)

    name = first(_KEYS["name"], "")
    name = tf.where(tf.strings.length(name) > 0, name, tf.strings.join([path, "#", tf.strings.as_string(index)]))
    label = first(_KEYS["label"], tf.constant(-1, tf.int64))
    return first(_KEYS["image"], ""), tf.cast(label, tf.int32), name


def _tfds_records(builder, split, image_key, label_key, num_shards, index, shuffle, seed, repeat, buffer):
    import tensorflow_datasets as tfds

    shards = builder.info.splits[split].num_shards
    context = None
    if num_shards > 1 and shards >= num_shards:
        context = tf.distribute.InputContext(num_input_pipelines=num_shards, input_pipeline_id=index)
    read_config = tfds.ReadConfig(shuffle_seed=seed, input_context=context, add_tfds_id=True)
    ds = builder.as_dataset(
        split=split,
        shuffle_files=shuffle,
        decoders={image_key: tfds.decode.SkipDecoding()},
        read_config=read_config,
    )
    if num_shards > 1 and context is None:
        ds = ds.shard(num_shards, index)
    if shuffle:
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()

    def pick(example):
        label = tf.cast(example[label_key], tf.int32) if label_key else tf.constant(-1, tf.int32)
        return example[image_key], label, example["tfds_id"]

    return ds.map(pick, num_parallel_calls=tf.data.AUTOTUNE)


@dataclasses.dataclass
class ImageSource:
    """A streaming image source: train and test splits, class names, and the views' image shape.

    Args:
        name: str. The source, for metrics and messages.
        train: `ImageSplit`.
        test: `ImageSplit` or None (no labelled test split: no evaluation).
        class_names: tuple of str or None (unlabeled).
        image_size: tuple `(H, W)`. Size of the training and evaluation views.
        channels: int. 1 or 3.
        num_classes: int or None. Defaults to the number of class names.
    """

    name: str
    train: ImageSplit
    test: ImageSplit
    class_names: tuple
    image_size: tuple
    channels: int
    num_classes: int = None

    def __post_init__(self):
        if self.num_classes is None and self.class_names:
            self.num_classes = len(self.class_names)

    @property
    def image_shape(self):
        return (*self.image_size, self.channels)

    @property
    def labelled(self):
        return self.train.labelled and bool(self.num_classes)


def is_streaming_spec(spec):
    """Whether `spec` names a streamed image source (`folder:`, `tfrecord:`, `tfds:`, ...: `data.sources`)."""
    try:
        return sources.parse(spec, "image").kind.streaming
    except sources.SourceError:
        return False


def open_image_source(spec, image_size=None, channels=None, data_dir=None, test_fraction=0.2, seed=0, work_dir=None):
    """Lists a streaming image source (no image is decoded, a few headers are read).

    Args:
        spec: str. `folder:PATH`, `tfrecord:GLOB_OR_FOLDER` or `tfds:NAME`.
        image_size: tuple `(H, W)` or None. The views' size; `None` takes the first images' size (they must
            agree: photos of many sizes need `data.image_size`).
        channels: int or None. 1 or 3; `None`: 3 if any of 16 images (spread over a folder's listing, the
            first records of shards) has colour, else 1.
        data_dir: str or None. TFDS's `data_dir`.
        test_fraction: float. A folder without `train/` and `test/`: the fraction of files (by hash of the
            relative path) held out for testing. Defaults to `0.2`.
        seed: int. Mixed into that hash. Defaults to `0`.
        work_dir: str or None. Where a folder's listing is written. Defaults to a temporary folder of this
            process (`image_source.work_dir()`), removed when it exits.

    Returns:
        An `ImageSource`.
    """
    kind = sources.find(spec, "image")
    if kind is None or not kind.streaming:
        streamed = ", ".join(k.form for k in sources.kinds("image") if k.streaming)
        raise DataError(f"{str(spec)!r} is not a streaming image source: use {streamed}.")
    parsed = sources.parse(spec, "image")
    source = kind.open(parsed, test_fraction=test_fraction, seed=seed, work_dir=work_dir, data_dir=data_dir)
    source.image_size, source.channels = _image_format(source, image_size, channels)
    return source


# --- peeking at a few images -------------------------------------------------------------------------------
def _image_format(source, image_size, channels, count=16):
    """`(image_size, channels)`: the given ones, else read off the first `count` training images."""
    if channels is not None and int(channels) not in (1, 3):
        raise DataError(f"data.channels: expected 1 (grey) or 3 (RGB) or null, got {channels!r}.")
    if image_size is not None and channels is not None:
        return tuple(int(v) for v in image_size), int(channels)
    shapes = {}
    split = source.train
    # Files: every n-th of the listing, so that the sample spans the classes; records: the first ones.
    spread = max(1, split.num_examples // count) if split.kind == "files" else 1
    for item, _, name in split.records(num_shards=spread).take(count):
        try:
            shape = tuple(tf.io.decode_image(split.read(item), expand_animations=False).shape)
        except tf.errors.OpError:
            continue  # a bad file is skipped and named when training reads it
        shapes[name.numpy().decode("utf-8", "replace")] = shape
    if not shapes:
        raise DataError(
            f"None of the first {count} images of {source.name} could be decoded: check that they are JPEG, PNG, "
            "BMP or GIF files."
        )
    if channels is None:
        channels = 3 if any(s[-1] >= 3 for s in shapes.values()) else 1
    if image_size is None:
        sizes = {s[:2]: n for n, s in shapes.items()}
        if len(sizes) > 1:
            (s1, p1), (s2, p2) = list(sizes.items())[:2]
            raise DataError(
                f"The images of {source.name} differ in size: {p1!r} is {s1[1]}x{s1[0]} (WxH) but {p2!r} is "
                f"{s2[1]}x{s2[0]}. Set data.image_size: [H, W] in the recipe (the size of the views)."
            )
        image_size = next(iter(sizes))
    return tuple(int(v) for v in image_size), int(channels)


# --- folder:PATH --------------------------------------------------------------------------------------------
def _is_image(name):
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def _walk_images(folder):
    """The image files under `folder`, recursively, in a stable order (sorted per directory)."""

    def fail(error):
        raise DataError(f"Cannot list {error.filename!r} ({error.strerror}). Check its permissions.") from None

    for root, dirs, files in os.walk(folder, onerror=fail, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if _is_image(name):
                yield os.path.join(root, name)


def _class_folders(root):
    """`(class names, loose image files)` of a folder: its non-hidden sub-folders, and images directly in
    it."""
    entries = sorted(os.scandir(root), key=lambda e: e.name)
    classes = [e.name for e in entries if e.is_dir() and not e.name.startswith(".")]
    loose = [e.path for e in entries if e.is_file() and _is_image(e.name)]
    return classes, loose


def _check_folder(path):
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"Image folder {path!r} not found. Pass folder:PATH with PATH a folder of images (one sub-folder per "
            "class, or none for unlabeled images)."
        )
    if not os.path.isdir(path):
        raise DataError(
            f"{path!r} is a file, not a folder: folder:PATH takes a folder of images (for a list of image-caption "
            "pairs use manifest:PATH)."
        )


def work_dir():
    """This process's folder for listings (a temporary folder, removed when the process exits)."""
    global _WORK_DIR
    if _WORK_DIR is None:
        _WORK_DIR = tempfile.mkdtemp(prefix="keras-contrastive-listing-")
        atexit.register(shutil.rmtree, _WORK_DIR, ignore_errors=True)
    return _WORK_DIR


_WORK_DIR = None


def _write_listing(path, entries, test_of=None):
    """Writes `label<TAB>path` lines of `entries` (`(label, path)` pairs) to `path` (and, with `test_of`, a
    function `path -> is test`, the test ones to `path + ".test"`); returns the two counts."""
    counts = [0, 0]
    targets = [path] + ([path + ".test"] if test_of is not None else [])
    # Written under temporary names, then renamed: a pipeline still reading an earlier listing of the same
    # folder keeps its file.
    temporary = [f"{t}.tmp-{os.getpid()}" for t in targets]
    try:
        with contextlib.ExitStack() as stack:
            files = [stack.enter_context(open(t, "w", encoding="utf-8")) for t in temporary]
            for label, file in entries:
                if "\n" in file or "\r" in file:
                    raise DataError(f"The file name {file!r} holds a line break: rename it.")
                which = 1 if test_of is not None and test_of(file) else 0
                files[which].write(f"{label}\t{file}\n")
                counts[which] += 1
        for tmp, target in zip(temporary, targets):
            os.replace(tmp, target)
    finally:
        for tmp in temporary:
            if os.path.exists(tmp):
                os.remove(tmp)
    return counts


def _hash_fraction(key, seed):
    digest = hashlib.sha1(f"{seed}:{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _labelled_entries(root, classes):
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        empty = True
        for file in _walk_images(folder):
            empty = False
            yield label, file
        if empty:
            raise DataError(
                f"Class folder {folder!r} holds no image ({', '.join(IMAGE_EXTENSIONS)}). Add images or remove the "
                "folder."
            )


def open_folder(path, test_fraction=0.2, seed=0, folder_for_listings=None):
    """The `ImageSource` of `folder:PATH` (see the module's docstring)."""
    root = os.path.normpath(os.path.expanduser(path))
    _check_folder(root)
    folder = folder_for_listings or work_dir()
    os.makedirs(folder, exist_ok=True)
    key = f"{root}|{test_fraction}|{seed}".encode("utf-8")
    listing = os.path.join(folder, hashlib.sha1(key).hexdigest()[:16] + ".tsv")
    has = {s: os.path.isdir(os.path.join(root, s)) for s in ("train", "test")}
    if has["train"] != has["test"]:
        present, absent = ("train", "test") if has["train"] else ("test", "train")
        raise DataError(
            f"{root!r} has a {present}/ sub-folder but no {absent}/. Add {os.path.join(root, absent)!r}, or put the "
            f"class folders directly in {root!r} (a test split is then drawn from them)."
        )
    if has["train"]:
        train_root, test_root = os.path.join(root, "train"), os.path.join(root, "test")
        classes, loose = _class_folders(train_root)
        if not classes:
            raise DataError(f"{train_root!r} has no class sub-folders: put each class's images in train/<class>/.")
        unknown = sorted(set(_class_folders(test_root)[0]) - set(classes))
        if unknown:
            raise DataError(
                f"{test_root!r} has classes {unknown} that {train_root!r} lacks. Use the same class folders."
            )
        n_train, _ = _write_listing(listing, _labelled_entries(train_root, classes))
        test_classes = _class_folders(test_root)[0]
        entries = ((classes.index(c), f) for c in test_classes for f in _walk_images(os.path.join(test_root, c)))
        n_test, _ = _write_listing(listing + ".eval", entries)
        test = ImageSplit("files", n_test, n_test, True, listing + ".eval") if n_test else None
        train = ImageSplit("files", n_train, n_train, True, listing)
        return ImageSource(f"folder:{root}", train, test, tuple(classes), None, None)
    classes, loose = _class_folders(root)
    if classes and loose:
        raise DataError(
            f"{root!r} holds both class sub-folders ({', '.join(classes[:3])}{', ...' if len(classes) > 3 else ''}) "
            f"and {len(loose)} image(s) outside them, such as {loose[0]!r}. Move those into a class folder, or put "
            "unlabeled images in a folder without sub-folders."
        )
    if not classes:
        entries = ((-1, f) for f in _walk_images(root))
        n_train, _ = _write_listing(listing, entries)
        if not n_train:
            raise DataError(
                f"Image folder {root!r} holds no image ({', '.join(IMAGE_EXTENSIONS)}). Put images in it, in one "
                "sub-folder per class for labels, or directly for unlabeled pre-training."
            )
        train = ImageSplit("files", n_train, n_train, False, listing)
        return ImageSource(f"folder:{root}", train, None, None, None, None)
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be in (0, 1); received {test_fraction}.")
    prefix = len(root) + 1
    n_train, n_test = _write_listing(
        listing, _labelled_entries(root, classes), test_of=lambda f: _hash_fraction(f[prefix:], seed) < test_fraction
    )
    if not n_train:
        raise DataError(f"{root!r}: every image fell in the test split; add images or lower test_fraction.")
    train = ImageSplit("files", n_train, n_train, True, listing)
    test = ImageSplit("files", n_test, n_test, True, listing + ".test") if n_test else None
    return ImageSource(f"folder:{root}", train, test, tuple(classes), None, None)


# --- tfrecord:GLOB ------------------------------------------------------------------------------------------
def _count_records(files):
    """`(records, largest label)` of TFRecord files, in one pass (no `shards.json` says them)."""
    count, top = 0, -1
    ds = tf.data.TFRecordDataset(files).map(lambda r: _parse_example(r, "", 0)[1])
    for labels in ds.batch(4096):
        count += int(labels.shape[0])
        top = max(top, int(tf.reduce_max(labels)))
    return count, top


def open_tfrecord(pattern):
    """The `ImageSource` of `tfrecord:GLOB` or `tfrecord:DIR`."""
    pattern = os.path.expanduser(pattern)
    meta = {}
    if os.path.isdir(pattern):
        folder = pattern
        meta_path = os.path.join(folder, SHARDS_FILE)
        if os.path.isfile(meta_path):
            with open(meta_path, encoding="utf-8") as f:
                meta = json.load(f)
        train_files = sorted(glob.glob(os.path.join(folder, "train-*")))
        test_files = []
        for prefix in TEST_PREFIXES:
            test_files = test_files or sorted(glob.glob(os.path.join(folder, f"{prefix}-*")))
        if not train_files:
            raise DataError(
                f"TFRecord folder {folder!r} holds no train-* shard. Write shards with `keras-contrastive data shard "
                f"folder:PATH --to {folder}`, or give a glob: tfrecord:'{folder}/*.tfrecord'."
            )
    else:
        train_files, test_files = sorted(glob.glob(pattern)), []
        if not train_files:
            raise FileNotFoundError(
                f"No file matches tfrecord:{pattern}. Give a glob of TFRecord shards (quoted), or a folder written "
                "by `keras-contrastive data shard`."
            )
    splits = {}
    top = -1
    for split, files in (("train", train_files), ("test", test_files)):
        if not files:
            continue
        if split in meta.get("counts", {}):
            count = int(meta["counts"][split])
        else:
            try:
                count, largest = _count_records(files)
            except tf.errors.OpError as e:
                raise DataError(f"Could not read the TFRecord shards {files[0]!r}, ... ({e.message}).") from None
            top = max(top, largest)
        splits[split] = ImageSplit("tfrecord", count, len(files), True, tuple(files))
    class_names = tuple(meta["class_names"]) if meta.get("class_names") else None
    num_classes = meta.get("num_classes") or (len(class_names) if class_names else (top + 1 if top >= 0 else None))
    labelled = bool(num_classes)
    for split in splits.values():
        split.labelled = labelled
    if splits["train"].num_examples == 0:
        raise DataError(f"The TFRecord shards of tfrecord:{pattern} hold no record.")
    return ImageSource(f"tfrecord:{pattern}", splits["train"], splits.get("test"), class_names, None, None, num_classes)


# --- tfds:NAME ----------------------------------------------------------------------------------------------
def tfds_builder(name, data_dir=None):
    """A prepared TFDS builder, or a clear error: never downloads."""
    import tensorflow_datasets as tfds

    how_to = (
        f"To provide it offline: on a machine with internet run `tfds.builder({name!r}, data_dir=DIR)"
        ".download_and_prepare()`, copy DIR here and pass `data_dir=DIR` (data.path in a recipe); or write its "
        "images to a folder ('folder:PATH') or TFRecord shards ('tfrecord:GLOB')."
    )
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # DatasetNotFoundError and friends
        raise DataError(
            f"TFDS does not know the dataset {name!r} ({type(e).__name__}). Check the name (see "
            f"`tfds.list_builders()`). {how_to}"
        ) from None
    if not builder.is_prepared():
        raise FileNotFoundError(
            f"TFDS dataset {name!r} is not prepared in data_dir="
            f"{builder.data_dir_root if data_dir is None else data_dir!r} and keras-contrastive never downloads. "
            f"{how_to}"
        )
    return builder


def open_tfds(name, data_dir=None):
    """The `ImageSource` of `tfds:NAME`, prepared in `data_dir`."""
    import tensorflow_datasets as tfds

    builder = tfds_builder(name, data_dir)
    info = builder.info
    image_keys = [k for k, f in info.features.items() if isinstance(f, tfds.features.Image)]
    if info.supervised_keys is not None:
        image_key, label_key = info.supervised_keys[:2]
    elif image_keys:
        image_key, label_key = image_keys[0], None
    else:
        raise DataError(f"TFDS dataset {name!r} has no image feature to read.")
    if not isinstance(info.features[image_key], tfds.features.Image):
        raise DataError(f"TFDS dataset {name!r}: its supervised input {image_key!r} is not an image.")
    label = info.features[label_key] if label_key else None
    num_classes = getattr(label, "num_classes", None)
    class_names = tuple(getattr(label, "names", None) or ()) or None
    splits = {}
    available = sorted(info.splits)
    train_name = "train" if "train" in info.splits else None
    if train_name is None:
        raise DataError(f"TFDS dataset {name!r} has no 'train' split; it has {available}.")
    test_name = next((s for s in ("test", "validation") if s in info.splits), None)
    for key, split in (("train", train_name), ("test", test_name)):
        if split is None:
            continue
        s = info.splits[split]
        location = (builder, split, image_key, label_key)
        splits[key] = ImageSplit("tfds", int(s.num_examples), int(s.num_shards), label_key is not None, location)
    channels = info.features[image_key].shape[-1]
    source = ImageSource(f"tfds:{name}", splits["train"], splits.get("test"), class_names, None, None, num_classes)
    source.native_channels = channels
    return source

"""Image sources: the small built-in sets and `npz:` in memory, folders, TFRecords and TFDS streamed."""

from keras_contrastive.data.sources import SourceKind

_VIEWS = ("image_size", "channels", "on_error")


def _fashion_mnist(spec, path=None):
    from keras_contrastive.data import data_splits

    return data_splits.fashion_mnist_splits(spec.kind.prefix, path)


def _npz(spec):
    from keras_contrastive.data import data_splits

    return data_splits.load_npz(spec.argument)


def _folder(spec, test_fraction=0.2, seed=0, work_dir=None, data_dir=None):
    from keras_contrastive.data import image_source

    return image_source.open_folder(spec.argument, test_fraction, seed, work_dir)


def _tfrecord(spec, test_fraction=0.2, seed=0, work_dir=None, data_dir=None):
    from keras_contrastive.data import image_source

    return image_source.open_tfrecord(spec.argument)


def _tfds(spec, test_fraction=0.2, seed=0, work_dir=None, data_dir=None):
    from keras_contrastive.data import image_source

    return image_source.open_tfds(spec.argument, data_dir)


_STREAMED = ("image_size", "seed", "test_fraction")

KINDS = (
    SourceKind(
        "fashion_mnist", "image", "the full Fashion-MNIST, from its IDX files (data.path: their folder)",
        keys=("path", "image_size"), in_memory=True, split="its own 60,000 / 10,000", load=_fashion_mnist,
        options=("path",),
    ),
    SourceKind(
        "fashion_mnist_subset", "image", "the Fashion-MNIST subset embedded in the package",
        keys=("image_size",), in_memory=True, split="its own 11,000 / 2,000", load=_fashion_mnist,
    ),
    SourceKind(
        "npz", "image", "arrays x_train, y_train, x_test, y_test", keys=("image_size",), argument="PATH",
        in_memory=True, split="x_test, y_test", load=_npz,
    ),
    SourceKind(
        "folder", "image", "image files, one sub-folder per class (none: unlabeled)", keys=_VIEWS,
        argument="PATH", split="PATH/train + PATH/test, else test_fraction of the files by a hash of their path",
        open=_folder, options=_STREAMED,
    ),
    SourceKind(
        "tfrecord", "image", "tf.train.Example shards (a glob, or a folder written by `data shard`)", keys=_VIEWS,
        argument="GLOB", split="DIR/test-* or DIR/validation-*; a glob is one training split", open=_tfrecord,
        options=_STREAMED,
    ),
    SourceKind(
        "tfds", "image", "an already prepared TFDS data set (data.path: its data_dir)", keys=("path", *_VIEWS),
        argument="NAME", split="its test, else validation, split", open=_tfds, options=(*_STREAMED, "data_dir"),
    ),
)  # fmt: skip

"""`tf.data` pipelines over streaming image sources (`data.image_source`): pre-training views and evaluation
batches, decoded from disk as they are needed.

Pre-training: records (file names, or TFRecord / TFDS records) -> shuffle -> read -> for each image, every
view's random resized crop drawn on the encoded shape and decoded crop first (`image_decode.crop_resize`),
then the rest of each view (colour jitter, grayscale, blur, solarize: `SimCLRAugmentation.after_crop_image`,
the per-image form of the batched layers, which skips a step its draw leaves out), images in parallel ->
batch -> prefetch. Nothing in the dataset grows with the number of images: a folder's listing is read
from its file, and the shuffle buffer holds names, not pixels.

Evaluation: records in order -> the centred square (resize the shorter side, centre crop) -> batch.

A file that cannot be read or decoded (corrupt, truncated, not an image) is skipped and named with
`on_error="skip"`: its name is appended to `skip_log` (or printed to stderr), and the run reports the count
at each epoch's end (`callbacks.SkippedFilesMonitor`). With `on_error="raise"` the pipeline stops with an
error naming the file (`UNREADABLE`). Each record is decoded inside a one-element dataset whose errors are
ignored (`ignore_errors`), followed by a placeholder flagged as bad: the first element of the two is kept,
so a failure becomes a flagged record, caught per file.
"""

import sys
import tempfile

import tensorflow as tf

from keras_contrastive.data import image_decode

ON_ERROR = ("skip", "raise")
UNREADABLE = "keras-contrastive could not read or decode the image"


def _check_views(views):
    views = list(views)
    if not views:
        raise ValueError("views must be a non-empty list of view augmentations.")
    for view in views:
        crop = getattr(view, "crop", None)
        if crop is None or not hasattr(view, "after_crop") or not hasattr(crop, "scale"):
            raise ValueError(
                f"A streaming source takes views that crop first (`augment.SimCLRAugmentation`, or "
                f"`augment.multi_crop_views`); received {type(view).__name__}."
            )
    return views


def _guarded(read, decode, placeholder, on_error, skip_log):
    """`(source, label, name) -> 1-element dataset` of `(decoded, label, name, bad)`; see the module doc."""
    if on_error not in ON_ERROR:
        raise ValueError(f"data.on_error: expected one of {', '.join(ON_ERROR)}, got {on_error!r}.")

    def probe(source, label, name):
        good = tf.data.Dataset.from_tensors(source).map(lambda s: {"x": decode(read(s))}).ignore_errors()
        good = good.map(lambda d: (d["x"], label, name, False))
        bad = tf.data.Dataset.from_tensors((placeholder(), label, name, True))
        return good.concatenate(bad).take(1)

    def keep(decoded, label, name, bad):
        if on_error == "raise":
            check = tf.debugging.Assert(tf.logical_not(bad), [UNREADABLE, name], summarize=1)
            with tf.control_dependencies([check]):
                return tf.logical_not(bad)

        def report():
            if skip_log:  # one name a line, read back by callbacks.SkippedFilesMonitor
                tf.print(name, output_stream=f"file://{skip_log}")
            else:
                tf.print("keras-contrastive: skipped", name, "(not a readable JPEG, PNG, BMP or GIF file)",
                         output_stream=sys.stderr)  # fmt: skip
            return tf.constant(False)

        return tf.cond(bad, report, lambda: tf.constant(True))

    def apply(records):
        ds = records.interleave(
            probe, cycle_length=16, block_length=1, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        return ds.filter(keep).map(lambda decoded, label, name, bad: (decoded, label, name))

    return apply


def crop_first(records, read, views, channels, on_error="skip", skip_log=None, finish=False):
    """`(source, label, name)` records -> `(crops, label, name)`: each view's random resized crop drawn on
    the encoded image's shape and decoded crop first (`image_decode.crop_resize`), one decode for all the
    views of an image; unreadable records skipped and named, or raised (`on_error`). With `finish`, the
    rest of each view follows on the image (`SimCLRAugmentation.after_crop_image`)."""
    views = _check_views(views)
    sizes = [tuple(v.crop.size) for v in views]

    def decode(encoded):
        draws = [v.crop.make_seeds(2) for v in views]

        def boxes(shape):
            return [
                image_decode.sample_crop_box(shape, v.crop.scale, v.crop.ratio, seeds[0])
                for v, seeds in zip(views, draws)
            ]

        flips = [
            tf.random.stateless_uniform([], seeds[1]) < 0.5 if v.crop.horizontal_flip else tf.constant(False)
            for v, seeds in zip(views, draws)
        ]
        crops = image_decode.crop_resize(encoded, boxes, sizes, channels, flips)
        if not finish:
            return crops
        # The rest of each view on the image alone: the same per-image draws as on a batch, but an image's
        # 224 x 224 x 3 floats stay in cache through the many steps of colour jitter, and images are
        # augmented in parallel.
        return tuple(v.after_crop_image(c) for v, c in zip(views, crops))

    def placeholder():
        return tuple(tf.zeros([*size, channels]) for size in sizes)

    return _guarded(read, decode, placeholder, on_error, skip_log)(records)


def listed_files(paths, work_dir=None):
    """An `ImageSplit` of the image files `paths` (a list), each labelled with its index in the list, for
    pipelines that carry their own per-file data (captions). The list is written to a listing file."""
    from keras_contrastive.data import image_source

    folder = work_dir or image_source.work_dir()
    listing = tempfile.NamedTemporaryFile("w", suffix=".tsv", dir=folder, delete=False).name
    with open(listing, "w", encoding="utf-8") as f:
        for index, path in enumerate(paths):
            if "\n" in path or "\r" in path:
                raise ValueError(f"The file name {path!r} holds a line break: rename it.")
            f.write(f"{index}\t{path}\n")
    return image_source.ImageSplit("files", len(paths), len(paths), True, listing)


def pretrain_stream(
    split,
    views,
    batch_size,
    channels,
    labels=False,
    shuffle=True,
    seed=None,
    repeat=True,
    num_shards=1,
    shard_index=0,
    on_error="skip",
    skip_log=None,
    shuffle_buffer=None,
    drop_remainder=True,
):
    """Batches of crop-first views of a streaming split, for contrastive pre-training.

    Args:
        split: `image_source.ImageSplit`.
        views: list of `augment.SimCLRAugmentation` (or `augment.multi_crop_views`). Each view's crop
            (`view.crop`: size, scale, ratio, flip) is taken while decoding; the rest (`view.after_crop`) on
            the batch.
        batch_size: int. Examples per batch (per input pipeline).
        channels: int. 1 or 3.
        labels: bool. Carry the labels as `"label"`. Defaults to `False`.
        shuffle: bool. Defaults to `True`.
        seed: int or None. Shuffle seed. Defaults to `None`.
        repeat: bool. Repeat forever. Defaults to `True`.
        num_shards, shard_index: int. This input pipeline's part of the data (`ImageSplit.records`).
        on_error: str. `"skip"` (skip and name unreadable files) or `"raise"`. Defaults to `"skip"`.
        skip_log: str or None. File the skipped names are appended to; `None`: stderr.
        shuffle_buffer: int or None. Records shuffled at once for TFRecord / TFDS. Defaults to `None`.
        drop_remainder: bool. Defaults to `True`.

    Returns:
        A `tf.data.Dataset` of `{"views": (v_1, ..., v_k)}` (and `"label"`), each `[B, h_i, w_i, channels]`.
    """
    views = _check_views(views)
    if int(batch_size) < 2:
        raise ValueError(f"batch_size={batch_size}: contrastive learning needs at least 2 examples per batch.")
    records = split.records(num_shards, shard_index, shuffle, seed, repeat, shuffle_buffer)
    ds = crop_first(records, split.read, views, channels, on_error, skip_log, finish=True)
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)

    def finish(crops, label, name):
        element = {"views": tuple(crops)}
        if labels:
            element["label"] = label
        return element

    return ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def eval_stream(split, image_size, channels, batch_size, num_shards=1, shard_index=0, on_error="skip",
                skip_log=None, names=False):  # fmt: skip
    """Batches `(images, labels)` (and names, with `names=True`) of a split in order, each image the centred
    square of side `min(H, W)` resized to `image_size` (resize the shorter side, centre crop), float32 in
    `[0, 1]`."""
    size = tuple(int(v) for v in image_size)

    def decode(encoded):
        return image_decode.centre_crop(encoded, size, channels)

    def placeholder():
        return tf.zeros([*size, channels])

    records = split.records(num_shards, shard_index)
    ds = _guarded(split.read, decode, placeholder, on_error, skip_log)(records)
    ds = ds.batch(int(batch_size))
    if names:
        return ds.prefetch(tf.data.AUTOTUNE)
    return ds.map(lambda images, label, name: (images, label)).prefetch(tf.data.AUTOTUNE)

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
error naming the file (`UNREADABLE`). Records are numbered and each carries the names of the few records
before it; they are decoded in a parallel map whose failures `ignore_errors` drops; a gap in the numbers
after it is the records dropped, named from the next record's list (a sentinel closes a finite stream, so
the last records are reported too). The bookkeeping is two sequential scans of small tensors.
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


RECENT = 4  # names each record carries of the records before it: the names a gap of that many can report
_END = "\x00end"  # the name of the sentinel closing a finite stream


def _guarded(read, decode, placeholder, on_error, skip_log):
    """`records -> records decoded`: `(source, label, name)` to `(decoded, label, name)` in a parallel map,
    unreadable records skipped and named (or raised); see the module doc."""
    if on_error not in ON_ERROR:
        raise ValueError(f"data.on_error: expected one of {', '.join(ON_ERROR)}, got {on_error!r}.")

    def number(state, record):
        # Each record gets its position and the names of the RECENT records before it.
        position, recent = state
        source, label, name = record
        return (position + 1, tf.concat([recent[1:], [name]], 0)), (position, recent, source, label, name)

    def load(position, recent, source, label, name):
        end = tf.equal(name, _END)  # the sentinel is not read
        decoded = tf.cond(end, placeholder, lambda: decode(read(source)))
        return position, recent, decoded, label, name

    def check(state, element):
        # A gap in the positions is the records ignore_errors dropped: the last of them are in `recent`.
        position, recent, decoded, label, name = element
        gap = position - state - 1
        names = recent[RECENT - tf.minimum(gap, RECENT) :]
        if on_error == "raise":
            # The record just before this one is the one that failed (the first failure stops the stream).
            ok = tf.debugging.Assert(tf.equal(gap, 0), [UNREADABLE, recent[RECENT - 1]], summarize=1)
            with tf.control_dependencies([ok]):
                position = tf.identity(position)
        else:

            def report():
                lines = tf.strings.reduce_join(names, separator="\n")
                more = tf.strings.format("\n(and {} more before {})", (gap - RECENT, name))
                lines = tf.where(gap > RECENT, tf.strings.join([lines, more]), lines)
                if skip_log:  # one name a line, read back by callbacks.SkippedFilesMonitor
                    tf.print(lines, output_stream=f"file://{skip_log}")
                else:
                    tf.print("keras-contrastive: skipped unreadable image files (not JPEG, PNG, BMP or GIF):", lines,
                             output_stream=sys.stderr)  # fmt: skip
                return position

            position = tf.cond(gap > 0, report, lambda: position)
        return position, (decoded, label, name)

    def apply(records, finite=False):
        ds = records
        if finite:  # a sentinel after the last record, so that trailing unreadable records are reported too
            ds = ds.concatenate(
                tf.data.Dataset.from_tensors((tf.constant(""), tf.constant(-1, tf.int32), tf.constant(_END)))
            )
        ds = ds.scan((tf.constant(0, tf.int64), tf.fill([RECENT], "")), number)
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
        ds = ds.scan(tf.constant(-1, tf.int64), check)
        return ds.filter(lambda decoded, label, name: tf.not_equal(name, _END))

    return apply


def crop_first(records, read, views, channels, on_error="skip", skip_log=None, finish=False, finite=False):
    """`(source, label, name)` records -> `(crops, label, name)`: each view's random resized crop drawn on
    the encoded image's shape and decoded crop first (`image_decode.crop_resize`), one decode for all the
    views of an image; unreadable records skipped and named, or raised (`on_error`). With `finish`, the
    rest of each view follows on the image (`SimCLRAugmentation.after_crop_image`). `finite`: the records
    end (not repeated), so a sentinel closes them."""
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

    return _guarded(read, decode, placeholder, on_error, skip_log)(records, finite)


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
    ds = crop_first(records, split.read, views, channels, on_error, skip_log, finish=True, finite=not repeat)
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
    ds = _guarded(split.read, decode, placeholder, on_error, skip_log)(records, finite=True)
    ds = ds.batch(int(batch_size))
    if names:
        return ds.prefetch(tf.data.AUTOTUNE)
    return ds.map(lambda images, label, name: (images, label)).prefetch(tf.data.AUTOTUNE)

"""tf.data pipelines: augmented views for pre-training, plain batches for inference."""

import numpy as np
import tensorflow as tf


def _check_images(images, what="images"):
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(
            f"{what} must be a uint8 numpy array [N, H, W, C]; received "
            f"{getattr(images, 'dtype', type(images))} of shape "
            f"{getattr(images, 'shape', None)}. Use load_data(...).x_train."
        )
    if len(images) == 0:
        raise ValueError(f"{what} is empty: received shape {images.shape}.")


def pretrain_dataset(
    images,
    views,
    batch_size,
    labels=None,
    shuffle=True,
    seed=None,
    drop_remainder=True,
    repeat=False,
):
    """Batches of augmented views of the same images, for contrastive pre-training.

    Pipeline: image indices are shuffled (the whole data set, reshuffled every
    epoch), optionally repeated, batched; each batch gathers its images, casts
    them to float32 in `[0, 1]` and applies every view callable to the whole
    batch (vectorized: one call per batch, not per image), in parallel over
    batches; then prefetch. Shuffling indices and gathering batches is much
    faster than shuffling images one by one, for the same order of examples.

    Args:
        images: numpy array. uint8 images `[N, H, W, C]`.
        views: list of callables. One per view; each takes a float32 batch
            `[B, H, W, C]` in `[0, 1]` and returns a batch (a
            `keras_contrastive.augment` layer, any Keras augmentation layer, or a
            function). The same callable may appear several times: each call
            draws new random numbers.
        batch_size: int. Examples per batch; at least 2 (in-batch negatives).
        labels: numpy array or None. Integer labels `[N]`, carried along as
            `"label"` (for monitoring only). Defaults to `None`.
        shuffle: bool. Shuffle the whole data set every epoch. Defaults to
            `True`.
        seed: int or None. Seed of the shuffle (the order of examples is then
            reproducible). Augmentations are seeded by the view layers
            themselves; batches are augmented in parallel, so which batch gets
            which random draw can vary between runs. Defaults to `None`.
        drop_remainder: bool. Drop the last, incomplete batch. Defaults to
            `True`.
        repeat: bool. Repeat forever (epochs then run into each other without
            dropping examples). Defaults to `False`.

    Returns:
        A `tf.data.Dataset` of dicts `{"views": (v_1, ..., v_k)}`, plus
        `"label"` when `labels` is given.

    Example:

    >>> from keras_contrastive.augment import SimCLRAugmentation
    >>> images = np.zeros((8, 32, 32, 3), "uint8")
    >>> aug = SimCLRAugmentation(32)
    >>> ds = pretrain_dataset(images, [aug, aug], batch_size=4)
    >>> [v.shape for v in next(iter(ds))["views"]]
    [TensorShape([4, 32, 32, 3]), TensorShape([4, 32, 32, 3])]
    """
    _check_images(images)
    if callable(views) and not isinstance(views, (list, tuple)):
        raise ValueError(
            "views must be a list of callables, one per view; received a single "
            f"{type(views).__name__}. For two views of one augmentation pass "
            "[aug, aug]."
        )
    views = list(views)
    if not views or not all(callable(v) for v in views):
        raise ValueError(f"views must be a non-empty list of callables; received {views!r}.")
    batch_size = int(batch_size)
    num_examples = len(images)
    if batch_size < 2:
        raise ValueError(
            f"batch_size={batch_size}: contrastive learning needs at least 2 "
            "examples per batch for negatives. Use batch_size >= 2."
        )
    if drop_remainder and batch_size > num_examples and not repeat:
        raise ValueError(
            f"batch_size={batch_size} is larger than the {num_examples} images, so "
            "with drop_remainder=True no batch would be produced. Use a smaller "
            "batch_size, more images, drop_remainder=False or repeat=True."
        )
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (num_examples,):
            raise ValueError(f"labels must have shape ({num_examples},) to match images; received {labels.shape}.")

    images_t = tf.constant(images)
    labels_t = None if labels is None else tf.constant(labels)
    ds = tf.data.Dataset.range(num_examples)
    if shuffle:
        ds = ds.shuffle(num_examples, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def make_views(indices):
        batch = tf.cast(tf.gather(images_t, indices), tf.float32) / 255.0
        element = {"views": tuple(tf.convert_to_tensor(view(batch)) for view in views)}
        if labels_t is not None:
            element["label"] = tf.gather(labels_t, indices)
        return element

    ds = ds.map(make_views, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def images_dataset(images, batch_size, labels=None):
    """Float32 batches in `[0, 1]`, in order, for inference or feature extraction.

    Args:
        images: numpy array. uint8 images `[N, H, W, C]`.
        batch_size: int. Images per batch (the last batch may be smaller).
        labels: numpy array or None. If given, elements are `(images, labels)`.
            Defaults to `None`.

    Returns:
        A `tf.data.Dataset` of float32 batches `[B, H, W, C]` (or pairs).
    """
    _check_images(images)
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1; received {batch_size}.")
    data = images if labels is None else (images, np.asarray(labels))
    ds = tf.data.Dataset.from_tensor_slices(data).batch(int(batch_size))
    if labels is None:
        ds = ds.map(lambda x: tf.cast(x, tf.float32) / 255.0)
    else:
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y))
    return ds.prefetch(tf.data.AUTOTUNE)

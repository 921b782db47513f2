"""Run an encoder over a whole image array, batch by batch."""

import numpy as np


def images_to_float(images):
    """Convert images to float32 in `[0, 1]`, following the package convention.

    Args:
        images: array. `uint8` images (scaled by `1 / 255`) or floating point
            images already in `[0, 1]` (cast to `float32`).

    Returns:
        A `float32` NumPy array of the same shape.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        # float32 division is correctly rounded, so this matches
        # `tf.cast(x, tf.float32) / 255.0` in the exported serving graph exactly.
        return images.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float32, copy=False)
        if images.size:
            low, high = float(np.min(images)), float(np.max(images))
            if low < 0.0 or high > 1.0:
                raise ValueError(
                    "Expected float images in [0, 1]. Received values in "
                    f"[{low:g}, {high:g}]. Pass uint8 images, or divide by 255."
                )
        return images
    raise ValueError(f"Expected uint8 images or float images in [0, 1]. Received dtype {images.dtype}.")


def extract_features(encoder, images, batch_size=512):
    """Compute encoder features for every image, in inference mode.

    Images are converted to `float32` in `[0, 1]` one batch at a time, so a
    large `uint8` array is never copied to float all at once.

    Args:
        encoder: `keras.Model`. Maps float32 images `[B, H, W, C]` in `[0, 1]`
            to features `[B, D]`.
        images: array `[N, H, W, C]`. `uint8` (scaled by `1 / 255`) or float
            in `[0, 1]`.
        batch_size: int. Images per forward pass. Defaults to `512`.

    Returns:
        A `float32` NumPy array of shape `[N, D]`.

    Example:

    >>> import keras, numpy as np
    >>> encoder = keras.Sequential(
    ...     [keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(4)]
    ... )
    >>> images = np.zeros((10, 8, 8, 1), dtype="uint8")
    >>> extract_features(encoder, images, batch_size=4).shape
    (10, 4)
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"Expected images of shape [N, H, W, C]. Received shape {images.shape}.")
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be >= 1. Received {batch_size}.")
    batch_size = int(batch_size)
    chunks = []
    for start in range(0, len(images), batch_size):
        batch = images_to_float(images[start : start + batch_size])
        # `predict_on_batch` reuses one compiled predict function across
        # batches and runs layers with `training=False`.
        features = np.asarray(encoder.predict_on_batch(batch), dtype=np.float32)
        if features.ndim != 2:
            raise ValueError(
                f"Expected the encoder to return features of shape [B, D]. Received shape {features.shape}."
            )
        chunks.append(features)
    if not chunks:
        dim = encoder.compute_output_shape((0,) + images.shape[1:])[-1]
        return np.zeros((0, dim), dtype=np.float32)
    return np.concatenate(chunks, axis=0)


def extract_dataset_features(encoder, dataset):
    """Encoder features of every batch of a `tf.data.Dataset` of `(images, labels)` (float32 images in
    `[0, 1]`), streamed: only the features and labels are kept.

    Args:
        encoder: `keras.Model`, or any callable `images -> [B, D]` (such as `ModelSource.embed_images`).
        dataset: `tf.data.Dataset` of `(images, labels)` batches (`data.eval_stream`).

    Returns:
        `(features, labels)`: float32 `[N, D]` and int64 `[N]` NumPy arrays.
    """
    embed = encoder.predict_on_batch if hasattr(encoder, "predict_on_batch") else encoder
    features, labels = [], []
    for images, batch_labels in dataset:
        batch = np.asarray(embed(images.numpy()), dtype=np.float32)
        if batch.ndim != 2:
            raise ValueError(f"Expected the encoder to return features of shape [B, D]. Received shape {batch.shape}.")
        features.append(batch)
        labels.append(np.asarray(batch_labels, dtype=np.int64))
    if not features:
        raise ValueError("The data set to extract features from is empty (every file skipped, or none listed).")
    return np.concatenate(features), np.concatenate(labels)

"""Base class of the random, per-image, batch-vectorized augmentation layers."""

import keras
import tensorflow as tf


class BaseAugmentation(keras.layers.Layer):
    """A random augmentation of a batch of images, drawn independently per image.

    Subclasses implement `augment(images, seeds)`, where `seeds` is a
    `[n, 2]` int tensor of stateless seeds, fresh at every call. Randomness
    comes from one `tf.random.Generator` per layer: drawing seeds from it is a
    single atomic op, so parallel `tf.data` map calls never reuse a seed.
    Requires the TensorFlow backend (the layers use `tf.image` ops); they are
    meant for `tf.data` pipelines.

    Args:
        seed: int or None. Seed of the layer's random generator; the same seed
            gives the same sequence of outputs for the same sequence of calls.
            Defaults to `None` (non-deterministic).
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).
    """

    num_seeds = 1

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        if seed is None:
            self._generator = tf.random.Generator.from_non_deterministic_state()
        else:
            self._generator = tf.random.Generator.from_seed(int(seed))
        self.built = True

    def call(self, images):
        images = tf.convert_to_tensor(images)
        if images.shape.rank is not None and images.shape.rank != 4:
            raise ValueError(
                f"{type(self).__name__} expects a batch of images [B, H, W, C]; received shape {images.shape}."
            )
        channels = images.shape[-1]
        if channels is not None and channels not in (1, 3):
            raise ValueError(
                f"{type(self).__name__} expects 1 (grayscale) or 3 (RGB) channels; received shape {images.shape}."
            )
        images = tf.cast(images, tf.float32)
        # make_seeds returns [2, n]: one stateless seed per column.
        seeds = tf.transpose(self._generator.make_seeds(self.num_seeds))
        return self.augment(images, seeds)

    def augment(self, images, seeds):
        raise NotImplementedError

    def augment_image(self, image, seeds):
        """One image `[H, W, C]` (float32): the same draws as `augment` on a batch of one. Subclasses whose
        step has a probability override it to skip the step's computation when its draw says no."""
        return self.augment(image[None], seeds)[0]

    def apply_image(self, image):
        """`augment_image` with fresh seeds: the per-image form of calling the layer, for a `tf.data` map
        over single images (the streaming pipeline's views, `data.streaming`)."""
        return self.augment_image(tf.cast(image, tf.float32), self.make_seeds(self.num_seeds))

    def make_seeds(self, count):
        """`[count, 2]` fresh stateless seeds from the layer's generator (for per-image draws made
        elsewhere, such as the streaming pipeline's crop boxes)."""
        return tf.transpose(self._generator.make_seeds(count))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"seed": self.seed})
        return config


def drawn(probability, seed):
    """A bool scalar, True with `probability` (the per-image form of `per_image_mask`)."""
    return tf.random.stateless_uniform([], seed) < probability


def per_image_mask(batch_size, probability, seed):
    """A bool `[B]` mask, True with `probability` for each image independently."""
    return tf.random.stateless_uniform([batch_size], seed) < probability


def select(mask, augmented, images):
    """`augmented[b]` where `mask[b]`, else `images[b]`."""
    return tf.where(mask[:, None, None, None], augmented, images)


def check_probability(name, value):
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1]; received {value}.")
    return value


def check_range(name, value, low=None):
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max); received {value!r}.") from None
    if lo > hi or (low is not None and lo < low):
        bound = "" if low is None else f" with min >= {low}"
        raise ValueError(f"{name} must be (min, max) with min <= max{bound}; received {value!r}.")
    return (lo, hi)

"""Random resized crop (Inception-style), one crop per image, with optional flip."""

import math

import keras
import tensorflow as tf

from keras_contrastive.augment.base_augmentation import BaseAugmentation, check_range


@keras.saving.register_keras_serializable(package="keras_contrastive")
class RandomResizedCrop(BaseAugmentation):
    """Crops a random box of each image and resizes it to `size`.

    The area and aspect ratio of each image's box are drawn independently, as
    in Inception and SimCLR (https://arxiv.org/abs/2002.05709, Appendix A):
    area fraction `~ U(scale)`, log aspect ratio (width / height in pixels)
    `~ U(log ratio)`. Instead of rejection sampling, a box wider or taller
    than the image is clipped to it, so all boxes are drawn at once; its
    position is uniform. All crops go through one
    `tf.image.crop_and_resize` call (bilinear, no antialiasing), and a
    horizontal flip is folded into the box by swapping its x coordinates.

    Args:
        size: int or tuple of 2 ints. Output `(height, width)`; an int gives a
            square.
        scale: tuple of 2 floats. Range of the box area as a fraction of the
            image area. Defaults to `(0.08, 1.0)`.
        ratio: tuple of 2 floats. Range of the box aspect ratio (width /
            height). Defaults to `(3/4, 4/3)`.
        horizontal_flip: bool. Also flip each crop left-right with
            probability 0.5. Defaults to `False`.
        interpolation: str. `"bilinear"` or `"nearest"`. Defaults to
            `"bilinear"`.
        seed: int or None. Seed of the random boxes. Defaults to `None`.
        **kwargs: base `keras.layers.Layer` arguments.

    Example:

    >>> crop = RandomResizedCrop(24, horizontal_flip=True, seed=1)
    >>> crop(tf.random.uniform([8, 32, 32, 3])).shape
    TensorShape([8, 24, 24, 3])
    """

    num_seeds = 5

    def __init__(
        self,
        size,
        scale=(0.08, 1.0),
        ratio=(3 / 4, 4 / 3),
        horizontal_flip=False,
        interpolation="bilinear",
        seed=None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        if isinstance(size, int):
            size = (size, size)
        size = tuple(int(s) for s in size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"size must be an int or (height, width) > 0; received {size}.")
        self.size = size
        self.scale = check_range("scale", scale)
        if not 0.0 < self.scale[0] <= self.scale[1] <= 1.0:
            raise ValueError(f"scale must satisfy 0 < min <= max <= 1; received {scale}.")
        self.ratio = check_range("ratio", ratio)
        if self.ratio[0] <= 0.0:
            raise ValueError(f"ratio must be positive; received {ratio}.")
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"interpolation must be 'bilinear' or 'nearest'; received {interpolation!r}.")
        self.interpolation = interpolation
        self.horizontal_flip = bool(horizontal_flip)

    def sample_boxes(self, batch_size, height, width, seeds):
        """Normalized `[B, 4]` boxes `(y1, x1, y2, x2)`, x swapped when flipped."""
        shape = [batch_size]
        area = tf.random.stateless_uniform(shape, seeds[0], *self.scale)
        log_ratio = tf.random.stateless_uniform(shape, seeds[1], math.log(self.ratio[0]), math.log(self.ratio[1]))
        ratio = tf.exp(log_ratio)
        # In pixels w * h = area * H * W and w / h = ratio; normalized by W and H:
        aspect = tf.cast(height, tf.float32) / tf.cast(width, tf.float32)
        w = tf.minimum(tf.sqrt(area * ratio * aspect), 1.0)
        h = tf.minimum(tf.sqrt(area / (ratio * aspect)), 1.0)
        y1 = tf.random.stateless_uniform(shape, seeds[2]) * (1.0 - h)
        x1 = tf.random.stateless_uniform(shape, seeds[3]) * (1.0 - w)
        x2 = x1 + w
        if self.horizontal_flip:
            flip = tf.random.stateless_uniform(shape, seeds[4]) < 0.5
            x1, x2 = tf.where(flip, x2, x1), tf.where(flip, x1, x2)
        return tf.stack([y1, x1, y1 + h, x2], axis=1)

    def augment(self, images, seeds):
        shape = tf.shape(images)
        # A static batch size keeps the boxes' shape static (grappler's cost
        # model warns on CropAndResize with unknown box counts).
        batch_size = images.shape[0] if images.shape[0] is not None else shape[0]
        boxes = self.sample_boxes(batch_size, shape[1], shape[2], seeds)
        return tf.image.crop_and_resize(
            images,
            boxes,
            tf.range(batch_size),
            self.size,
            method=self.interpolation,
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.size, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "size": self.size,
                "scale": self.scale,
                "ratio": self.ratio,
                "horizontal_flip": self.horizontal_flip,
                "interpolation": self.interpolation,
            }
        )
        return config

"""Random Gaussian blur with a per-image sigma, as one depthwise convolution."""

import keras
import tensorflow as tf

from keras_contrastive.augment.base_augmentation import (
    BaseAugmentation,
    check_probability,
    check_range,
    drawn,
    per_image_mask,
    select,
)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class RandomGaussianBlur(BaseAugmentation):
    """Blurs each image, with probability `p`, by a Gaussian of random sigma.

    As in SimCLR (https://arxiv.org/abs/2002.05709, Appendix A): sigma
    `~ U(sigma)` in pixels, drawn per image. Each image gets its own separable
    kernel; the batch is folded into the channels so one depthwise
    convolution per axis blurs the whole batch. Borders are reflected, so a
    constant image stays constant (SimCLR's zero padding darkens borders).

    Args:
        probability: float. Probability that an image is blurred. Defaults to
            `0.5`.
        sigma: float or tuple of 2 floats. Fixed sigma or `(min, max)` range,
            in pixels. Defaults to `(0.1, 2.0)`.
        kernel_size: int or None. Odd kernel width; `None` takes about 10% of
            the smaller image side, as SimCLR (`2 * (min(H, W) // 20) + 1`, at
            least 3). Capped so the kernel radius stays below the image side.
            Defaults to `None`.
        seed: int or None. Seed of the random draws. Defaults to `None`.
        **kwargs: base `keras.layers.Layer` arguments.

    Example:

    >>> blur = RandomGaussianBlur(probability=1.0, sigma=1.0, kernel_size=5)
    >>> float(blur(tf.ones([2, 8, 8, 3])).numpy().max())
    1.0
    """

    num_seeds = 2

    def __init__(self, probability=0.5, sigma=(0.1, 2.0), kernel_size=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.probability = check_probability("probability", probability)
        if isinstance(sigma, (int, float)):
            sigma = (sigma, sigma)
        self.sigma = check_range("sigma", sigma)
        if self.sigma[0] <= 0.0:
            raise ValueError(f"sigma must be > 0; received {sigma}.")
        if kernel_size is not None:
            kernel_size = int(kernel_size)
            if kernel_size < 1 or kernel_size % 2 == 0:
                raise ValueError(f"kernel_size must be an odd int >= 1; received {kernel_size}.")
        self.kernel_size = kernel_size

    def _radius(self, height, width):
        if height is None or width is None:
            raise ValueError(
                "RandomGaussianBlur needs the image height and width to be known "
                "statically; received unknown spatial dimensions."
            )
        side = min(height, width)
        radius = max(1, side // 20) if self.kernel_size is None else self.kernel_size // 2
        return max(0, min(radius, side - 1))

    def augment_image(self, image, seeds):
        if self.probability == 0.0:
            return image
        height, width, channels = image.shape
        radius = self._radius(height, width)
        if radius == 0:
            return image

        def blur():
            sigma = tf.random.stateless_uniform([1], seeds[0], *self.sigma)[0]
            taps = tf.range(-radius, radius + 1, dtype=tf.float32)
            kernel = tf.exp(-tf.square(taps) / (2.0 * tf.square(sigma)))
            kernel = tf.tile((kernel / tf.reduce_sum(kernel))[:, None], [1, channels])  # [K, C]
            pad = [[0, 0], [radius, radius], [radius, radius], [0, 0]]
            out = tf.pad(image[None], pad, mode="REFLECT")
            out = tf.nn.depthwise_conv2d(out, kernel[:, None, :, None], [1, 1, 1, 1], "VALID")
            out = tf.nn.depthwise_conv2d(out, kernel[None, :, :, None], [1, 1, 1, 1], "VALID")
            return tf.clip_by_value(out[0], 0.0, 1.0)

        return tf.cond(drawn(self.probability, seeds[1]), blur, lambda: image)

    def augment(self, images, seeds):
        if self.probability == 0.0:
            return images
        _, height, width, channels = images.shape
        radius = self._radius(height, width)
        if radius == 0:
            return images
        shape = tf.shape(images)
        batch_size = shape[0]
        sigma = tf.random.stateless_uniform([batch_size], seeds[0], *self.sigma)
        taps = tf.range(-radius, radius + 1, dtype=tf.float32)
        kernel = tf.exp(-tf.square(taps)[None, :] / (2.0 * tf.square(sigma)[:, None]))
        kernel = kernel / tf.reduce_sum(kernel, axis=1, keepdims=True)  # [B, K]
        # Channel b * C + c of the folded batch uses image b's kernel.
        kernel = tf.repeat(kernel, channels, axis=0)  # [B * C, K]
        folded = tf.reshape(
            tf.transpose(images, [1, 2, 0, 3]),
            [1, height, width, batch_size * channels],
        )
        pad = [[0, 0], [radius, radius], [radius, radius], [0, 0]]
        folded = tf.pad(folded, pad, mode="REFLECT")
        kernel_t = tf.transpose(kernel)  # [K, B * C]
        strides = [1, 1, 1, 1]
        folded = tf.nn.depthwise_conv2d(folded, kernel_t[:, None, :, None], strides, "VALID")
        folded = tf.nn.depthwise_conv2d(folded, kernel_t[None, :, :, None], strides, "VALID")
        blurred = tf.transpose(tf.reshape(folded, [height, width, batch_size, channels]), [2, 0, 1, 3])
        mask = per_image_mask(batch_size, self.probability, seeds[1])
        return select(mask, tf.clip_by_value(blurred, 0.0, 1.0), images)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "probability": self.probability,
                "sigma": self.sigma,
                "kernel_size": self.kernel_size,
            }
        )
        return config

"""SimCLR's view augmentation: crop + flip, colour jitter, grayscale, blur, solarize."""

import keras
import tensorflow as tf

from keras_contrastive.augment.random_color_jitter import RandomColorJitter
from keras_contrastive.augment.random_gaussian_blur import RandomGaussianBlur
from keras_contrastive.augment.random_grayscale import RandomGrayscale
from keras_contrastive.augment.random_resized_crop import RandomResizedCrop
from keras_contrastive.augment.random_solarize import RandomSolarize


@keras.saving.register_keras_serializable(package="keras_contrastive")
class SimCLRAugmentation(keras.layers.Layer):
    """One random view of each image, as in SimCLR.

    SimCLR (https://arxiv.org/abs/2002.05709, Appendix A): random resized crop
    with horizontal flip, colour jitter, random grayscale, then optional
    Gaussian blur and solarization (BYOL's additions,
    https://arxiv.org/abs/2006.07733). Every draw is per image. Works on RGB
    and on grayscale (1-channel) images: there, jitter is brightness and
    contrast only and grayscale is a no-op. Steps whose probability is 0 are
    left out.

    Args:
        image_size: int or tuple of 2 ints. Output `(height, width)`.
        crop_scale: tuple of 2 floats. Crop area range, as a fraction of the
            image. Defaults to `(0.08, 1.0)`.
        crop_ratio: tuple of 2 floats. Crop aspect ratio range. Defaults to
            `(0.75, 1.3333333)`: 3/4 to 4/3, written as every recipe has
            resolved it (the recipe schema reads its defaults here).
        horizontal_flip: bool. Flip left-right with probability 0.5. Defaults
            to `True`.
        jitter_strength: float. Colour jitter strength `s`. Defaults to `1.0`.
        jitter_probability: float. Probability of colour jitter. Defaults to
            `0.8`.
        grayscale_probability: float. Probability of grayscale. Defaults to
            `0.2`.
        blur_probability: float. Probability of Gaussian blur. Defaults to
            `0.0`.
        solarize_probability: float. Probability of solarization. Defaults to
            `0.0`.
        seed: int or None. Seeds the steps (`seed`, `seed + 1`, ...).
            Defaults to `None`.
        **kwargs: base `keras.layers.Layer` arguments.

    Example:

    >>> aug = SimCLRAugmentation(24, seed=0)
    >>> aug(np.random.rand(4, 32, 32, 3).astype("float32")).shape
    TensorShape([4, 24, 24, 3])
    """

    def __init__(
        self,
        image_size,
        crop_scale=(0.08, 1.0),
        crop_ratio=(0.75, 1.3333333),
        horizontal_flip=True,
        jitter_strength=1.0,
        jitter_probability=0.8,
        grayscale_probability=0.2,
        blur_probability=0.0,
        solarize_probability=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.crop_scale = tuple(crop_scale)
        self.crop_ratio = tuple(crop_ratio)
        self.horizontal_flip = horizontal_flip
        self.jitter_strength = jitter_strength
        self.jitter_probability = jitter_probability
        self.grayscale_probability = grayscale_probability
        self.blur_probability = blur_probability
        self.solarize_probability = solarize_probability
        self.seed = seed

        def step_seed(i):
            return None if seed is None else seed + i

        self.crop = RandomResizedCrop(image_size, crop_scale, crop_ratio, horizontal_flip, seed=step_seed(0))
        self.color_jitter = RandomColorJitter(jitter_strength, jitter_probability, seed=step_seed(1))
        self.grayscale = RandomGrayscale(grayscale_probability, seed=step_seed(2))
        self.blur = RandomGaussianBlur(blur_probability, seed=step_seed(3))
        self.solarize = RandomSolarize(solarize_probability, seed=step_seed(4))
        self.built = True

    def call(self, images):
        return self.after_crop(self.crop(images))

    def after_crop(self, images):
        """The steps after the crop and flip (jitter, grayscale, blur, solarize), on a batch already cropped
        and resized: the streaming pipeline takes each crop while decoding (`data.streaming`), then this."""
        images = tf.cast(tf.convert_to_tensor(images), tf.float32)
        if self.jitter_probability > 0 and self.jitter_strength > 0:
            images = self.color_jitter(images)
        if self.grayscale_probability > 0:
            images = self.grayscale(images)
        if self.blur_probability > 0:
            images = self.blur(images)
        if self.solarize_probability > 0:
            images = self.solarize(images)
        return images

    def after_crop_image(self, image):
        """`after_crop` on one image `[H, W, C]` (the per-image form: a step whose draw says no is skipped,
        not computed and discarded), for the streaming pipeline's per-image map."""
        image = tf.cast(image, tf.float32)
        if self.jitter_probability > 0 and self.jitter_strength > 0:
            image = self.color_jitter.apply_image(image)
        if self.grayscale_probability > 0:
            image = self.grayscale.apply_image(image)
        if self.blur_probability > 0:
            image = self.blur.apply_image(image)
        if self.solarize_probability > 0:
            image = self.solarize.apply_image(image)
        return image

    def compute_output_shape(self, input_shape):
        return self.crop.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "crop_scale": self.crop_scale,
                "crop_ratio": self.crop_ratio,
                "horizontal_flip": self.horizontal_flip,
                "jitter_strength": self.jitter_strength,
                "jitter_probability": self.jitter_probability,
                "grayscale_probability": self.grayscale_probability,
                "blur_probability": self.blur_probability,
                "solarize_probability": self.solarize_probability,
                "seed": self.seed,
            }
        )
        return config

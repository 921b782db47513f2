"""SimCLR colour distortion, drawn per image."""

import keras
import tensorflow as tf

from keras_contrastive.augment.base_augmentation import (
    BaseAugmentation,
    check_probability,
    drawn,
    per_image_mask,
    select,
)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class RandomColorJitter(BaseAugmentation):
    """Random brightness, contrast, saturation and hue, with probability `p`.

    SimCLR's colour jitter of strength `s` (https://arxiv.org/abs/2002.05709,
    Appendix A): brightness factor `~ U(1 - 0.8s, 1 + 0.8s)` (multiplies the
    image), contrast factor `~ U(1 - 0.8s, 1 + 0.8s)` (scales each channel
    around its mean, as `tf.image.adjust_contrast`), saturation factor
    `~ U(1 - 0.8s, 1 + 0.8s)` (scales S in HSV), hue shift `~ U(-0.2s, 0.2s)`
    (added to H in HSV, in turns); lower bounds are clipped at 0. Each image
    draws its own factors and whether it is jittered at all. The order is
    fixed: brightness, contrast, saturation, hue (SimCLR's code shuffles it),
    clipping to `[0, 1]` after each. Grayscale (1-channel) images get
    brightness and contrast only.

    Args:
        strength: float. Jitter strength `s`. Defaults to `1.0`.
        probability: float. Probability that an image is jittered. Defaults to
            `0.8`.
        seed: int or None. Seed of the random draws. Defaults to `None`.
        **kwargs: base `keras.layers.Layer` arguments.

    Example:

    >>> jitter = RandomColorJitter(strength=0.5, seed=1)
    >>> jitter(tf.random.uniform([4, 8, 8, 3])).shape
    TensorShape([4, 8, 8, 3])
    """

    num_seeds = 5

    def __init__(self, strength=1.0, probability=0.8, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.strength = float(strength)
        if self.strength < 0.0:
            raise ValueError(f"strength must be >= 0; received {strength}.")
        self.probability = check_probability("probability", probability)

    def _factor(self, batch_size, seed, delta):
        return tf.random.stateless_uniform([batch_size], seed, max(0.0, 1.0 - delta), 1.0 + delta)

    def sample_factors(self, batch_size, seeds):
        """Per-image `[B]` brightness, contrast, saturation factors and hue shift."""
        s = self.strength
        return (
            self._factor(batch_size, seeds[0], 0.8 * s),
            self._factor(batch_size, seeds[1], 0.8 * s),
            self._factor(batch_size, seeds[2], 0.8 * s),
            tf.random.stateless_uniform([batch_size], seeds[3], -0.2 * s, 0.2 * s),
        )

    def apply_factors(self, images, brightness, contrast, saturation, hue):
        """Jitters every image of `images` with its own factors (each `[B]`)."""
        # Factors are >= 0 and images >= 0, so only the upper clip can bite.
        out = tf.minimum(images * brightness[:, None, None, None], 1.0)
        contrast = contrast[:, None, None, None]
        mean = tf.reduce_mean(out, axis=(1, 2), keepdims=True)
        out = tf.clip_by_value(out * contrast + mean * (1.0 - contrast), 0.0, 1.0)
        if images.shape[-1] != 3:
            return out
        # One HSV round trip does both tf.image.adjust_saturation and adjust_hue
        # (each converts RGB -> HSV -> RGB). Per image, (h, s, v) ->
        # (h + 1 + hue, s * saturation, v); then one floormod wraps h into
        # [0, 1) (s < 2 and v <= 1 pass unchanged) and one minimum clips s at
        # 1: cheaper than slicing the channels apart.
        ones = tf.ones_like(saturation)
        scale = tf.stack([ones, saturation, ones], axis=1)[:, None, None, :]
        shift = tf.stack([1.0 + hue, 0.0 * ones, 0.0 * ones], axis=1)[:, None, None, :]
        hsv = tf.image.rgb_to_hsv(out) * scale + shift
        hsv = tf.minimum(tf.math.floormod(hsv, tf.constant([1.0, 2.0, 2.0])), 1.0)
        return tf.clip_by_value(tf.image.hsv_to_rgb(hsv), 0.0, 1.0)

    def augment_image(self, image, seeds):
        if self.probability == 0.0 or self.strength == 0.0:
            return image
        brightness, contrast, saturation, hue = (f[0] for f in self.sample_factors(1, seeds))

        def jitter():
            # apply_factors' steps on one image: fewer passes (H and S alone are changed in HSV).
            out = tf.minimum(image * brightness, 1.0)
            mean = tf.reduce_mean(out, axis=(0, 1), keepdims=True)
            out = tf.clip_by_value(out * contrast + mean * (1.0 - contrast), 0.0, 1.0)
            if image.shape[-1] != 3:
                return out
            h, s, v = tf.unstack(tf.image.rgb_to_hsv(out), axis=-1)
            hsv = tf.stack([tf.math.floormod(h + hue, 1.0), tf.minimum(s * saturation, 1.0), v], axis=-1)
            return tf.clip_by_value(tf.image.hsv_to_rgb(hsv), 0.0, 1.0)

        return tf.cond(drawn(self.probability, seeds[4]), jitter, lambda: image)

    def augment(self, images, seeds):
        if self.probability == 0.0 or self.strength == 0.0:
            return images
        batch_size = tf.shape(images)[0]
        out = self.apply_factors(images, *self.sample_factors(batch_size, seeds))
        mask = per_image_mask(batch_size, self.probability, seeds[4])
        return select(mask, out, images)

    def get_config(self):
        config = super().get_config()
        config.update({"strength": self.strength, "probability": self.probability})
        return config

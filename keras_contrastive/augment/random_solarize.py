"""Random solarization, drawn per image."""

import keras
import tensorflow as tf

from keras_contrastive.augment.base_augmentation import (
    BaseAugmentation,
    check_probability,
    drawn,
    per_image_mask,
)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class RandomSolarize(BaseAugmentation):
    """Inverts the pixels at or above `threshold` (`x -> 1 - x`), with probability `p`.

    As in BYOL (https://arxiv.org/abs/2006.07733, Table 6) and PIL's
    `ImageOps.solarize`. The default probability of 0 makes it a no-op until
    asked for (BYOL uses 0.2 on its second view).

    Args:
        probability: float. Probability that an image is solarized. Defaults
            to `0.0`.
        threshold: float. Pixels `>= threshold` are inverted. Defaults to
            `0.5`.
        seed: int or None. Seed of the random draws. Defaults to `None`.
        **kwargs: base `keras.layers.Layer` arguments.

    Example:

    >>> solarize = RandomSolarize(probability=1.0)
    >>> solarize(tf.constant([0.2, 0.7])[None, :, None, None])[0, :, 0, 0].numpy()
    array([0.2, 0.3], dtype=float32)
    """

    def __init__(self, probability=0.0, threshold=0.5, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.probability = check_probability("probability", probability)
        self.threshold = float(threshold)

    def augment_image(self, image, seeds):
        if self.probability == 0.0:
            return image
        solarized = tf.where(image >= self.threshold, 1.0 - image, image)
        return tf.where(drawn(self.probability, seeds[0]), solarized, image)

    def augment(self, images, seeds):
        if self.probability == 0.0:
            return images
        mask = per_image_mask(tf.shape(images)[0], self.probability, seeds[0])
        invert = tf.logical_and(mask[:, None, None, None], images >= self.threshold)
        return tf.where(invert, 1.0 - images, images)

    def get_config(self):
        config = super().get_config()
        config.update({"probability": self.probability, "threshold": self.threshold})
        return config

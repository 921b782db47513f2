"""Random conversion to grayscale, drawn per image."""

import keras
import tensorflow as tf

from keras_contrastive.augment.base_augmentation import (
    BaseAugmentation,
    check_probability,
    drawn,
    per_image_mask,
    select,
)

# ITU-R BT.601 luma weights; they sum to 1, so a grey pixel keeps its luma.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)


@keras.saving.register_keras_serializable(package="keras_contrastive")
class RandomGrayscale(BaseAugmentation):
    """Turns each RGB image grey (luma in all 3 channels) with probability `p`.

    A no-op on 1-channel images. The output keeps 3 channels.

    Args:
        probability: float. Probability that an image is made grey. Defaults
            to `0.2`.
        seed: int or None. Seed of the random draws. Defaults to `None`.
        **kwargs: base `keras.layers.Layer` arguments.

    Example:

    >>> gray = RandomGrayscale(probability=1.0)
    >>> out = gray(tf.random.uniform([2, 4, 4, 3]))
    >>> bool(tf.reduce_all(out[..., 0] == out[..., 1]))
    True
    """

    def __init__(self, probability=0.2, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.probability = check_probability("probability", probability)

    def augment_image(self, image, seeds):
        if image.shape[-1] != 3 or self.probability == 0.0:
            return image

        def grey():
            luma = tf.reduce_sum(image * tf.constant(LUMA_WEIGHTS), axis=-1, keepdims=True)
            return tf.broadcast_to(luma, tf.shape(image))

        return tf.cond(drawn(self.probability, seeds[0]), grey, lambda: image)

    def augment(self, images, seeds):
        if images.shape[-1] != 3 or self.probability == 0.0:
            return images
        luma = tf.reduce_sum(images * tf.constant(LUMA_WEIGHTS), axis=-1, keepdims=True)
        mask = per_image_mask(tf.shape(images)[0], self.probability, seeds[0])
        # select broadcasts the [B, H, W, 1] luma over the 3 channels.
        return select(mask, luma, images)

    def get_config(self):
        config = super().get_config()
        config.update({"probability": self.probability})
        return config

"""Per-image random augmentations, vectorized over the batch, for tf.data."""

from keras_contrastive.augment.base_augmentation import BaseAugmentation
from keras_contrastive.augment.compose import Compose
from keras_contrastive.augment.multicrop import multi_crop_views
from keras_contrastive.augment.random_color_jitter import RandomColorJitter
from keras_contrastive.augment.random_gaussian_blur import RandomGaussianBlur
from keras_contrastive.augment.random_grayscale import RandomGrayscale
from keras_contrastive.augment.random_resized_crop import RandomResizedCrop
from keras_contrastive.augment.random_solarize import RandomSolarize
from keras_contrastive.augment.simclr_augmentation import SimCLRAugmentation

__all__ = [
    "BaseAugmentation",
    "Compose",
    "RandomColorJitter",
    "RandomGaussianBlur",
    "RandomGrayscale",
    "RandomResizedCrop",
    "RandomSolarize",
    "SimCLRAugmentation",
    "multi_crop_views",
]

"""Optimizers and schedules used by the recipes."""

from keras_contrastive.optimizers.lars import LARS
from keras_contrastive.optimizers.schedules import WarmupCosine

__all__ = ["LARS", "WarmupCosine"]

"""Optimizers and schedules used by the recipes, and the factory that builds a recipe's."""

from keras_contrastive.optimizers.factory import OPTIMIZERS, SCHEDULES, build_optimizer
from keras_contrastive.optimizers.lars import LARS
from keras_contrastive.optimizers.schedules import WarmupCosine

__all__ = ["LARS", "OPTIMIZERS", "SCHEDULES", "WarmupCosine", "build_optimizer"]

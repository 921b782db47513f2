"""Losses shared by the methods."""

from keras_contrastive.losses.contrastive import info_nce, nt_xent, top1_accuracy

__all__ = ["info_nce", "nt_xent", "top1_accuracy"]

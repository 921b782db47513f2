"""Losses shared by the methods."""

from keras_contrastive.losses.barlow_twins import barlow_twins_loss
from keras_contrastive.losses.byol import byol_loss
from keras_contrastive.losses.contrastive import info_nce, nt_xent, top1_accuracy
from keras_contrastive.losses.dino import dino_loss, teacher_batch_center
from keras_contrastive.losses.sigmoid import pairwise_sigmoid_loss
from keras_contrastive.losses.supcon import supcon_loss
from keras_contrastive.losses.swav import sinkhorn_knopp, swav_loss
from keras_contrastive.losses.vicreg import vicreg_loss

__all__ = [
    "barlow_twins_loss",
    "byol_loss",
    "dino_loss",
    "info_nce",
    "nt_xent",
    "pairwise_sigmoid_loss",
    "sinkhorn_knopp",
    "supcon_loss",
    "swav_loss",
    "teacher_batch_center",
    "top1_accuracy",
    "vicreg_loss",
]

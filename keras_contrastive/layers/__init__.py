"""Layers shared by the methods: heads, queues, prototypes."""

from keras_contrastive.layers.prediction_head import PredictionHead
from keras_contrastive.layers.projection_head import ProjectionHead
from keras_contrastive.layers.prototypes import Prototypes
from keras_contrastive.layers.queue import Queue

__all__ = ["PredictionHead", "ProjectionHead", "Prototypes", "Queue"]

"""Layers shared by the methods: heads, and later prototypes and queues."""

from keras_contrastive.layers.projection_head import ProjectionHead

__all__ = ["ProjectionHead"]

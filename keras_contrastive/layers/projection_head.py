"""MLP heads (projection, later prediction) on top of an encoder."""

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="keras_contrastive")
class ProjectionHead(keras.layers.Layer):
    """MLP projection head: `(Dense -> BN -> ReLU) x (num_layers - 1) -> Dense`.

    The nonlinear head of SimCLR (Chen et al., 2020, section 4.2): the loss is
    computed on its output, the representation is taken before it.

    Args:
        output_dim: int. Size of the projection. Defaults to `128`.
        hidden_dim: int or None. Width of the hidden layers; `None` uses the
            input width. Defaults to `None`.
        num_layers: int. Number of Dense layers, at least 1. Defaults to `2`.
        batch_norm: bool. BatchNormalization after each hidden Dense.
            Defaults to `True`.
        output_batch_norm: bool. A BatchNormalization without scale after the
            last Dense (SimCLR v2, MoCo v3). Defaults to `False`.
        synchronized_bn: bool. Batch statistics over all replicas. Defaults
            to `False`.

    Example:

    >>> import numpy as np
    >>> head = ProjectionHead(output_dim=16, hidden_dim=32)
    >>> head(np.zeros((4, 8), "float32")).shape
    (4, 16)
    """

    def __init__(
        self,
        output_dim=128,
        hidden_dim=None,
        num_layers=2,
        batch_norm=True,
        output_batch_norm=False,
        synchronized_bn=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_layers < 1:
            raise ValueError(f"ProjectionHead needs num_layers >= 1, received num_layers={num_layers}.")
        self.output_dim = output_dim
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.batch_norm = batch_norm
        self.output_batch_norm = output_batch_norm
        self.synchronized_bn = synchronized_bn
        self.hidden_layers = []

    def build(self, input_shape):
        width = self.hidden_dim or input_shape[-1]
        shape = tuple(input_shape)
        self.hidden_layers = []
        for _ in range(self.num_layers - 1):
            block = [layers.Dense(width, use_bias=not self.batch_norm, dtype=self.dtype_policy)]
            if self.batch_norm:
                block.append(layers.BatchNormalization(synchronized=self.synchronized_bn, dtype=self.dtype_policy))
            block.append(layers.ReLU(dtype=self.dtype_policy))
            for layer in block:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)
            self.hidden_layers.extend(block)
        self.output_dense = layers.Dense(self.output_dim, use_bias=not self.output_batch_norm, dtype=self.dtype_policy)
        self.output_dense.build(shape)
        self.output_norm = None
        if self.output_batch_norm:
            self.output_norm = layers.BatchNormalization(
                scale=False, synchronized=self.synchronized_bn, dtype=self.dtype_policy
            )
            self.output_norm.build(self.output_dense.compute_output_shape(shape))
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for layer in self.hidden_layers:
            x = layer(x, training=training) if isinstance(layer, layers.BatchNormalization) else layer(x)
        x = self.output_dense(x)
        if self.output_norm is not None:
            x = self.output_norm(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "output_dim": self.output_dim,
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "batch_norm": self.batch_norm,
                "output_batch_norm": self.output_batch_norm,
                "synchronized_bn": self.synchronized_bn,
            }
        )
        return config

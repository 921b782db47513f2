"""BYOL's predictor."""

import keras

from keras_contrastive.layers.projection_head import ProjectionHead


@keras.saving.register_keras_serializable(package="keras_contrastive")
class PredictionHead(ProjectionHead):
    """The predictor `q` of BYOL: `Dense -> BN -> ReLU -> Dense`.

    Grill et al., 2020, section 3.3: the same MLP shape as the projector
    (hidden 4096, output 256 on ImageNet), applied to the online projection
    only. It is what keeps BYOL from collapsing without negatives: the
    target has no predictor and receives no gradient.

    Args:
        output_dim: int. Must equal the projection size. Defaults to `256`.
        hidden_dim: int or None. Hidden width; `None` = input width.
            Defaults to `4096`.
        synchronized_bn: bool. Batch statistics over all replicas. Defaults
            to `False`.
        **kwargs: `ProjectionHead` arguments (`num_layers`, `batch_norm`).

    Example:

    >>> import numpy as np
    >>> PredictionHead(output_dim=8, hidden_dim=16)(np.zeros((4, 8), "float32")).shape
    (4, 8)
    """

    def __init__(self, output_dim=256, hidden_dim=4096, synchronized_bn=False, **kwargs):
        kwargs.setdefault("num_layers", 2)
        super().__init__(output_dim=output_dim, hidden_dim=hidden_dim, synchronized_bn=synchronized_bn, **kwargs)

"""Barlow Twins: Zbontar et al., 2021, https://arxiv.org/abs/2103.03230."""

import keras

from keras_contrastive.losses import barlow_twins_loss
from keras_contrastive.models.contrastive_model import ContrastiveModel


@keras.saving.register_keras_serializable(package="keras_contrastive")
class BarlowTwins(ContrastiveModel):
    """Barlow Twins: the cross-correlation of two views' embeddings made close to the identity.

    Both views go through the encoder and the projector (an MLP, section 2:
    `Dense -> BN -> ReLU` twice, then a `Dense`) in one batched call; the
    loss (`losses.barlow_twins_loss`) makes each embedding dimension agree
    between the views (diagonal of the cross-correlation matrix to 1) and
    different dimensions decorrelated (off-diagonal to 0), with statistics
    over the global batch. No negatives and no target network. The two
    unweighted terms are logged: `invariance` (on-diagonal) and `redundancy`
    (off-diagonal).

    Args:
        encoder: `keras.Model`. Images in [0, 1] to features `[B, D]`.
        projection_dim: int. Projector output size. Defaults to `2048`.
        projection_hidden_dim: int or None. Projector hidden width (`None` =
            `D`). Defaults to `2048`.
        projection_layers: int. Dense layers in the projector. Defaults to `3`.
        redundancy_weight: float. `lambda`, the weight of the off-diagonal
            term. Defaults to `0.0051`.
        synchronized_bn: bool. Synchronized BatchNorm in the projector.
            Defaults to `False`.
        probe_classes: int or None. Online linear probe classes. Defaults to
            `None`.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.backbones import ConvNet
    >>> model = BarlowTwins(ConvNet(input_shape=(16, 16, 1), width=4, stages=2), projection_dim=32,
    ...                     projection_hidden_dim=32)
    >>> views = [np.random.default_rng(0).random((8, 16, 16, 1), dtype="float32")] * 2
    >>> loss, logs, features = model.compute_contrastive_loss(views, training=True)
    >>> sorted(logs), round(float(logs["invariance"]), 3)  # identical views: diagonal of C is 1
    (['invariance', 'redundancy'], 0.0)
    """

    extra_metric_names = ("invariance", "redundancy")

    def __init__(
        self,
        encoder,
        projection_dim=2048,
        projection_hidden_dim=2048,
        projection_layers=3,
        redundancy_weight=0.0051,
        synchronized_bn=False,
        probe_classes=None,
        **kwargs,
    ):
        super().__init__(encoder, probe_classes=probe_classes, **kwargs)
        if redundancy_weight < 0:
            raise ValueError(f"BarlowTwins redundancy_weight must be >= 0, received {redundancy_weight!r}.")
        self.redundancy_weight = redundancy_weight
        self.projector = self.add_projector(
            projection_dim=projection_dim,
            projection_hidden_dim=projection_hidden_dim,
            projection_layers=projection_layers,
            synchronized_bn=synchronized_bn,
        )

    def compute_contrastive_loss(self, views, training=False):
        features, (z_a, z_b) = self.encode_views(views, self.projector, training)
        loss, terms = barlow_twins_loss(z_a, z_b, redundancy_weight=self.redundancy_weight, return_terms=True)
        return loss, terms, features

    def get_config(self):
        config = super().get_config()
        config.update({"redundancy_weight": self.redundancy_weight})
        return config

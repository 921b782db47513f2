"""VICReg: Bardes, Ponce and LeCun, 2022, https://arxiv.org/abs/2105.04906."""

import keras

from keras_contrastive.losses import vicreg_loss
from keras_contrastive.models.contrastive_model import ContrastiveModel


@keras.saving.register_keras_serializable(package="keras_contrastive")
class VICReg(ContrastiveModel):
    """VICReg: variance-invariance-covariance regularization of two views.

    Both views go through the encoder and the expander (an MLP, section 4.2:
    `Dense -> BN -> ReLU` twice, then a `Dense`) in one batched call; the
    loss (`losses.vicreg_loss`) pulls the two embeddings of an image together
    (invariance), keeps every dimension's standard deviation over the global
    batch above 1 (variance) and decorrelates the dimensions (covariance).
    No negatives and no target network, so small batches work. The three
    unweighted terms are logged as metrics.

    Args:
        encoder: `keras.Model`. Images in [0, 1] to features `[B, D]`.
        projection_dim: int. Expander output size. Defaults to `2048`.
        projection_hidden_dim: int or None. Expander hidden width (`None` =
            `D`). Defaults to `2048`.
        projection_layers: int. Dense layers in the expander. Defaults to `3`.
        invariance_weight: float. `lambda`. Defaults to `25.0`.
        variance_weight: float. `mu`. Defaults to `25.0`.
        covariance_weight: float. `nu`. Defaults to `1.0`.
        synchronized_bn: bool. Synchronized BatchNorm in the expander.
            Defaults to `False`.
        probe_classes: int or None. Online linear probe classes. Defaults to
            `None`.

    Example:

    >>> from keras_contrastive.backbones import ConvNet
    >>> model = VICReg(ConvNet(input_shape=(16, 16, 1), width=4, stages=2), projection_dim=32,
    ...                projection_hidden_dim=32)
    >>> views = [np.random.default_rng(0).random((8, 16, 16, 1), dtype="float32")] * 2
    >>> loss, logs, features = model.compute_contrastive_loss(views, training=True)
    >>> sorted(logs), float(logs["invariance"])  # identical views: no invariance term
    (['covariance', 'invariance', 'variance'], 0.0)
    """

    extra_metric_names = ("invariance", "variance", "covariance")

    def __init__(
        self,
        encoder,
        projection_dim=2048,
        projection_hidden_dim=2048,
        projection_layers=3,
        invariance_weight=25.0,
        variance_weight=25.0,
        covariance_weight=1.0,
        synchronized_bn=False,
        probe_classes=None,
        **kwargs,
    ):
        super().__init__(encoder, probe_classes=probe_classes, **kwargs)
        if min(invariance_weight, variance_weight, covariance_weight) < 0:
            raise ValueError(
                "VICReg weights must be >= 0, received "
                f"invariance_weight={invariance_weight!r}, variance_weight={variance_weight!r}, "
                f"covariance_weight={covariance_weight!r}."
            )
        self.invariance_weight = invariance_weight
        self.variance_weight = variance_weight
        self.covariance_weight = covariance_weight
        self.projector = self.add_projector(
            projection_dim=projection_dim,
            projection_hidden_dim=projection_hidden_dim,
            projection_layers=projection_layers,
            synchronized_bn=synchronized_bn,
        )

    def compute_contrastive_loss(self, views, training=False):
        features, (z_a, z_b) = self.encode_views(views, self.projector, training)
        loss, terms = vicreg_loss(
            z_a,
            z_b,
            invariance_weight=self.invariance_weight,
            variance_weight=self.variance_weight,
            covariance_weight=self.covariance_weight,
            return_terms=True,
        )
        return loss, terms, features

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "invariance_weight": self.invariance_weight,
                "variance_weight": self.variance_weight,
                "covariance_weight": self.covariance_weight,
            }
        )
        return config

"""BYOL: Grill et al., 2020, https://arxiv.org/abs/2006.07733."""

import keras
from keras import ops

from keras_contrastive.layers import PredictionHead
from keras_contrastive.losses import byol_loss
from keras_contrastive.models.momentum_model import MomentumContrastiveModel


@keras.saving.register_keras_serializable(package="keras_contrastive")
class BYOL(MomentumContrastiveModel):
    """BYOL: an online network predicts an EMA target's projection.

    Online: encoder -> projector -> predictor. Target: EMA copies of the
    encoder and projector (never trained, no gradient). The loss is
    symmetric, `byol_loss(p_1, z'_2) + byol_loss(p_2, z'_1)` (section 3.2),
    with both views in one batched call. The target momentum follows the
    cosine schedule from `momentum` (0.996) to 1 over the steps `fit` runs.
    BYOL's asymmetric views (blur 1.0 / 0.1, solarize 0 / 0.2) come from the
    recipe's per-view `augment` lists. `cosine_similarity` logs the mean
    cosine between predictions and target projections.

    Args:
        encoder: `keras.Model`. Images in [0, 1] to features `[B, D]`.
        projection_dim: int. Projection size. Defaults to `256`.
        projection_hidden_dim: int or None. Projector hidden width (`None` =
            `D`). Defaults to `4096`.
        prediction_hidden_dim: int or None. Predictor hidden width.
            Defaults to `4096`.
        momentum: float. Base target momentum. Defaults to `0.996`.
        momentum_schedule: str. `"cosine"` (to 1) or `"constant"`.
            Defaults to `"cosine"`.
        synchronized_bn: bool. Synchronized BatchNorm in the heads.
            Defaults to `False`.
        probe_classes: int or None. Online linear probe classes.

    Example:

    >>> from keras_contrastive.backbones import ConvNet
    >>> model = BYOL(ConvNet(input_shape=(16, 16, 1), width=4, stages=2), projection_dim=8,
    ...              projection_hidden_dim=16, prediction_hidden_dim=16)
    >>> len(model.target_encoder.trainable_weights)
    0
    """

    extra_metric_names = ("cosine_similarity", "momentum")

    def __init__(
        self,
        encoder,
        projection_dim=256,
        projection_hidden_dim=4096,
        prediction_hidden_dim=4096,
        momentum=0.996,
        momentum_schedule="cosine",
        synchronized_bn=False,
        probe_classes=None,
        **kwargs,
    ):
        super().__init__(encoder, momentum, momentum_schedule, probe_classes=probe_classes, **kwargs)
        self.prediction_hidden_dim = prediction_hidden_dim
        self.projector = self.add_projector(
            projection_dim=projection_dim, projection_hidden_dim=projection_hidden_dim, synchronized_bn=synchronized_bn
        )
        self.predictor = PredictionHead(
            projection_dim, prediction_hidden_dim, synchronized_bn=synchronized_bn, name="predictor"
        )
        self.predictor.build((None, projection_dim))
        self.target_encoder = self.add_target(self.encoder, None)
        self.target_projector = self.add_target(self.projector, (None, self.feature_dim))

    def compute_contrastive_loss(self, views, training=False):
        features, (p_a, p_b) = self.encode_views(views, self._online_head, training)
        both = ops.concatenate(list(views), axis=0)
        z = ops.stop_gradient(self.target_projector(self.target_encoder(both, training=training), training=training))
        z_a, z_b = ops.split(z, 2, axis=0)
        loss = byol_loss(p_a, z_b) + byol_loss(p_b, z_a)
        logs = {"cosine_similarity": 1.0 - loss / 4.0, "momentum": self.current_momentum()}
        return loss, logs, features

    def _online_head(self, features, training=False):
        return self.predictor(self.projector(features, training=training), training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"prediction_hidden_dim": self.prediction_hidden_dim})
        return config

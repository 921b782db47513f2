"""SimCLR: Chen et al., 2020, https://arxiv.org/abs/2002.05709."""

import keras

from keras_contrastive.losses import nt_xent, top1_accuracy
from keras_contrastive.models.contrastive_model import ContrastiveModel


@keras.saving.register_keras_serializable(package="keras_contrastive")
class SimCLR(ContrastiveModel):
    """SimCLR: two views through one encoder and an MLP head, NT-Xent loss.

    Both views go through the encoder in one batched call (as SimCLR's TF
    code: batch statistics over both views). `contrastive_accuracy` is the
    fraction of anchors whose most similar other view is their positive.

    Args:
        encoder: `keras.Model`. Images in [0, 1] to features `[B, D]`.
        projection_dim: int. Output size of the projection head. Defaults to
            `128`.
        projection_hidden_dim: int or None. Hidden width; `None` = `D`.
            Defaults to `None`.
        projection_layers: int. Dense layers in the head (SimCLR v1: 2).
            Defaults to `2`.
        temperature: float. NT-Xent temperature. Defaults to `0.5`.
        synchronized_bn: bool. Synchronized BatchNorm in the head. Defaults
            to `False`.
        probe_classes: int or None. Online linear probe classes. Defaults to
            `None`.

    Example:

    >>> from keras_contrastive.backbones import ConvNet
    >>> model = SimCLR(ConvNet(input_shape=(28, 28, 1), width=8), projection_dim=16)
    >>> model.projector.output_dim
    16
    """

    extra_metric_names = ("contrastive_accuracy",)

    def __init__(
        self,
        encoder,
        projection_dim=128,
        projection_hidden_dim=None,
        projection_layers=2,
        temperature=0.5,
        synchronized_bn=False,
        probe_classes=None,
        **kwargs,
    ):
        super().__init__(encoder, probe_classes=probe_classes, **kwargs)
        if temperature <= 0:
            raise ValueError(f"SimCLR temperature must be > 0, received temperature={temperature!r}.")
        self.temperature = temperature
        self.projector = self.add_projector(
            projection_dim=projection_dim,
            projection_hidden_dim=projection_hidden_dim,
            projection_layers=projection_layers,
            synchronized_bn=synchronized_bn,
        )

    def compute_contrastive_loss(self, views, training=False):
        features, (z_a, z_b) = self.encode_views(views, self.projector, training)
        loss, logits, labels = nt_xent(z_a, z_b, temperature=self.temperature, return_logits=True)
        return loss, {"contrastive_accuracy": top1_accuracy(logits, labels)}, features

    def get_config(self):
        config = super().get_config()
        config.update({"temperature": self.temperature})
        return config

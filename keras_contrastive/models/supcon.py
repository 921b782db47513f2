"""SupCon: Khosla et al., 2020, https://arxiv.org/abs/2004.11362."""

import keras
from keras import ops

from keras_contrastive.losses import supcon_loss
from keras_contrastive.models.contrastive_model import ContrastiveModel


@keras.saving.register_keras_serializable(package="keras_contrastive")
class SupCon(ContrastiveModel):
    """Supervised contrastive learning: the labels say which views are positives.

    Every view goes through the encoder and an MLP projection head in one
    batched call; `losses.supcon_loss` (`L_out`) pulls together the
    normalised embeddings of all views of the same class in the global batch
    (embeddings and labels gathered across replicas) and pushes the other
    classes away. It needs labels in every training batch
    (`requires_labels`). `positive_accuracy` is the fraction of anchors whose
    most similar other view is of their class.

    Args:
        encoder: `keras.Model`. Images in [0, 1] to features `[B, D]`.
        projection_dim: int. Output size of the projection head. Defaults to
            `128`.
        projection_hidden_dim: int or None. Hidden width; `None` = `D`.
            Defaults to `None`.
        projection_layers: int. Dense layers in the head. Defaults to `2`.
        temperature: float. Defaults to `0.1`.
        synchronized_bn: bool. Synchronized BatchNorm in the head. Defaults
            to `False`.
        probe_classes: int or None. Online linear probe classes. Defaults to
            `None`.

    Example:

    >>> from keras_contrastive.backbones import ConvNet
    >>> model = SupCon(ConvNet(input_shape=(16, 16, 1), width=4, stages=2), projection_dim=8)
    >>> views = [np.random.default_rng(0).random((6, 16, 16, 1), dtype="float32")] * 2
    >>> loss, logs, features = model.compute_contrastive_loss(views, labels=np.array([0, 0, 1, 1, 2, 2]))
    >>> model.requires_labels, sorted(logs)
    (True, ['positive_accuracy'])
    """

    extra_metric_names = ("positive_accuracy",)
    requires_labels = True

    def __init__(
        self,
        encoder,
        projection_dim=128,
        projection_hidden_dim=None,
        projection_layers=2,
        temperature=0.1,
        synchronized_bn=False,
        probe_classes=None,
        **kwargs,
    ):
        super().__init__(encoder, probe_classes=probe_classes, **kwargs)
        if temperature <= 0:
            raise ValueError(f"SupCon temperature must be > 0, received temperature={temperature!r}.")
        self.temperature = temperature
        self.projector = self.add_projector(
            projection_dim=projection_dim,
            projection_hidden_dim=projection_hidden_dim,
            projection_layers=projection_layers,
            synchronized_bn=synchronized_bn,
        )

    def compute_contrastive_loss(self, views, training=False, *, labels):
        features, z = self.encode_views(views, self.projector, training, exactly=None, at_least=2)
        loss, logits, positives = supcon_loss(z, labels, temperature=self.temperature, return_logits=True)
        nearest = ops.argmax(logits, axis=-1)
        hit = ops.take_along_axis(positives, ops.expand_dims(nearest, -1), axis=-1)
        return loss, {"positive_accuracy": ops.mean(hit)}, features

    def get_config(self):
        config = super().get_config()
        config.update({"temperature": self.temperature})
        return config

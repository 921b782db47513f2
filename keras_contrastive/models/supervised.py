"""The supervised reference: the encoder trained with cross-entropy on labelled views."""

import keras
from keras import layers, ops

from keras_contrastive.models.contrastive_model import ContrastiveModel


@keras.saving.register_keras_serializable(package="keras_contrastive")
class Supervised(ContrastiveModel):
    """An encoder and a linear classifier trained with cross-entropy: the reference a label-using method is
    compared with.

    Not a contrastive method: it is registered like one so the same recipe
    layout, views, optimizer, budget and evaluation (linear probe and kNN on
    the frozen encoder) measure it (`recipes/supervised_fashion_mnist.yaml`
    beside `recipes/supcon_fashion_mnist.yaml`). Every view of a batch is a
    training example (the views are its data augmentation); the loss is the
    mean softmax cross-entropy over them, in float32. `accuracy` is the
    classifier's top-1 on those views. Needs labels in every batch
    (`requires_labels`).

    Args:
        encoder: `keras.Model`. Images in [0, 1] to features `[B, D]`.
        num_classes: int. Number of classes. Defaults to `10`.
        probe_classes: int or None. Online linear probe classes (a second,
            stop-gradient classifier). Defaults to `None`.

    Example:

    >>> from keras_contrastive.backbones import ConvNet
    >>> model = Supervised(ConvNet(input_shape=(16, 16, 1), width=4, stages=2), num_classes=3)
    >>> views = [np.zeros((4, 16, 16, 1), "float32")] * 2
    >>> loss, logs, features = model.compute_contrastive_loss(views, labels=np.array([0, 1, 2, 0]))
    >>> round(float(loss), 4) == round(float(np.log(3)), 4)  # a zero classifier on any features: uniform
    True
    """

    extra_metric_names = ("accuracy",)
    requires_labels = True

    def __init__(self, encoder, num_classes=10, probe_classes=None, **kwargs):
        super().__init__(encoder, probe_classes=probe_classes, **kwargs)
        if int(num_classes) < 2:
            raise ValueError(f"Supervised needs num_classes >= 2, received num_classes={num_classes!r}.")
        self.num_classes = int(num_classes)
        # Zero-initialised (as a linear probe): the first step's loss is log(num_classes).
        self.classifier = layers.Dense(self.num_classes, kernel_initializer="zeros", name="classifier")
        self.classifier.build((None, self.feature_dim))

    def compute_contrastive_loss(self, views, training=False, *, labels):
        n = ops.shape(views[0])[0]
        features = self.encoder(ops.concatenate(views, axis=0), training=training)
        logits = ops.cast(self.classifier(features), "float32")
        targets = ops.tile(ops.cast(ops.reshape(labels, (-1,)), "int32"), (len(views),))
        loss = ops.mean(ops.sparse_categorical_crossentropy(targets, logits, from_logits=True))
        accuracy = ops.mean(ops.cast(ops.equal(ops.cast(ops.argmax(logits, axis=-1), "int32"), targets), "float32"))
        return loss, {"accuracy": accuracy}, features[:n]

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes})
        return config

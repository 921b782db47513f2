"""SigLIP: Zhai et al., 2023, "Sigmoid Loss for Language Image Pre-Training", https://arxiv.org/abs/2303.15343."""

import math

import keras

from keras_contrastive.losses.sigmoid import pairwise_sigmoid_loss
from keras_contrastive.models.clip import CLIP


@keras.saving.register_keras_serializable(package="keras_contrastive")
class SigLIP(CLIP):
    """SigLIP: CLIP's two towers trained with the pairwise sigmoid loss instead of the softmax.

    Every image-text pair of the global batch is a binary problem, positive
    for the image's own caption, negative for every other
    (`losses.pairwise_sigmoid_loss`); the logits are `t * cos + b` with a
    learned temperature `t = exp(t')` and bias `b`, initialised to
    `t' = log 10` and `b = -10` (paper section 3.1: the bias keeps the
    many easy negatives from dominating the first steps). Under a strategy
    each replica keeps its images and meets every replica's texts one
    `local x local` block at a time (paper section 3.3), so no replica ever
    holds the global batch's logits; 2 replicas equal one device on the
    global batch (tested).

    Everything else is `CLIP`'s: towers, projections, `lock_image` /
    `lock_text` (LiT), batches `{"views": (images, texts)}`, `t'` clamped
    to `<= max_logit_scale` after each step, `t'` and `b` kept out of weight
    decay, `image_embedder()` / `text_embedder()`, zero-shot, retrieval and
    export. Zero-shot probabilities are the evaluators' softmax over
    `t * cos` across the classes (the bias cancels in it): the argmax is
    the class of largest `sigmoid(t * cos + b)`, and each image gets a
    distribution over the classes, as for CLIP.

    Args:
        image_encoder: `keras.Model`. Images in `[0, 1]` to features `[B, D]`.
        text_encoder: `keras.Model`. Token ids to `[B, L, D]` (mean-pooled) or `[B, D]`, as for `CLIP`.
        embed_dim: int. Size of the shared space. Defaults to `256`.
        logit_scale_init: float. Initial `t'`. Defaults to `log(10)`.
        logit_bias_init: float. Initial `b`. Defaults to `-10.0`.
        max_logit_scale: float. The clamp on `t'`. Defaults to `log(100)`.
        lock_image: bool. Freeze the image tower. Defaults to `False`.
        lock_text: bool. Freeze the text tower. Defaults to `False`.
        **kwargs: `keras.Model` arguments.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.backbones import ConvNet
    >>> from keras_contrastive.text.testing import tiny_text_encoder
    >>> model = SigLIP(ConvNet((16, 16, 3), width=4, stages=2), tiny_text_encoder(), embed_dim=8)
    >>> round(float(model.logit_scale()), 4), float(model.logit_bias.numpy())
    (10.0, -10.0)
    """

    extra_metric_names = ("contrastive_accuracy", "logit_scale", "logit_bias")
    no_weight_decay_names = ("logit_scale", "logit_bias")

    def __init__(
        self,
        image_encoder,
        text_encoder,
        embed_dim=256,
        logit_scale_init=math.log(10.0),
        logit_bias_init=-10.0,
        max_logit_scale=math.log(100.0),
        lock_image=False,
        lock_text=False,
        **kwargs,
    ):
        super().__init__(
            image_encoder,
            text_encoder,
            embed_dim=embed_dim,
            logit_scale_init=logit_scale_init,
            max_logit_scale=max_logit_scale,
            lock_image=lock_image,
            lock_text=lock_text,
            **kwargs,
        )
        try:
            self.logit_bias_init = float(logit_bias_init)
        except (TypeError, ValueError):
            self.logit_bias_init = math.nan
        if not math.isfinite(self.logit_bias_init):
            raise ValueError(
                f"SigLIP logit_bias_init must be a finite number such as -10.0; received {logit_bias_init!r}."
            )
        self.logit_bias = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.logit_bias_init), name="logit_bias", dtype="float32"
        )

    def compute_contrastive_loss(self, views, training=False):
        if len(views) != 2:
            raise ValueError(f"SigLIP takes 2 views per example, (images, texts); received {len(views)}.")
        images, texts = views
        image_embeddings = self.embed_images(images, training=training)
        text_embeddings = self.embed_texts(texts, training=training)
        scale, bias = self.logit_scale(), keras.ops.cast(self.logit_bias, "float32")
        loss, accuracy = pairwise_sigmoid_loss(image_embeddings, text_embeddings, scale, bias, return_accuracy=True)
        logs = {"contrastive_accuracy": accuracy, "logit_scale": scale, "logit_bias": bias}
        return loss, logs, image_embeddings

    def get_config(self):
        config = super().get_config()
        config["logit_bias_init"] = self.logit_bias_init
        return config

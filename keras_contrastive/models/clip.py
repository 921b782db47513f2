"""CLIP: Radford et al., 2021, https://arxiv.org/abs/2103.00020 (and LiT: Zhai et al., 2022,
https://arxiv.org/abs/2111.07991, for locked towers)."""

import copy
import math

import keras
import numpy as np
from keras import layers, ops

from keras_contrastive import keras_internals
from keras_contrastive.layers.logit_scale import LogitScale
from keras_contrastive.losses import info_nce, top1_accuracy
from keras_contrastive.models.contrastive_model import ContrastiveModel
from keras_contrastive.normalize import l2_normalize
from keras_contrastive.pooling import mean_pool


def pooled_text_features(text_encoder, token_ids, training=False):
    """`[B, D]` features of a text tower: the mean of the non-padding token features of a
    `TextEncoder` (`[B, L, D]`), or the output itself when the tower already pools."""
    sequence = text_encoder(token_ids, training=training)
    if len(sequence.shape) == 2:
        return ops.cast(sequence, "float32")
    return mean_pool(ops.cast(sequence, "float32"), token_ids, int(getattr(text_encoder, "pad_id", 0)))


@keras.saving.register_keras_serializable(package="keras_contrastive")
class TextEmbedder(keras.Model):
    """Token ids to L2-normalised joint-space embeddings: a CLIP text tower and its projection.

    Its `encoder` is the text tower, whose tokenizer `export.text_export.export_text_encoder`
    puts in the exported graph (raw strings in)."""

    def __init__(self, encoder, projection, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.projection = projection
        self.built = True

    def call(self, token_ids, training=False):
        features = pooled_text_features(self.encoder, token_ids, training=training)
        return l2_normalize(ops.cast(self.projection(features), "float32"))


@keras.saving.register_keras_serializable(package="keras_contrastive")
class CLIP(ContrastiveModel):
    """CLIP: an image tower and a text tower trained to agree on which caption goes with which image.

    Each tower's features go through a linear projection (no bias) to a
    shared `embed_dim`-space and are L2-normalised; the logits are the cosine
    similarities times `exp(logit_scale)`, a learned scalar initialised to
    `ln(1 / 0.07)` and clamped to `<= ln(100)` after every step (paper
    section 2.5; it is excluded from weight decay). The loss is the mean of
    the image -> text and text -> image cross-entropies over the **global**
    batch (`losses.info_nce(symmetric=True)` gathers the other replicas'
    embeddings; the base class divides each replica's loss by the replica
    count). A locked tower (LiT) is frozen and always runs in inference
    mode; only its projection trains.

    Batches are `{"views": (images, texts)}`: float32 images in `[0, 1]`
    and int32 token ids `[B, L]` (0 = padding), built by
    `data.image_text.image_text_dataset`. With `lock_text=True`, `texts`
    may instead be the locked tower's float features `[B, D]`
    (`text_tower_features`, computed once for the whole data set): the
    frozen tower then costs nothing per step.

    Calling the model returns the image embeddings; `encode_images`,
    `encode_text` give numpy embeddings; `image_embedder()` and
    `text_embedder()` are the towers as models (for export and zero-shot).

    Args:
        image_encoder: `keras.Model`. Images in `[0, 1]` to features `[B, D]`.
        text_encoder: `keras_contrastive.text.TextEncoder` (token ids to
            `[B, L, D]`, mean-pooled over non-padding tokens), or a model
            mapping token ids to `[B, D]`.
        embed_dim: int. Size of the shared space. Defaults to `256`.
        logit_scale_init: float. Initial log-scale. Defaults to
            `ln(1 / 0.07)`.
        max_logit_scale: float. The clamp. Defaults to `ln(100)`.
        lock_image: bool. Freeze the image tower. Defaults to `False`.
        lock_text: bool. Freeze the text tower (LiT-style with a
            pre-trained text tower such as MiniLM). Defaults to `False`.
        **kwargs: `keras.Model` arguments.

    Example:

    >>> import numpy as np
    >>> from keras_contrastive.backbones import ConvNet
    >>> from keras_contrastive.text.testing import tiny_text_encoder
    >>> model = CLIP(ConvNet((16, 16, 3), width=4, stages=2), tiny_text_encoder(), embed_dim=8)
    >>> model.encode_images(np.zeros((2, 16, 16, 3), "float32")).shape, model.encode_text(["a cat"]).shape
    ((2, 8), (1, 8))
    """

    modality = "image_text"
    extra_metric_names = ("contrastive_accuracy", "logit_scale")
    # Scalars the optimizer must not decay (matched by variable name).
    no_weight_decay_names = ("logit_scale",)

    def __init__(
        self,
        image_encoder,
        text_encoder,
        embed_dim=256,
        logit_scale_init=math.log(1 / 0.07),
        max_logit_scale=math.log(100.0),
        lock_image=False,
        lock_text=False,
        **kwargs,
    ):
        kwargs.pop("probe_classes", None)  # no labels: CLIP needs no online probe
        super().__init__(image_encoder, **kwargs)
        if not isinstance(text_encoder, keras.Model):
            raise ValueError(
                f"{type(self).__name__} text_encoder must be a keras.Model mapping token ids to features (e.g. "
                f"keras_contrastive.text.build_text_encoder('minilm')), received {type(text_encoder).__name__}."
            )
        if int(embed_dim) < 1:
            raise ValueError(f"{type(self).__name__} embed_dim must be >= 1, received embed_dim={embed_dim!r}.")
        self.text_encoder = text_encoder
        self.embed_dim = int(embed_dim)
        self.logit_scale_init = float(logit_scale_init)
        self.max_logit_scale = float(max_logit_scale)
        self.lock_image = bool(lock_image)
        self.lock_text = bool(lock_text)
        if self.lock_image:
            image_encoder.trainable = False
        if self.lock_text:
            text_encoder.trainable = False
        self.text_feature_dim = int(getattr(text_encoder, "hidden_dim", 0) or text_encoder.output_shape[-1])
        self.image_projection = layers.Dense(self.embed_dim, use_bias=False, name="image_projection")
        self.image_projection.build((None, self.feature_dim))
        self.text_projection = layers.Dense(self.embed_dim, use_bias=False, name="text_projection")
        self.text_projection.build((None, self.text_feature_dim))
        self.logit_scale = LogitScale(self.logit_scale_init, self.max_logit_scale, name="logit_scale")
        self._text_features_fn = None

    def clear_traced_functions(self):
        super().clear_traced_functions()
        self._text_features_fn = None

    def compile(self, optimizer="rmsprop", *args, **kwargs):
        """`keras.Model.compile`, then `no_weight_decay_names` (`logit_scale`) are added to the optimizer's
        weight-decay exclusions (keeping those it already has)."""
        super().compile(optimizer, *args, **kwargs)
        inner = getattr(self.optimizer, "inner_optimizer", self.optimizer)  # LossScaleOptimizer wraps it
        if getattr(inner, "weight_decay", None) and hasattr(inner, "exclude_from_weight_decay"):
            names, variables = keras_internals.excluded_from_weight_decay(inner)
            inner.exclude_from_weight_decay(var_names=sorted(names | set(self.no_weight_decay_names)))
            keras_internals.add_excluded_variables(inner, variables)

    # --- towers ---------------------------------------------------------------------------------------------
    def embed_images(self, images, training=False):
        """L2-normalised float32 image embeddings `[B, embed_dim]`."""
        features = self.encoder(images, training=training and not self.lock_image)
        return l2_normalize(ops.cast(self.image_projection(features), "float32"))

    def text_tower_features(self, token_ids, training=False):
        """The text tower's pooled features `[B, D]` (before the projection)."""
        return pooled_text_features(self.text_encoder, token_ids, training=training and not self.lock_text)

    def embed_texts(self, texts, training=False):
        """L2-normalised text embeddings of token ids `[B, L]`, or of pooled tower features `[B, D]`
        (float; only with `lock_text`, see the class docstring)."""
        if "float" in keras.backend.standardize_dtype(texts.dtype):
            if not self.lock_text:
                raise ValueError(
                    f"{type(self).__name__} received float text features, which stand for a frozen text tower: "
                    "set lock_text=True, or pass int32 token ids."
                )
            features = ops.cast(texts, "float32")
        else:
            features = self.text_tower_features(texts, training=training)
        return l2_normalize(ops.cast(self.text_projection(features), "float32"))

    def call(self, inputs, training=False):
        return self.embed_images(inputs, training=training)

    def compute_contrastive_loss(self, views, training=False):
        if len(views) != 2:
            raise ValueError(f"CLIP takes 2 views per example, (images, texts); received {len(views)}.")
        images, texts = views
        image_embeddings = self.embed_images(images, training=training)
        text_embeddings = self.embed_texts(texts, training=training)
        scale = self.logit_scale()
        # Symmetric InfoNCE over the global batch (paper figure 3): image -> text and text -> image.
        loss, logits, labels = info_nce(
            image_embeddings, text_embeddings, temperature=1.0 / scale, symmetric=True, normalize=False,
            return_logits=True,
        )  # fmt: skip
        logs = {"contrastive_accuracy": top1_accuracy(logits, labels), "logit_scale": scale}
        return loss, logs, image_embeddings

    def after_step(self, state=None):
        self.logit_scale.clamp()

    # --- numpy helpers --------------------------------------------------------------------------------------
    def encode_images(self, images, batch_size=256):
        """float32 numpy embeddings `[N, embed_dim]` of images (uint8 pixels are divided by 255)."""
        images = np.asarray(images)
        if images.dtype == np.uint8:
            images = images.astype("float32") / 255.0
        return np.asarray(self.image_embedder().predict(images, batch_size=batch_size, verbose=0), "float32")

    def tokenize(self, sentences):
        """int32 token ids `[N, L]` of a list of strings, by the text tower's tokenizer."""
        if getattr(self.text_encoder, "tokenizer", None) is None:
            raise ValueError("This CLIP's text tower has no tokenizer: pass token ids instead of strings.")
        return self.text_encoder.tokenize(list(sentences))

    def encode_text(self, sentences, batch_size=256):
        """float32 numpy embeddings `[N, embed_dim]` of a list of strings."""
        embedder = self.text_embedder()
        return self._by_length(sentences, batch_size, lambda ids: keras.ops.convert_to_numpy(embedder(ids)))

    def _by_length(self, sentences, batch_size, fn):
        """`fn(token ids)` over `sentences` in batches of similar length, padding trimmed; rows in input order."""
        from keras_contrastive.text.encoder import embed_by_length, trim_padding

        sentences = list(sentences)
        ids = self.tokenize(sentences)
        pad_id = int(getattr(self.text_encoder, "pad_id", 0))
        return embed_by_length(
            sentences, batch_size, lambda index: fn(trim_padding(ids[index], pad_id)), self.embed_dim
        )

    def text_features(self, sentences, batch_size=256):
        """float32 numpy pooled features `[N, D]` of the (locked) text tower, for training with cached text."""
        import tensorflow as tf

        if self._text_features_fn is None:
            self._text_features_fn = tf.function(
                lambda ids: self.text_tower_features(ids), input_signature=[tf.TensorSpec([None, None], tf.int32)]
            )
        return self._by_length(sentences, batch_size, lambda ids: self._text_features_fn(ids).numpy())

    def image_embedder(self):
        """The image tower and its projection as a functional model: images `[B, H, W, C]` in `[0, 1]` to
        L2-normalised embeddings (what `export.export_encoder` exports)."""
        inputs = keras.Input(tuple(self.encoder.input_shape[1:]), name="images")
        return keras.Model(inputs, self.embed_images(inputs), name="clip_image_tower")

    def text_embedder(self):
        """The text tower and its projection: token ids to L2-normalised embeddings (`TextEmbedder`)."""
        return TextEmbedder(self.text_encoder, self.text_projection, name="clip_text_tower")

    # --- serialization --------------------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.pop("probe_classes", None)
        config["image_encoder"] = config.pop("encoder")
        config.update(
            {
                "text_encoder": keras.layers.serialize(self.text_encoder),
                "embed_dim": self.embed_dim,
                "logit_scale_init": self.logit_scale_init,
                "max_logit_scale": self.max_logit_scale,
                "lock_image": self.lock_image,
                "lock_text": self.lock_text,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        import keras_contrastive.text.encoder  # noqa: F401 (registers TextEncoder)
        import keras_contrastive.text.tokenizer  # noqa: F401 (registers SentenceTokenizer)

        config = copy.deepcopy(config)
        config["image_encoder"] = keras.layers.deserialize(config["image_encoder"])
        config["text_encoder"] = keras.layers.deserialize(config["text_encoder"])
        return cls(**config)

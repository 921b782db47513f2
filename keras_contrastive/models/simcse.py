"""SimCSE: Gao, Yao and Chen, 2021, https://arxiv.org/abs/2104.08821."""

import copy

import keras
import numpy as np
from keras import layers, ops

from keras_contrastive.distributed import cross_replica_concat
from keras_contrastive.losses import info_nce, top1_accuracy
from keras_contrastive.models.contrastive_model import ContrastiveModel
from keras_contrastive.pooling import mean_pool

POOLINGS = ("cls", "mean")


@keras.saving.register_keras_serializable(package="keras_contrastive")
class SimCSE(ContrastiveModel):
    """SimCSE: sentence embeddings from InfoNCE over in-batch negatives.

    Batches are `{"views": (token_ids,)}` for the unsupervised mode (each
    sentence goes through the encoder twice in one batched call: dropout is
    the only noise, paper section 3), `{"views": (anchor, positive)}` for
    pairs, or `{"views": (anchor, positive, hard_negative)}` for the
    supervised mode (section 4: each anchor's candidates are every positive
    and every hard negative of the global batch, positives first, so the
    label of anchor `i` is its global row). Token ids are int32 `[B, L]`,
    0 = padding; build them with `keras_contrastive.data.text_dataset`.

    While training, the pooled output goes through an MLP (dense + tanh, as
    BERT's pooler); with `mlp_only_train=True` the embeddings (`call`,
    `predict`, export) are the pooled output without it (the paper's
    unsupervised setting).

    Args:
        encoder: `keras_contrastive.text.TextEncoder`. Token ids to token
            features `[B, L, D]`.
        pooling: str. `"cls"` (the `[CLS]` token) or `"mean"` (average of
            non-padding tokens). Defaults to `"cls"`.
        mlp_only_train: bool. Use the MLP in training only. Defaults to
            `True`.
        use_mlp: bool. `False` drops the MLP altogether: the loss sees the
            pooled output itself, as the embeddings do (fine-tuning a
            pre-trained sentence encoder, whose pooled output already is
            the embedding, without a freshly initialised layer in the way).
            Defaults to `True`.
        temperature: float. InfoNCE temperature. Defaults to `0.05`.
        crop: float. In the unsupervised mode, each of the two views keeps
            a random contiguous span of `1 - crop` of the sentence's tokens
            (the "crop" augmentation of the paper's Table 1) on top of
            dropout; `0` = dropout only, the paper's unsupervised SimCSE.
            Defaults to `0.0`.
        symmetric: bool. Also score each positive against every anchor of
            the global batch and average the two directions (as CLIP; the
            hard negatives stay on the anchor side). Defaults to `False`.
        probe_classes: int or None. Online probe (unused for text).
            Defaults to `None`.

    Example:

    >>> from keras_contrastive.text import build_text_encoder
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "cat", "dog"]
    >>> encoder = build_text_encoder(
    ...     "small_transformer", vocabulary=vocab, num_layers=1, num_heads=2, hidden_dim=8,
    ...     intermediate_dim=16, sequence_length=8)
    >>> model = SimCSE(encoder, pooling="mean")
    >>> model.encode(["a cat", "a dog"]).shape
    (2, 8)
    """

    modality = "text"
    extra_metric_names = ("contrastive_accuracy",)

    def __init__(
        self,
        encoder,
        pooling="cls",
        mlp_only_train=True,
        temperature=0.05,
        crop=0.0,
        use_mlp=True,
        symmetric=False,
        probe_classes=None,
        **kwargs,
    ):
        super().__init__(encoder, probe_classes=probe_classes, **kwargs)
        if pooling not in POOLINGS:
            raise ValueError(f"SimCSE pooling must be one of {POOLINGS}, received pooling={pooling!r}.")
        if temperature <= 0:
            raise ValueError(f"SimCSE temperature must be > 0, received temperature={temperature!r}.")
        self.pooling = pooling
        self.mlp_only_train = mlp_only_train
        self.temperature = temperature
        if not 0.0 <= crop < 1.0:
            raise ValueError(f"SimCSE crop is the fraction of tokens removed, in [0, 1), received crop={crop!r}.")
        self.crop = crop
        self._crop_seed = keras.random.SeedGenerator(0, name="crop_seed") if crop else None
        self.pad_id = int(getattr(encoder, "pad_id", 0))
        self._embed_fn = None
        self.use_mlp = bool(use_mlp)
        self.symmetric = bool(symmetric)
        self.mlp = None
        if self.use_mlp:
            self.mlp = layers.Dense(self.feature_dim, activation="tanh", name="mlp")
            self.mlp.build((None, self.feature_dim))

    def _project(self, pooled, training=False):
        return pooled if self.mlp is None else self.mlp(pooled, training=training)

    def clear_traced_functions(self):
        super().clear_traced_functions()
        self._embed_fn = None

    def pool(self, token_ids, training=False):
        """Pooled encoder output `[B, D]` (no MLP)."""
        sequence = self.encoder(token_ids, training=training)
        if self.pooling == "cls":
            return sequence[:, 0]
        return mean_pool(sequence, token_ids, self.pad_id)

    def call(self, inputs, training=False):
        pooled = self.pool(inputs, training=training)
        return pooled if self.mlp_only_train else self._project(pooled, training=training)

    def compute_contrastive_loss(self, views, training=False):
        if not 1 <= len(views) <= 3:
            raise ValueError(
                "SimCSE takes 1 view (unsupervised: each sentence twice), 2 (anchor, positive) or 3 (anchor, "
                f"positive, hard negative), received {len(views)}."
            )
        if len(views) == 1:
            views = (views[0], views[0])
            if self.crop and training:
                views = tuple(self._random_crop(v) for v in views)
        n = ops.shape(views[0])[0]
        # One batched call: every row draws its own dropout mask (section 3).
        pooled = self.pool(ops.concatenate(views, axis=0), training=training)
        z = self._project(pooled, training=training)
        anchor, positive = z[:n], z[n : 2 * n]
        # Hard negatives of every replica join the candidates after all the
        # positives (equation (5)); info_nce gathers the positives itself.
        negatives = cross_replica_concat(z[2 * n :]) if len(views) == 3 else None
        loss, logits, labels = info_nce(
            anchor,
            positive,
            negatives=negatives,
            temperature=self.temperature,
            symmetric=self.symmetric,
            return_logits=True,
        )
        return loss, {"contrastive_accuracy": top1_accuracy(logits, labels)}, pooled[:n]

    def _random_crop(self, token_ids):
        """Keeps `[CLS]`, a random span of `ceil((1 - crop) n)` of the `n` word pieces, and `[SEP]`,
        packed to the left (padding after)."""
        ids = ops.cast(token_ids, "int32")
        length = ops.shape(ids)[1]
        is_token = ops.not_equal(ids, self.pad_id)
        n = ops.maximum(ops.sum(ops.cast(is_token, "int32"), axis=1) - 2, 0)
        keep = ops.minimum(ops.maximum(ops.cast(ops.ceil(ops.cast(n, "float32") * (1.0 - self.crop)), "int32"), 1), n)
        draw = keras.random.uniform(ops.shape(n), seed=self._crop_seed)
        start = 1 + ops.cast(ops.floor(draw * ops.cast(n - keep + 1, "float32")), "int32")
        position = ops.arange(length, dtype="int32")[None, :]
        kept = ops.logical_or(
            ops.logical_and(position >= start[:, None], position < (start + keep)[:, None]),
            ops.logical_or(ops.equal(position, 0), ops.equal(position, (n + 1)[:, None])),
        )
        kept = ops.logical_and(kept, is_token)
        order = ops.argsort(ops.where(kept, position, position + length), axis=1)
        return ops.take_along_axis(ops.where(kept, ids, self.pad_id), order, axis=1)

    def encode(self, sentences, batch_size=64, normalize=True):
        """L2-normalised (unless `normalize=False`) float32 embeddings `[N, D]` of a list of strings.

        Sentences are tokenized by the encoder's tokenizer, sorted by length
        and batched with the padding shared by a whole batch removed (same
        result, less compute)."""
        from keras_contrastive.text.encoder import embed_by_length, trim_padding

        sentences = list(sentences)

        def embed_batch(index):
            ids = trim_padding(self.encoder.tokenize([sentences[i] for i in index]), self.pad_id)
            return keras.ops.convert_to_numpy(self._embed(ids))

        out = embed_by_length(sentences, batch_size, embed_batch, dim=self.feature_dim)
        if not normalize:
            return out
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def _embed(self, token_ids):
        if self._embed_fn is None:
            import tensorflow as tf

            self._embed_fn = tf.function(
                lambda ids: ops.cast(self(ids, training=False), "float32"),
                input_signature=[tf.TensorSpec([None, None], tf.int32)],
            )
        return self._embed_fn(token_ids)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pooling": self.pooling,
                "mlp_only_train": self.mlp_only_train,
                "temperature": self.temperature,
                "crop": self.crop,
                "use_mlp": self.use_mlp,
                "symmetric": self.symmetric,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        import keras_contrastive.text.encoder  # noqa: F401 (registers TextEncoder)
        import keras_contrastive.text.tokenizer  # noqa: F401 (registers SentenceTokenizer)

        return super().from_config(copy.deepcopy(config))

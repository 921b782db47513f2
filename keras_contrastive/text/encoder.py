"""`TextEncoder`: a tokenizer and a BERT-family backbone that maps token ids to token features."""

import copy

import keras
import numpy as np
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="keras_contrastive")
class TextEncoder(keras.Model):
    """Token ids `[B, L]` (0 = `[PAD]`) to token features `[B, L, D]`.

    Wraps a keras-hub `BertBackbone` (a preset or one built from scratch)
    and carries the `SentenceTokenizer` that produces its inputs, so a saved
    method restores both. The padding mask is derived from the ids, so the
    training data is one int32 array per view. Pooling (`[CLS]` or mean) is
    the method's choice (`models.SimCSE`).

    Args:
        backbone: `keras_hub.models.BertBackbone` (or any backbone taking
            `token_ids`, `segment_ids`, `padding_mask` and returning
            `sequence_output`).
        tokenizer: `keras_contrastive.text.SentenceTokenizer`.
        **kwargs: `keras.Model` arguments.
    """

    def __init__(self, backbone, tokenizer, **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.hidden_dim = int(backbone.hidden_dim)
        self.pad_id = int(tokenizer.pad_id)
        # BERT's pooler is not on any path here (pooling is the method's): freeze it, so
        # optimizers see no variable without a gradient.
        for layer in getattr(backbone, "layers", ()):
            if layer.name == "pooled_dense":
                layer.trainable = False
        self.built = True

    @property
    def output_shape(self):
        return (None, None, self.hidden_dim)

    @property
    def input_shape(self):
        return (None, None)

    def call(self, token_ids, training=False):
        token_ids = ops.cast(token_ids, "int32")
        padding_mask = ops.cast(ops.not_equal(token_ids, self.pad_id), "int32")
        outputs = self.backbone(
            {"token_ids": token_ids, "segment_ids": ops.zeros_like(token_ids), "padding_mask": padding_mask},
            training=training,
        )
        return outputs["sequence_output"] if isinstance(outputs, dict) else outputs

    def tokenize(self, sentences, sequence_length=None):
        """int32 token ids of a list of strings (numpy)."""
        return self.tokenizer(tf.constant(list(sentences), dtype=tf.string), sequence_length=sequence_length).numpy()

    def get_config(self):
        config = super().get_config()
        config.update(
            {"backbone": keras.layers.serialize(self.backbone), "tokenizer": keras.layers.serialize(self.tokenizer)}
        )
        return config

    @classmethod
    def from_config(cls, config):
        import keras_hub  # noqa: F401 (registers the backbone classes)

        config = copy.deepcopy(config)
        config["backbone"] = keras.layers.deserialize(config["backbone"])
        config["tokenizer"] = keras.layers.deserialize(config["tokenizer"])
        return cls(**config)


def trim_padding(token_ids, pad_id=0):
    """Drops the trailing columns that are padding in every row (same features, less compute)."""
    token_ids = np.asarray(token_ids)
    used = np.any(token_ids != pad_id, axis=0)
    length = int(np.max(np.nonzero(used)[0])) + 1 if used.any() else 1
    return token_ids[:, :length]


def length_sorted_batches(sentences, batch_size):
    """Index arrays, `batch_size` at a time, of `sentences` sorted by length (characters; ties in input order).

    Each batch then pads to a length close to its sentences' own (sentence-transformers' `encode` sorts the
    same way); write each batch's rows back with `out[index] = ...` to keep the input order."""
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, received {batch_size}.")
    order = np.argsort(np.asarray([len(s) for s in sentences], dtype="int64"), kind="stable")
    return [order[i : i + int(batch_size)] for i in range(0, len(order), int(batch_size))]


def embed_by_length(sentences, batch_size, embed_batch, dim=0):
    """float32 `[N, D]`: `embed_batch(index)` (the rows of the sentences at `index`, an index array from
    `length_sorted_batches`) over every batch, written back in input order; `[0, dim]` for no sentences."""
    out = None
    for index in length_sorted_batches(sentences, batch_size):
        rows = np.asarray(embed_batch(index), dtype="float32")
        if out is None:
            out = np.zeros((len(sentences), rows.shape[1]), dtype="float32")
        out[index] = rows
    return out if out is not None else np.zeros((0, dim), dtype="float32")

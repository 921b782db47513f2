"""Export a sentence-embedding model as a SavedModel that takes raw strings.

The signature tokenizes inside the graph (TensorFlow Text ops), so a client
sends sentences and gets L2-normalised embeddings. Loading it needs the ops
registered: `import tensorflow_text` before `tf.saved_model.load` (done by
`load_text_export`); TF Serving needs a build with the TF Text ops (stock TF
Serving has them).

Speed: the token ids are cut to the batch's longest sentence before the
encoder runs (a batch of 13-word sentences computes ~20 tokens, not the
tokenizer's 128), and the weights are frozen into the graph
(`export.frozen`), so an int8 export computes in float32 without
dequantizing its kernels on every call. `embed_with_export` sorts sentences
by length so each batch holds sentences of similar length.
"""

import os

import tensorflow as tf

from keras_contrastive.export.export_encoder import (
    _check_finite_weights,
    write_archive,
)
from keras_contrastive.export.frozen import CapturesResources, FrozenArchive

SERVING_DEFAULT = "serving_default"


def trim_padding_graph(token_ids, pad_id):
    """`token_ids` `[B, L]` without the trailing columns that are padding in every row (at least one column
    kept): `text.encoder.trim_padding` in graph ops, so a signature computes only the tokens its batch holds."""
    used = tf.reduce_any(tf.not_equal(token_ids, pad_id), axis=0)
    positions = tf.range(1, tf.shape(token_ids)[1] + 1)
    length = tf.maximum(tf.reduce_max(tf.where(used, positions, 0)), 1)
    return token_ids[:, :length]


def _build_archive(model):
    tokenizer = model.encoder.tokenizer
    pad_id = int(tokenizer.pad_id)

    def serving_default(sentences):
        # Tokenized (and truncated) at the tokenizer's sequence_length, as before; then cut to the batch's longest.
        ids = trim_padding_graph(tokenizer(sentences), pad_id)
        embedding = tf.cast(model(ids, training=False), tf.float32)
        return {"embedding": tf.math.l2_normalize(embedding, axis=-1)}

    signature = [tf.TensorSpec([None], tf.string, name="sentences")]
    try:
        archive = FrozenArchive()
        archive.add_endpoint(name=SERVING_DEFAULT, fn=serving_default, input_signature=signature)
    except CapturesResources:
        # A tokenizer holding a resource (a SentencePiece model): weights stay variables, the tokenizer tracked.
        import keras

        archive = keras.export.ExportArchive()
        archive.track(tokenizer)
        archive.add_endpoint(name=SERVING_DEFAULT, fn=serving_default, input_signature=signature)
    return archive


def export_text_encoder(model, base_dir, *, version=None, assets=None, overwrite=False):
    """Write a sentence-embedding model as SavedModel `base_dir/<version>/` (TF Serving layout).

    Signature `serving_default`: input `sentences`, string `[None]` (raw
    UTF-8 text; tokenized and truncated in the graph) → output `embedding`,
    float32 `[None, D]`, L2-normalised (cosine similarity = dot product).
    Written to a hidden sibling directory and renamed into place, never over
    an existing version unless `overwrite` (as `export.export_encoder`).

    Args:
        model: `models.SimCSE` (any model whose `encoder` has a `tokenizer`
            and whose call maps token ids to embeddings).
        base_dir: str. Model directory, e.g. `savedmodels/simcse_minilm`.
        version: int or None. Version directory; `None` = next free one.
            Defaults to `None`.
        assets: dict or None. `{relative_filename: str or bytes}` written
            under `<version>/assets/`. Defaults to `None`.
        overwrite: bool. Replace an existing version. Defaults to `False`.

    Returns:
        The version directory, as a str.
    """
    if getattr(getattr(model, "encoder", None), "tokenizer", None) is None:
        raise ValueError(
            f"export_text_encoder needs a model whose encoder carries a tokenizer (a TextEncoder); received "
            f"{type(model).__name__}."
        )
    _check_finite_weights(model)
    return write_archive(_build_archive(model), base_dir, version=version, assets=assets, overwrite=overwrite)


def load_text_export(path):
    """Load an `export_text_encoder` SavedModel (registers the TF Text ops first)."""
    import tensorflow_text  # noqa: F401 (registers the tokenizer ops)

    return tf.saved_model.load(os.fspath(path))


def embed_with_export(loaded, sentences, batch_size=64):
    """Embeddings `[N, D]` of `sentences` from a loaded export's `serving_default`, in input order.

    Sentences are sent `batch_size` at a time, sorted by length (`length_sorted_batches`), so each batch pads
    to a length close to its sentences'."""
    from keras_contrastive.text.encoder import embed_by_length

    fn = loaded.signatures[SERVING_DEFAULT]
    sentences = list(sentences)

    def embed_batch(index):
        return fn(sentences=tf.constant([sentences[i] for i in index], dtype=tf.string))["embedding"].numpy()

    return embed_by_length(sentences, batch_size, embed_batch)

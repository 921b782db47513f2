"""Export a sentence-embedding model as a SavedModel that takes raw strings.

The signature tokenizes inside the graph (TensorFlow Text ops), so a client
sends sentences and gets L2-normalised embeddings. Loading it needs the ops
registered: `import tensorflow_text` before `tf.saved_model.load` (done by
`load_text_export`); TF Serving needs a build with the TF Text ops.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive.export.export_encoder import (
    _check_finite_weights,
    write_archive,
)

SERVING_DEFAULT = "serving_default"


def _build_archive(model):
    tokenizer = model.encoder.tokenizer

    def serving_default(sentences):
        ids = tokenizer(sentences)
        embedding = tf.cast(model(ids, training=False), tf.float32)
        return {"embedding": tf.math.l2_normalize(embedding, axis=-1)}

    archive = keras.export.ExportArchive()
    # Only the tokenizer (its lookup tables) is tracked: the endpoint captures the model's variables already, and
    # tracking the Keras model as well saved every weight twice (see export_encoder._build_archive).
    archive.track(tokenizer)
    archive.add_endpoint(
        name=SERVING_DEFAULT,
        fn=serving_default,
        input_signature=[tf.TensorSpec([None], tf.string, name="sentences")],
    )
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


def embed_with_export(loaded, sentences, batch_size=256):
    """Embeddings `[N, D]` of `sentences` from a loaded export's `serving_default`."""
    fn = loaded.signatures[SERVING_DEFAULT]
    out = [
        fn(sentences=tf.constant(list(sentences[i : i + batch_size]), dtype=tf.string))["embedding"].numpy()
        for i in range(0, len(sentences), batch_size)
    ]
    return np.concatenate(out, axis=0) if out else np.zeros((0, 0), dtype="float32")

"""Export a retrieval model: a raw query in, the top-k ids and scores of a corpus held in the model out.

`export_retrieval(encoder_dir, vectors, ids, "savedmodels/search")` wraps an encoder SavedModel written by
`export_encoder` or `export.text_export.export_text_encoder` (called through its own signatures, so its ops
are unchanged) with the corpus's vectors and ids (variables) and a matrix product and `tf.math.top_k`, both
core ops: the export loads wherever the encoder loads (stock TF Serving for the TF Text ops it registers).

| encoder | signature | input | output |
|---|---|---|---|
| text | `serving_default` | `sentences` string `[B]` | `ids` string `[B, k]`, `scores` float32 `[B, k]` |
| image | `serving_default` | `image_bytes` string `[B]` (PNG / JPEG) | `ids`, `scores` |
| image | `serve_images` | `images` float32 `[B, H, W, C]` in [0, 1] | `ids`, `scores` |
| both | `serve_embedding` | `embedding` float32 `[B, D]` | `ids`, `scores` |

Scores are inner products with the corpus's vectors, after L2-normalising the query when the corpus was
normalised (cosines); ties go to the lower row, as in `search.exact_search`.
"""

import os

import numpy as np
import tensorflow as tf

from keras_contrastive.export.export_encoder import SERVE_IMAGE_BYTES, SERVING_DEFAULT, write_archive
from keras_contrastive.export.loaded import load_saved_model

SERVE_IMAGES = "serve_images"
SERVE_EMBEDDING = "serve_embedding"


class _SavedModelArchive:
    """What `write_archive` needs of a `keras.export.ExportArchive`: `write_out(path)`, here for a `tf.Module`."""

    def __init__(self, module, signatures):
        self.module, self.signatures = module, signatures

    def write_out(self, path, verbose=False):
        tf.saved_model.save(self.module, path, signatures=self.signatures)


def export_retrieval(encoder_dir, vectors, ids, base_dir, *, k=10, normalize=True, version=None, assets=None):
    """Writes a retrieval SavedModel `base_dir/<version>/` (TF Serving layout), atomically (`write_archive`).

    Args:
        encoder_dir: str. A SavedModel version folder of a text encoder (`sentences` -> `embedding`) or an
            image encoder (`images` / `image_bytes` -> `embedding`).
        vectors: float32 `[N, D]`. The corpus's embeddings by that encoder.
        ids: list of str. The id of each row.
        base_dir: str. Model directory, e.g. `savedmodels/sentence_search`.
        k: int. Results per query, at most `N`. Defaults to `10`.
        normalize: bool. L2-normalise each query embedding first (as the vectors were). Defaults to `True`.
        version: int or None. Version folder; `None` = the next free one. Defaults to `None`.
        assets: dict or None. `{relative_filename: str or bytes}` written under `assets/`. Defaults to `None`.

    Returns:
        The version directory, as a str.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) != len(ids) or not len(ids):
        raise ValueError(f"{len(ids)} ids for vectors of shape {vectors.shape}: give one id per row, at least one.")
    if not 1 <= int(k) <= len(ids):
        raise ValueError(f"k={k} but the corpus holds {len(ids)} vectors: export with --k {len(ids)} or fewer.")
    encoder = load_saved_model(encoder_dir)
    signatures = dict(encoder.signatures)
    default = signatures[SERVING_DEFAULT]
    inputs = default.structured_input_signature[1]
    dim = int(vectors.shape[1])
    embedding_dim = default.structured_outputs["embedding"].shape[-1]
    if embedding_dim is not None and int(embedding_dim) != dim:
        raise ValueError(
            f"The encoder {encoder_dir} embeds into {embedding_dim} dimensions, the corpus's vectors have {dim}: "
            "export the index with the model that built it."
        )

    module = tf.Module()
    module.encoder = encoder
    module.vectors = tf.Variable(vectors, trainable=False, name="corpus_vectors")
    module.ids = tf.Variable(tf.constant([str(i) for i in ids], tf.string), trainable=False, name="corpus_ids")
    k = int(k)

    def top_k(embedding):
        embedding = tf.cast(embedding, tf.float32)
        if normalize:
            embedding = tf.math.l2_normalize(embedding, axis=-1)
        scores, rows = tf.math.top_k(tf.matmul(embedding, module.vectors, transpose_b=True), k=k)
        return {"ids": tf.gather(module.ids, rows), "scores": scores}

    served = {}
    spec = tf.TensorSpec([None, dim], tf.float32, name="embedding")
    served[SERVE_EMBEDDING] = tf.function(top_k, input_signature=[spec]).get_concrete_function()
    if "sentences" in inputs:

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")])
        def by_sentences(sentences):
            return top_k(default(sentences=sentences)["embedding"])

        served[SERVING_DEFAULT] = by_sentences.get_concrete_function()
    elif "images" in inputs and SERVE_IMAGE_BYTES in signatures:
        image_spec = inputs["images"]
        by_bytes_encoder = signatures[SERVE_IMAGE_BYTES]

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        def by_image_bytes(image_bytes):
            return top_k(by_bytes_encoder(image_bytes=image_bytes)["embedding"])

        @tf.function(input_signature=[tf.TensorSpec(image_spec.shape, tf.float32, name="images")])
        def by_images(images):
            return top_k(default(images=images)["embedding"])

        served[SERVING_DEFAULT] = by_image_bytes.get_concrete_function()
        served[SERVE_IMAGES] = by_images.get_concrete_function()
    else:
        raise ValueError(
            f"{encoder_dir}: its {SERVING_DEFAULT!r} takes {sorted(inputs)}; a retrieval export wraps a text "
            "encoder (sentences) or an image encoder (images and image_bytes), as the exporters write them."
        )
    return write_archive(_SavedModelArchive(module, served), os.fspath(base_dir), version=version, assets=assets)

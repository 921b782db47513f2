"""An index as a retrieval SavedModel for TF Serving: `keras-contrastive export --index DIR --to MODEL_DIR`.

The encoder is the index's model as a SavedModel: an export or zoo model is used as it is; a run, a `.keras`
file or `minilm` is exported first (`export_encoder` / `export.text_export.export_text_encoder`, to a temporary folder).
`export.retrieval_export` then wraps it with the corpus; see its table for the signatures.
"""

import json
import os
import shutil
import tempfile

import numpy as np

from keras_contrastive.search.index import Index, load_index

MAX_FLOATS = 2**28  # 1 GiB of float32 vectors


def _encoder_saved_model(index, tmp):
    """The version folder of a SavedModel of the index's encoder (exported into `tmp` if need be)."""
    from keras_contrastive.runs.sources import open_model

    recorded = index.meta.get("model_path")
    source = open_model(recorded if recorded and os.path.exists(recorded) else index.meta["model"])
    if source.exported is not None:
        return source.exported.path
    if source.kind == "clip_export":
        tower = "text_tower" if index.meta["modality"] == "text" else "image_tower"
        return source.towers[tower].path
    if source.modality == "text":
        from keras_contrastive.export.text_export import export_text_encoder

        return export_text_encoder(source.model, os.path.join(tmp, "encoder"))
    if source.modality == "image":
        from keras_contrastive.export import export_encoder

        return export_encoder(source.model.encoder, os.path.join(tmp, "encoder"))
    raise ValueError(
        f"{index.meta['model']} is an image-text run: export it (`keras-contrastive export --run`), index with its "
        "export folder, then export the index."
    )


def export_index(index, to, k=10, version=None):
    """Writes the retrieval SavedModel of `index` as `to/<version>/` (TF Serving layout), atomically.

    Args:
        index: str or `Index`. An index directory, or a loaded index.
        to: str. The model folder, e.g. `savedmodels/sentence_search`.
        k: int. Results per query (at most the index's size). Defaults to `10`.
        version: int or None. Version folder; `None` = the next free one. Defaults to `None`.

    Returns:
        The version directory, as a str.
    """
    from keras_contrastive.export.retrieval_export import export_retrieval

    index = index if isinstance(index, Index) else load_index(index)
    if index.count * index.dim > MAX_FLOATS:
        raise ValueError(
            f"{index.path} holds {index.count} x {index.dim} vectors, over the 1 GiB a retrieval SavedModel holds in "
            "memory: search it with `keras-contrastive search` (exact or --ann), or export an index of a part."
        )
    meta = {key: value for key, value in index.meta.items() if key != "probe"}
    tmp = tempfile.mkdtemp(prefix="keras-contrastive-retrieval-")
    try:
        encoder = _encoder_saved_model(index, tmp)
        assets = {
            "index.json": json.dumps({**meta, "k": int(k)}, indent=2) + "\n",
            "ids.txt": "\n".join(index.ids) + "\n",
        }
        return export_retrieval(
            encoder,
            np.asarray(index.vectors),
            index.ids,
            to,
            k=k,
            normalize=index.normalized,
            version=version,
            assets=assets,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

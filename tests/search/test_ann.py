"""`search.ann`: FAISS IVF against exact search on a small clustered corpus (the `ann` extra)."""

import numpy as np
import pytest

from keras_contrastive import search
from keras_contrastive.search.exact import exact_search

faiss = pytest.importorskip("faiss", reason='the approximate engine needs the ann extra: pip install -e ".[ann]"')


def _clustered(count, dim, clusters, seed):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype("float32")
    points = centres[rng.integers(0, clusters, count)] + 0.5 * rng.standard_normal((count, dim)).astype("float32")
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def test_ann_recall_against_exact_and_every_list_is_exact(tmp_path):
    vectors = _clustered(6000, 32, 50, seed=0)
    np.save(tmp_path / "v.npy", vectors)
    (tmp_path / "v.ids.txt").write_text("".join(f"doc{i}\n" for i in range(6000)), encoding="utf-8")
    queries = vectors[:200] + 0.05 * np.random.default_rng(1).standard_normal((200, 32)).astype("float32")
    index = search.build_index(_vector_model(32), str(tmp_path / "v.npy"), tmp_path / "index", ann=True, nlist=40)
    assert index.has_ann and index.meta["ann"] == {"engine": "faiss-ivf", "nlist": 40}
    _, exact = exact_search(index.vectors, queries / np.linalg.norm(queries, axis=1, keepdims=True), k=10)
    approximate = index.search(queries, k=10, engine="ann", nprobe=4)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approximate.rows, exact)])
    assert recall >= 0.9, recall
    everything = index.search(queries, k=10, engine="ann", nprobe=40)  # every list scanned: exact
    np.testing.assert_array_equal(everything.rows, exact)
    assert everything.ids[0][0] == f"doc{exact[0][0]}"
    reloaded = search.load_index(tmp_path / "index")  # engine "auto": the approximate one, as it was built
    assert reloaded.search(queries[:3], k=10, nprobe=40).ids == everything.ids[:3]


def _vector_model(dim):
    """A stand-in model of `dim` dimensions for files of vectors that are embeddings already."""
    from keras_contrastive.runs.embeddings import Embedder

    return Embedder(f"vectors{dim}", texts=lambda s, b: np.eye(len(s), dim, dtype="float32") + 0.1)

"""Approximate search for corpora past a few million vectors: FAISS's inverted-file index (IVF-Flat).

The vectors are clustered by k-means into `nlist` lists; a query scores the vectors of its `nprobe` nearest
lists only, exactly (inner product on the float32 vectors, nothing compressed). `benchmarks/bench_search.py`
measures its recall@10 and speed against exact search on 1M x 384 vectors.

Needs the `ann` extra: `pip install "keras-contrastive[ann]"` (faiss-cpu).
"""

import os

import numpy as np

ENGINE = "faiss-ivf"
FILE = "ann.faiss"
INSTALL = 'pip install "keras-contrastive[ann]"'


def require_faiss():
    """The `faiss` module, or a `ValueError` saying how to install it."""
    try:
        import faiss
    except ImportError:
        raise ValueError(
            f"Approximate search needs FAISS: {INSTALL} (faiss-cpu). Exact search needs nothing more: leave out "
            "--ann / use engine='exact'."
        ) from None
    return faiss


def default_nlist(count):
    """Inverted lists for `count` vectors: about `sqrt(count)` (1,000 for 1M: k-means and adding stay within a
    minute on 2 cores), at least 1, at most `count / 39` (FAISS's k-means wants 39 training points per centroid)."""
    return int(max(1, min(round(np.sqrt(count)), count // 39)))


class IVFIndex:
    """FAISS IVF-Flat over inner products.

    Args:
        index: a trained and filled `faiss.IndexIVFFlat`.
        nprobe: int. Lists scanned per query (more: higher recall, slower). Defaults to `32`.
    """

    def __init__(self, index, nprobe=32):
        self.index = index
        self.nprobe = int(nprobe)

    @classmethod
    def build(cls, vectors, nlist=None, nprobe=32, seed=0, train_size=None, block_size=65536):
        """Trains the lists' centroids on a sample of `vectors` (`train_size`, default `64 * nlist`) and adds
        every vector, `block_size` at a time (a memory-mapped array is read in blocks).

        Args:
            vectors: float32 `[N, D]`.
            nlist: int or None. Inverted lists. Defaults to `default_nlist(N)`.
            nprobe: int. Lists scanned per query. Defaults to `32`.
            seed: int. Seed of the training sample and of k-means. Defaults to `0`.
            train_size: int or None. Vectors k-means is trained on. Defaults to `64 * nlist`.
            block_size: int. Vectors added at a time. Defaults to `65536`.
        """
        faiss = require_faiss()
        count, dim = vectors.shape
        nlist = int(nlist or default_nlist(count))
        train_size = min(count, int(train_size or 64 * nlist))
        sample = np.sort(np.random.default_rng(seed).choice(count, train_size, replace=False))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
        for start in range(0, count, block_size):
            index.add(np.ascontiguousarray(vectors[start : start + block_size], dtype=np.float32))
        return cls(index, nprobe)

    def search(self, queries, k=10, nprobe=None):
        """`(scores, rows)` of the approximate `k` best rows per query, as `exact.exact_search`; rows are `-1`
        where fewer than `k` vectors were scanned."""
        self.index.nprobe = int(nprobe or self.nprobe)
        scores, rows = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), int(k))
        return scores, rows.astype(np.int64)

    def save(self, directory):
        faiss = require_faiss()
        faiss.write_index(self.index, os.path.join(directory, FILE))

    @classmethod
    def load(cls, directory, nprobe=32):
        faiss = require_faiss()
        return cls(faiss.read_index(os.path.join(directory, FILE)), nprobe)

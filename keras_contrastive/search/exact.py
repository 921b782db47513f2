"""Exact top-k inner-product search over a matrix of vectors, one block of rows at a time; NumPy only.

Memory is the vectors (often a memory-mapped `.npy`) plus a bounded working set: the scores of one block of
queries against one block of vectors (`query_block x block_size` float32, 32 MiB by default) and the best `k`
so far. After the first block, only the scores at or above each query's current k-th best are kept, so
choosing the top k costs a comparison per score rather than a partial sort.

Ties are broken by the lower row, as `np.argsort(-scores, kind="stable")` does, so the ids are those of a
brute-force NumPy search.
"""

import numpy as np

BLOCK_SIZE = 8192
QUERY_BLOCK = 1024


def check_k(k, count):
    """`k` as an int, or a `ValueError` naming the fix when it is not in `[1, count]`."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer; received {k!r}.")
    if k > count:
        raise ValueError(
            f"k={k} is larger than the index, which holds {count} vectors: ask for --k {count} or fewer, or index "
            "a larger corpus."
        )
    return int(k)


def _merge(best_scores, best_rows, rows, cand_scores, cand_rows, k):
    """The `k` best of each query's current best and its new candidates (`rows`: which query each is for)."""
    queries = len(best_scores)
    all_query = np.concatenate([np.repeat(np.arange(queries), k), rows])
    all_scores = np.concatenate([best_scores.ravel(), cand_scores])
    all_rows = np.concatenate([best_rows.ravel(), cand_rows])
    # By query, then score descending, then row ascending (the stable tie-break).
    order = np.lexsort((all_rows, -all_scores, all_query))
    starts = np.searchsorted(all_query[order], np.arange(queries))
    take = order[starts[:, None] + np.arange(k)]
    return all_scores[take], all_rows[take]


def _search_block_of_queries(vectors, queries, k, block_size):
    count = len(vectors)
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_rows = np.full((len(queries), k), count, dtype=np.int64)  # rows past the end lose every tie
    for start in range(0, count, block_size):
        block = np.asarray(vectors[start : start + block_size], dtype=np.float32)
        scores = queries @ block.T
        if start == 0 and scores.shape[1] > k:
            # The k-th largest score of each query; every score at or above it is a candidate (ties included).
            threshold = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
        else:
            threshold = best_scores[:, -1:]
        rows, cols = np.nonzero(scores >= threshold)
        if not len(rows):
            continue
        cand_scores = scores[rows, cols]
        best_scores, best_rows = _merge(best_scores, best_rows, rows, cand_scores, cols + start, k)
    return best_scores, best_rows


def exact_search(vectors, queries, k=10, block_size=BLOCK_SIZE, query_block=QUERY_BLOCK):
    """The `k` rows of `vectors` with the largest inner product with each query, best first.

    Args:
        vectors: float32 array `[N, D]` (a `np.memmap` is read one block at a time).
        queries: float array `[Q, D]`.
        k: int. Results per query, at most `N`. Defaults to `10`.
        block_size: int. Rows of `vectors` scored at a time. Defaults to `8192`.
        query_block: int. Queries scored at a time. Defaults to `1024`.

    Returns:
        `(scores, rows)`: float32 `[Q, k]` and int64 `[Q, k]`, each query's best first (ties: lower row
        first).

    Example:

    >>> vectors = np.eye(3, dtype="float32")
    >>> scores, rows = exact_search(vectors, np.array([[0.1, 0.9, 0.2]], "float32"), k=2)
    >>> rows.tolist(), scores.round(2).tolist()
    ([[1, 2]], [[0.9, 0.2]])
    """
    queries = np.asarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None]
    if queries.ndim != 2 or vectors.ndim != 2 or queries.shape[1] != vectors.shape[1]:
        raise ValueError(
            f"Queries of shape {queries.shape} do not match vectors of dimension {vectors.shape[-1]}: embed the "
            "queries with the model the vectors came from."
        )
    k = check_k(k, len(vectors))
    scores = np.empty((len(queries), k), dtype=np.float32)
    rows = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), query_block):
        part = slice(start, start + query_block)
        scores[part], rows[part] = _search_block_of_queries(vectors, queries[part], k, int(block_size))
    return scores, rows

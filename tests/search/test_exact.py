"""`search.exact_search`: the ids of a brute-force NumPy search, in blocks of any size, ties to the lower row."""

import numpy as np
import pytest

from keras_contrastive.search import exact_search


def _brute_force(vectors, queries, k):
    scores = queries @ vectors.T
    rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, rows, 1), rows


@pytest.mark.parametrize("block_size, query_block", [(8192, 1024), (7, 5), (1, 3), (1000, 1)])
def test_exact_search_equals_numpy_brute_force(block_size, query_block):
    # Small integers: every inner product is exact in float32, whatever order a BLAS kernel sums in (on an
    # AVX2 CPU, equal rows of normal floats scored an ulp apart by their place in the block), so ties are real
    # and many. Row 3 is scaled up so that it and its copies are its own best matches.
    rng = np.random.default_rng(0)
    vectors = rng.integers(-3, 4, (997, 16)).astype("float32")
    vectors[3] = 4 * rng.integers(1, 4, 16) * rng.choice([-1, 1], 16)
    vectors[500:510] = vectors[3]  # exact ties: the lower row must come first, as a stable argsort gives
    queries = np.concatenate([rng.integers(-3, 4, (40, 16)).astype("float32"), vectors[3:4]])
    scores, rows = exact_search(vectors, queries, k=12, block_size=block_size, query_block=query_block)
    want_scores, want_rows = _brute_force(vectors, queries, 12)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-5)
    assert rows[-1].tolist() == [3, *range(500, 510), rows[-1][-1]]


def test_exact_search_on_a_memory_mapped_file(tmp_path):
    vectors = np.random.default_rng(1).standard_normal((300, 8)).astype("float32")
    np.save(tmp_path / "v.npy", vectors)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    scores, rows = exact_search(mapped, vectors[:4], k=300, block_size=64)
    np.testing.assert_array_equal(rows, _brute_force(vectors, vectors[:4], 300)[1])
    assert sorted(rows[0].tolist()) == list(range(300)) and np.all(np.diff(scores, axis=1) <= 0)


@pytest.mark.parametrize(
    "k, message",
    [(11, "k=11 is larger than the index, which holds 10 vectors: ask for --k 10 or fewer"), (0, "positive integer")],
)
def test_bad_k_is_refused(k, message):
    with pytest.raises(ValueError, match=message):
        exact_search(np.ones((10, 4), "float32"), np.ones((1, 4), "float32"), k=k)


def test_queries_of_another_dimension_are_refused():
    with pytest.raises(ValueError, match=r"Queries of shape \(2, 3\) do not match vectors of dimension 4"):
        exact_search(np.ones((10, 4), "float32"), np.ones((2, 3), "float32"), k=1)

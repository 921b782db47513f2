"""Image-text retrieval: recall at K in both directions, beside the recall of a random ranking.

A query's positives are the items paired with it; when captions are given,
every image whose caption is the same string counts as well (two stamps
captioned "A frog." are both right answers to "A frog.").
"""

import numpy as np
from scipy.special import gammaln

KS = (1, 5, 10)


def _chance(num_positives, total, k):
    """P(at least one of `num_positives` items among the first `k` of a random order of `total`)."""
    k = min(k, total)
    log_none = (
        gammaln(total - num_positives + 1) - gammaln(total - num_positives - k + 1) - gammaln(total + 1)
        + gammaln(total - k + 1)
    )  # fmt: skip
    none = np.where(total - num_positives >= k, np.exp(log_none), 0.0)
    return float(np.mean(1.0 - none))


def _recall(similarity, positives, k):
    # A query's rank = how many non-positive candidates score strictly above its best positive.
    best_positive = np.max(np.where(positives, similarity, -np.inf), axis=1, keepdims=True)
    rank = np.sum((similarity > best_positive) & ~positives, axis=1)
    return float(np.mean(rank < k))


def retrieval_recall(image_embeddings, text_embeddings, captions=None, ks=KS):
    """Recall@K of image -> text and text -> image retrieval over `N` pairs (row `i` with row `i`).

    Args:
        image_embeddings: array `[N, E]`, L2-normalised.
        text_embeddings: array `[N, E]`, L2-normalised.
        captions: list of str or None. If given, pairs with equal captions
            are all positives of each other's queries. Defaults to `None`.
        ks: tuple of int. Defaults to `(1, 5, 10)`.

    Returns:
        dict with `image_to_text_r{k}`, `text_to_image_r{k}` and each one's
        `..._chance` (the expected recall of a random ranking), plus
        `pairs`.
    """
    images = np.asarray(image_embeddings, dtype=np.float64)
    texts = np.asarray(text_embeddings, dtype=np.float64)
    if images.shape != texts.shape or images.ndim != 2 or len(images) == 0:
        raise ValueError(
            f"retrieval_recall needs image and text embeddings of the same shape [N, E], N >= 1; received "
            f"{images.shape} and {texts.shape}."
        )
    n = len(images)
    if captions is None:
        positives = np.eye(n, dtype=bool)
    else:
        if len(captions) != n:
            raise ValueError(f"retrieval_recall: {len(captions)} captions for {n} pairs.")
        captions = np.asarray(captions, dtype=object)
        positives = captions[:, None] == captions[None, :]
    similarity = images @ texts.T  # [images, texts]
    counts = positives.sum(axis=1)
    out = {"pairs": n}
    for k in ks:
        out[f"image_to_text_r{k}"] = _recall(similarity, positives, k)
        out[f"text_to_image_r{k}"] = _recall(similarity.T, positives.T, k)
        out[f"image_to_text_r{k}_chance"] = out[f"text_to_image_r{k}_chance"] = _chance(counts, n, k)
    return out

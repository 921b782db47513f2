"""Weighted k-nearest-neighbour classification on cosine similarity."""

import numpy as np


def l2_normalize(features, epsilon=1e-12):
    """Scale every row to unit L2 norm (all-zero rows stay zero)."""
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, epsilon)


def knn_classify(
    train_features,
    train_labels,
    test_features,
    test_labels,
    *,
    k=200,
    temperature=0.1,
    num_classes=None,
    batch_size=256,
    bank_batch_size=65536,
):
    """Classify test features by a similarity-weighted vote of neighbours.

    The protocol of InstDisc (Wu et al. 2018, https://arxiv.org/abs/1805.01978,
    section 3.4) as in lightly's `knn_predict` benchmark: features are
    L2-normalised, the `k` training features with the highest cosine
    similarity `s` to a test feature vote for their class with weight
    `exp(s / temperature)`, and the class with the largest total wins (ties go
    to the smallest class index).

    Test features are processed `batch_size` at a time against the bank in
    blocks of `bank_batch_size`, keeping a running top-k, so memory stays at
    `batch_size * (bank_batch_size + k)` similarities however large the bank.

    Args:
        train_features: array `[N, D]`. The neighbour bank.
        train_labels: int array `[N]`. Labels in `[0, num_classes)`.
        test_features: array `[M, D]`. Features to classify.
        test_labels: int array `[M]`. True labels of the test features.
        k: int. Number of neighbours; capped at `N`. Defaults to `200`.
        temperature: float. Softmax-style temperature of the vote weights.
            Defaults to `0.1`.
        num_classes: int or `None`. Number of classes; `None` uses
            `1 + max(label)` over train and test labels. Defaults to `None`.
        batch_size: int. Test features per similarity block. Defaults to
            `256`.
        bank_batch_size: int. Bank features per similarity block. Defaults
            to `65536`.

    Returns:
        A dict with `top1` (test accuracy, fraction in `[0, 1]`), `k` (the
        number of neighbours actually used) and `temperature`.

    Example:

    >>> import numpy as np
    >>> train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    >>> knn_classify(train, [0, 0, 1], [[1.0, 0.2]], [0], k=2)["top1"]
    1.0
    """
    train_labels = np.asarray(train_labels).reshape(-1).astype(np.int64)
    test_labels = np.asarray(test_labels).reshape(-1).astype(np.int64)
    train = l2_normalize(train_features)
    test = l2_normalize(test_features)
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(
            f"Expected train and test features of shapes [N, D] and [M, D]. Received {train.shape} and {test.shape}."
        )
    if len(train) != len(train_labels) or len(test) != len(test_labels):
        raise ValueError(
            "Features and labels must have the same length. Received "
            f"{len(train)} train features, {len(train_labels)} train labels, "
            f"{len(test)} test features and {len(test_labels)} test labels."
        )
    if len(train) == 0:
        raise ValueError("`train_features` is empty.")
    if int(k) < 1:
        raise ValueError(f"`k` must be >= 1. Received {k}.")
    if not temperature > 0:
        raise ValueError(f"`temperature` must be > 0. Received {temperature}.")
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be >= 1. Received {batch_size}.")
    all_labels = np.concatenate([train_labels, test_labels])
    if np.any(all_labels < 0):
        raise ValueError("Labels must be non-negative integers.")
    if num_classes is None:
        num_classes = int(all_labels.max()) + 1
    elif all_labels.max() >= num_classes:
        raise ValueError(f"Labels must be < num_classes={num_classes}. Received a label {int(all_labels.max())}.")
    k = min(int(k), len(train))
    batch_size = int(batch_size)

    bank_batch_size = max(int(bank_batch_size), k)

    correct = 0
    for start in range(0, len(test), batch_size):
        block = test[start : start + batch_size]
        rows = np.arange(len(block))[:, None]
        top_similarity = np.zeros((len(block), 0), np.float32)
        neighbours = np.zeros((len(block), 0), np.int64)
        for bank_start in range(0, len(train), bank_batch_size):
            similarity = block @ train[bank_start : bank_start + bank_batch_size].T
            candidates = np.concatenate([top_similarity, similarity], axis=1)
            bank_indices = np.arange(bank_start, bank_start + similarity.shape[1])
            indices = np.concatenate([neighbours, np.broadcast_to(bank_indices, similarity.shape)], axis=1)
            if candidates.shape[1] > k:
                keep = np.argpartition(-candidates, k - 1, axis=1)[:, :k]
                candidates, indices = candidates[rows, keep], indices[rows, keep]
            top_similarity, neighbours = candidates, indices
        top_similarity = top_similarity.astype(np.float64)
        # Subtracting the row maximum scales a row's weights by one constant,
        # which leaves the vote unchanged and keeps exp() finite for small
        # temperatures.
        top_similarity -= top_similarity.max(axis=1, keepdims=True)
        weights = np.exp(top_similarity / temperature)
        # Sum the weights per (test row, class): a flat bincount is the
        # unbuffered scatter-add of lightly's `one_hot * weight` sum.
        slots = rows * num_classes + train_labels[neighbours]
        scores = np.bincount(
            slots.ravel(),
            weights=weights.ravel(),
            minlength=len(similarity) * num_classes,
        ).reshape(len(similarity), num_classes)
        predictions = np.argmax(scores, axis=1)
        correct += int(np.sum(predictions == test_labels[start : start + batch_size]))
    top1 = correct / len(test) if len(test) else 0.0
    return {"top1": float(top1), "k": k, "temperature": float(temperature)}

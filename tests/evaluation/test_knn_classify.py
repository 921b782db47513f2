import math

import numpy as np
import pytest

from keras_contrastive.evaluation import knn_classify


def reference_predictions(train, train_labels, test, k, temperature):
    """Plain-Python weighted k-NN written without NumPy vector ops."""

    def normalize(row):
        norm = math.sqrt(sum(v * v for v in row))
        return [v / norm for v in row]

    train = [normalize(row) for row in train.tolist()]
    predictions = []
    for query in test.tolist():
        query = normalize(query)
        sims = [sum(a * b for a, b in zip(query, row)) for row in train]
        nearest = sorted(range(len(train)), key=lambda i: -sims[i])[:k]
        top = max(sims[i] for i in nearest)
        votes = {}
        for i in nearest:
            label = int(train_labels[i])
            votes[label] = votes.get(label, 0.0) + math.exp((sims[i] - top) / temperature)
        best = max(votes.values())
        predictions.append(min(c for c, v in votes.items() if v == best))
    return np.array(predictions)


def angle_points(degrees):
    radians = np.deg2rad(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1).astype(np.float32)


def test_hand_computed_weighted_vote():
    # One class-0 point right next to the query, two class-1 points a bit
    # further, three class-2 points far away.
    train = angle_points([0, 35, -35, 150, 180, 210]) * [[1], [2], [3], [1], [1], [1]]
    train_labels = np.array([0, 1, 1, 2, 2, 2])
    query = angle_points([5])
    # Cosine similarities: cos 5 = 0.9962 (class 0), cos 30 = 0.8660 and
    # cos 40 = 0.7660 (class 1). With temperature 0.1 the class-0 weight
    # exp(9.962) = 21177 beats exp(8.660) + exp(7.660) = 5762 + 2120 = 7882.
    sharp = knn_classify(train, train_labels, query, [0], k=3, temperature=0.1)
    assert sharp["top1"] == 1.0
    assert sharp["k"] == 3
    # With temperature 10 the weights are nearly equal: the majority wins,
    # class 1 with exp(0.0866) + exp(0.0766) = 2.170 against exp(0.0996) = 1.105.
    flat = knn_classify(train, train_labels, query, [1], k=3, temperature=10.0)
    assert flat["top1"] == 1.0
    # With k=1 only the nearest neighbour votes.
    assert knn_classify(train, train_labels, query, [0], k=1)["top1"] == 1.0
    # Row scale does not matter (cosine similarity): scaling by 2 and 3 above
    # changed nothing, and class 2 is too far to ever be among the top 3.
    assert knn_classify(train, train_labels, query, [2], k=3)["top1"] == 0.0


@pytest.mark.parametrize(
    "k, temperature, batch_size",
    [(1, 0.1, 7), (5, 0.1, 1000), (20, 0.07, 1), (60, 0.5, 16), (500, 0.1, 9)],
)
def test_matches_plain_python_reference(k, temperature, batch_size):
    rng = np.random.default_rng(k)
    train = rng.normal(size=(60, 8)).astype(np.float32)
    train_labels = rng.integers(0, 4, size=60)
    test = rng.normal(size=(25, 8)).astype(np.float32)
    expected = reference_predictions(train, train_labels, test, k, temperature)
    # Scoring against the reference predictions makes top1 == 1 exactly when
    # every prediction agrees.
    result = knn_classify(
        train,
        train_labels,
        test,
        expected,
        k=k,
        temperature=temperature,
        num_classes=4,
        batch_size=batch_size,
    )
    assert result["top1"] == 1.0
    assert result["k"] == min(k, 60)
    # And against other labels, the fraction that agree.
    other = rng.integers(0, 4, size=25)
    scored = knn_classify(train, train_labels, test, other, k=k, temperature=temperature, batch_size=batch_size)
    assert scored["top1"] == pytest.approx(np.mean(expected == other))


def test_tiny_temperature_stays_finite():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(40, 4)).astype(np.float32)
    train_labels = rng.integers(0, 3, size=40)
    test = rng.normal(size=(10, 4)).astype(np.float32)
    # exp(1 / 0.001) overflows float64 without the max-subtraction.
    expected = reference_predictions(train, train_labels, test, 10, 0.001)
    result = knn_classify(train, train_labels, test, expected, k=10, temperature=0.001)
    assert result["top1"] == 1.0


def test_errors_name_the_problem():
    x = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="`k` must be >= 1. Received 0"):
        knn_classify(x, [0, 1, 2], x, [0, 1, 2], k=0)
    with pytest.raises(ValueError, match="Labels must be < num_classes=2. Received a label 2"):
        knn_classify(x, [0, 1, 2], x, [0, 1, 2], num_classes=2)
    with pytest.raises(ValueError, match="3 train features, 2 train labels"):
        knn_classify(x, [0, 1], x, [0, 1, 2])
    with pytest.raises(ValueError, match="`temperature` must be > 0"):
        knn_classify(x, [0, 1, 2], x, [0, 1, 2], temperature=0.0)


@pytest.mark.parametrize("k, bank_batch_size", [(1, 7), (5, 5), (20, 13), (60, 1)])
def test_a_bank_in_blocks_gives_the_reference_predictions(k, bank_batch_size):
    # The bank is compared in blocks with a running top-k (bounded memory for large banks): the same votes.
    rng = np.random.default_rng(100 + k)
    train = rng.normal(size=(60, 8)).astype(np.float32)
    train_labels = rng.integers(0, 4, size=60)
    test = rng.normal(size=(25, 8)).astype(np.float32)
    expected = reference_predictions(train, train_labels, test, k, 0.1)
    result = knn_classify(
        train, train_labels, test, expected, k=k, num_classes=4, batch_size=4, bank_batch_size=bank_batch_size
    )
    assert result["top1"] == 1.0

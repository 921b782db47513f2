import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from keras_contrastive.evaluation import linear_probe, standardize
from keras_contrastive.evaluation.linear_probe import _fit_softmax_regression


def gaussian_blobs(num_per_class, num_classes=4, dim=10, spread=0.5, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_classes, dim)) * 3.0
    labels = np.repeat(np.arange(num_classes), num_per_class)
    features = centres[labels] + spread * rng.normal(size=(len(labels), dim))
    order = rng.permutation(len(labels))
    return features[order].astype(np.float32), labels[order]


def noisy_linear_data(num, num_classes=3, dim=6, noise=1.0, seed=0):
    """Isotropic features; labels from a linear rule plus noise (not separable)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num, dim)).astype(np.float32)
    scores = x @ rng.normal(size=(dim, num_classes))
    y = np.argmax(scores + noise * rng.normal(size=scores.shape), axis=1)
    return x, y


def test_separable_blobs_are_classified():
    x, y = gaussian_blobs(150, seed=0)
    result = linear_probe(x[:400], y[:400], x[400:], y[400:])
    assert result["top1"] >= 0.95
    assert result["train_top1"] >= 0.95
    assert result["converged"] is True
    assert 0 < result["iterations"] < 1000
    assert result["l2"] == 1e-3


def test_shuffled_labels_give_chance():
    # Isotropic features whose true labels follow a linear rule: without
    # clusters, a classifier fit to shuffled labels cannot stumble on the
    # true labels, so its test accuracy is binomial around chance.
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3000, 10)).astype(np.float32)
    y = np.argmax(x @ rng.normal(size=(10, 4)), axis=1)
    x_train, y_train, x_test, y_test = x[:2000], y[:2000], x[2000:], y[2000:]
    true = linear_probe(x_train, y_train, x_test, y_test)
    shuffled = linear_probe(x_train, rng.permutation(y_train), x_test, y_test)
    assert true["top1"] >= 0.9
    chance = np.max(np.bincount(y_test)) / len(y_test)
    # 1000 test points: one standard deviation is about 0.015.
    assert shuffled["top1"] <= chance + 0.06
    assert shuffled["train_top1"] < 0.4


def test_invariant_to_feature_scale_and_offset():
    x, y = noisy_linear_data(180, seed=3)
    scale = np.float32(10.0) ** np.arange(-3, 3, dtype=np.float32)
    offset = np.arange(6, dtype=np.float32) * 7.0
    x_scaled = x * scale + offset
    a_train, a_test = standardize(x[:120], x[120:])
    b_train, b_test = standardize(x_scaled[:120], x_scaled[120:])
    np.testing.assert_allclose(b_train, a_train, atol=1e-4)
    np.testing.assert_allclose(b_test, a_test, atol=1e-4)
    np.testing.assert_allclose(a_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(a_train.std(axis=0), 1.0, atol=1e-5)
    plain = linear_probe(x[:120], y[:120], x[120:], y[120:])
    scaled = linear_probe(x_scaled[:120], y[:120], x_scaled[120:], y[120:])
    # Overlapping blobs, so the accuracy is not trivially 1 on both.
    assert plain["train_top1"] < 1.0
    assert scaled["top1"] == plain["top1"]
    assert scaled["train_top1"] == plain["train_top1"]


def test_zero_variance_columns_are_ignored():
    x, y = noisy_linear_data(150, dim=5, seed=4)
    x_train, x_test = x[:100], x[100:]
    constant_train = np.full((100, 2), [0.0, 5.0], dtype=np.float32)
    # Different values at test time must not leak through either.
    constant_test = np.full((50, 2), [3.0, -9.0], dtype=np.float32)
    padded_train = np.concatenate([x_train, constant_train], axis=1)
    padded_test = np.concatenate([x_test, constant_test], axis=1)
    s_train, s_test = standardize(padded_train, padded_test)
    assert np.all(np.isfinite(s_train)) and np.all(np.isfinite(s_test))
    assert np.all(s_train[:, 5:] == 0.0) and np.all(s_test[:, 5:] == 0.0)
    padded = linear_probe(padded_train, y[:100], padded_test, y[100:])
    assert padded["train_top1"] < 1.0
    plain = linear_probe(x_train, y[:100], x_test, y[100:])
    assert padded["top1"] == plain["top1"]
    assert padded["train_top1"] == plain["train_top1"]


def test_matches_scikit_learn_on_the_same_objective():
    x, y = gaussian_blobs(40, num_classes=3, dim=4, spread=2.0, seed=5)
    l2 = 1e-2
    weights, bias, result = _fit_softmax_regression(x, y, 3, l2=l2, max_iter=1000)
    assert result.success
    reference = LogisticRegression(C=1.0 / (l2 * len(x)), solver="lbfgs", tol=1e-10, max_iter=10000).fit(x, y)
    np.testing.assert_allclose(weights, reference.coef_.T, atol=2e-3)
    # The bias is identified only up to a constant shift.
    np.testing.assert_allclose(bias - bias.mean(), reference.intercept_ - reference.intercept_.mean(), atol=2e-3)


def test_labels_need_not_be_contiguous():
    x, y = gaussian_blobs(50, num_classes=3, seed=6)
    y = np.array([3, 7, 42])[y]
    result = linear_probe(x[:100], y[:100], x[100:], y[100:])
    assert result["top1"] >= 0.95


def test_reports_non_convergence():
    x, y = gaussian_blobs(50, num_classes=3, spread=2.0, seed=7)
    result = linear_probe(x, y, x, y, max_iter=2)
    assert result["converged"] is False
    assert result["iterations"] == 2


def test_errors_name_the_problem():
    x, y = gaussian_blobs(10, num_classes=2, seed=8)
    with pytest.raises(ValueError, match="`train_features` has 20 rows but `train_labels` has 19"):
        linear_probe(x, y[:-1], x, y)
    with pytest.raises(ValueError, match="same dimension. Received 10 and 3"):
        linear_probe(x, y, x[:, :3], y)
    with pytest.raises(ValueError, match="at least two classes"):
        linear_probe(x, np.zeros_like(y), x, y)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="`train_features` contains NaN"):
        linear_probe(bad, y, x, y)


def test_the_fit_is_reproducible_on_one_blas_thread():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(5, 64))
    labels = rng.integers(0, 5, 3000)
    features = (centres[labels] + 2.0 * rng.normal(size=(3000, 64))).astype("float32")
    runs = [linear_probe(features[:2500], labels[:2500], features[2500:], labels[2500:]) for _ in range(2)]
    assert runs[0]["iterations"] == runs[1]["iterations"] and runs[0]["top1"] == runs[1]["top1"]
    assert runs[0]["converged"] and 0.5 < runs[0]["top1"] < 1.0

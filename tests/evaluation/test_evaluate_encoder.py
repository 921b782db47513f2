import types

import numpy as np
import pytest

from keras_contrastive.evaluation import baselines, evaluate_encoder, linear_probe


def test_baselines_on_fashion_mnist(fashion_mnist_small, make_tiny_encoder):
    splits = fashion_mnist_small
    results = baselines(splits, random_encoder=make_tiny_encoder((28, 28, 1)), knn_k=20)
    assert set(results) == {
        "raw_pixel_top1",
        "raw_pixel_knn_top1",
        "random_init_top1",
        "random_init_knn_top1",
    }
    for value in results.values():
        assert 0.0 <= value <= 1.0
    # Chance is 0.1; 600 training images already give a useful pixel probe.
    assert results["raw_pixel_top1"] > 0.5
    assert results["raw_pixel_knn_top1"] > 0.5
    # Same protocol as calling the probe by hand on flattened pixels / 255.
    direct = linear_probe(
        splits.x_train.reshape(600, -1) / 255.0,
        splits.y_train,
        splits.x_test.reshape(200, -1) / 255.0,
        splits.y_test,
    )
    assert results["raw_pixel_top1"] == pytest.approx(direct["top1"])


def test_evaluate_encoder_matches_random_init_baseline(fashion_mnist_small, make_tiny_encoder):
    encoder = make_tiny_encoder((28, 28, 1))
    results = evaluate_encoder(encoder, fashion_mnist_small, batch_size=128, knn_k=20)
    assert results["feature_dim"] == 16
    assert 0.0 <= results["linear_probe_top1"] <= 1.0
    assert 0.0 <= results["knn_top1"] <= 1.0
    assert results["linear_probe_converged"] is True
    # A random conv net still beats chance (0.1) by a margin.
    assert results["linear_probe_top1"] > 0.2
    # baselines() scores a random encoder through the very same code path.
    reference = baselines(fashion_mnist_small, random_encoder=encoder, knn_k=20)
    assert reference["random_init_top1"] == results["linear_probe_top1"]
    assert reference["random_init_knn_top1"] == results["knn_top1"]


def test_three_channel_images(make_tiny_encoder):
    rng = np.random.default_rng(0)
    # Class decides the mean colour, so even a random encoder separates it.
    labels = np.arange(120) % 3
    colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200]])
    images = colours[labels][:, None, None, :] + rng.integers(-20, 20, size=(120, 32, 32, 3))
    images = images.clip(0, 255).astype(np.uint8)
    splits = types.SimpleNamespace(x_train=images[:90], y_train=labels[:90], x_test=images[90:], y_test=labels[90:])
    results = evaluate_encoder(make_tiny_encoder((32, 32, 3)), splits, knn_k=10)
    assert results["linear_probe_top1"] >= 0.95
    assert results["knn_top1"] >= 0.95


def test_splits_are_duck_typed_with_a_clear_error(make_tiny_encoder):
    splits = types.SimpleNamespace(x_train=None, y_train=None, x_test=None)
    with pytest.raises(ValueError, match="SimpleNamespace without `y_test`"):
        evaluate_encoder(make_tiny_encoder((28, 28, 1)), splits)
    with pytest.raises(ValueError, match="without `y_test`"):
        baselines(splits)

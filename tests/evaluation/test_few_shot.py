"""Few-shot fine-tuning: class-balanced seeded subsets, identical training of both encoders, the CLI."""

import json
import types

import keras
import numpy as np
import pytest

from keras_contrastive import cli
from keras_contrastive.evaluation.few_shot import class_balanced_subset, few_shot_comparison


def test_class_balanced_subset_is_balanced_seeded_and_never_drops_a_class():
    labels = np.repeat(np.arange(10), [1000] * 9 + [5])
    chosen = class_balanced_subset(labels, 0.01, seed=3)
    counts = np.bincount(labels[chosen], minlength=10)
    assert counts.tolist() == [10] * 9 + [1]  # round(0.05) = 0 -> at least one
    assert len(np.unique(chosen)) == len(chosen)
    np.testing.assert_array_equal(chosen, class_balanced_subset(labels, 0.01, seed=3))
    assert not np.array_equal(chosen, class_balanced_subset(labels, 0.01, seed=4))
    with pytest.raises(ValueError, match=r"`fraction` must be in \(0, 1\].*Received 0"):
        class_balanced_subset(labels, 0)


def test_identical_encoders_are_fine_tuned_identically(fashion_mnist_small, make_tiny_encoder):
    data = fashion_mnist_small
    splits = types.SimpleNamespace(
        x_train=data.x_train, y_train=data.y_train, x_test=data.x_test, y_test=data.y_test, num_classes=10
    )
    first = make_tiny_encoder((28, 28, 1), seed=7)
    second = keras.models.clone_model(first)
    second.set_weights(first.get_weights())
    result = few_shot_comparison(first, second, splits, 0.1, steps=8, batch_size=16)
    expected = {c: max(1, round(0.1 * n)) for c, n in enumerate(np.bincount(data.y_train))}
    assert result["per_class"] == expected and result["labelled_examples"] == sum(expected.values())
    # Same start, same subset, same batches, same head: the same model.
    assert result["pretrained_top1"] == result["scratch_top1"] and result["gain"] == 0.0
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_few_shot_command_writes_json(tiny_run_dir, tmp_path):
    out = tmp_path / "few.json"
    args = ["evaluate", "few-shot", "--run", tiny_run_dir, "--fraction", "0.01", "--steps", "150", "--out", str(out)]
    assert cli.main(args) == 0
    result = json.loads(out.read_text())
    # The shipped subset has 1,100 training images per class: 1 % is 11 per class.
    assert result["labelled_examples"] == 110 and set(result["per_class"].values()) == {11}
    assert result["fraction"] == 0.01 and result["test_examples"] == 2000
    assert 0.0 <= result["scratch_top1"] <= 1.0 and result["pretrained_top1"] > 0.2
    assert result["gain"] == pytest.approx(result["pretrained_top1"] - result["scratch_top1"])

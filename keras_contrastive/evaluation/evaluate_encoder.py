"""One-call evaluation of an encoder, and the baselines it must beat."""

import numpy as np

from keras_contrastive.evaluation.extract_features import (
    extract_features,
    images_to_float,
)
from keras_contrastive.evaluation.knn_classify import knn_classify
from keras_contrastive.evaluation.linear_probe import DEFAULT_L2, linear_probe


def _check_splits(splits):
    for name in ("x_train", "y_train", "x_test", "y_test"):
        if not hasattr(splits, name):
            raise ValueError(
                "`splits` must have attributes x_train, y_train, x_test and "
                f"y_test. Received {type(splits).__name__} without `{name}`."
            )


def evaluate_features(
    train_features,
    train_labels,
    test_features,
    test_labels,
    *,
    knn_k=200,
    knn_temperature=0.1,
    l2=DEFAULT_L2,
    prefix="",
):
    """Linear probe and k-NN top-1 of fixed features, under one protocol.

    Every number this module reports goes through this function, so trained
    encoders, random encoders and raw pixels are compared the same way.

    Returns:
        A dict with `{prefix}linear_probe_top1`,
        `{prefix}linear_probe_train_top1`, `{prefix}linear_probe_converged`
        and `{prefix}knn_top1`.
    """
    probe = linear_probe(train_features, train_labels, test_features, test_labels, l2=l2)
    knn = knn_classify(
        train_features,
        train_labels,
        test_features,
        test_labels,
        k=knn_k,
        temperature=knn_temperature,
    )
    return {
        f"{prefix}linear_probe_top1": probe["top1"],
        f"{prefix}linear_probe_train_top1": probe["train_top1"],
        f"{prefix}linear_probe_converged": probe["converged"],
        f"{prefix}knn_top1": knn["top1"],
    }


def evaluate_encoder(encoder, splits, *, batch_size=512, knn_k=200, knn_temperature=0.1, l2=DEFAULT_L2):
    """Linear-probe and k-NN top-1 of a frozen encoder.

    Features of `splits.x_train` and `splits.x_test` are extracted with
    `extract_features` (inference mode), then scored with `linear_probe`
    (trained on the train split, reported on the test split) and
    `knn_classify` (train split as the neighbour bank).

    Args:
        encoder: `keras.Model`. Maps float32 images in `[0, 1]` to `[B, D]`.
        splits: object with attributes `x_train`, `y_train`, `x_test`,
            `y_test` (uint8 images `[N, H, W, C]` and int labels), e.g. a
            `DataSplits`.
        batch_size: int. Batch size for feature extraction. Defaults to `512`.
        knn_k: int. Neighbours for `knn_classify`. Defaults to `200`.
        knn_temperature: float. Vote temperature for `knn_classify`. Defaults
            to `0.1`.
        l2: float. Penalty for `linear_probe`. Defaults to `1e-3`.

    Returns:
        A dict with `linear_probe_top1`, `linear_probe_train_top1`,
        `linear_probe_converged`, `knn_top1` and `feature_dim`.
    """
    _check_splits(splits)
    train_features = extract_features(encoder, splits.x_train, batch_size=batch_size)
    test_features = extract_features(encoder, splits.x_test, batch_size=batch_size)
    results = evaluate_features(
        train_features,
        splits.y_train,
        test_features,
        splits.y_test,
        knn_k=knn_k,
        knn_temperature=knn_temperature,
        l2=l2,
    )
    results["feature_dim"] = int(train_features.shape[1])
    return results


def baselines(
    splits,
    random_encoder=None,
    *,
    batch_size=512,
    knn_k=200,
    knn_temperature=0.1,
    l2=DEFAULT_L2,
):
    """Scores a trained encoder must beat, under the same protocol.

    Args:
        splits: object with `x_train`, `y_train`, `x_test`, `y_test`, as for
            `evaluate_encoder`.
        random_encoder: `keras.Model` or `None`. A freshly initialised encoder
            of the same architecture as the trained one. Defaults to `None`.
        batch_size: int. Batch size for feature extraction. Defaults to `512`.
        knn_k: int. Neighbours for `knn_classify`. Defaults to `200`.
        knn_temperature: float. Vote temperature. Defaults to `0.1`.
        l2: float. Penalty for `linear_probe`. Defaults to `1e-3`.

    Returns:
        A dict with `raw_pixel_top1` (linear probe on flattened pixels / 255)
        and `raw_pixel_knn_top1`; with a `random_encoder`, also
        `random_init_top1` and `random_init_knn_top1`. Each `*_top1` is the
        linear probe's test accuracy, as `linear_probe_top1` of
        `evaluate_encoder`.
    """
    _check_splits(splits)
    results = {}

    def flat_pixels(images):
        images = np.asarray(images)
        return images_to_float(images).reshape(len(images), -1)

    raw = evaluate_features(
        flat_pixels(splits.x_train),
        splits.y_train,
        flat_pixels(splits.x_test),
        splits.y_test,
        knn_k=knn_k,
        knn_temperature=knn_temperature,
        l2=l2,
        prefix="raw_pixel_",
    )
    results["raw_pixel_top1"] = raw["raw_pixel_linear_probe_top1"]
    results["raw_pixel_knn_top1"] = raw["raw_pixel_knn_top1"]
    if random_encoder is not None:
        scores = evaluate_encoder(
            random_encoder,
            splits,
            batch_size=batch_size,
            knn_k=knn_k,
            knn_temperature=knn_temperature,
            l2=l2,
        )
        results["random_init_top1"] = scores["linear_probe_top1"]
        results["random_init_knn_top1"] = scores["knn_top1"]
    return results

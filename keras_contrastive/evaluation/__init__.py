"""Frozen-encoder evaluation: feature extraction, linear probe, k-NN."""

from keras_contrastive.evaluation.evaluate_encoder import (
    baselines,
    evaluate_encoder,
    evaluate_features,
)
from keras_contrastive.evaluation.extract_features import (
    extract_dataset_features,
    extract_features,
    images_to_float,
)
from keras_contrastive.evaluation.knn_classify import knn_classify, l2_normalize
from keras_contrastive.evaluation.linear_probe import linear_probe, standardize
from keras_contrastive.evaluation.sts import evaluate_sts, load_sts

__all__ = [
    "baselines",
    "evaluate_encoder",
    "evaluate_features",
    "evaluate_sts",
    "extract_dataset_features",
    "extract_features",
    "images_to_float",
    "knn_classify",
    "l2_normalize",
    "linear_probe",
    "load_sts",
    "standardize",
]

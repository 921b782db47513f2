"""Checks every registered method gets without a test of its own: a method
added to `models.METHODS` is covered here (2 replicas == 1 device, a finite
mixed_float16 loss close to float32, serialization)."""

import inspect

import keras
import numpy as np
import pytest

from keras_contrastive import models, recipes
from keras_contrastive.runs import image_task
from keras_contrastive.testing import run_replica_equivalence_test, run_serialization_test

# Built on a convnet image encoder; text methods test themselves (tests/models/test_simcse.py).
IMAGE_METHODS = sorted(name for name, cls in models.METHODS.items() if cls.modality == "image")


def _build(name, sync=True):
    method = {"name": name}
    parameters = inspect.signature(models.get_method(name).__init__).parameters
    if "synchronized_bn" in parameters:
        method["synchronized_bn"] = sync
    # Small heads: a 4096-wide BatchNorm layer over 16 examples has near-zero
    # variances whose float32 round-off alone exceeds the 1e-5 tolerance, and
    # Barlow Twins' loss sums the d x d cross-correlations of d-wide outputs
    # standardised over 8 examples: at d = 32 (a loss of about 30) one SGD
    # step's round-off across replicas is 2.7e-5, beyond 1e-5; d = 8 keeps it within.
    for key in ("projection_hidden_dim", "prediction_hidden_dim"):
        if key in parameters:
            method[key] = 64
    if "projection_dim" in parameters:
        method["projection_dim"] = 8 if name == "barlow_twins" else 32
    recipe = recipes.validate(
        {
            "method": method,
            "encoder": {"name": "convnet", "width": 4, "stages": 2, "synchronized_bn": sync},
            "train": {"online_probe": False},
        }
    )
    return image_task.build_model(recipe, (16, 16, 1))


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    # Labels too, for the methods that train on them (requires_labels); the others ignore them.
    views = tuple(rng.random((8, 16, 16, 1), dtype=np.float32) for _ in range(2))
    return {"views": views, "label": rng.permutation([0, 0, 0, 1, 1, 1, 2, 2])}


def _loss(model, batch):
    labels = {"labels": batch["label"]} if model.requires_labels else {}
    return float(model.compute_contrastive_loss(batch["views"], training=True, **labels)[0])


# One method quickly (`pytest -m "not slow"`), all of them in CI.
SWEEP = [name if name == "simclr" else pytest.param(name, marks=pytest.mark.slow) for name in IMAGE_METHODS]


@pytest.mark.parametrize("name", SWEEP)
def test_every_method_on_two_replicas_equals_one_device(name):
    difference, update = run_replica_equivalence_test(lambda: _build(name), _batch())
    assert difference <= 1e-5 < update


@pytest.mark.parametrize("name", IMAGE_METHODS)
def test_every_method_mixed_float16_loss_is_finite_and_close(name):
    batch = _batch(1)
    keras.utils.set_random_seed(2)
    reference = _build(name, sync=False)
    loss32 = _loss(reference, batch)
    try:
        keras.config.set_dtype_policy("mixed_float16")
        mixed = _build(name, sync=False)
    finally:
        keras.config.set_dtype_policy("float32")
    mixed.set_weights(reference.get_weights())
    loss16 = _loss(mixed, batch)
    # float16 keeps about 3 significant digits: a loss summed over dimensions (VICReg, Barlow Twins: about
    # 30 here) is compared relatively (0.5 %), a loss of a few units to 1e-2.
    assert np.isfinite(loss16) and abs(loss16 - loss32) <= max(1e-2, 5e-3 * abs(loss32)), (loss16, loss32)


@pytest.mark.parametrize("name", IMAGE_METHODS)
def test_every_method_serializes(name):
    # After a training step: heads, EMA targets, the MoCo queue, SwAV prototypes and the optimizer's state
    # must all come back from the .keras file, not only the encoder.
    run_serialization_test(_build(name, sync=False), _batch()["views"][0], batch=_batch(3))

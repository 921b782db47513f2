import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import models, recipes
from keras_contrastive.data.image_text import ImageTextPairs
from keras_contrastive.evaluation.image_text import evaluate_pairs
from keras_contrastive.export.clip_export import export_clip
from keras_contrastive.models import CLIP, SigLIP
from keras_contrastive.runs import image_text_task
from keras_contrastive.testing import run_replica_equivalence_test, run_serialization_test
from keras_contrastive.text.testing import TINY_SENTENCES, TINY_TEXT_ENCODER, tiny_text_encoder


def tiny_image_encoder(seed=0):
    """Conv + pooling + Dense, no BatchNorm (replicas would normalise with different statistics)."""
    init = keras.initializers.GlorotUniform
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, strides=2, activation="relu", kernel_initializer=init(seed)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(8, kernel_initializer=init(seed + 1)),
        ]
    )


def tiny_siglip(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    return SigLIP(tiny_image_encoder(seed), tiny_text_encoder(seed=seed), embed_dim=8, **kwargs)


def batch(model, n=8, seed=0):
    images = np.random.default_rng(seed).random((n, 16, 16, 3), dtype=np.float32)
    return {"views": (images, model.tokenize((TINY_SENTENCES * 2)[:n]))}


def numpy_sigmoid_loss(image_embeddings, text_embeddings, scale, bias):
    logits = scale * image_embeddings @ text_embeddings.T + bias
    labels = 2 * np.eye(len(logits)) - 1
    return np.sum(np.logaddexp(0, -labels * logits)) / len(logits)


def test_registered_with_the_papers_initial_temperature_and_bias():
    assert models.get_method("siglip") is SigLIP and SigLIP.modality == "image_text"
    model = tiny_siglip()
    assert float(model.logit_scale.scale.numpy()) == pytest.approx(math.log(10.0))
    assert float(model.logit_scale()) == pytest.approx(10.0, rel=1e-6)
    assert float(model.logit_bias.numpy()) == -10.0
    recipe = recipes.validate({"method": {"name": "siglip", "logit_bias_init": -5}})
    assert recipe["method"]["logit_bias_init"] == -5.0 and recipe["method"]["logit_scale_init"] == math.log(10.0)


def test_loss_equals_numpy_reference_and_bias_and_scale_enter_it():
    model = tiny_siglip()
    views = batch(model)["views"]
    images = keras.ops.convert_to_numpy(model.embed_images(views[0])).astype(np.float64)
    texts = keras.ops.convert_to_numpy(model.embed_texts(views[1])).astype(np.float64)
    for scale_log, bias in ((math.log(10.0), -10.0), (1.5, 2.0)):
        model.logit_scale.scale.assign(scale_log)
        model.logit_bias.assign(bias)
        loss, logs, _ = model.compute_contrastive_loss(views)
        assert float(loss) == pytest.approx(numpy_sigmoid_loss(images, texts, math.exp(scale_log), bias), rel=1e-5)
        assert float(logs["logit_bias"]) == bias and 0.0 <= float(logs["contrastive_accuracy"]) <= 1.0


def test_a_step_trains_temperature_and_bias_without_weight_decay_and_clamps_the_temperature():
    model = tiny_siglip()
    model.compile(optimizer=keras.optimizers.AdamW(0.01, weight_decay=0.5))
    optimizer = model.optimizer
    assert not optimizer._use_weight_decay(model.logit_scale.scale)
    assert not optimizer._use_weight_decay(model.logit_bias)
    assert optimizer._use_weight_decay(model.image_projection.kernel)
    model.logit_scale.scale.assign(math.log(100.0) + 2.0)
    history = model.fit(batch(model), epochs=1, verbose=0).history
    assert set(history) == {"loss", "contrastive_accuracy", "logit_scale", "logit_bias"}
    assert history["logit_scale"][0] == pytest.approx(100.0 * math.e**2, rel=1e-4)  # the value used in the step
    assert float(model.logit_scale.scale.numpy()) == pytest.approx(math.log(100.0), abs=1e-6)
    assert history["logit_bias"][0] == -10.0 and float(model.logit_bias.numpy()) != -10.0


@pytest.mark.parametrize("n", [8, 16])
def test_two_replicas_equal_one_device(n):
    # Each replica meets the other's texts as one block of n / 2: the step equals one device's on n pairs.
    model = tiny_siglip()
    difference, update = run_replica_equivalence_test(lambda: tiny_siglip(), batch(model, n=n))
    assert difference <= 1e-5 < update


def test_two_replicas_equal_one_device_with_cached_text_features():
    model = tiny_siglip(lock_text=True)
    images = batch(model)["views"][0]
    features = model.text_features(TINY_SENTENCES[:8])
    difference, update = run_replica_equivalence_test(
        lambda: tiny_siglip(lock_text=True), {"views": (images, features)}
    )
    assert difference <= 1e-5 < update


def test_serialization_round_trip_keeps_every_weight_temperature_and_bias():
    model = tiny_siglip(logit_bias_init=-7.5)
    model.compile(optimizer=keras.optimizers.AdamW(0.01, weight_decay=0.5))
    model.fit(batch(model), epochs=1, verbose=0)  # moves t' and b off their initial values
    model.logit_scale.scale.assign(1.234)
    model.logit_bias.assign(-3.21)
    loaded = run_serialization_test(model, batch(model)["views"][0])
    assert loaded.logit_bias_init == -7.5
    assert float(loaded.logit_scale.scale.numpy()) == pytest.approx(1.234)
    assert float(loaded.logit_bias.numpy()) == pytest.approx(-3.21)
    assert [w.name for w in loaded.weights] == [w.name for w in model.weights] and len(model.weights) > 10
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loaded.optimizer.built and not loaded.optimizer._use_weight_decay(loaded.logit_bias)
    views = batch(model)["views"]
    assert float(loaded.compute_contrastive_loss(views)[0]) == float(model.compute_contrastive_loss(views)[0])


def test_zero_shot_retrieval_and_export_through_the_clip_evaluators(tmp_path):
    model = tiny_siglip()
    rng = np.random.default_rng(0)
    captions = TINY_SENTENCES[:10]
    pairs = ImageTextPairs(
        images=rng.integers(0, 256, (10, 16, 16, 3), dtype=np.uint8),
        captions=captions,
        keys=[str(i) for i in range(10)],
        held_out=np.ones(10, bool),
        labels=np.array([0, 1, 2, 1, 1, 0, 2, 1, 1, 2]),
        class_names=("cat", "dog", "bird"),
    )
    metrics = evaluate_pairs(model, pairs, templates=["a {} ."], descriptions=None)
    assert metrics["pairs"] == 10 and 0.0 <= metrics["text_to_image_r5"] <= 1.0
    assert metrics["zero_shot_examples"] == 10 and metrics["zero_shot_chance"] == pytest.approx(1 / 3)
    # Zero-shot probabilities: a softmax over t * cos (the bias cancels); its argmax is the sigmoid's.
    images = pairs.images.astype("float32") / 255.0
    paths = export_clip(model, tmp_path / "siglip", ["cat", "dog", "bird"], ["a {} ."])
    served = tf.saved_model.load(paths["zero_shot"]).signatures["serve_images"](images=tf.constant(images))
    similarity = model.encode_images(images) @ model.encode_text(["a cat .", "a dog .", "a bird ."]).T
    sigmoid = 1 / (1 + np.exp(-(10.0 * similarity - 10.0)))
    np.testing.assert_allclose(served["probabilities"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(served["class_index"].numpy(), np.argmax(sigmoid, axis=1))
    assert sorted(os.listdir(tmp_path / "siglip")) == ["image_tower", "text_tower", "zero_shot"]


def test_a_recipe_builds_siglip_on_the_clip_run_layer():
    recipe = recipes.validate(
        {
            "method": {"name": "siglip", "embed_dim": 8, "text_encoder": dict(TINY_TEXT_ENCODER)},
            "encoder": {"name": "convnet", "width": 4, "stages": 2},
        }
    )  # fmt: skip
    model = image_text_task.build_clip_model(recipe, (16, 16, 3))
    assert type(model) is SigLIP and isinstance(model, CLIP) and model.embed_dim == 8


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="SigLIP logit_bias_init must be a finite number"):
        tiny_siglip(logit_bias_init=float("nan"))
    with pytest.raises(ValueError, match="SigLIP logit_bias_init must be a finite number"):
        tiny_siglip(logit_bias_init="minus ten")
    with pytest.raises(ValueError, match="SigLIP text_encoder must be a keras.Model"):
        SigLIP(tiny_image_encoder(), "minilm")
    with pytest.raises(ValueError, match="SigLIP takes 2 views"):
        tiny_siglip().compute_contrastive_loss((np.zeros((2, 16, 16, 3), "float32"),))
    with pytest.raises(ValueError, match="above max_value"):
        tiny_siglip(logit_scale_init=5.0)

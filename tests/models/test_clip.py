import math

import keras
import numpy as np
import pytest

from keras_contrastive import models, recipes
from keras_contrastive.losses import info_nce
from keras_contrastive.models import CLIP
from keras_contrastive.runs.image_text_task import build_text_tower
from keras_contrastive.testing import run_replica_equivalence_test, run_serialization_test
from keras_contrastive.text.testing import TINY_SENTENCES, TINY_VOCABULARY, tiny_text_encoder


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


def tiny_clip(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    return CLIP(tiny_image_encoder(seed), tiny_text_encoder(seed=seed), embed_dim=8, **kwargs)


def batch(model, n=8, seed=0):
    images = np.random.default_rng(seed).random((n, 16, 16, 3), dtype=np.float32)
    return {"views": (images, model.tokenize(TINY_SENTENCES[:n]))}


def numpy_clip_loss(image_embeddings, text_embeddings, scale):
    logits = scale * image_embeddings @ text_embeddings.T

    def cross_entropy(rows):
        rows = rows - rows.max(axis=1, keepdims=True)
        return np.mean(np.log(np.exp(rows).sum(axis=1)) - np.diag(rows))

    return (cross_entropy(logits) + cross_entropy(logits.T)) / 2


def test_registered_and_initial_logit_scale():
    assert models.get_method("clip") is CLIP and CLIP.modality == "image_text"
    model = tiny_clip()
    assert np.isclose(float(model.logit_scale.scale.numpy()), math.log(1 / 0.07))
    assert np.isclose(float(model.logit_scale()), 1 / 0.07, rtol=1e-5)


def test_loss_equals_numpy_reference_and_is_symmetric():
    model = tiny_clip()
    views = batch(model)["views"]
    loss = float(model.compute_contrastive_loss(views)[0])
    images = keras.ops.convert_to_numpy(model.embed_images(views[0])).astype(np.float64)
    texts = keras.ops.convert_to_numpy(model.embed_texts(views[1])).astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, rtol=1e-5)
    assert loss == pytest.approx(numpy_clip_loss(images, texts, 1 / 0.07), rel=1e-5)
    # Symmetric: swapping the roles of images and texts gives the same loss.
    temperature = 0.07
    forward = float(info_nce(images, texts, temperature=temperature, symmetric=True))
    backward = float(info_nce(texts, images, temperature=temperature, symmetric=True))
    assert forward == pytest.approx(backward, rel=1e-6) and forward == pytest.approx(loss, rel=1e-5)


def test_logit_scale_is_clamped_after_a_step_and_has_no_weight_decay():
    model = tiny_clip()
    model.compile(optimizer=keras.optimizers.AdamW(0.01, weight_decay=0.5))
    optimizer = model.optimizer
    assert not optimizer._use_weight_decay(model.logit_scale.scale)
    assert optimizer._use_weight_decay(model.image_projection.kernel)
    model.logit_scale.scale.assign(math.log(100.0) + 2.0)
    history = model.fit(batch(model), epochs=1, verbose=0).history
    assert history["logit_scale"][0] == pytest.approx(100.0 * math.e**2, rel=1e-4)  # the value used in the step
    assert float(model.logit_scale.scale.numpy()) == pytest.approx(math.log(100.0), abs=1e-6)


def test_recipe_optimizer_keeps_its_exclusions():
    from keras_contrastive.optimizers import build_optimizer

    recipe = recipes.validate({"method": {"name": "clip"}, "optimizer": {"name": "adamw", "weight_decay": 0.1}})
    model = tiny_clip()
    model.compile(optimizer=build_optimizer(recipe, 10))
    bias = model.encoder.layers[0].bias
    assert not model.optimizer._use_weight_decay(bias)
    assert not model.optimizer._use_weight_decay(model.logit_scale.scale)


def test_two_replicas_equal_one_device():
    model = tiny_clip()
    difference, update = run_replica_equivalence_test(lambda: tiny_clip(), batch(model, n=8))
    assert difference <= 1e-5 < update


def test_locked_text_tower_trains_only_its_projection_and_takes_cached_features():
    model = tiny_clip(lock_text=True)
    trainable = {id(v) for v in model.trainable_variables}
    assert not any(id(v) in trainable for v in model.text_encoder.weights)
    assert id(model.text_projection.kernel) in trainable
    views = batch(model)["views"]
    features = model.text_features(TINY_SENTENCES[:8])
    from_ids = float(model.compute_contrastive_loss(views, training=True)[0])
    from_features = float(model.compute_contrastive_loss((views[0], features), training=True)[0])
    assert from_features == pytest.approx(from_ids, rel=1e-5)
    with pytest.raises(ValueError, match="set lock_text=True"):
        tiny_clip().compute_contrastive_loss((views[0], features))


def test_serialization_round_trip():
    model = tiny_clip(lock_text=True)
    model.compile(optimizer=keras.optimizers.AdamW(0.01, weight_decay=0.5))
    # One step first: the reloaded optimizer must hold the same state (Keras once skipped it with a warning).
    loaded = run_serialization_test(model, batch(model)["views"][0], batch=batch(model))
    assert loaded.lock_text and not loaded.text_encoder.trainable
    assert loaded.optimizer.built and not loaded.optimizer._use_weight_decay(loaded.logit_scale.scale)
    np.testing.assert_allclose(loaded.encode_text(["a cat"]), model.encode_text(["a cat"]), atol=1e-6)


def test_bad_arguments_and_text_tower_keys():
    with pytest.raises(ValueError, match="text_encoder must be a keras.Model"):
        CLIP(tiny_image_encoder(), "minilm")
    with pytest.raises(ValueError, match="takes 2 views"):
        tiny_clip().compute_contrastive_loss((np.zeros((2, 16, 16, 3), "float32"),))
    with pytest.raises(recipes.RecipeError, match="unknown recipe key 'method.text_encoder.layers'"):
        build_text_tower({"name": "small_transformer", "vocabulary": TINY_VOCABULARY, "layers": 1})
    with pytest.raises(recipes.RecipeError, match="needs its text tower as a mapping"):
        build_text_tower(None)

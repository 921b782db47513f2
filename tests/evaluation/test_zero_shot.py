import keras
import numpy as np
import pytest

from keras_contrastive.evaluation.retrieval import retrieval_recall
from keras_contrastive.evaluation.zero_shot import (
    build_zero_shot_classifier,
    class_text_embeddings,
    zero_shot_accuracy,
)
from keras_contrastive.models import CLIP
from keras_contrastive.text.testing import tiny_text_encoder

CLASSES = ["cat", "dog", "bird", "car"]
TEMPLATES = ["a {} .", "the {} is big .", "{}"]


@pytest.fixture(scope="module")
def clip():
    keras.utils.set_random_seed(3)
    image_encoder = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(8)])
    return CLIP(image_encoder, tiny_text_encoder(seed=3), embed_dim=8)


def test_classifier_argmax_equals_hand_computed_similarities(clip):
    images = np.random.default_rng(0).random((24, 16, 16, 3), dtype=np.float32)
    probabilities = build_zero_shot_classifier(clip, CLASSES, TEMPLATES).predict(images, verbose=0)
    assert probabilities.shape == (24, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    # By hand: normalised image embeddings . the normalised mean of each class's normalised prompt embeddings.
    image_embeddings = clip.encode_images(images)
    classes = []
    for name in CLASSES:
        prompts = clip.encode_text([t.format(name) for t in TEMPLATES])
        prompts /= np.linalg.norm(prompts, axis=1, keepdims=True)
        mean = prompts.mean(axis=0)
        classes.append(mean / np.linalg.norm(mean))
    similarity = image_embeddings @ np.stack(classes).T
    np.testing.assert_array_equal(np.argmax(probabilities, axis=1), np.argmax(similarity, axis=1))
    np.testing.assert_allclose(class_text_embeddings(clip, CLASSES, TEMPLATES), np.stack(classes), atol=1e-5)
    assert len(set(np.argmax(similarity, axis=1))) > 1  # not vacuous: several classes predicted


def test_templates_must_hold_a_slot(clip):
    with pytest.raises(ValueError, match="must each hold"):
        class_text_embeddings(clip, CLASSES, ["a photo"])
    with pytest.raises(ValueError, match="at least one class"):
        class_text_embeddings(clip, [], TEMPLATES)


def test_zero_shot_accuracy_chance_and_majority():
    probabilities = np.eye(3)[[0, 1, 1, 2]]
    scores = zero_shot_accuracy(probabilities, [0, 1, 2, 2], 3)
    assert scores["top1"] == 0.75 and scores["balanced_top1"] == pytest.approx(2.5 / 3)
    assert scores["chance"] == pytest.approx(1 / 3) and scores["majority"] == 0.5


def test_retrieval_recall_both_directions_and_chance():
    rng = np.random.default_rng(0)
    texts = rng.normal(size=(20, 6))
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    result = retrieval_recall(texts, texts)
    assert result["image_to_text_r1"] == 1.0 and result["text_to_image_r1"] == 1.0
    assert result["text_to_image_r5_chance"] == pytest.approx(5 / 20)
    # Images pointing at the next pair's text: every image -> text R@1 misses.
    shifted = retrieval_recall(np.roll(texts, 1, axis=0), texts)
    assert shifted["image_to_text_r1"] == 0.0 and shifted["text_to_image_r1"] == 0.0
    # Identical captions are all positives: image 0's best text is text 1, which has the same caption.
    images = texts.copy()
    images[0] = texts[1]
    captions = [f"c{i}" for i in range(20)]
    assert retrieval_recall(images, texts)["image_to_text_r1"] == pytest.approx(19 / 20)
    captions[1] = captions[0]
    with_duplicates = retrieval_recall(images, texts, captions)
    assert with_duplicates["image_to_text_r1"] == 1.0
    assert with_duplicates["image_to_text_r1_chance"] == pytest.approx((2 * 2 / 20 + 18 * 1 / 20) / 20)
    with pytest.raises(ValueError, match="same shape"):
        retrieval_recall(texts, texts[:3])

import keras
import numpy as np
import pytest

from keras_contrastive.data.image_text import EMOJI_GROUPS, ImageTextPairs
from keras_contrastive.evaluation.retrieval import retrieval_recall
from keras_contrastive.evaluation.zero_shot import (
    DEFAULT_TEMPLATES,
    EMOJI_TEMPLATES,
    build_zero_shot_classifier,
    class_text_embeddings,
    classifier_zero_shot,
    default_templates,
    labelled_pairs,
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


def test_descriptions_average_every_phrase_in_every_template(clip):
    descriptions = {"cat": ["cat", "kitten"], "dog": ["puppy"], "bird": ["bird", "parrot", "owl"], "car": ["car"]}
    by_hand = []
    for name in CLASSES:
        prompts = clip.encode_text([t.format(phrase) for phrase in descriptions[name] for t in TEMPLATES])
        prompts /= np.linalg.norm(prompts, axis=1, keepdims=True)
        mean = prompts.mean(axis=0)
        by_hand.append(mean / np.linalg.norm(mean))
    got = class_text_embeddings(clip, CLASSES, TEMPLATES, descriptions)
    np.testing.assert_allclose(got, np.stack(by_hand), atol=1e-5)
    # A described class differs from its bare name; a class described by its name alone does not.
    names_only = class_text_embeddings(clip, CLASSES, TEMPLATES)
    assert np.abs(got[1] - names_only[1]).max() > 1e-3
    np.testing.assert_allclose(got[3], names_only[3], atol=1e-6)
    images = np.random.default_rng(1).random((16, 16, 16, 3), dtype=np.float32)
    probabilities = build_zero_shot_classifier(clip, CLASSES, TEMPLATES, descriptions).predict(images, verbose=0)
    np.testing.assert_array_equal(np.argmax(probabilities, 1), np.argmax(clip.encode_images(images) @ got.T, 1))


@pytest.mark.parametrize(
    "descriptions, error, message",
    [
        ({"cat": ["cat"]}, ValueError, r"lack the classes \['dog', 'bird', 'car'\]"),
        ({c: "a word" for c in CLASSES}, ValueError, "list of non-empty phrases"),
        ({c: [c, ""] for c in CLASSES}, ValueError, "list of non-empty phrases"),
        ([["cat"]], TypeError, "must be a dict"),
    ],
)
def test_bad_descriptions_say_what_is_wrong(clip, descriptions, error, message):
    with pytest.raises(error, match=message):
        class_text_embeddings(clip, CLASSES, TEMPLATES, descriptions)


def _pairs(labels, class_names=("cat", "dog", "bird"), n=6):
    return ImageTextPairs(
        images=np.arange(n, dtype=np.uint8).reshape(n, 1, 1, 1).repeat(3, axis=-1),
        captions=[f"caption {i}" for i in range(n)],
        keys=[str(i) for i in range(n)],
        held_out=np.ones(n, bool),
        labels=None if labels is None else np.asarray(labels),
        class_names=class_names,
    )


def test_classifier_zero_shot_scores_the_labelled_pairs_only():
    pairs = _pairs([0, 1, -1, 2, 1, -1])
    np.testing.assert_array_equal(labelled_pairs(pairs), [True, True, False, True, True, False])
    assert not labelled_pairs(_pairs(None)).any()  # pairs without labels: every label -1
    seen = []

    def classify(images):  # right on the first three labelled pairs, wrong on the fourth
        seen.append(images[:, 0, 0, 0].tolist())
        return np.eye(3)[[0, 1, 2, 0]]

    scores = classifier_zero_shot(classify, pairs, 3)
    assert seen == [[0, 1, 3, 4]]  # the unlabelled pairs 2 and 5 never reach the classifier
    assert scores["zero_shot_top1"] == pytest.approx(0.75)
    assert scores["zero_shot_balanced_top1"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert scores["zero_shot_examples"] == 4 and scores["zero_shot_chance"] == pytest.approx(1 / 3)


def test_default_templates_are_the_emoji_ones_for_the_emoji_groups_only():
    assert default_templates(EMOJI_GROUPS) == list(EMOJI_TEMPLATES)
    assert default_templates(["cat", "dog"]) == default_templates(None) == list(DEFAULT_TEMPLATES)

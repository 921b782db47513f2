"""Tiny text encoders and sentences for fast tests of text methods (a method's test file stays short).

A tiny SimCSE on them is `keras_contrastive.testing.tiny_simcse` (`text` sits below `models`)."""

import keras

TINY_VOCABULARY = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "a", "the", "cat", "dog", "sat", "on", "mat", "ran",
    "in", "park", "bird", "sings", "tree", "is", "red", "blue", "big", "small", "##s", "car", "fast",
]  # fmt: skip
TINY_SENTENCES = [
    "the cat sat on the mat .",
    "a dog ran in the park .",
    "the bird sings in a tree .",
    "a red car is fast .",
    "the big dog sat .",
    "a small cat ran .",
    "the blue bird .",
    "cats and dogs",
    "a tree is big , the mat is red .",
    "the car ran on the mat .",
    "birds sing",
    "a fast blue car",
]


# The recipe `encoder` (or CLIP `text_encoder`) section of `tiny_text_encoder`: copy it before changing a key.
TINY_TEXT_ENCODER = {
    "name": "small_transformer",
    "vocabulary": TINY_VOCABULARY,
    "num_layers": 1,
    "num_heads": 2,
    "hidden_dim": 8,
    "intermediate_dim": 16,
    "sequence_length": 12,
}


def tiny_text_encoder(dropout=0.0, sequence_length=12, hidden_dim=8, seed=0):
    """A 1-layer, 8-wide `TextEncoder` on `TINY_VOCABULARY` (a few thousand parameters): `TINY_TEXT_ENCODER`."""
    from keras_contrastive.text import build_text_encoder

    keras.utils.set_random_seed(seed)
    config = {**TINY_TEXT_ENCODER, "hidden_dim": hidden_dim, "sequence_length": sequence_length}
    return build_text_encoder(config.pop("name"), dropout=dropout, **config)

"""Tiny text encoders and sentences for fast tests of text methods (a method's test file stays short).

A tiny SimCSE on them is `keras_contrastive.testing.tiny_simcse` (`text` sits below `models`)."""

import keras
import numpy as np

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


def tiny_e5(seed=0, normalization=None):
    """A 1-layer, 32-wide `text.e5.E5File` with a 12-piece vocabulary and, by default, a 3-entry normalisation
    map (`normalization`: `{code point: replacement code points}` instead)."""
    from keras_contrastive.text.e5 import E5File

    rng = np.random.default_rng(seed)
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁le", "▁chat", "s", "é", "e", "▁d", "<mask>"]
    scores = np.array([0, 0, 0, 0, -2, -3, -4, -5, -6, -6.5, -7, 0], np.float32)
    hidden, ff, vocab, positions = 32, 64, 16, 16

    def w(*shape, scale=0.2):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    tensors = {
        "emb.word": w(vocab, hidden),
        "emb.pos": w(positions * hidden),
        "emb.type": w(2 * hidden),
        "emb.ln.w": 1 + w(hidden, scale=0.05),
        "emb.ln.b": w(hidden, scale=0.05),
    }
    for name, shape in (
        ("q", (hidden, hidden)),
        ("k", (hidden, hidden)),
        ("v", (hidden, hidden)),
        ("ao", (hidden, hidden)),
        ("fi", (ff, hidden)),
        ("fo", (hidden, ff)),
    ):
        tensors[f"l0.{name}.w"] = w(*shape)
        tensors[f"l0.{name}.b"] = w(shape[0], scale=0.05)
    for name in ("aln", "oln"):
        tensors[f"l0.{name}.w"] = 1 + w(hidden, scale=0.05)
        tensors[f"l0.{name}.b"] = w(hidden, scale=0.05)
    return E5File(
        config={
            "hidden_dim": hidden,
            "num_layers": 1,
            "num_heads": 2,
            "intermediate_dim": ff,
            "vocabulary_size": vocab,
            "max_sequence_length": positions,
            "num_segments": 2,
            "layer_norm_epsilon": 1e-12,
        },
        pieces=pieces,
        scores=scores,
        special_ids={"bos": 0, "eos": 2, "pad": 1, "unk": 3},
        # "É" -> "é", the "ﬁ" ligature -> "f", "i" and U+0001 deleted (entries of the real map's kinds).
        normalization={0xC9: (0xE9,), 0xFB01: (0x66, 0x69), 0x1: ()} if normalization is None else normalization,
        tensors=tensors,
    )

"""The in-graph WordPiece tokenizer: special tokens, padding, truncation, odd input."""

import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.text import SentenceTokenizer
from keras_contrastive.text.testing import TINY_VOCABULARY


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from keras_contrastive.text import minilm_preset_dir

    try:
        return SentenceTokenizer(minilm_preset_dir(), sequence_length=16)
    except ValueError as e:
        pytest.skip(str(e))


def test_cls_sep_padding_and_unknown_words():
    tokenizer = SentenceTokenizer(TINY_VOCABULARY, sequence_length=8)
    ids = tokenizer(["The cats sat.", "zebra"]).numpy()
    cls, sep, unk = (TINY_VOCABULARY.index(t) for t in ("[CLS]", "[SEP]", "[UNK]"))
    expected = [cls, TINY_VOCABULARY.index("the"), TINY_VOCABULARY.index("cat"), TINY_VOCABULARY.index("##s")]
    assert ids[0].tolist() == [*expected, TINY_VOCABULARY.index("sat"), TINY_VOCABULARY.index("."), sep, 0]
    assert ids[1].tolist() == [cls, unk, sep, 0, 0, 0, 0, 0]
    assert ids.dtype == np.int32


def test_empty_non_ascii_and_10000_character_lines(minilm_tokenizer):
    lines = [
        "",
        "Café naïve — 東京で寿司 😀 Ünïcödé",
        "word " * 2000,
        "x" * 10000,
        b"caf\xe9 latin-1".decode("latin-1"),
    ]
    assert len(lines[2]) == 10000 and len(lines[3]) == 10000
    ids = minilm_tokenizer(lines).numpy()
    assert ids.shape == (5, 16)
    assert ids[0, :3].tolist() == [101, 102, 0]  # [CLS] [SEP] [PAD]
    assert np.all(ids[:, 0] == 101)
    assert np.all(ids[2] != 0) and ids[2, -1] == 102  # 2,000 words truncated, [SEP] kept
    assert ids[3, :3].tolist() == [101, 100, 102]  # one 10,000-character "word": [UNK]
    assert (ids[1] == 100).sum() <= 2  # accents stripped, CJK split: mostly known tokens
    # Accents are stripped as in an uncased BERT vocabulary.
    np.testing.assert_array_equal(*minilm_tokenizer(["Café Ünïcödé", "cafe unicode"]).numpy())


def test_invalid_utf8_bytes_do_not_fail(minilm_tokenizer):
    ids = minilm_tokenizer(tf.constant([b"caf\xe9 \xff\xfe ok"])).numpy()
    assert ids.shape == (1, 16) and ids[0, 0] == 101


def test_runs_inside_tf_function_and_tf_data():
    tokenizer = SentenceTokenizer(TINY_VOCABULARY, sequence_length=6)
    graph = tf.function(lambda s: tokenizer(s), input_signature=[tf.TensorSpec([None], tf.string)])
    eager = tokenizer(["a cat", ""]).numpy()
    np.testing.assert_array_equal(graph(tf.constant(["a cat", ""])).numpy(), eager)
    batch = next(iter(tf.data.Dataset.from_tensor_slices(["a cat", ""]).batch(2).map(tokenizer)))
    np.testing.assert_array_equal(batch.numpy(), eager)
    assert tokenizer(["a cat sat on the mat"], sequence_length=4).numpy().tolist() == [[2, 7, 9, 3]]


def test_serializes_with_its_vocabulary():
    tokenizer = SentenceTokenizer(TINY_VOCABULARY, sequence_length=6, name="tok")
    revived = SentenceTokenizer.from_config(tokenizer.get_config())
    np.testing.assert_array_equal(revived(["the red car"]).numpy(), tokenizer(["the red car"]).numpy())


def test_bad_vocabulary_and_length_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match=r"lacks the special tokens \['\[CLS\]'"):
        SentenceTokenizer(["[PAD]", "[UNK]", "[SEP]", "a"])
    with pytest.raises(ValueError, match="sequence_length must be >= 2"):
        SentenceTokenizer(TINY_VOCABULARY, sequence_length=1)
    with pytest.raises(FileNotFoundError, match="vocab.txt"):
        SentenceTokenizer(str(tmp_path / "missing" / "vocab.txt"))

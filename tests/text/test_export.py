"""SavedModel export taking raw strings: TF Serving layout, unit embeddings, same in a fresh process."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_contrastive.text import embed_with_export, export_text_encoder, load_text_export
from keras_contrastive.text.testing import TINY_SENTENCES, tiny_simcse

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
        "from keras_contrastive.text import embed_with_export, load_text_export\n"
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

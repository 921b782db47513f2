import hashlib
import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_contrastive.export import (
    SERVE_IMAGE_BYTES,
    SERVING_DEFAULT,
    export_encoder,
    exported_signatures,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A fresh TensorFlow import takes seconds, far more on a loaded machine.
SUBPROCESS_TIMEOUT = 300
SHAPES = {"gray": (28, 28, 1), "rgb": (32, 32, 3)}


def png_bytes(image):
    if image.shape[-1] == 1:
        image = image[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def tree_digest(path):
    """Hash of every file name and content under `path`."""
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            digest.update(os.path.relpath(full, path).encode())
            with open(full, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def leftovers(base_dir):
    return [n for n in os.listdir(base_dir) if n.startswith((".tmp-", ".old-"))]


def run_python(code, *args):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def exports(tmp_path_factory, make_tiny_encoder):
    """A 1-channel and a 3-channel encoder, exported, with their test inputs."""
    root = tmp_path_factory.mktemp("exports")
    rng = np.random.default_rng(0)
    cases = {}
    for name, shape in SHAPES.items():
        encoder = make_tiny_encoder(shape, seed=len(name))
        images = rng.integers(0, 256, size=(5,) + shape, dtype=np.uint8)
        small = images[:2, ::2, ::2, :]
        path = export_encoder(
            encoder,
            root / name,
            assets={"metrics.json": json.dumps({"top1": 0.5}), "command.txt": b"train"},
        )
        inputs = root / f"{name}_inputs.npz"
        np.savez(
            inputs,
            floats=images.astype(np.float32) / 255.0,
            png=np.array([png_bytes(i) for i in images], dtype=object),
            small_png=np.array([png_bytes(i) for i in small], dtype=object),
        )
        cases[name] = dict(encoder=encoder, images=images, small=small, path=path, inputs=inputs)
    return cases


@pytest.fixture(scope="module")
def served_outputs(exports):
    """Outputs of both signatures, computed by a fresh Python process."""
    code = """
        import sys
        import numpy as np
        import tensorflow as tf
        from keras_contrastive.export import load_exported

        for path, inputs, out in zip(*[iter(sys.argv[1:])] * 3):
            loaded = load_exported(path)
            data = np.load(inputs, allow_pickle=True)
            by_floats = loaded.signatures["serving_default"](
                images=tf.constant(data["floats"]))
            by_bytes = loaded.signatures["serve_image_bytes"](
                image_bytes=tf.constant(list(data["png"])))
            by_small = loaded.signatures["serve_image_bytes"](
                image_bytes=tf.constant(list(data["small_png"])))
            np.savez(out, floats=by_floats["embedding"].numpy(),
                     bytes=by_bytes["embedding"].numpy(),
                     small=by_small["embedding"].numpy(),
                     keys=sorted(by_floats) + sorted(by_bytes))
    """
    args = []
    for name, case in exports.items():
        args += [case["path"], str(case["inputs"]), str(case["inputs"]) + ".out.npz"]
    result = run_python(code, *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return {name: np.load(str(case["inputs"]) + ".out.npz") for name, case in exports.items()}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_fresh_process_serving_default_matches_predict(exports, served_outputs, name):
    case, served = exports[name], served_outputs[name]
    expected = case["encoder"].predict(case["images"].astype(np.float32) / 255.0, verbose=0)
    assert list(served["keys"]) == ["embedding", "embedding"]
    assert served["floats"].shape == (5, 8)
    np.testing.assert_array_equal(served["floats"], expected)  # exactly, as the issue asks


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_fresh_process_png_bytes_match_predict(exports, served_outputs, name):
    case, served = exports[name], served_outputs[name]
    expected = case["encoder"].predict(case["images"] / 255.0, verbose=0)
    np.testing.assert_allclose(served["bytes"], expected, rtol=0, atol=1e-6)  # decode rounding: 1 ulp
    # Smaller PNGs are resized bilinearly to the encoder's input size.
    height, width, _ = SHAPES[name]
    resized = tf.image.resize(case["small"] / 255.0, (height, width), method="bilinear")
    expected_small = case["encoder"].predict(resized.numpy(), verbose=0)
    np.testing.assert_allclose(served["small"], expected_small, rtol=0, atol=1e-5)
    # The resize matters: the same pixels unresized would not fit the graph.
    assert not np.allclose(expected_small, expected[:2], atol=1e-3)


def test_saved_model_cli_lists_signatures_and_names(exports):
    result = subprocess.run(
        ["saved_model_cli", "show", "--dir", exports["rgb"]["path"], "--all"],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "signature_def['serving_default']" in out
    assert "signature_def['serve_image_bytes']" in out
    assert "inputs['images'] tensor_info:" in out
    assert "inputs['image_bytes'] tensor_info:" in out
    assert out.count("outputs['embedding'] tensor_info:") == 2
    assert "shape: (-1, 32, 32, 3)" in out
    assert "dtype: DT_STRING" in out


def test_layout_and_assets(exports):
    path = exports["gray"]["path"]
    base_dir = os.path.dirname(path)
    assert os.path.basename(path) == "1"
    assert sorted(os.listdir(base_dir)) == ["1"]
    assert {"saved_model.pb", "variables", "assets"} <= set(os.listdir(path))
    with open(os.path.join(path, "assets", "metrics.json")) as f:
        assert json.load(f) == {"top1": 0.5}
    with open(os.path.join(path, "assets", "command.txt"), "rb") as f:
        assert f.read() == b"train"
    signatures = exported_signatures(path)
    assert set(signatures) == {SERVING_DEFAULT, SERVE_IMAGE_BYTES}


def test_existing_version_is_refused_and_untouched(tmp_path, make_tiny_encoder):
    encoder = make_tiny_encoder((28, 28, 1))
    first = export_encoder(encoder, tmp_path, version=3, assets={"recipe.yaml": "a: 1"})
    before = tree_digest(first)
    encoder.layers[-1].bias.assign(np.full(8, 5.0, dtype=np.float32))
    with pytest.raises(FileExistsError) as info:
        export_encoder(encoder, tmp_path, version=3, assets={"recipe.yaml": "a: 2"})
    assert first in str(info.value)
    assert "--version" in str(info.value)
    assert tree_digest(first) == before
    assert sorted(os.listdir(tmp_path)) == ["3"]


def test_overwrite_replaces_the_version(tmp_path, make_tiny_encoder):
    encoder = make_tiny_encoder((28, 28, 1))
    path = export_encoder(encoder, tmp_path, version=1, assets={"tag.txt": "old"})
    before = tree_digest(path)
    encoder.layers[-1].bias.assign(np.full(8, 5.0, dtype=np.float32))
    assert export_encoder(encoder, tmp_path, version=1, overwrite=True, assets={"tag.txt": "new"}) == path
    assert tree_digest(path) != before
    with open(os.path.join(path, "assets", "tag.txt")) as f:
        assert f.read() == "new"
    assert sorted(os.listdir(tmp_path)) == ["1"]
    served = exported_signatures(path)["serving_default"](images=tf.zeros((1, 28, 28, 1)))
    np.testing.assert_allclose(
        served["embedding"].numpy(), encoder.predict(np.zeros((1, 28, 28, 1)), verbose=0), atol=1e-6
    )


def test_version_none_picks_the_next_integer(tmp_path, make_tiny_encoder):
    encoder = make_tiny_encoder((28, 28, 1))
    assert export_encoder(encoder, tmp_path / "m") == str(tmp_path / "m" / "1")
    os.makedirs(tmp_path / "m" / "7")
    os.makedirs(tmp_path / "m" / "latest")
    os.makedirs(tmp_path / "m" / ".tmp-12-1")
    assert export_encoder(encoder, tmp_path / "m") == str(tmp_path / "m" / "8")
    assert sorted(os.listdir(tmp_path / "m")) == [".tmp-12-1", "1", "7", "8", "latest"]


def test_non_finite_weights_are_refused(tmp_path, make_tiny_encoder):
    encoder = make_tiny_encoder((28, 28, 1))
    kernel = encoder.layers[-1].kernel
    value = kernel.numpy()
    value[0, 0] = np.nan
    kernel.assign(value)
    with pytest.raises(ValueError) as info:
        export_encoder(encoder, tmp_path)
    message = str(info.value)
    assert f"'{kernel.path}'" in message
    assert "NaN or infinite" in message
    assert "last good checkpoint" in message
    assert os.listdir(tmp_path) == []


def test_failure_midway_leaves_nothing_behind(tmp_path, make_tiny_encoder):
    encoder = make_tiny_encoder((28, 28, 1))
    # The SavedModel is already written when the bad asset name is found.
    with pytest.raises(ValueError, match="relative paths inside the assets directory"):
        export_encoder(encoder, tmp_path, version=2, assets={"../escape.txt": "x"})
    assert os.listdir(tmp_path) == []
    assert not os.path.exists(os.path.join(os.path.dirname(tmp_path), "escape.txt"))


def test_image_shape_from_argument_or_error(tmp_path, make_tiny_encoder):
    encoder = make_tiny_encoder((None, None, 1))
    with pytest.raises(ValueError, match=r"input shape is \(None, None, None, 1\). Pass `image_shape="):
        export_encoder(encoder, tmp_path)
    with pytest.raises(ValueError, match=r"does not match the encoder's input shape \(28, 28, 1\)"):
        export_encoder(make_tiny_encoder((28, 28, 1)), tmp_path, image_shape=(32, 32, 1))
    path = export_encoder(encoder, tmp_path, image_shape=(16, 16, 1))
    signature = exported_signatures(path)["serving_default"]
    assert signature.structured_input_signature[1]["images"].shape.as_list() == [None, 16, 16, 1]

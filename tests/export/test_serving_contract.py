"""The TF Serving contract: a `PredictRequest` for every signature the exporters write, converted
with `tf.make_ndarray` and run through the SavedModel in a fresh process, gives the in-process
model's outputs; `saved_model_cli run` serves an export from an input file."""

import io
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2", reason="pip install tensorflow-serving-api")

from keras_contrastive.export import SERVE_IMAGE_BYTES, SERVING_DEFAULT, export_encoder, load_exported  # noqa: E402

SMC = "tensorflow.python.tools.saved_model_cli"

# A stand-in for the model server: request in, the signature run, response out.
SERVER = r"""
import sys
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

loaded = {}
for model_dir, request_path, response_path in zip(*[iter(sys.argv[1:])] * 3):
    request = predict_pb2.PredictRequest.FromString(open(request_path, "rb").read())
    if model_dir not in loaded:
        if request.model_spec.name.startswith("text"):
            import tensorflow_text  # noqa: F401 (the tokenizer ops)
        loaded[model_dir] = tf.saved_model.load(model_dir)
    signature = loaded[model_dir].signatures[request.model_spec.signature_name]
    outputs = signature(**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
    response = predict_pb2.PredictResponse()
    response.model_spec.CopyFrom(request.model_spec)
    for key, value in outputs.items():
        response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
    open(response_path, "wb").write(response.SerializeToString())
"""


def _request(model_name, signature, inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request


def _png(image):
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    return buffer.getvalue()


def _serve_in_fresh_process(tmp_path, jobs):
    """`jobs`: [(model_dir, PredictRequest)] -> [outputs dict of numpy arrays]."""
    argv = []
    for i, (model_dir, request) in enumerate(jobs):
        request_path, response_path = tmp_path / f"request_{i}.pb", tmp_path / f"response_{i}.pb"
        request_path.write_bytes(request.SerializeToString())
        argv += [str(model_dir), str(request_path), str(response_path)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run([sys.executable, "-c", SERVER, *argv], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    responses = []
    for i in range(len(jobs)):
        response = predict_pb2.PredictResponse.FromString((tmp_path / f"response_{i}.pb").read_bytes())
        responses.append({k: tf.make_ndarray(v) for k, v in response.outputs.items()})
    return responses


@pytest.fixture(scope="module")
def image_export(tmp_path_factory, make_tiny_encoder):
    encoder = make_tiny_encoder((28, 28, 1), seed=3)
    path = export_encoder(encoder, tmp_path_factory.mktemp("zoo") / "image_encoder")
    pixels = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28, 1), dtype=np.uint8)
    return encoder, path, pixels


def test_every_signature_serves_a_predict_request_in_a_fresh_process(image_export, tmp_path):
    encoder, image_path, pixels = image_export
    images = pixels.astype(np.float32) / np.float32(255.0)
    # The contract covers every signature written: a new one must be added here (and to docs/serving.md).
    assert set(load_exported(image_path).signatures) == {SERVING_DEFAULT, SERVE_IMAGE_BYTES}
    jobs = [
        (image_path, _request("image_encoder", SERVING_DEFAULT, {"images": images})),
        (image_path, _request("image_encoder", SERVE_IMAGE_BYTES, {"image_bytes": [_png(p) for p in pixels]})),
    ]
    expected = [{"embedding": np.asarray(encoder(images, training=False))}] * 2

    text = None
    try:
        import tensorflow_text  # noqa: F401

        from keras_contrastive.export.text_export import export_text_encoder, load_text_export
        from keras_contrastive.testing import tiny_simcse
        from keras_contrastive.text.testing import TINY_SENTENCES

        model = tiny_simcse(pooling="mean")
        text = export_text_encoder(model, tmp_path / "text")
        assert set(load_text_export(text).signatures) == {SERVING_DEFAULT}
        sentences = [*TINY_SENTENCES[:4], "", "Ünïcödé 東京"]
        jobs.append((text, _request("text", SERVING_DEFAULT, {"sentences": np.array(sentences, dtype=object)})))
        expected.append({"embedding": model.encode(sentences)})
        jobs_zero_shot, expected_zero_shot = _zero_shot_jobs(tmp_path)
        jobs += jobs_zero_shot
        expected += expected_zero_shot
    except ImportError:
        pass

    responses = _serve_in_fresh_process(tmp_path, jobs)
    for response, want in zip(responses, expected):
        assert set(response) == set(want) | ({"class_name"} if "class_index" in want else set())
        for key, value in want.items():
            assert response[key].dtype == value.dtype, key
            np.testing.assert_allclose(response[key], value, atol=1e-5)
        if "class_index" in want:
            assert [n.decode() for n in response["class_name"]] == [CLASSES[i] for i in want["class_index"]]
    if text is None:
        pytest.skip("tensorflow-text not installed: the text signatures were not checked (pip install -e .[text])")


CLASSES = ["cat", "dog", "bird"]


def _zero_shot_jobs(tmp_path):
    """PredictRequests for both signatures of CLIP's zero-shot classifier export, and the expected outputs."""
    import keras

    from keras_contrastive.backbones import ConvNet
    from keras_contrastive.evaluation.zero_shot import build_zero_shot_classifier
    from keras_contrastive.export.clip_export import SERVE_IMAGES, export_zero_shot_classifier
    from keras_contrastive.models import CLIP
    from keras_contrastive.text.testing import tiny_text_encoder

    keras.utils.set_random_seed(5)
    clip = CLIP(ConvNet((16, 16, 3), width=4, stages=2), tiny_text_encoder(seed=5), embed_dim=8)
    path = export_zero_shot_classifier(clip, tmp_path / "zero_shot", CLASSES, ["a {} ."])
    assert set(load_exported(path).signatures) == {SERVING_DEFAULT, SERVE_IMAGES}
    pixels = np.random.default_rng(1).integers(0, 256, size=(4, 16, 16, 3), dtype=np.uint8)
    images = pixels.astype(np.float32) / np.float32(255.0)
    probabilities = build_zero_shot_classifier(clip, CLASSES, ["a {} ."]).predict(images, verbose=0)
    want = {"probabilities": probabilities.astype(np.float32), "class_index": np.argmax(probabilities, axis=1)}
    jobs = [
        (path, _request("zero_shot", SERVING_DEFAULT, {"image_bytes": [_png(p) for p in pixels]})),
        (path, _request("zero_shot", SERVE_IMAGES, {"images": images})),
    ]
    return jobs, [want, want]


def test_saved_model_cli_run_with_an_input_file(image_export, tmp_path):
    encoder, path, pixels = image_export
    images = pixels.astype(np.float32) / np.float32(255.0)
    np.save(tmp_path / "images.npy", images)
    # The console script TensorFlow installs; the same tool as a module if it is not on PATH.
    cli = [shutil.which("saved_model_cli")] if shutil.which("saved_model_cli") else [sys.executable, "-m", SMC]
    command = [
        *cli, "run", "--dir", path, "--tag_set", "serve", "--signature_def", SERVING_DEFAULT,
        "--inputs", f"images={tmp_path / 'images.npy'}", "--outdir", str(tmp_path / "out"),
    ]  # fmt: skip
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    served = np.load(tmp_path / "out" / "embedding.npy")
    np.testing.assert_allclose(served, np.asarray(encoder(images, training=False)), atol=1e-5)


def _rest_body(marker):
    """The JSON request body that follows `marker` in docs/serving.md."""
    import json
    import re

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    text = open(os.path.join(root, "docs", "serving.md"), encoding="utf-8").read()
    block = re.search(re.escape(marker) + r".*?```json\n(.*?)```", text, re.S)
    assert block, f"docs/serving.md has no JSON body after {marker!r}"
    return json.loads(block.group(1))


def test_retrieval_export_serves_the_librarys_top_k_in_a_fresh_process(tmp_path):
    """A retrieval SavedModel (`keras-contrastive export --index`): its REST body from docs/serving.md and a gRPC
    request per signature, served in a fresh process, give the ids and scores of `Index.search`."""
    pytest.importorskip("tensorflow_text", reason="pip install -e .[text]")
    from keras_contrastive import search
    from keras_contrastive.export.retrieval_export import SERVE_EMBEDDING
    from keras_contrastive.export.text_export import export_text_encoder
    from keras_contrastive.testing import tiny_simcse
    from keras_contrastive.text.testing import TINY_SENTENCES

    encoder = export_text_encoder(tiny_simcse(seed=2), tmp_path / "encoder")
    index = search.build_index(encoder, list(TINY_SENTENCES), tmp_path / "index")
    path = search.export_index(index, tmp_path / "text_search", k=3)
    assert set(load_exported(path).signatures) == {SERVING_DEFAULT, SERVE_EMBEDDING}

    body = _rest_body("Retrieval REST request")
    assert body["signature_name"] == SERVING_DEFAULT
    sentences = body["instances"]  # row format, one named input: each instance is a sentence
    vectors = index.embed_queries(sentences)
    jobs = [
        (path, _request("text_search", SERVING_DEFAULT, {"sentences": np.array(sentences, dtype=object)})),
        (path, _request("text_search", SERVE_EMBEDDING, {"embedding": vectors})),
    ]
    want = index.search(sentences, k=3)
    for response in _serve_in_fresh_process(tmp_path, jobs):
        assert set(response) == {"ids", "scores"} and response["scores"].dtype == np.float32
        assert [[i.decode() for i in row] for row in response["ids"]] == want.ids
        np.testing.assert_allclose(response["scores"], want.scores, atol=1e-5)
    # TF Serving's row-format answer: {"predictions": [{"ids": [...], "scores": [...]}, ...]}, one per instance.
    predictions = [{"ids": ids, "scores": scores.tolist()} for ids, scores in zip(want.ids, want.scores)]
    assert len(predictions) == len(sentences) and len(predictions[0]["ids"]) == 3


def test_image_retrieval_export_serves_image_bytes(make_tiny_encoder, tmp_path):
    from keras_contrastive import search
    from keras_contrastive.export.retrieval_export import SERVE_EMBEDDING, SERVE_IMAGES

    encoder = export_encoder(make_tiny_encoder((16, 16, 3), seed=4), tmp_path / "encoder")
    pixels = np.random.default_rng(2).integers(0, 256, size=(20, 16, 16, 3), dtype=np.uint8)
    index = search.build_index(encoder, pixels, tmp_path / "index")
    path = search.export_index(index, tmp_path / "image_search", k=5)
    assert set(load_exported(path).signatures) == {SERVING_DEFAULT, SERVE_IMAGES, SERVE_EMBEDDING}
    queries = pixels[[3, 7]]
    jobs = [
        (path, _request("image_search", SERVING_DEFAULT, {"image_bytes": [_png(p) for p in queries]})),
        (path, _request("image_search", SERVE_IMAGES, {"images": queries.astype(np.float32) / np.float32(255.0)})),
    ]
    want = index.search(queries, k=5)
    assert [row[0] for row in want.ids] == ["3", "7"]
    for response in _serve_in_fresh_process(tmp_path, jobs):
        assert [[i.decode() for i in row] for row in response["ids"]] == want.ids
        np.testing.assert_allclose(response["scores"], want.scores, atol=1e-5)

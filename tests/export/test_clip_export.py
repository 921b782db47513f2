import io
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from PIL import Image

from keras_contrastive.backbones import ConvNet
from keras_contrastive.evaluation.zero_shot import build_zero_shot_classifier
from keras_contrastive.export.clip_export import export_clip
from keras_contrastive.models import CLIP
from keras_contrastive.text.testing import TINY_SENTENCES, tiny_text_encoder

CLASSES = ["cat", "dog", "bird"]
TEMPLATES = ["a {} .", "{}"]

FRESH_PROCESS = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (the tokenizer ops of the text tower)

    root, inputs, out = sys.argv[1:4]
    data = np.load(inputs, allow_pickle=True)
    image = tf.saved_model.load(root + "/image_tower/1").signatures
    text = tf.saved_model.load(root + "/text_tower/1").signatures
    zero_shot = tf.saved_model.load(root + "/zero_shot/1").signatures
    png = tf.constant(list(data["png"]))
    result = {
        "image": image["serving_default"](images=tf.constant(data["images"]))["embedding"].numpy(),
        "image_bytes": image["serve_image_bytes"](image_bytes=png)["embedding"].numpy(),
        "text": text["serving_default"](sentences=tf.constant(list(data["sentences"])))["embedding"].numpy(),
        "probabilities": zero_shot["serving_default"](image_bytes=png)["probabilities"].numpy(),
        "probabilities_float": zero_shot["serve_images"](images=tf.constant(data["images"]))["probabilities"].numpy(),
        "class_name": zero_shot["serving_default"](image_bytes=png)["class_name"].numpy(),
    }
    np.savez(out, **result)
    """
)


def _png(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def clip():
    keras.utils.set_random_seed(5)
    return CLIP(ConvNet((16, 16, 3), width=4, stages=2), tiny_text_encoder(seed=5), embed_dim=8)


def test_three_exports_give_identical_results_in_a_fresh_process(clip, tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    images = pixels.astype("float32") / 255.0
    sentences = TINY_SENTENCES[:6]
    paths = export_clip(clip, tmp_path / "clip", CLASSES, TEMPLATES, assets={"notes.txt": "x"})
    assert {k: os.path.relpath(v, tmp_path) for k, v in paths.items()} == {
        "image_tower": os.path.join("clip", "image_tower", "1"),
        "text_tower": os.path.join("clip", "text_tower", "1"),
        "zero_shot": os.path.join("clip", "zero_shot", "1"),
    }
    assert (tmp_path / "clip" / "zero_shot" / "1" / "assets" / "classes.txt").read_text() == "cat\ndog\nbird\n"
    inputs, out = tmp_path / "inputs.npz", tmp_path / "out.npz"
    np.savez(inputs, images=images, png=np.array([_png(p) for p in pixels], dtype=object), sentences=sentences)
    subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(tmp_path / "clip"), str(inputs), str(out)],
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    got = np.load(out, allow_pickle=True)
    expected_images = clip.encode_images(images)
    expected_probabilities = build_zero_shot_classifier(clip, CLASSES, TEMPLATES).predict(images, verbose=0)
    np.testing.assert_allclose(got["image"], expected_images, atol=1e-6)
    np.testing.assert_allclose(got["image_bytes"], expected_images, atol=1e-6)
    np.testing.assert_allclose(got["text"], clip.encode_text(sentences), atol=1e-6)
    np.testing.assert_allclose(got["probabilities"], expected_probabilities, atol=1e-6)
    np.testing.assert_allclose(got["probabilities_float"], expected_probabilities, atol=1e-6)
    names = [CLASSES[i] for i in np.argmax(expected_probabilities, axis=1)]
    assert [n.decode() for n in got["class_name"]] == names


def test_existing_version_is_left_untouched(clip, tmp_path):
    export_clip(clip, tmp_path, None, version=3)
    assert sorted(os.listdir(tmp_path)) == ["image_tower", "text_tower"]
    with pytest.raises(FileExistsError, match="already exists"):
        export_clip(clip, tmp_path, None, version=3)

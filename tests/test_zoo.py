"""Every model in savedmodels/ reloads, serves, and re-evaluates within 1 point of its metadata.

With no model there yet, the same checks run on a tiny run published into a temporary zoo."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_contrastive import cli, recipes, runs, zoo, zoo_publish, zoo_readme
from keras_contrastive.data import image_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZOO = os.path.join(ROOT, "savedmodels")
SHIPPED = [(m["name"], v) for m in zoo.list(ZOO) for v in m["versions"]]
POINT = 0.01  # one percentage point, as a fraction


def check_reevaluates(model, sts_dir=None):
    """Re-evaluates a ZooModel through its serving signature and compares with its metadata."""
    meta = model.metadata
    assert meta["modality"] == model.modality and meta["signatures"]
    assert zoo.directory_bytes(model.path) <= zoo.MAX_MODEL_BYTES
    if model.modality == "text":
        sts_dir = sts_dir or zoo.default_sts_dir()
        if not os.path.isdir(sts_dir):
            pytest.skip(f"text model {meta['name']}: STS data not found at {sts_dir} (needs ../shared/data/sts)")
        if "sts_avg" not in meta.get("zoo_evaluation", {}):
            pytest.fail(f"{meta['name']} was published without STS data: republish it with ../shared/data/sts")
        assert zoo.evaluate(model, sts_dir)["sts_avg"] == pytest.approx(meta["zoo_evaluation"]["sts_avg"], abs=1.0)
        return
    if model.modality == "image_text":
        if not (os.path.exists(image_text.EMOJI_FONT) and os.path.exists(image_text.EMOJI_TEST)):
            pytest.skip(f"{meta['name']}: apt-get install -y fonts-noto-color-emoji unicode-data")
        now, recorded = zoo.evaluate(model), meta["zoo_evaluation"]
        assert now["zero_shot_examples"] == recorded["zero_shot_examples"] > 0
        assert now["zero_shot_top1"] == pytest.approx(recorded["zero_shot_top1"], abs=POINT)
        # The run's own (Keras, in-process) zero-shot score on the same held-out pairs, same descriptions.
        assert now["zero_shot_top1"] == pytest.approx(meta["metrics"]["zero_shot_top1"], abs=POINT)
        return
    assert model.modality == "image", model.modality
    now = zoo.evaluate(model)
    recorded = meta["zoo_evaluation"]
    assert now["data"] == recorded["data"] == "fashion_mnist_subset"
    assert now["linear_probe_top1"] == pytest.approx(recorded["linear_probe_top1"], abs=POINT)
    assert now["knn_top1"] == pytest.approx(recorded["knn_top1"], abs=POINT)
    if meta["data"]["name"] == "fashion_mnist_subset":
        # Trained on the subset: the run's own (Keras, in-process) scores must match the SavedModel's.
        assert now["linear_probe_top1"] == pytest.approx(meta["metrics"]["linear_probe_top1"], abs=POINT)
        assert now["knn_top1"] == pytest.approx(meta["metrics"]["knn_top1"], abs=POINT)


# The quick set (`pytest -m "not slow"`) re-evaluates the quick-start's model; CI every shipped model.
QUICK = {"simclr_quickstart"}


@pytest.mark.parametrize(
    "name,version",
    [(n, v) if n in QUICK else pytest.param(n, v, marks=pytest.mark.slow) for n, v in SHIPPED]
    or [
        pytest.param(
            None,
            None,
            marks=pytest.mark.skip(
                "savedmodels/ has no models yet: test_publish_load_and_reevaluate_a_tiny_run covers the path"
            ),
        )
    ],
)
def test_shipped_model_reloads_serves_and_reevaluates(name, version):
    model = zoo.load(name, version, root=ZOO)
    assert model.metadata["name"] == name and model.metadata["version"] == version
    check_reevaluates(model)


SHIPPED_TEXT = [name for name, version in SHIPPED if zoo.load(name, version, root=ZOO).modality == "text"]


@pytest.mark.parametrize("name", SHIPPED_TEXT or [pytest.param(None, marks=pytest.mark.skip("no text model shipped"))])
def test_a_shipped_text_model_loads_in_a_fresh_process(name):
    # A user's first call: nothing imported TensorFlow Text before (the tokenizer's ops must get registered).
    code = (
        "import sys, numpy as np\n"
        "from keras_contrastive import zoo\n"
        f"model = zoo.load({name!r}, root={ZOO!r})\n"
        "e = np.asarray(model(['A man is playing a guitar.', 'A man plays the guitar.', 'The stock market fell.']))\n"
        "print(e.shape[0], round(float(e[0] @ e[1]), 4), round(float(e[0] @ e[2]), 4))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows, paraphrase, unrelated = done.stdout.split()[-3:]
    assert int(rows) == 3 and float(paraphrase) > float(unrelated) + 0.3  # unit vectors: cosines


def test_zoo_folder_and_readme_are_in_bounds():
    assert zoo.directory_bytes(ZOO) <= zoo.MAX_ZOO_BYTES
    if SHIPPED:
        with open(os.path.join(ZOO, "README.md"), encoding="utf-8") as f:
            stale = "savedmodels/README.md is stale: python scripts/make_zoo_readme.py"
            assert f.read() == zoo_readme.readme_text(ZOO), stale


def test_publish_load_and_reevaluate_a_tiny_run(tiny_run_dir, tmp_path):
    root = str(tmp_path / "savedmodels")
    assert cli.main(["zoo", "publish", "--run", tiny_run_dir, "--name", "tiny", "--root", root]) == 0
    assert [m["name"] for m in zoo.list(root)] == ["tiny"] and zoo.list(root)[0]["versions"] == [1]
    assert sorted(os.listdir(root)) == ["tiny"]  # no staging folder left behind

    model = zoo.load("tiny", root=root)
    meta = model.metadata
    with open(os.path.join(tiny_run_dir, "metrics.json"), encoding="utf-8") as f:
        assert meta["metrics"] == json.load(f)
    assert meta["method"] == "simclr" and meta["recipe"]["encoder"]["width"] == 4
    assert meta["data"] == {"source": "fashion_mnist_subset", "name": "fashion_mnist_subset"}
    assert meta["epochs"] == 1 and meta["train_seconds"] > 0 and "quickstart" in meta["command"]
    assert "zoo publish" in meta["publish_command"]
    assert set(meta["signatures"]) == {"serving_default", "serve_image_bytes"}
    for asset in ("recipe.yaml", "metrics.json", "progress.json", "command.txt", "metadata.json"):
        assert os.path.isfile(os.path.join(model.path, "assets", asset)), asset

    from keras_contrastive import data, runs

    keras_model, _ = runs.load_run(tiny_run_dir)
    images = data.load_data("fashion_mnist_subset").x_test[:8]
    np.testing.assert_allclose(model(images), keras_model.encoder.predict(images / 255.0, verbose=0), atol=1e-5)
    check_reevaluates(model)

    # A second publish is version 2; load() picks the latest; the README lists both.
    second = zoo_publish.publish(tiny_run_dir, "tiny", root=root)
    assert second.endswith(os.path.join("tiny", "2")) and zoo.load("tiny", root=root).metadata["version"] == 2
    assert zoo.load("tiny", 1, root=root).metadata["version"] == 1
    readme = zoo_readme.readme_text(root)
    assert "| `tiny` | 1 | simclr |" in readme and "| `tiny` | 2 | simclr |" in readme
    with pytest.raises(FileNotFoundError, match=r"versions \[1, 2\]; version 7 is not one"):
        zoo.load("tiny", 7, root=root)
    with pytest.raises(FileNotFoundError, match="No zoo model 'nope'.*models there: tiny"):
        zoo.load("nope", root=root)


def test_publish_refuses_a_model_over_the_size_limit(tiny_run_dir, tmp_path):
    root = str(tmp_path / "zoo")
    with pytest.raises(ValueError, match=r"Refusing to publish big: its SavedModel is .* MB, over the 0 MB limit"):
        zoo_publish.publish(tiny_run_dir, "big", root=root, max_model_bytes=1000)
    assert zoo.list(root) == [] and os.listdir(root) == []
    with pytest.raises(ValueError, match="Zoo names are plain identifiers"):
        zoo_publish.publish(tiny_run_dir, "../escape", root=root)


needs_emoji = pytest.mark.skipif(
    not (os.path.exists(image_text.EMOJI_FONT) and os.path.exists(image_text.EMOJI_TEST)),
    reason="apt-get install -y fonts-noto-color-emoji unicode-data",
)


def _tiny_clip_run(run_dir, source, batch_size):
    from keras_contrastive.text.testing import TINY_TEXT_ENCODER

    text_encoder = dict(TINY_TEXT_ENCODER)
    recipe = recipes.validate(
        {
            "method": {"name": "clip", "embed_dim": 8, "text_encoder": text_encoder},
            "encoder": {"name": "convnet", "width": 4, "stages": 2},
            "data": {"source": source, "image_size": [16, 16]},
            "augment": {"crop_scale": [0.6, 1.0], "horizontal_flip": False},
            "train": {"epochs": 1, "steps_per_epoch": 2, "batch_size": batch_size, "online_probe": False},
        }
    )
    return runs.train(recipe, str(run_dir), verbose=0, command=f"keras-contrastive train (tiny {source} CLIP)")


@needs_emoji
def test_a_clip_run_is_published_as_its_zero_shot_classifier(tmp_path):
    metrics = _tiny_clip_run(tmp_path / "run", "emoji", 32)
    root = str(tmp_path / "zoo")
    assert cli.main(["zoo", "publish", "--run", str(tmp_path / "run"), "--name", "tiny_clip", "--root", root]) == 0
    model = zoo.load("tiny_clip", root=root)
    assert model.modality == "image_text" and model.class_names == list(image_text.EMOJI_GROUPS)
    assert set(model.signatures) == {"serving_default", "serve_images"}
    assert os.path.isfile(os.path.join(model.path, "assets", "descriptions.json"))
    pairs = image_text.load_emoji((16, 16)).split("held_out")
    probabilities = model(pairs.images[:5])
    assert probabilities.shape == (5, 9)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    recorded = model.metadata["zoo_evaluation"]
    assert recorded["data"] == "emoji" and recorded["zero_shot_examples"] == metrics["zero_shot_examples"]
    check_reevaluates(model)


def test_a_clip_run_without_classes_is_refused(tmp_path):
    from PIL import Image

    from keras_contrastive.text.testing import TINY_SENTENCES

    folder = tmp_path / "pairs"
    folder.mkdir()
    for i, sentence in enumerate(TINY_SENTENCES[:8]):
        Image.new("RGB", (16, 16), (i * 30, 0, 0)).save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(sentence + "\n")
    _tiny_clip_run(tmp_path / "run", f"folder:{folder}", 4)
    root = tmp_path / "zoo"
    with pytest.raises(ValueError, match="carry no classes: the zoo holds a CLIP model as its zero-shot classifier"):
        zoo_publish.publish(str(tmp_path / "run"), "folder_clip", root=str(root))
    assert zoo.list(str(root)) == [] and os.listdir(root) == []


@pytest.mark.parametrize("make", [False, True], ids=["missing", "empty"])
def test_an_empty_zoo_says_where_models_are_expected(tmp_path, monkeypatch, capsys, make):
    root = tmp_path / "zoo"
    if make:
        root.mkdir()
    monkeypatch.setenv("KERAS_CONTRASTIVE_ZOO", str(root))
    assert zoo.default_root() == str(root)
    with pytest.warns(UserWarning, match="KERAS_CONTRASTIVE_ZOO") as caught:
        assert zoo.list() == []
    message = str(caught[0].message)
    assert str(root) in message and "savedmodels/" in message
    with pytest.raises(FileNotFoundError, match="point KERAS_CONTRASTIVE_ZOO"):
        zoo.load("simclr_quickstart")
    assert cli.main(["zoo", "list"]) == 0
    err = capsys.readouterr().err
    assert str(root) in err and "KERAS_CONTRASTIVE_ZOO" in err

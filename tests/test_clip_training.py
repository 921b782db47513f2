"""CLIP from a recipe, end to end on a tiny folder of captioned images: train, evaluate, export (CLI).

Slow (`pytest -m "not slow"` leaves it out): the module's run trains until it has learned its pairs."""

import colorsys
import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from keras_contrastive import cli, recipes, runs
from keras_contrastive.data import image_text
from keras_contrastive.text.testing import TINY_SENTENCES, TINY_TEXT_ENCODER

pytestmark = pytest.mark.slow


def _recipe(folder):
    text_encoder = dict(TINY_TEXT_ENCODER)
    return recipes.validate(
        {
            "method": {"name": "clip", "embed_dim": 8, "text_encoder": text_encoder},
            "encoder": {"name": "convnet", "width": 4, "stages": 2},
            "data": {"source": f"folder:{folder}", "image_size": [16, 16]},
            "augment": {
                "crop_scale": [0.6, 1.0],
                "horizontal_flip": False,
                "jitter_probability": 0.0,
                "grayscale_probability": 0.0,
            },
            "train": {"epochs": 300, "batch_size": 4},
            "optimizer": {"learning_rate": 0.01, "warmup_epochs": 0.0},
        }
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("clip")
    folder = root / "pairs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, sentence in enumerate(TINY_SENTENCES):
        # Each caption's image has its own hue (plus noise): a pairing the towers can learn.
        colour = np.array(colorsys.hsv_to_rgb(i / len(TINY_SENTENCES), 1.0, 1.0)) * 255
        pixels = np.clip(colour + rng.normal(0, 10, (20, 20, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(sentence + "\n")
    metrics = runs.train(_recipe(folder), str(root / "run"), verbose=0)
    return root, metrics


def test_train_writes_a_run_with_held_out_retrieval(run):
    root, metrics = run
    held_out = int(image_text.held_out_mask([str(i) for i in range(len(TINY_SENTENCES))]).sum())
    assert metrics["held_out_pairs"] == held_out and metrics["train_pairs"] == len(TINY_SENTENCES) - held_out
    assert metrics["text_to_image_r5_chance"] == pytest.approx(min(5, held_out) / held_out)
    on_disk = json.loads((root / "run" / "metrics.json").read_text())
    assert on_disk["text_to_image_r1"] == metrics["text_to_image_r1"]
    # Held-out retrieval is what the run reports: the same function, on the held-out split, gives it back.
    again = runs.evaluate_retrieval(str(root / "run"))
    assert again["text_to_image_r1"] == pytest.approx(metrics["text_to_image_r1"])


def test_training_learns_the_pairs_it_saw(run):
    """A hue per caption: the training pairs are learned. Trained retrieval on them beats the same
    architecture untrained, and the loss fell well below its start."""
    root, metrics = run
    recipe = runs.load_recipe(str(root / "run"))
    folder = recipe["data"]["source"]
    keras.utils.set_random_seed(0)
    untrained = runs.image_text_task.build_clip_model(recipe, (16, 16, 3))
    before = runs.evaluate_retrieval(untrained, data_spec=folder, split="train")
    after = runs.evaluate_retrieval(str(root / "run"), split="train")
    trained = (after["text_to_image_r1"] + after["image_to_text_r1"]) / 2
    untrained = (before["text_to_image_r1"] + before["image_to_text_r1"]) / 2
    assert trained > untrained + 0.3 and after["text_to_image_r5"] == 1.0, (before, after)
    history = (root / "run" / "history.csv").read_text().splitlines()
    losses = [float(line.split(",")[history[0].split(",").index("loss")]) for line in history[1:]]
    assert losses[-1] < 0.5 * losses[0], losses


def test_cli_zero_shot_on_the_emoji_groups(run, tmp_path, capsys):
    if not (os.path.exists(image_text.EMOJI_FONT) and os.path.exists(image_text.EMOJI_TEST)):
        pytest.skip("needs Debian's fonts-noto-color-emoji and unicode-data (.ci/run installs them)")
    root, _ = run
    out = tmp_path / "zero_shot.json"
    args = ["evaluate", "zero-shot", "--model", str(root / "run" / "model.keras"), "--data", "emoji"]
    assert cli.main([*args, "--templates", "a {} .,{}", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["zero_shot_chance"] == pytest.approx(1 / 9) and result["zero_shot_examples"] > 300
    assert result["zero_shot_templates"] == ["a {} .", "{}"]
    # The emoji groups are described by their Unicode subgroups by default; names-only is reported beside.
    assert result["zero_shot_descriptions"] == image_text.emoji_group_descriptions()
    assert 0.0 <= result["zero_shot_names_only_top1"] <= 1.0
    described = tmp_path / "described.json"
    described.write_text(json.dumps({g: [g.lower()] for g in image_text.EMOJI_GROUPS}))
    out_described = tmp_path / "zero_shot_described.json"
    assert cli.main([*args, "--descriptions", str(described), "--out", str(out_described)]) == 0
    assert json.loads(out_described.read_text())["zero_shot_descriptions"]["Flags"] == ["flags"]
    assert cli.main([*args, "--templates", "a {} .,{}", "--descriptions", "none", "--out", str(out)]) == 0
    names_only = json.loads(out.read_text())
    assert names_only["zero_shot_descriptions"] is None and "zero_shot_names_only_top1" not in names_only
    assert names_only["zero_shot_top1"] == pytest.approx(result["zero_shot_names_only_top1"])
    assert cli.main([*args, "--descriptions", str(tmp_path / "missing.json")]) == 2
    assert "is not a file" in capsys.readouterr().err
    described.write_text("{not json")
    assert cli.main([*args, "--descriptions", str(described)]) == 2
    assert "is not JSON" in capsys.readouterr().err
    assert cli.main([*args, "--classes", "cat,dog"]) == 2
    assert "lists 2 names but emoji has 9 classes" in capsys.readouterr().err


def test_cli_retrieval_and_export(run, tmp_path, capsys):
    root, metrics = run
    out = tmp_path / "retrieval.json"
    assert cli.main(["evaluate", "retrieval", "--model", str(root / "run"), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["text_to_image_r1"] == pytest.approx(metrics["text_to_image_r1"])
    assert cli.main(["export", "--run", str(root / "run"), "--to", str(tmp_path / "sm"), "--classes", "cat,dog"]) == 0
    assert sorted(os.listdir(tmp_path / "sm")) == ["image_tower", "text_tower", "zero_shot"]
    described = tmp_path / "two.json"
    described.write_text(json.dumps({"cat": ["cat", "kitten"], "dog": ["dog"]}))
    export = ["export", "--run", str(root / "run"), "--to", str(tmp_path / "sm"), "--classes", "cat,dog"]
    assert cli.main([*export, "--descriptions", str(described)]) == 0
    assets = tmp_path / "sm" / "zero_shot" / "2" / "assets"
    assert json.loads((assets / "descriptions.json").read_text()) == {"cat": ["cat", "kitten"], "dog": ["dog"]}
    assert not (tmp_path / "sm" / "zero_shot" / "1" / "assets" / "descriptions.json").exists()
    assert cli.main(["evaluate", "zero-shot", "--model", str(root / "run")]) == 2
    assert "carries no class labels" in capsys.readouterr().err

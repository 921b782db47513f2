"""`recipes/simclr_imagenet_resnet50.yaml` holds the SimCLR paper's ImageNet settings, and its wiring trains:
2 steps on a small generated JPEG folder with `--set` overrides (image size, batch, backbone width)."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from keras_contrastive import cli, recipes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "simclr_imagenet_resnet50.yaml")


def test_the_recipe_says_the_papers_imagenet_settings():
    recipe = recipes.load(RECIPE, check_paths=False)
    train, optimizer, augment = recipe["train"], recipe["optimizer"], recipe["augment"]
    assert recipe["encoder"]["name"] == "resnet50" and recipe["encoder"]["small_images"] is False
    assert recipe["data"]["source"] == "tfds:imagenet2012" and recipe["data"]["image_size"] == [224, 224]
    assert train["batch_size"] == 4096 and train["epochs"] == 100
    assert optimizer["name"] == "lars" and optimizer["learning_rate"] == pytest.approx(0.3 * 4096 / 256)
    assert optimizer["weight_decay"] == pytest.approx(1e-6) and optimizer["warmup_epochs"] == 10
    assert recipe["method"]["temperature"] == pytest.approx(0.1) and recipe["method"]["synchronized_bn"]
    assert augment["jitter_strength"] == 1.0 and augment["blur_probability"] == 0.5
    assert augment["crop_scale"] == [0.08, 1.0]


def _jpeg_folder(root, rng):
    """train/ and test/ with 2 classes of JPEGs of varied sizes (like photos, smaller)."""
    for split, count in (("train", 10), ("test", 4)):
        for label in range(2):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True)
            for i in range(count):
                h, w = (int(v) for v in rng.integers(40, 90, 2))
                pixels = np.clip(rng.normal(80 + 90 * label, 40, (h, w, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.jpg", quality=85)
    return root


def test_the_recipe_trains_two_steps_on_a_jpeg_folder(tmp_path, capsys):
    folder = _jpeg_folder(tmp_path / "images", np.random.default_rng(0))
    run = tmp_path / "run"
    sets = [
        f"data.source=folder:{folder}",
        "data.image_size=[32, 32]",
        "train.batch_size=8",
        "train.epochs=1",
        "train.steps_per_epoch=2",
        "encoder.width_multiplier=0.0625",
        "method.projection_hidden_dim=32",
        "evaluate.knn_k=5",
    ]
    argv = ["train", RECIPE, "--output", str(run), "--verbose", "0", *[x for s in sets for x in ("--set", s)]]
    assert cli.main(argv) == 0, capsys.readouterr().err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps_per_epoch"] == 2 and np.isfinite(metrics["final_loss"])
    assert metrics["image_shape"] == [32, 32, 3] and metrics["train_images"] == 20
    assert 0.0 <= metrics["linear_probe_top1"] <= 1.0 and metrics["skipped_files"] == 0
    trained = recipes.load(str(run / "recipe.yaml"), check_paths=False)
    assert trained["optimizer"]["name"] == "lars" and trained["encoder"]["name"] == "resnet50"

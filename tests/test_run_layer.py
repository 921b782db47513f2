"""The run layer: one `train()` for every modality, runs usable after their data moved, any model (run,
export, zoo name) evaluated alike, recipe keys a run would ignore refused, `compile(loss=...)` refused."""

import os
import shutil

import keras
import numpy as np
import pytest
import yaml
from PIL import Image

from keras_contrastive import cli, recipes, runs, zoo_publish
from keras_contrastive.backbones import ConvNet
from keras_contrastive.models import SimCLR
from keras_contrastive.text.testing import TINY_SENTENCES, TINY_TEXT_ENCODER

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = os.path.join(ROOT, "recipes", "quickstart.yaml")
TINY_IMAGE = ["train.epochs=1", "train.steps_per_epoch=2", "train.batch_size=32", "encoder.width=4"]
RUN_FILES = {"recipe.yaml", "backup", "logs", "history.csv", "progress.json", "model.keras", "metrics.json"}


def _tiny_text_encoder():
    return dict(TINY_TEXT_ENCODER)


def _caption_folder(folder, count=len(TINY_SENTENCES)):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(TINY_SENTENCES[i % len(TINY_SENTENCES)] + "\n")
    return folder


def _class_folder(folder, classes=3, per_class=24, size=16):
    """Images whose class decides their mean brightness: train/ and test/ sub-folders."""
    rng = np.random.default_rng(1)
    for split, count in (("train", per_class), ("test", per_class // 2)):
        for label in range(classes):
            (folder / split / f"class{label}").mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(rng.normal(60 + 70 * label, 20, (size, size)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / split / f"class{label}" / f"{i}.png")
    return folder


def test_image_text_and_image_text_runs_write_the_same_layout(tmp_path):
    image = recipes.load(QUICKSTART, TINY_IMAGE + ["evaluate.baselines=false"])
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("\n".join(TINY_SENTENCES) + "\n")
    text = recipes.validate(
        {
            "method": {"name": "simcse", "pooling": "mean"},
            "encoder": _tiny_text_encoder(),
            "data": {"source": f"text:{sentences}"},
            "train": {"epochs": 1, "batch_size": 4},
        }
    )
    pairs = _caption_folder(tmp_path / "pairs")
    image_text = recipes.validate(
        {
            "method": {"name": "clip", "embed_dim": 8, "text_encoder": _tiny_text_encoder()},
            "encoder": {"name": "convnet", "width": 4, "stages": 2},
            "data": {"source": f"folder:{pairs}", "image_size": [16, 16]},
            "train": {"epochs": 1, "batch_size": 4},
        }
    )
    layouts = {}
    for name, recipe in (("image", image), ("text", text), ("image_text", image_text)):
        assert runs.task_for(recipe).modality == name
        run = tmp_path / f"run-{name}"
        metrics = runs.train(recipe, str(run), verbose=0, command=f"tiny {name}")
        layouts[name] = set(os.listdir(run)) - {"command.txt"}
        assert (run / "command.txt").read_text() == f"tiny {name}\n"
        for key in ("method", "data", "epochs", "steps_per_epoch", "batch_size", "train_seconds", "final_loss"):
            assert key in metrics, (name, key)
        assert metrics["epochs"] == 1 and np.isfinite(metrics["final_loss"])
    assert layouts["image"] == layouts["text"] == layouts["image_text"] == RUN_FILES


def test_a_run_is_exported_evaluated_plotted_and_published_after_its_data_moved(tmp_path, capsys):
    data = _class_folder(tmp_path / "data")
    recipe = recipes.load(
        QUICKSTART,
        TINY_IMAGE + ["evaluate.baselines=false", f"data.source=folder:{data}", "train.batch_size=16"],
    )
    run = str(tmp_path / "run")
    trained = runs.train(recipe, run, verbose=0)
    moved = shutil.move(str(data), str(tmp_path / "elsewhere"))

    # Loading, exporting and publishing need no data.
    model, loaded_recipe = runs.load_run(run)
    assert loaded_recipe["data"]["source"] == f"folder:{data}"
    paths = runs.export_run(run, to=str(tmp_path / "exported"))
    assert sorted(paths) == ["encoder"] and os.path.isfile(os.path.join(paths["encoder"], "saved_model.pb"))
    published = zoo_publish.publish(run, "moved", root=str(tmp_path / "zoo"))
    assert os.path.isdir(published)

    # Evaluating reads data: the old path and its recipe key are named, and --data points at the new place.
    with pytest.raises(FileNotFoundError, match=str(data)) as raised:
        runs.evaluate_linear_probe(run)
    assert f"data.source: folder:{data}" in str(raised.value) and "--data SPEC" in str(raised.value)
    assert cli.main(["evaluate", "linear-probe", "--model", run]) == 2
    message = capsys.readouterr().err
    assert f"data.source: folder:{data}" in message and "give the data's new place with --data SPEC" in message
    result = runs.evaluate_linear_probe(run, data_spec=f"folder:{moved}")
    assert result["linear_probe_top1"] == pytest.approx(trained["linear_probe_top1"])
    out = tmp_path / "similarity.png"
    assert cli.main(["plot", "similarity", "--model", run, "--data", f"folder:{moved}", "--out", str(out)]) == 0
    assert out.stat().st_size > 1000


def test_any_model_a_run_its_export_or_its_zoo_name_evaluates_the_same(tiny_run_dir, tmp_path):
    root = str(tmp_path / "zoo")
    zoo_publish.publish(tiny_run_dir, "tiny", root=root)
    export = runs.export_run(tiny_run_dir, to=str(tmp_path / "export" / "tiny"))["encoder"]
    results = {}
    for spec in (tiny_run_dir, export, os.path.dirname(export)):
        source = runs.open_model(spec)
        assert source.modality == "image" and source.image_shape == (28, 28, 1)
        assert source.recipe["method"]["name"] == "simclr"
        results[spec] = runs.evaluate_knn(spec, k=20)["knn_top1"]
    named = runs.open_model("tiny", root=root)
    assert named.kind == "zoo" and named.exported.metadata["name"] == "tiny"
    x = runs.image_task.load_splits(named.recipe).x_test[:16]
    np.testing.assert_allclose(named.embed_images(x), runs.open_model(tiny_run_dir).embed_images(x), atol=1e-4)
    assert len(set(results.values())) == 1, results
    with pytest.raises(FileNotFoundError, match="neither a file, a folder, nor a model of the zoo"):
        runs.open_model("no_such_model", root=root)
    with pytest.raises(FileNotFoundError, match="is not a finished run .* Nor is it an export"):
        runs.open_model(str(tmp_path))


def test_few_shot_fine_tunes_an_export(tiny_run_dir, tmp_path):
    export = runs.export_run(tiny_run_dir, to=str(tmp_path / "tiny"))["encoder"]
    source = runs.open_model(export)
    encoder = source.image_encoder()  # the recipe's architecture with the export's weights
    original = runs.load_run(tiny_run_dir)[0].encoder
    for rebuilt, trained in zip(encoder.weights, original.weights):
        np.testing.assert_array_equal(np.asarray(rebuilt), np.asarray(trained))
    result = runs.few_shot_run(export, 0.01, steps=5, batch_size=16)
    assert result["labelled_examples"] == 110 and 0.0 <= result["pretrained_top1"] <= 1.0
    assert result["model"] == export


@pytest.mark.parametrize(
    "recipe, message",
    [
        ({"method": {"name": "simcse"}, "encoder": {"name": "small_transformer"}, "augment": {"crop_scale": [0.5, 1]}},
         r"augment.crop_scale: \[0.5, 1\] would be ignored by this text run: a text run has no image views"),
        ({"method": {"name": "simcse"}, "encoder": {"name": "small_transformer"}, "train": {"online_probe": True}},
         "train.online_probe: True would be ignored by this text run"),
        ({"method": {"name": "simcse"}, "encoder": {"name": "small_transformer"}, "train": {"knn_monitor_every": 1}},
         "train.knn_monitor_every: 1 would be ignored by this text run: the kNN monitor classifies images"),
        ({"method": {"name": "simcse"}, "encoder": {"name": "small_transformer"}, "evaluate": {"baselines": True}},
         "evaluate.baselines: True would be ignored by this text run: a text run is evaluated afterwards, on STS"),
        ({"method": {"name": "clip"}, "augment": {"small_crops": 2}},
         "augment.small_crops: 2 would be ignored by this image-text run"),
        ({"method": {"name": "clip"}, "augment": {"blur_probability": [1.0, 0.1]}},
         "augment.blur_probability: .* one image view per pair: give one number"),
        ({"optimizer": {"name": "adam", "weight_decay": 0.05}},
         "optimizer.weight_decay: 0.05 would be ignored by this optimizer and schedule: adam has no weight decay"),
        ({"optimizer": {"name": "adamw", "momentum": 0.5}},
         "optimizer.momentum: 0.5 would be ignored .* adamw has no momentum"),
        ({"optimizer": {"name": "sgd", "eta": 0.01}}, "optimizer.eta: 0.01 would be ignored .*only lars reads it"),
        ({"optimizer": {"schedule": "constant", "warmup_epochs": 5}},
         "optimizer.warmup_epochs: 5.0 would be ignored .* the constant schedule has no warm-up"),
    ],
)  # fmt: skip
def test_a_key_the_run_would_ignore_is_an_error(recipe, message):
    with pytest.raises(recipes.RecipeError, match=message):
        recipes.validate(recipe)


def test_keys_at_their_defaults_and_the_runs_own_recipes_are_accepted(tmp_path, capsys):
    text = recipes.validate({"method": {"name": "simcse"}, "encoder": {"name": "small_transformer"}})
    assert text["train"]["online_probe"] is False  # what a text run does, written in its recipe
    assert recipes.validate(text) == text
    adam = recipes.validate({"optimizer": {"name": "adam", "schedule": "constant"}})
    assert recipes.validate(adam) == adam
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"method": {"name": "simclr"}, "optimizer": {"name": "adam", "weight_decay": 0.1}}))
    assert cli.main(["train", str(path), "--output", str(tmp_path / "run")]) == 2
    assert "optimizer.weight_decay: 0.1 would be ignored" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_compile_with_a_loss_or_metrics_is_an_error():
    model = SimCLR(ConvNet((16, 16, 1), width=4, stages=2), projection_dim=8)
    with pytest.raises(ValueError, match=r"SimCLR computes its own loss and metrics \(loss, contrastive_accuracy\)"):
        model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="compile\\(\\) takes an optimizer only.*Received metrics"):
        model.compile(optimizer="adam", metrics=["accuracy"])
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    assert model.optimizer is not None


def test_the_readme_tfsmlayer_snippet_trains_a_linear_head_on_an_export(monkeypatch):
    """The README's snippet, as written, on the zoo's quick-start export (the path it names)."""
    if not os.path.isdir(os.path.join(ROOT, "savedmodels", "simclr_quickstart", "1")):
        pytest.skip("the zoo's simclr_quickstart version 1 is not in this checkout")
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    start = readme.index("```python\n# A linear head on an exported encoder")
    snippet = readme[start + len("```python\n") : readme.index("```", start + 10)]
    monkeypatch.chdir(ROOT)
    namespace = {}
    exec(compile(snippet, "README.md", "exec"), namespace)  # noqa: S102
    history, classifier = namespace["history"].history, namespace["classifier"]
    assert history["accuracy"][-1] > 0.6, history  # 10 classes: chance is 0.1
    assert [tuple(w.shape) for w in classifier.trainable_weights] == [(256, 10), (10,)]  # only the head trains


def test_a_run_gives_labels_to_a_method_that_trains_on_them_even_without_the_probe(tmp_path):
    # SupCon's loss reads every batch's labels: a batch without them is a ValueError in its train step.
    recipe = recipes.validate(
        {
            "method": {"name": "supcon", "projection_dim": 8},
            "encoder": {"name": "convnet", "width": 4, "stages": 2},
            "data": {"source": "fashion_mnist_subset"},
            "train": {"online_probe": False, "epochs": 1, "steps_per_epoch": 2, "batch_size": 32},
            "evaluate": {"baselines": False},
        }
    )
    metrics = runs.train(recipe, str(tmp_path / "run"), verbose=0)
    assert metrics["method"] == "supcon" and np.isfinite(metrics["final_loss"]) and metrics["final_loss"] > 0
    assert metrics["steps_per_epoch"] == 2

    # On images without class folders there are no labels to give: an error naming the method and the fix.
    (tmp_path / "flat").mkdir()
    for i in range(8):
        Image.fromarray(np.full((16, 16), 30 * i, np.uint8)).save(tmp_path / "flat" / f"{i}.png")
    recipe = recipes.apply_overrides(recipe, [f"data.source=folder:{tmp_path / 'flat'}", "train.batch_size=4"])
    with pytest.raises(recipes.RecipeError, match="supcon trains on labels, but .* is unlabeled: put each class"):
        runs.train(recipe, str(tmp_path / "unlabeled"), verbose=0)

"""`keras-contrastive train` / `export` on a text recipe, end to end on a tiny encoder."""

import json
import os

import keras
import numpy as np
import pytest
import yaml

from keras_contrastive import cli, recipes, runs
from keras_contrastive.text.testing import TINY_SENTENCES, TINY_TEXT_ENCODER, TINY_VOCABULARY


def _recipe(tmp_path, source, **train):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(TINY_VOCABULARY) + "\n", encoding="utf-8")
    recipe = {
        "method": {"name": "simcse", "pooling": "mean", "temperature": 0.1},
        "encoder": {**TINY_TEXT_ENCODER, "vocabulary": str(vocab)},
        "data": {"source": source},
        "optimizer": {"name": "adamw", "learning_rate": 0.01, "warmup_epochs": 0.0},
        "train": {"epochs": 2, "batch_size": 4, "online_probe": False, **train},
        "export": {"name": "tiny_simcse"},
    }  # fmt: skip
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    return str(path)


def test_train_then_export_a_text_recipe(tmp_path):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("\n".join(TINY_SENTENCES) + "\n", encoding="utf-8")
    recipe = _recipe(tmp_path, f"text:{sentences}")
    run = str(tmp_path / "run")
    assert cli.main(["train", recipe, "--output", run, "--verbose", "0"]) == 0
    metrics = json.loads(open(os.path.join(run, "metrics.json")).read())
    assert metrics["method"] == "simcse" and metrics["sentences"] == len(TINY_SENTENCES)
    assert metrics["epochs"] == 2 and metrics["steps_per_epoch"] == 3 and np.isfinite(metrics["final_loss"])
    target = str(tmp_path / "savedmodels" / "tiny_simcse")
    assert cli.main(["export", "--run", run, "--to", target]) == 0
    from keras_contrastive.export.text_export import embed_with_export, load_text_export

    assert sorted(os.listdir(target)) == ["1"]
    assert os.path.isfile(os.path.join(target, "1", "assets", "recipe.yaml"))
    out = embed_with_export(load_text_export(os.path.join(target, "1")), ["the cat sat", ""])
    assert out.shape == (2, 8) and np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_text_recipe_keys_and_sources_are_checked(tmp_path, capsys):
    recipe = recipes.load(_recipe(tmp_path, "wordnet"))
    assert recipe["encoder"]["hidden_dim"] == 8 and recipe["method"]["mlp_only_train"] is True
    with pytest.raises(recipes.RecipeError, match="encoder.hiden_dim.*Did you mean.*hidden_dim"):
        recipes.load(_recipe(tmp_path, "wordnet"), overrides=["encoder.hiden_dim=4"])
    assert cli.main(["train", _recipe(tmp_path, "fashion_mnist_subset"), "--output", str(tmp_path / "r")]) == 2
    assert "not a text source" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["simcse_unsup_minilm_wordnet", "simcse_unsup_small_wordnet",
                                  "simcse_sup_small_wordnet_triplets"])  # fmt: skip
def test_shipped_recipes_validate(name):
    root = os.path.join(os.path.dirname(__file__), "..", "..", "recipes")
    recipe = recipes.load(os.path.join(root, f"{name}.yaml"))
    assert recipe["method"]["name"] == "simcse" and recipe["data"]["source"].startswith("wordnet")


def _tiny_stsb(path):
    """A tiny STS-B-format file: 6 pairs at gold >= 4 (positives), 3 below (their sentences are only corpus)."""
    high = [(TINY_SENTENCES[i], TINY_SENTENCES[i + 6]) for i in range(6)]
    low = [("the cat sat on the mat .", "a fast blue car"), ("birds sing", "the big dog sat ."), ("a dog", "red")]
    rows = [f"main-captions\tMSRvid\t2012test\t{i:04d}\t{g:.3f}\t{a}\t{b}"
            for i, ((a, b), g) in enumerate([(p, 4.5) for p in high] + [(p, 1.0) for p in low])]  # fmt: skip
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return high


def test_stsb_pairs_at_min_gold_train_a_text_recipe(tmp_path):
    from keras_contrastive.runs.text_task import load_text_columns

    high = _tiny_stsb(tmp_path / "sts-train.csv")
    recipe = recipes.load(_recipe(tmp_path, f"stsb:{tmp_path / 'sts-train.csv'}", epochs=1))
    assert list(zip(*load_text_columns(recipe))) == high  # gold 4.5 >= 4.0; the three at 1.0 are left out
    low = recipes.load(_recipe(tmp_path, f"stsb:{tmp_path / 'sts-train.csv'}"), overrides=["data.min_gold=1.0"])
    assert len(load_text_columns(low)[0]) == 9
    metrics = runs.train(recipe, str(tmp_path / "run"), verbose=0)
    assert metrics["sentences"] == 6 and metrics["steps_per_epoch"] == 1 and np.isfinite(metrics["final_loss"])
    with pytest.raises(recipes.RecipeError, match="data.min_gold: 3.0 would be ignored by this data source: .*stsb"):
        recipes.load(_recipe(tmp_path, "wordnet"), overrides=["data.min_gold=3.0"])


def test_the_stsb_recipe_validates_where_the_sts_data_is():
    repo = os.path.join(os.path.dirname(__file__), "..", "..")
    recipe_path = os.path.join(repo, "recipes", "simcse_sup_minilm_stsb.yaml")
    with open(recipe_path, encoding="utf-8") as f:
        path = yaml.safe_load(f)["data"]["path"]
    if not os.path.isfile(path):  # relative to the repository, where recipes are run from
        with pytest.raises(recipes.RecipeError, match="data.path: .*sts-train.csv' does not exist"):
            recipes.load(recipe_path)
        pytest.skip(f"STS-B not at {path} (run from the repository root beside ../shared/data/sts)")
    recipe = recipes.load(recipe_path)
    assert recipe["data"]["source"] == "stsb" and recipe["data"]["min_gold"] == 4.0
    assert recipe["data"]["hard_negatives"] >= 1
    assert recipe["method"]["use_mlp"] is False and recipe["encoder"]["name"] == "minilm"


def test_stsb_pairs_with_mined_hard_negatives_train_as_triplets(tmp_path):
    from keras_contrastive.mining import mine_hard_negatives
    from keras_contrastive.runs import text_task

    high = _tiny_stsb(tmp_path / "sts-train.csv")
    recipe = recipes.load(
        _recipe(tmp_path, f"stsb:{tmp_path / 'sts-train.csv'}", epochs=1),
        overrides=["data.hard_negatives=2", "data.mine_margin=0.0", "method.use_mlp=false"],
    )
    columns = text_task.load_text_columns(recipe)
    assert list(zip(*columns)) == high
    corpus = text_task.mining_corpus(recipe, columns)
    # The 12 tiny sentences of the gold-4.5 pairs, and "a dog" and "red" of the gold-1 pairs: 14 distinct.
    assert len(corpus) == len(set(corpus)) == 14 and "red" in corpus  # low-gold sentences are candidates too
    model = text_task.build_text_model(recipe)
    triplets, info = text_task.add_mined_negatives(recipe, model, columns)
    assert triplets[:2] == columns and len(triplets[2]) == 6
    assert all(n not in (a, p) for a, p, n in zip(*triplets))
    mined = mine_hard_negatives(model, *columns, corpus, k=2, margin=0.0)
    # A pair whose positive is the least similar sentence of all has no candidate: it draws a random one.
    empty = sum(not row for row in mined["negatives"])
    assert info["pairs_with_random_negative"] == empty < 6
    assert all(n in row for n, row in zip(triplets[2], mined["negatives"]) if row)  # one of the k mined, per pair

    metrics = runs.train(recipe, str(tmp_path / "run"), verbose=0)
    assert metrics["sentences"] == 6 and metrics["hard_negatives"] == 2 and metrics["mine_corpus"] == 14
    assert metrics["mine_seconds"] >= 0 and np.isfinite(metrics["final_loss"])
    (tmp_path / "triplets.tsv").write_text("".join(f"{a}\t{p}\t{n}\n" for a, p, n in zip(*triplets)), "utf-8")
    bad = recipes.load(_recipe(tmp_path, f"tsv:{tmp_path / 'triplets.tsv'}"), overrides=["data.hard_negatives=1"])
    with pytest.raises(recipes.RecipeError, match="mines negatives for .anchor, positive. pairs.*gives triplets"):
        text_task.add_mined_negatives(bad, model, text_task.load_text_columns(bad))
    with pytest.raises(recipes.RecipeError, match="data.hard_negatives: 1 would be ignored by this data source"):
        recipes.load(_recipe(tmp_path, "wordnet"), overrides=["data.hard_negatives=1"])


def test_low_gold_stsb_pairs_join_the_mined_triplets_as_self_positive_rows(tmp_path):
    from keras_contrastive.runs import text_task

    path = tmp_path / "sts-train.csv"
    _tiny_stsb(path)
    with open(path, "a", encoding="utf-8") as f:  # a repeated anchor and a pair of equal sentences: left out
        f.write("main-captions\tMSRvid\t2012test\t0100\t0.500\tbirds sing\ta dog\n")
        f.write("main-captions\tMSRvid\t2012test\t0101\t0.000\tred\tred\n")
    source = f"stsb:{path}"
    recipe = recipes.load(_recipe(tmp_path, source, epochs=1), ["data.hard_negatives=1", "data.low_gold_negatives=1.0"])
    anchors, positives, negatives = text_task.low_gold_triplets(recipe)
    assert anchors == positives == ["the cat sat on the mat .", "birds sing", "a dog"]
    assert negatives == ["a fast blue car", "the big dog sat .", "red"]
    at_half = recipes.load(_recipe(tmp_path, source), ["data.hard_negatives=1", "data.low_gold_negatives=0.5"])
    assert text_task.low_gold_triplets(at_half) == (["birds sing"], ["birds sing"], ["a dog"])
    assert text_task.low_gold_triplets(recipes.load(_recipe(tmp_path, source), ["data.hard_negatives=1"])) is None

    metrics = runs.train(recipe, str(tmp_path / "run"), verbose=0)
    # 6 gold >= 4 pairs with a mined negative, then the 3 low-gold rows: 9 rows, 2 full batches of 4.
    assert metrics["sentences"] == 6 and metrics["low_gold_triplets"] == 3 and metrics["steps_per_epoch"] == 2
    assert np.isfinite(metrics["final_loss"])
    without_mining = recipes.load(_recipe(tmp_path, source), ["data.low_gold_negatives=1.0"])
    with pytest.raises(recipes.RecipeError, match="low_gold_negatives .* set data.hard_negatives >= 1"):
        text_task.low_gold_triplets(without_mining)
    with pytest.raises(recipes.RecipeError, match="data.low_gold_negatives: 1.0 would be ignored by this data source"):
        recipes.load(_recipe(tmp_path, "wordnet"), overrides=["data.low_gold_negatives=1.0"])


class _StopInEpoch(keras.callbacks.Callback):
    """Interrupts training at a given (epoch, batch), as a crash would."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt("simulated crash")


def test_an_interrupted_text_run_resumes_without_redoing_or_relogging_an_epoch(tmp_path):
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("\n".join(TINY_SENTENCES) + "\n", encoding="utf-8")
    recipe = recipes.load(_recipe(tmp_path, f"text:{sentences}", epochs=3))
    run = str(tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        runs.train(recipe, run, verbose=0, callbacks=[_StopInEpoch(1, 1)])
    with open(os.path.join(run, "history.csv")) as f:
        first_rows = f.read().splitlines()
    assert [r.split(",")[0] for r in first_rows[1:]] == ["0"]  # epoch 1 logged, epoch 2 interrupted
    assert not os.path.exists(os.path.join(run, "model.keras"))

    metrics = runs.train(recipe, run, verbose=0)
    with open(os.path.join(run, "history.csv")) as f:
        rows = f.read().splitlines()
    assert rows[: len(first_rows)] == first_rows  # rows written before the crash are kept as they were
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2"]  # each epoch once
    assert metrics["epochs"] == 3
    model = keras.saving.load_model(os.path.join(run, "model.keras"))
    assert int(model.optimizer.iterations.numpy()) == 3 * metrics["steps_per_epoch"]  # no epoch redone
    assert [f for f in os.listdir(run) if f.startswith(".model-")] == []

"""Training a text method (SimCSE) from a recipe: sentences -> token ids -> `fit`.

`training.train` hands recipes whose method has `modality = "text"` to
`train` here. The run directory has the layout of an image run
(`recipe.yaml`, `backup/`, `logs/`, `history.csv`, `progress.json`,
`model.keras`, `metrics.json`); `metrics.json` holds the training figures.
STS scores need the STS files, which the package never assumes: run
`keras-contrastive evaluate sts --model RUN --sts-dir DIR` (or
`benchmarks/bench_sts.py`).

Training batches hold at most `TRAIN_SEQUENCE_LENGTH` = 32 tokens per
sentence (SimCSE's setting, appendix A); the encoder's own
`sequence_length` (its tokenizer's) applies to embeddings, evaluation and
export.

Recipe keys used: `encoder.name` (`minilm`, `bert_preset`,
`small_transformer`, with their builder arguments), `method` (SimCSE's
arguments), `data.source`/`data.path` (see `load_text_columns`), `train`,
`optimizer`.
"""

import os

import keras

from keras_contrastive import data, models, recipes
from keras_contrastive.io_utils import atomic_write_json

TEXT_SOURCES = ("wordnet", "wordnet_triplets", "text", "tsv")
TRAIN_SEQUENCE_LENGTH = 32


def load_text_columns(recipe):
    """The training sentences of the recipe's `data` section, as a tuple of columns.

    `data.source`:
    - `wordnet`: WordNet glosses and examples (unsupervised; `data.path` =
      WordNet folder, default `/usr/share/wordnet`);
    - `wordnet_triplets`: (example, its gloss, gloss of another sense of the
      same word) triplets (supervised with hard negatives);
    - `text:PATH` or `text` with `data.path`: one sentence per line
      (unsupervised);
    - `tsv:PATH` or `tsv` with `data.path`: anchor<TAB>positive[<TAB>hard
      negative] (supervised).
    """
    cfg = recipe["data"]
    source, _, inline = cfg["source"].partition(":")
    path = inline or cfg["path"]
    if source not in TEXT_SOURCES:
        raise recipes.RecipeError(
            f"data.source: {cfg['source']!r} is not a text source; text methods take one of "
            "wordnet, wordnet_triplets, text:PATH, tsv:PATH."
        )
    if source == "wordnet":
        return (data.load_wordnet(path or data.text.WORDNET_DIR),)
    if source == "wordnet_triplets":
        return data.load_wordnet_triplets(path or data.text.WORDNET_DIR, seed=recipe["train"]["seed"])
    if not path:
        raise recipes.RecipeError(f"data.source: {source} needs a file: write {source}:PATH or set data.path.")
    if source == "text":
        return (data.load_sentences(path),)
    return tuple(c for c in data.load_sentence_tuples(path) if c is not None)


def build_text_model(recipe):
    """The recipe's text method on its text encoder (not compiled)."""
    from keras_contrastive.text import build_text_encoder

    enc = dict(recipe["encoder"])
    encoder = build_text_encoder(enc.pop("name"), **enc)
    method = dict(recipe["method"])
    return models.get_method(method.pop("name"))(encoder, **method)


def train(recipe, output_dir, strategy="auto", verbose="auto", callbacks=(), precision="float32", command=None):
    """Trains a text recipe into `output_dir` (see `training.train`, same arguments).

    Returns:
        The metrics dict also written to `output_dir/metrics.json`.
    """
    from keras_contrastive import training

    recipe = recipes.validate(recipe)
    strategy = training.resolve_strategy(strategy)
    output_dir, chief = training.open_run_dir(recipe, output_dir, strategy, command)
    cfg = recipe["train"]
    columns = load_text_columns(recipe)
    steps = training.check_batch_size(cfg, strategy, len(columns[0]), "training sentences")
    keras.utils.set_random_seed(cfg["seed"])
    model = training.compile_in_scope(lambda: build_text_model(recipe), recipe, steps, strategy, precision)
    tokenizer = model.encoder.tokenizer
    dataset = data.text_dataset(
        columns,
        tokenizer,
        cfg["batch_size"],
        shuffle=True,
        seed=cfg["seed"],
        repeat=True,
        sequence_length=min(tokenizer.sequence_length, TRAIN_SEQUENCE_LENGTH),
    )
    history, progress = training.fit_run(model, dataset, cfg, steps, output_dir, verbose, callbacks)
    logs = history.history
    metrics = {
        **training.run_summary(recipe, recipe["data"]["source"], history, progress, steps),
        "encoder": recipe["encoder"]["name"],
        "sentences": len(columns[0]),
        "final_contrastive_accuracy": (
            float(logs["contrastive_accuracy"][-1]) if logs.get("contrastive_accuracy") else None
        ),
    }
    if not chief:
        return metrics
    training.save_model(model, output_dir)
    atomic_write_json(os.path.join(output_dir, "metrics.json"), metrics)
    return metrics

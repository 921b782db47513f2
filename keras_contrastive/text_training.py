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
from keras_contrastive.io_utils import atomic_write_json, atomic_write_text

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
    chief, task_id = training.chief_and_task(strategy)
    output_dir = output_dir if chief else os.path.join(output_dir, f".worker-{task_id}")
    os.makedirs(output_dir, exist_ok=True)
    recipe_path = os.path.join(output_dir, "recipe.yaml")
    text = recipes.dump(recipe)
    if os.path.exists(recipe_path):
        with open(recipe_path, encoding="utf-8") as f:
            if f.read() != text:
                raise training.TrainingError(
                    f"{output_dir} holds a run of a different recipe ({recipe_path}). Resume it with the same "
                    "recipe and --set values, or train into a new --output directory."
                )
    atomic_write_text(recipe_path, text)
    if command:
        atomic_write_text(os.path.join(output_dir, "command.txt"), command + "\n")

    cfg = recipe["train"]
    columns = load_text_columns(recipe)
    replicas = strategy.num_replicas_in_sync
    if cfg["batch_size"] % replicas:
        raise training.TrainingError(
            f"train.batch_size={cfg['batch_size']} does not divide by the {replicas} replicas: use a multiple of "
            f"{replicas}."
        )
    if len(columns[0]) < cfg["batch_size"]:
        raise training.TrainingError(
            f"train.batch_size={cfg['batch_size']} is larger than the {len(columns[0])} training sentences: "
            "lower train.batch_size."
        )
    steps = len(columns[0]) // cfg["batch_size"]
    if cfg["steps_per_epoch"] is not None:
        steps = min(steps, cfg["steps_per_epoch"])
    if precision not in training.PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}: use one of {', '.join(training.PRECISIONS)}.")
    keras.utils.set_random_seed(cfg["seed"])
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        with strategy.scope():
            model = build_text_model(recipe)
            model.compile(optimizer=training.build_optimizer(recipe, steps))
    finally:
        keras.config.set_dtype_policy(previous_policy)
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

    progress = training._Progress(os.path.join(output_dir, "progress.json"))
    history = model.fit(
        dataset,
        epochs=cfg["epochs"],
        steps_per_epoch=steps,
        verbose=verbose,
        callbacks=[
            training._FiniteBackupAndRestore(os.path.join(output_dir, "backup"), delete_checkpoint=False),
            progress,
            keras.callbacks.TensorBoard(os.path.join(output_dir, "logs"), update_freq="epoch"),
            keras.callbacks.CSVLogger(os.path.join(output_dir, "history.csv"), append=True),
            *callbacks,
        ],
    )
    if progress.failure:
        raise training.TrainingError(f"Training stopped: {progress.failure}")
    logs = history.history
    metrics = {
        "method": recipe["method"]["name"],
        "encoder": recipe["encoder"]["name"],
        "data": recipe["data"]["source"],
        "sentences": len(columns[0]),
        "epochs": progress.epochs_done,
        "steps_per_epoch": steps,
        "batch_size": cfg["batch_size"],
        "train_seconds": round(progress.seconds, 1),
        "final_loss": float(logs["loss"][-1]) if logs.get("loss") else None,
        "final_contrastive_accuracy": (
            float(logs["contrastive_accuracy"][-1]) if logs.get("contrastive_accuracy") else None
        ),
    }
    if not chief:
        return metrics
    model_path = os.path.join(output_dir, "model.keras")
    tmp_path = os.path.join(output_dir, f".model-{os.getpid()}.keras")
    model.save(tmp_path)
    os.replace(tmp_path, model_path)
    atomic_write_json(os.path.join(output_dir, "metrics.json"), metrics)
    return metrics

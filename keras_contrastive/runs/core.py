"""What every run shares, whatever its data: the run directory, the batch checks, compiling in the
strategy's scope, `fit` with backup / resume and the non-finite-loss guard, atomic saves, and `load_run`.

The pieces it puts together live where they belong: the strategy and the cluster in `distributed`, the
optimizer factory in `optimizers`, the precision in `precision`, the `Progress` and `RunBackup` callbacks
in `callbacks`.

A run directory holds:

- `recipe.yaml`: the resolved recipe (a resumed run must use the same one);
- `command.txt`: the command that trained it;
- `backup/`: the weights and optimizer state after the last finished epoch (`RunBackup`), from which the
  same command resumes after an interruption;
- `logs/`: TensorBoard; `history.csv`: one row per epoch;
- `progress.json`: epochs done and cumulative training seconds;
- `model.keras`: the trained method (written atomically);
- `metrics.json`: what the run measured (written atomically).
"""

import os
import re

import keras
import tensorflow as tf

from keras_contrastive import recipes
from keras_contrastive.callbacks import Progress, RunBackup, TrainingError
from keras_contrastive.data.streaming import UNREADABLE
from keras_contrastive.distributed import chief_and_task
from keras_contrastive.io_utils import atomic_write_text
from keras_contrastive.optimizers import build_optimizer
from keras_contrastive.precision import dtype_policy

RUN_FILES = ("recipe.yaml", "metrics.json", "command.txt", "progress.json")


def open_run_dir(recipe, output_dir, strategy, command=None):
    """Creates (or reopens, to resume) a run directory and writes its
    `recipe.yaml` and `command.txt`.

    Only the chief writes the run directory; another worker of a multi-worker
    cluster keeps its own backup (to resume) under `output_dir/.worker-N`.

    Returns:
        `(directory this process writes, is_chief)`.
    """
    chief, task_id = chief_and_task(strategy)
    output_dir = output_dir if chief else os.path.join(output_dir, f".worker-{task_id}")
    os.makedirs(output_dir, exist_ok=True)
    recipe_path = os.path.join(output_dir, "recipe.yaml")
    text = recipes.dump(recipe)
    # A directory that holds no backup has nothing to resume (e.g. a run that
    # stopped on bad data before its first epoch): its recipe may change.
    if os.path.exists(recipe_path) and os.path.exists(os.path.join(output_dir, "backup")):
        with open(recipe_path, encoding="utf-8") as f:
            # Compared after validation too: a recipe key added since (with its default) is the same recipe.
            if f.read() != text and recipes.load(recipe_path, check_paths=False) != recipe:
                raise TrainingError(
                    f"{output_dir} holds a run of a different recipe ({recipe_path}). Resume it with the same "
                    "recipe and --set values, or train into a new --output directory."
                )
    atomic_write_text(recipe_path, text)
    if command:
        atomic_write_text(os.path.join(output_dir, "command.txt"), command + "\n")
    return output_dir, chief


def check_batch_size(cfg, strategy, num_examples, what):
    """Steps per epoch of the recipe's `train` section over `num_examples`
    examples (`what` names them in errors), after checking that the batch
    divides by the replicas and fits in the data."""
    replicas = strategy.num_replicas_in_sync
    if cfg["batch_size"] % replicas:
        raise TrainingError(
            f"train.batch_size={cfg['batch_size']} does not divide by the {replicas} replicas: use a multiple of "
            f"{replicas} (for example {cfg['batch_size'] - cfg['batch_size'] % replicas or replicas})."
        )
    if num_examples < cfg["batch_size"]:
        raise TrainingError(
            f"train.batch_size={cfg['batch_size']} is larger than the {num_examples} {what}: lower train.batch_size."
        )
    steps = num_examples // cfg["batch_size"]
    if cfg["steps_per_epoch"] is not None:
        steps = min(steps, cfg["steps_per_epoch"])
    return steps


def compile_in_scope(build, recipe, steps_per_epoch, strategy, precision="float32"):
    """`build()`, compiled with the recipe's optimizer, inside the strategy's
    scope and under the `precision` dtype policy (restored afterwards)."""
    with dtype_policy(precision), strategy.scope():
        model = build()
        model.compile(optimizer=build_optimizer(recipe, steps_per_epoch))
    return model


def _trim_history(output_dir, done):
    """Cuts `history.csv` back to the `done` epochs the backup holds. Logs are written before the backup at
    each epoch's end, so an epoch killed before its backup was committed is redone, and logged once."""
    path = os.path.join(output_dir, "history.csv")
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.read().splitlines(keepends=True)
    header = [line for line in lines[:1] if line.endswith("\n")]
    rows = [
        line
        for line in lines[1:]
        if line.endswith("\n") and line.split(",", 1)[0].isdigit() and int(line.split(",", 1)[0]) < done
    ]
    if header + rows != lines:
        atomic_write_text(path, "".join(header + rows))


def fit_run(model, dataset, cfg, steps, output_dir, verbose="auto", callbacks=(), monitors=()):
    """`model.fit` for a run directory: resumes from its backup, keeps
    `progress.json`, TensorBoard logs and `history.csv` (each epoch once),
    and raises `TrainingError` if the loss went non-finite. `monitors` are
    callbacks that add to the epoch's logs (`callbacks.KNNMonitor`): they
    run before `history.csv` is written.

    Returns:
        `(history, progress)`.
    """
    backup = RunBackup(os.path.join(output_dir, "backup"))
    done = backup.restore(model)
    _trim_history(output_dir, done)
    progress = Progress(os.path.join(output_dir, "progress.json"), epochs_done=done)
    try:
        history = _fit(model, dataset, cfg, steps, output_dir, verbose, callbacks, monitors, backup, progress, done)
    except tf.errors.InvalidArgumentError as e:
        if UNREADABLE not in e.message:
            raise
        # The streaming pipeline's check (data.on_error: raise) names the file in its message.
        found = re.search(re.escape(UNREADABLE) + r"\]\s*\[(.*?)\]\n", e.message + "\n")
        name = found.group(1) if found else e.message
        raise TrainingError(
            f"{UNREADABLE} {name}: remove or replace the file, or set data.on_error: skip to skip "
            f"unreadable files. The last finished epoch ({progress.epochs_done}) is kept in "
            f"{os.path.join(output_dir, 'backup')}; the same command resumes from it."
        ) from None
    if progress.failure:
        raise TrainingError(f"Training stopped: {progress.failure}")
    return history, progress


def _fit(model, dataset, cfg, steps, output_dir, verbose, callbacks, monitors, backup, progress, done):
    return model.fit(
        dataset,
        epochs=cfg["epochs"],
        initial_epoch=done,
        steps_per_epoch=steps,
        shuffle=False,  # the tf.data pipeline shuffles; Keras would warn that it ignores shuffle=True
        verbose=verbose,
        callbacks=[
            progress,
            keras.callbacks.TensorBoard(os.path.join(output_dir, "logs"), update_freq="epoch"),
            *monitors,
            keras.callbacks.CSVLogger(os.path.join(output_dir, "history.csv"), append=True),
            # After the logs above: at an epoch's end they are written first, then the backup commits the
            # epoch. Before the caller's callbacks: they see an epoch already committed when it ends.
            backup,
            *callbacks,
        ],
    )


def run_summary(recipe, data_name, history, progress, steps):
    """The metrics every run writes, whatever its method or data: `method`, `data`, `epochs` (done, over
    every attempt), `steps_per_epoch`, `batch_size`, `train_seconds` (wall time of `fit`), `final_loss`."""
    logs = history.history
    return {
        "method": recipe["method"]["name"],
        "data": data_name,
        "epochs": progress.epochs_done,
        "steps_per_epoch": steps,
        "batch_size": recipe["train"]["batch_size"],
        "train_seconds": round(progress.seconds, 1),
        "final_loss": float(logs["loss"][-1]) if logs.get("loss") else None,
    }


def save_model(model, output_dir):
    """Saves `model` as `output_dir/model.keras` atomically (a temporary
    file, then a rename): an interrupted save leaves the previous file."""
    model_path = os.path.join(output_dir, "model.keras")
    tmp_path = os.path.join(output_dir, f".model-{os.getpid()}.keras")
    try:
        model.save(tmp_path)
        os.replace(tmp_path, model_path)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
    return model_path


def is_run_dir(path):
    """Whether `path` is a run directory (it holds `recipe.yaml`)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "recipe.yaml"))


def load_recipe(run_dir):
    """The recipe of a run directory, validated without checking that its data still exist: a finished run
    is used (exported, evaluated, plotted, published) after its data moved; data paths are checked when data
    are read."""
    path = os.path.join(run_dir, "recipe.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} not found: {run_dir} is not a run directory. Train one with "
            f"`keras-contrastive train RECIPE --output {run_dir}`."
        )
    return recipes.load(path, check_paths=False)


def load_run(run_dir):
    """`(model, recipe)` of a finished run directory."""
    model_path = os.path.join(run_dir, "model.keras")
    for path in (model_path, os.path.join(run_dir, "recipe.yaml")):
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{path} not found: {run_dir} is not a finished run. Train it first with "
                f"`keras-contrastive train RECIPE --output {run_dir}` (it resumes if interrupted)."
            )
    return keras.saving.load_model(model_path), load_recipe(run_dir)


def run_assets(run_dir):
    """`{name: text}` of the run files an export carries in its `assets/` (`RUN_FILES` that exist)."""
    assets = {}
    for name in RUN_FILES:
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                assets[name] = f.read()
    return assets

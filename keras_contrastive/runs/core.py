"""What every run shares, whatever its data: the strategy, the run directory, the batch checks, the
optimizer, `fit` with backup / resume and the non-finite-loss guard, atomic saves, and `load_run`.

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

import math
import os
import re
import time

import keras
import tensorflow as tf

from keras_contrastive import hardware, recipes
from keras_contrastive.data.streaming import UNREADABLE
from keras_contrastive.io_utils import atomic_write_json, atomic_write_text, read_json
from keras_contrastive.optimizers import LARS, WarmupCosine

STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
RUN_FILES = ("recipe.yaml", "metrics.json", "command.txt", "progress.json")


class TrainingError(RuntimeError):
    """Training stopped for a reason the user must act on."""


def resolve_strategy(strategy="auto"):
    """A `tf.distribute.Strategy` from a name, or the strategy given.

    - `auto`: `MirroredStrategy` over all GPUs when there are several, else
      the default (one device) strategy.
    - `one-device`: the default strategy (first GPU if any, else CPU).
    - `mirrored`: `MirroredStrategy` over all visible GPUs (or the CPU).
    - `multi-worker`: `MultiWorkerMirroredStrategy`, configured by `TF_CONFIG`.
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}.")
    if strategy == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy 'multi-worker' needs TF_CONFIG describing the cluster and this worker's task.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if strategy == "mirrored" or (strategy == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def chief_and_task(strategy):
    """`(is_chief, task_id)` of this process: the chief is task `chief`, or
    worker 0 of a cluster without one; single-process runs are the chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True, 0
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief), task_id


def input_pipelines(strategy):
    """The number of worker processes of a multi-worker cluster (each reads its own part of the data), else 1."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, sum(len(spec.get(kind, [])) for kind in ("chief", "worker")))


def finish_together(strategy):
    """Every worker of a multi-worker cluster waits here until all reach it (a collective all-reduce).

    Called at the end of a run, after the chief has saved and evaluated: a worker that exited while the
    chief was still evaluating made the chief's health check log "tasks have crashed ... stopped sending
    heartbeats" on a clean run."""
    if input_pipelines(strategy) > 1:
        # In a tf.function: run eagerly, MultiWorkerMirroredStrategy warns of its overhead on every worker.
        tf.function(lambda: strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), None))()


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


def build_optimizer(recipe, steps_per_epoch):
    """The optimizer and learning-rate schedule of the recipe's `optimizer` section (recipe validation
    refuses keys the chosen optimizer and schedule would ignore)."""
    cfg, epochs = recipe["optimizer"], recipe["train"]["epochs"]
    total = max(1, epochs * steps_per_epoch)
    rate = cfg["learning_rate"]
    if cfg["schedule"] == "warmup_cosine":
        warmup = min(total, int(round(cfg["warmup_epochs"] * steps_per_epoch)))
        rate = WarmupCosine(cfg["learning_rate"], total_steps=total, warmup_steps=warmup)
    name = cfg["name"]
    if name == "lars":
        return LARS(rate, momentum=cfg["momentum"], weight_decay=cfg["weight_decay"], eta=cfg["eta"])
    if name == "sgd":
        opt = keras.optimizers.SGD(rate, momentum=cfg["momentum"], weight_decay=cfg["weight_decay"] or None)
    elif name == "adamw":
        opt = keras.optimizers.AdamW(rate, weight_decay=cfg["weight_decay"])
    else:
        opt = keras.optimizers.Adam(rate)
    if name in ("sgd", "adamw") and cfg["weight_decay"]:
        # No decay on biases and normalisation parameters (SimCLR appendix B.1).
        opt.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return opt


def resolve_precision(precision, flags=None):
    """The Keras dtype policy of `precision`: itself, or for `"auto"` `mixed_bfloat16` when this machine
    (or the CPU `flags` given) executes bfloat16 natively (AVX512_BF16 or AMX) and has no GPU, else
    `float32`. On a CPU without native bfloat16, Keras's bfloat16 runs slower than float32."""
    if precision != "auto":
        if precision not in PRECISIONS:
            raise ValueError(f"Unknown precision {precision!r}: use auto or one of {', '.join(PRECISIONS)}.")
        return precision
    if flags is None:
        if tf.config.list_logical_devices("GPU"):
            return "float32"
        flags = hardware.cpu_info()["flags"]
    return "mixed_bfloat16" if hardware.native_bfloat16(flags) else "float32"


def compile_in_scope(build, recipe, steps_per_epoch, strategy, precision="float32"):
    """`build()`, compiled with the recipe's optimizer, inside the strategy's
    scope and under the `precision` dtype policy (restored afterwards)."""
    precision = resolve_precision(precision)
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        with strategy.scope():
            model = build()
            model.compile(optimizer=build_optimizer(recipe, steps_per_epoch))
    finally:
        keras.config.set_dtype_policy(previous_policy)
    return model


class Progress(keras.callbacks.Callback):
    """Cumulative training seconds and finished epochs, kept across resumes
    (`progress.json`), and a clear stop on a non-finite loss."""

    def __init__(self, path, epochs_done=0):
        super().__init__()
        self.path = path
        self.seconds = read_json(path, {"train_seconds": 0.0})["train_seconds"]
        self.epochs_done = epochs_done
        self.failure = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.failure = (
                f"the loss became {float(loss)} at epoch {self.epoch + 1}, step {batch + 1}. Likely causes: a "
                "learning rate too high for this batch size (lower optimizer.learning_rate or add warm-up), "
                "or a temperature too low. The last good epoch is kept in the run's backup/ directory."
            )
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.failure:
            return
        self.seconds += time.perf_counter() - self.epoch_start
        self.epochs_done = epoch + 1
        atomic_write_json(self.path, {"epochs_done": self.epochs_done, "train_seconds": self.seconds})


class RunBackup(keras.callbacks.Callback):
    """The model's weights and optimizer state after each finished epoch, committed atomically; `restore`
    loads the last one before `fit`, which then starts at `initial_epoch` (public Keras API only).

    Each backup's weights go to a new file (a temporary name, then a rename) and
    `training_metadata.json`, written atomically last, names that file: writing it is the commit point, so
    a kill at any moment leaves the previous backup or the new one, never a half-written file or one
    epoch's weights labelled with another. An epoch whose loss went non-finite is never backed up.
    """

    def __init__(self, backup_dir):
        super().__init__()
        self.backup_dir = backup_dir
        self.metadata_path = os.path.join(backup_dir, "training_metadata.json")

    def epochs_done(self):
        """Epochs the committed backup holds (0 without one)."""
        return int(read_json(self.metadata_path, {"epoch": 0})["epoch"])

    def restore(self, model):
        """Loads the committed backup into `model` (its optimizer built first, so its state loads too).

        Returns:
            The epochs it holds: `fit`'s `initial_epoch`.
        """
        state = read_json(self.metadata_path, {})
        if not state.get("weights"):
            return 0
        path = os.path.join(self.backup_dir, state["weights"])
        if not os.path.exists(path):
            raise TrainingError(
                f"{self.metadata_path} names {state['weights']}, which is missing: the backup is incomplete. "
                f"Delete {self.backup_dir} to restart this run from epoch 1."
            )
        if model.optimizer is not None and not model.optimizer.built:
            with model.distribute_strategy.scope():
                model.optimizer.build(model.trainable_variables)
        model.load_weights(path)
        return int(state["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch-{epoch + 1}.weights.h5"
        tmp = os.path.join(self.backup_dir, f".tmp-{os.getpid()}.weights.h5")
        try:
            self.model.save_weights(tmp, overwrite=True)
            os.replace(tmp, os.path.join(self.backup_dir, name))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        atomic_write_json(self.metadata_path, {"epoch": epoch + 1, "weights": name})
        for other in os.listdir(self.backup_dir):  # older backups, and temporary files of killed runs
            if other.endswith(".weights.h5") and other != name:
                os.remove(os.path.join(self.backup_dir, other))


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

"""Training from a recipe: data -> views -> method -> `fit` -> evaluation.

This is what `keras-contrastive train` runs. A run directory holds:

- `recipe.yaml`: the resolved recipe (a resumed run must use the same one);
- `backup/`: `keras.callbacks.BackupAndRestore` state, written every epoch,
  from which the same command resumes after an interruption;
- `logs/`: TensorBoard; `history.csv`: one row per epoch;
- `progress.json`: epochs done and cumulative training seconds;
- `model.keras`: the trained method (written atomically);
- `metrics.json`: `linear_probe_top1`, `knn_top1`, `train_seconds`,
  `epochs`, ... (written atomically).
"""

import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive import augment, backbones, data, evaluation, models, recipes
from keras_contrastive.io_utils import atomic_write_json, atomic_write_text, read_json
from keras_contrastive.optimizers import LARS, WarmupCosine

STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")


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


def build_views(recipe, image_shape, seed=None):
    """The two SimCLR-style view augmentations configured by `augment`, then
    `small_crops` small crops (multi-crop, SwAV)."""
    cfg = recipe["augment"]

    def per_view(key, i):
        value = cfg[key]
        if not isinstance(value, list):
            return value
        if len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise recipes.RecipeError(
                f"augment.{key}: expected a number or a list of 2 numbers (one per view), got {value!r}."
            )
        return float(value[i])

    views = [
        augment.SimCLRAugmentation(
            image_size=tuple(image_shape[:2]),
            crop_scale=tuple(cfg["crop_scale"]),
            crop_ratio=tuple(cfg["crop_ratio"]),
            horizontal_flip=cfg["horizontal_flip"],
            jitter_strength=cfg["jitter_strength"],
            jitter_probability=cfg["jitter_probability"],
            grayscale_probability=cfg["grayscale_probability"],
            blur_probability=per_view("blur_probability", i),
            solarize_probability=per_view("solarize_probability", i),
            seed=None if seed is None else seed + 1000 * (i + 1),
            name=f"view_{i + 1}",
        )
        for i in range(2)
    ]
    if cfg["small_crops"]:
        # Small crops share the second view's blur and solarize settings.
        views += augment.multi_crop_views(
            tuple(image_shape[:2]),
            num_large_crops=0,
            num_small_crops=cfg["small_crops"],
            small_size=cfg["small_crop_size"],
            small_scale=tuple(cfg["small_crop_scale"]),
            seed=None if seed is None else seed + 2000,
            crop_ratio=tuple(cfg["crop_ratio"]),
            horizontal_flip=cfg["horizontal_flip"],
            jitter_strength=cfg["jitter_strength"],
            jitter_probability=cfg["jitter_probability"],
            grayscale_probability=cfg["grayscale_probability"],
            blur_probability=per_view("blur_probability", 1),
            solarize_probability=per_view("solarize_probability", 1),
        )
    return views


def build_optimizer(recipe, steps_per_epoch):
    """The optimizer and learning-rate schedule of the recipe."""
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


def build_model(recipe, image_shape, num_classes=None):
    """The method of the recipe on its encoder (not compiled)."""
    enc = dict(recipe["encoder"])
    name = enc.pop("name")
    encoder = backbones.build_backbone(name, image_shape, **enc)
    method = dict(recipe["method"])
    cls = models.get_method(method.pop("name"))
    probe = num_classes if recipe["train"]["online_probe"] else None
    return cls(encoder, probe_classes=probe, **method)


def load_splits(recipe):
    """The `DataSplits` of the recipe's `data` section."""
    cfg = recipe["data"]
    kwargs = {}
    if cfg["path"] is not None:
        kwargs["path"] = cfg["path"]
    if cfg["image_size"] is not None and cfg["source"].startswith("folder:"):
        kwargs["image_size"] = tuple(cfg["image_size"])
    splits = data.load_data(cfg["source"], **kwargs)
    if cfg["image_size"] is not None and tuple(splits.x_train.shape[1:3]) != tuple(cfg["image_size"]):
        size = tuple(cfg["image_size"])
        resize = lambda x: tf.cast(tf.round(tf.image.resize(x, size)), tf.uint8).numpy()  # noqa: E731
        splits.x_train, splits.x_test = resize(splits.x_train), resize(splits.x_test)
    return splits


class _Progress(keras.callbacks.Callback):
    """Cumulative training seconds and finished epochs, kept across resumes,
    and a clear stop on a non-finite loss."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        state = read_json(path, {"epochs_done": 0, "train_seconds": 0.0})
        self.seconds = state["train_seconds"]
        self.epochs_done = state["epochs_done"]
        self.failure = None
        self.step = 0

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


class _FiniteBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` whose backup is replaced atomically, and never by the
    weights of an epoch whose loss went non-finite.

    Keras rewrites `latest.weights.h5` in place, then the epoch number: a kill
    in between leaves a half-written file, or one epoch's weights labelled
    with another. Here each backup's weights go to a new file (a temporary
    name, then a rename) and `training_metadata.json`, written atomically
    last, names that file: writing it is the commit point.
    """

    def _load_model(self):
        state = read_json(self._training_metadata_path, {})
        if state.get("weights"):
            self._weights_path = os.path.join(self.backup_dir, state["weights"])
            if not os.path.exists(self._weights_path):
                raise TrainingError(
                    f"{self._training_metadata_path} names {state['weights']}, which is missing: the backup is "
                    f"incomplete. Delete {self.backup_dir} to restart this run from epoch 1."
                )
        super()._load_model()

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch-{self._current_epoch}-batch-{self._last_batch_seen}.weights.h5"
        tmp = os.path.join(self.backup_dir, f".tmp-{os.getpid()}.weights.h5")
        try:
            self.model.save_weights(tmp, overwrite=True)
            os.replace(tmp, os.path.join(self.backup_dir, name))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        state = {"epoch": self._current_epoch, "batch": self._last_batch_seen, "weights": name}
        atomic_write_json(self._training_metadata_path, state)
        self._weights_path = os.path.join(self.backup_dir, name)
        for other in os.listdir(self.backup_dir):  # older backups, and temporary files of killed runs
            if other.endswith(".weights.h5") and other != name:
                os.remove(os.path.join(self.backup_dir, other))

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return
        super().on_epoch_end(epoch, logs)


def _trim_logs_to_backup(output_dir, progress):
    """Cuts `history.csv` and the epoch count back to the epochs the backup
    holds. Logs are written before the backup at each epoch's end, so an epoch
    killed before its backup was committed is redone, and logged once."""
    done = int(read_json(os.path.join(output_dir, "backup", "training_metadata.json"), {"epoch": 0})["epoch"])
    progress.epochs_done = done
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


PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def chief_and_task(strategy):
    """`(is_chief, task_id)` of this process: the chief is task `chief`, or
    worker 0 of a cluster without one; single-process runs are the chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True, 0
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief), task_id


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
            if f.read() != text and recipes.load(recipe_path) != recipe:
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
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}.")
    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        with strategy.scope():
            model = build()
            model.compile(optimizer=build_optimizer(recipe, steps_per_epoch))
    finally:
        keras.config.set_dtype_policy(previous_policy)
    return model


def fit_run(model, dataset, cfg, steps, output_dir, verbose="auto", callbacks=(), monitors=()):
    """`model.fit` for a run directory: resumes from its backup, keeps
    `progress.json`, TensorBoard logs and `history.csv` (each epoch once),
    and raises `TrainingError` if the loss went non-finite. `monitors` are
    callbacks that add to the epoch's logs (`callbacks.KNNMonitor`): they
    run before `history.csv` is written.

    Returns:
        `(history, progress)`.
    """
    progress = _Progress(os.path.join(output_dir, "progress.json"))
    _trim_logs_to_backup(output_dir, progress)
    history = model.fit(
        dataset,
        epochs=cfg["epochs"],
        steps_per_epoch=steps,
        verbose=verbose,
        callbacks=[
            progress,
            keras.callbacks.TensorBoard(os.path.join(output_dir, "logs"), update_freq="epoch"),
            *monitors,
            keras.callbacks.CSVLogger(os.path.join(output_dir, "history.csv"), append=True),
            # After the logs above: at an epoch's end they are written first, then the backup commits the
            # epoch. Before the caller's callbacks: they see the restored state when training begins, and
            # an epoch already committed when it ends.
            _FiniteBackupAndRestore(os.path.join(output_dir, "backup"), delete_checkpoint=False),
            *callbacks,
        ],
    )
    if progress.failure:
        raise TrainingError(f"Training stopped: {progress.failure}")
    return history, progress


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


def train(recipe, output_dir, strategy="auto", verbose="auto", callbacks=(), precision="float32", command=None):
    """Trains the recipe's method into `output_dir` and evaluates it.

    Re-running the same call after an interruption resumes from the last
    finished epoch.

    Args:
        recipe: dict. A recipe (validated here).
        output_dir: str. The run directory.
        strategy: str or `tf.distribute.Strategy`. See `resolve_strategy`.
            Defaults to `"auto"`.
        verbose: `fit` verbosity. Defaults to `"auto"`.
        callbacks: extra Keras callbacks.
        precision: str. Keras dtype policy of the model: `float32`,
            `mixed_float16` (Keras wraps the optimizer in a loss-scale
            optimizer; the train step calls `optimizer.scale_loss`) or
            `mixed_bfloat16`. Logits and losses stay float32. Defaults to
            `"float32"`.
        command: str or None. The command line, saved as `command.txt`.

    Returns:
        The metrics dict also written to `output_dir/metrics.json`.
    """
    recipe = recipes.validate(recipe)
    if models.get_method(recipe["method"]["name"]).modality == "text":
        from keras_contrastive import text_training  # sentences, not images: same run layout

        return text_training.train(recipe, output_dir, strategy, verbose, callbacks, precision, command)
    if models.get_method(recipe["method"]["name"]).modality == "image_text":
        from keras_contrastive import clip_training  # image-caption pairs (CLIP): same run layout

        return clip_training.train(recipe, output_dir, strategy, verbose, callbacks, precision, command)
    strategy = resolve_strategy(strategy)
    output_dir, chief = open_run_dir(recipe, output_dir, strategy, command)
    cfg = recipe["train"]
    keras.utils.set_random_seed(cfg["seed"])
    splits = load_splits(recipe)
    steps = check_batch_size(cfg, strategy, len(splits.x_train), f"training images of {recipe['data']['source']}")

    views = build_views(recipe, splits.image_shape, seed=cfg["seed"])
    dataset = data.pretrain_dataset(
        splits.x_train,
        views,
        cfg["batch_size"],
        labels=splits.y_train if cfg["online_probe"] else None,
        shuffle=True,
        seed=cfg["seed"],
        repeat=True,
    )
    model = compile_in_scope(
        lambda: build_model(recipe, splits.image_shape, splits.num_classes), recipe, steps, strategy, precision
    )
    monitors = []
    if cfg["knn_monitor_every"]:
        from keras_contrastive.callbacks import KNNMonitor

        evaluate = recipe["evaluate"]
        monitors.append(
            KNNMonitor(
                splits.x_train,
                splits.y_train,
                splits.x_test,
                splits.y_test,
                every=cfg["knn_monitor_every"],
                k=evaluate["knn_k"],
                temperature=evaluate["knn_temperature"],
                num_classes=splits.num_classes,
                batch_size=evaluate["batch_size"],
                log_dir=os.path.join(output_dir, "logs"),
            )
        )
    history, progress = fit_run(model, dataset, cfg, steps, output_dir, verbose, callbacks, monitors)

    metrics = run_summary(recipe, splits.name, history, progress, steps)
    if not chief:
        return metrics  # the chief saves and evaluates; this worker keeps its backup
    save_model(model, output_dir)
    metrics.update(evaluate_run_encoder(_local_copy(model.encoder, strategy), splits, recipe))
    atomic_write_json(os.path.join(output_dir, "metrics.json"), metrics)
    return metrics


def _local_copy(encoder, strategy):
    """The encoder for evaluation on this process alone: a distributed
    model's `predict` would split and gather across workers."""
    if strategy.num_replicas_in_sync == 1:
        return encoder
    copy = keras.models.clone_model(encoder)
    copy.set_weights(encoder.get_weights())
    return copy


def evaluate_run_encoder(encoder, splits, recipe, random_encoder=None):
    """Linear probe and kNN of `encoder` on `splits` (and, if the recipe asks,
    the raw-pixel and random-init baselines by the same code)."""
    cfg = recipe["evaluate"]
    options = {"batch_size": cfg["batch_size"], "knn_k": cfg["knn_k"], "knn_temperature": cfg["knn_temperature"]}
    out = evaluation.evaluate_encoder(encoder, splits, **options)
    if cfg["baselines"]:
        if random_encoder is None:
            keras.utils.set_random_seed(recipe["train"]["seed"])
            random_encoder = build_model(recipe, splits.image_shape).encoder
        out.update(evaluation.baselines(splits, random_encoder=random_encoder, **options))
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in out.items()}


def load_run(run_dir):
    """`(model, recipe)` of a finished run directory."""
    model_path = os.path.join(run_dir, "model.keras")
    recipe_path = os.path.join(run_dir, "recipe.yaml")
    for path in (model_path, recipe_path):
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"{path} not found: {run_dir} is not a finished run. Train it first with "
                f"`keras-contrastive train RECIPE --output {run_dir}` (it resumes if interrupted)."
            )
    return keras.saving.load_model(model_path), recipes.load(recipe_path)

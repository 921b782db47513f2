"""Keras callbacks for contrastive training runs: the online kNN monitor, the skipped-files count, and the
two that make a run resumable (`Progress`, `RunBackup`, which `runs.core.fit_run` adds)."""

import math
import os
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive.distributed import local_copy
from keras_contrastive.evaluation import extract_dataset_features, extract_features, knn_classify
from keras_contrastive.io_utils import atomic_write_json, read_json


class TrainingError(RuntimeError):
    """Training stopped for a reason the user must act on."""


class KNNMonitor(keras.callbacks.Callback):
    """Online kNN top-1 of the encoder on a held-out split, every `every` epochs.

    The label-free training loss says little about the representation; a kNN
    classifier on frozen features is cheap and needs no training (InstDisc,
    Wu et al. 2018, section 3.4, as lightly's kNN benchmark callback). At the
    end of epochs `every, 2 * every, ...` the encoder embeds `x_bank` and
    `x_eval` with `evaluation.extract_features` and `evaluation.knn_classify`
    scores `x_eval` against the bank.

    The result goes into the epoch's `logs` as `name`, so `History` and a
    `CSVLogger` placed after this callback record it; on the other epochs
    the value is NaN (history lists stay one entry per epoch, and the CSV
    column exists from the first row). With `log_dir`, the measured values
    only are also written to TensorBoard, under `log_dir/validation` with tag
    `epoch_<name without "val_">` (where Keras's `TensorBoard` callback puts
    validation metrics).

    Args:
        x_bank: array `[N, H, W, C]`. Labelled images of the neighbour bank
            (uint8, or float in `[0, 1]`), usually the training split.
        y_bank: int array `[N]`. Their labels.
        x_eval: array `[M, H, W, C]`. Held-out images to classify.
        y_eval: int array `[M]`. Their labels.
        every: int. Measure every `every` epochs. Defaults to `1`.
        k: int. Neighbours. Defaults to `200`.
        temperature: float. Vote temperature. Defaults to `0.1`.
        num_classes: int or None. Defaults to `None` (from the labels).
        batch_size: int. Feature-extraction batch size. Defaults to `512`.
        log_dir: str or None. TensorBoard log directory. Defaults to `None`.
        name: str. Log key. Defaults to `"val_knn_top1"`.

    Example:

    >>> monitor = KNNMonitor(x_train, y_train, x_test, y_test, every=5)  # doctest: +SKIP
    >>> model.fit(dataset, epochs=20, callbacks=[monitor])  # doctest: +SKIP
    """

    def __init__(
        self,
        x_bank,
        y_bank,
        x_eval,
        y_eval,
        every=1,
        k=200,
        temperature=0.1,
        num_classes=None,
        batch_size=512,
        log_dir=None,
        name="val_knn_top1",
    ):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"KNNMonitor: `every` must be an integer >= 1. Received {every!r}.")
        streamed = isinstance(x_bank, tf.data.Dataset)
        if streamed != isinstance(x_eval, tf.data.Dataset) or (streamed and (y_bank is not None or y_eval is not None)):
            raise ValueError(
                "KNNMonitor: give the bank and the held-out images both as arrays with their labels, or both as "
                "tf.data.Datasets of (images, labels) batches (data.eval_stream) with y_bank=y_eval=None."
            )
        if streamed:
            y_bank = y_eval = ()
        elif len(x_bank) != len(y_bank) or len(x_eval) != len(y_eval):
            raise ValueError(
                f"KNNMonitor: images and labels differ in length: {len(x_bank)} bank images, {len(y_bank)} "
                f"labels; {len(x_eval)} held-out images, {len(y_eval)} labels."
            )
        self.x_bank, self.y_bank = x_bank, np.asarray(y_bank)
        self.x_eval, self.y_eval = x_eval, np.asarray(y_eval)
        self.every = every
        self.k = k
        self.temperature = temperature
        self.num_classes = num_classes
        self.batch_size = batch_size
        self.log_dir = log_dir
        self.name = name
        self.last_features = None  # (bank, eval) of the last measurement, for tests and inspection
        self._writer = None

    def _encoder(self):
        encoder = getattr(self.model, "encoder", self.model)
        strategy = self.model.distribute_strategy
        return local_copy(encoder, strategy)

    def measure(self):
        """kNN top-1 of the current encoder (a float in `[0, 1]`)."""
        encoder = self._encoder()
        if isinstance(self.x_bank, tf.data.Dataset):  # streamed from disk: labels come with the images
            bank, y_bank = extract_dataset_features(encoder, self.x_bank)
            held_out, y_eval = extract_dataset_features(encoder, self.x_eval)
        else:
            bank = extract_features(encoder, self.x_bank, batch_size=self.batch_size)
            held_out = extract_features(encoder, self.x_eval, batch_size=self.batch_size)
            y_bank, y_eval = self.y_bank, self.y_eval
        self.last_features = (bank, held_out)
        result = knn_classify(
            bank,
            y_bank,
            held_out,
            y_eval,
            k=self.k,
            temperature=self.temperature,
            num_classes=self.num_classes,
        )
        return result["top1"]

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if (epoch + 1) % self.every:
            logs[self.name] = math.nan
            return
        value = self.measure()
        logs[self.name] = value
        if self.log_dir:
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "validation"))
            tag = "epoch_" + (self.name[4:] if self.name.startswith("val_") else self.name)
            with self._writer.as_default():
                tf.summary.scalar(tag, value, step=epoch)
            self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def parse_skip_log(text):
    """`(names, reads)` of skip-log lines: the names in the order read (a file appears once per failed
    read), and the count of failed reads. A long run of skipped records is written as its first names and a
    line "(and N more before NAME)": those N are reads whose names are unknown."""
    names, more = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        words = line.split()
        if line.startswith("(and ") and len(words) > 1 and words[1].isdigit():
            more += int(words[1])
        else:
            names.append(line)
    return names, len(names) + more


def skipped_counts(path):
    """`{"skipped_files": distinct files, "skipped_reads": failed reads}` of a whole skip log (0 and 0 when
    there is none): what a run's `metrics.json` reports, training and evaluation together."""
    if not path or not os.path.exists(path):
        return {"skipped_files": 0, "skipped_reads": 0}
    with open(path, encoding="utf-8", errors="replace") as f:
        names, reads = parse_skip_log(f.read())
    return {"skipped_files": len(set(names)), "skipped_reads": reads}


def skipped_warning(what, names, reads, path, show=5):
    """The warning naming skipped files: distinct files first, then the reads that failed."""
    distinct = list(dict.fromkeys(names))
    shown = "; ".join(distinct[:show])
    more = f" and {len(distinct) - show} more" if len(distinct) > show else ""
    return (
        f"{what}: skipped {len(distinct)} unreadable image file(s) ({reads} reads): {shown}{more} (one line per "
        f"read in {path}). Remove or replace them, or set data.on_error: raise to stop at the first."
    )


class SkippedFilesMonitor(keras.callbacks.Callback):
    """The files the streaming pipeline skipped (unreadable or not decodable), counted at each epoch's end.

    The pipeline (`data.pretrain_stream(..., on_error="skip", skip_log=path)`) appends each skipped file's
    name to `path` each time it skips it (one line per failed read); at the end of an epoch this callback
    reads the lines added since the last epoch and puts two counts in the epoch's logs (so `History` and a
    `CSVLogger` after it record them): `skipped_files`, the distinct files, and `skipped_reads`, the failed
    reads (a file is read once per epoch, and the pipeline reads ahead); it warns naming the first `show`
    files. A read is counted in the epoch during which it happened.

    Args:
        path: str. The skip log the pipeline writes.
        show: int. Names shown in each warning. Defaults to `5`.
    """

    def __init__(self, path, show=5):
        super().__init__()
        self.path = path
        self.show = show
        self.offset = os.path.getsize(path) if os.path.exists(path) else 0

    def new_lines(self):
        """The text appended to the log since the last call (whole lines only)."""
        if not os.path.exists(self.path):
            return ""
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            text = f.read()
        end = text.rfind(b"\n") + 1  # a line still being written is read next time
        self.offset += end
        return text[:end].decode("utf-8", "replace")

    def on_epoch_end(self, epoch, logs=None):
        names, reads = parse_skip_log(self.new_lines())
        if logs is not None:
            logs["skipped_files"] = float(len(set(names)))
            logs["skipped_reads"] = float(reads)
        if reads:
            warnings.warn(skipped_warning(f"epoch {epoch + 1}", names, reads, self.path, self.show), stacklevel=2)


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

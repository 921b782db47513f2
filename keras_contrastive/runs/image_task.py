"""The image task: images -> views -> method -> `fit`, then linear probe and kNN on frozen features.

Two kinds of data:

- in memory (`fashion_mnist`, `fashion_mnist_subset`, `npz:PATH`): `data.load_data` -> `DataSplits` ->
  `data.pretrain_dataset` (small data; these runs are unchanged by streaming);
- streaming from disk (`folder:PATH`, `tfrecord:GLOB`, `tfds:NAME`): `data.open_image_source` lists the
  files -> `data.pretrain_stream` decodes each image crop first as it is needed; evaluation streams the
  centred squares through the encoder (`data.eval_stream`) and keeps only the features. Under a multi-worker
  strategy each worker reads its own files (`distribute_datasets_from_function`, FILE sharding when there
  are at least as many files as workers, else DATA), and a file that cannot be decoded is skipped and named
  (`data.on_error: skip`, counted as distinct `skipped_files` and failed `skipped_reads` in `history.csv`
  and `metrics.json`) or stops the run (`raise`).

Recipe keys used: `encoder` (a backbone and its arguments), `method`, `data` (`source`, `path` (TFDS's
`data_dir`), `image_size`, `channels`, `on_error`), `augment` (the views), `optimizer`, `train` (including
`online_probe`, `knn_monitor_every`), `evaluate` (`knn_k`, `knn_temperature`, `baselines`, `batch_size`),
`export.name`.
"""

import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive import backbones, data, evaluation, models, recipes
from keras_contrastive.callbacks import (
    KNNMonitor,
    SkippedFilesMonitor,
    parse_skip_log,
    skipped_counts,
    skipped_warning,
)
from keras_contrastive.distributed import input_pipelines, local_copy
from keras_contrastive.runs.task import Task
from keras_contrastive.runs.views import build_views

SKIP_LOG = "skipped_files.txt"


def build_model(recipe, image_shape, num_classes=None):
    """The recipe's method on its encoder (not compiled); an online probe over `num_classes` when
    `train.online_probe` is on."""
    enc = dict(recipe["encoder"])
    encoder = backbones.build_backbone(enc.pop("name"), image_shape, **enc)
    method = dict(recipe["method"])
    cls = models.get_method(method.pop("name"))
    probe = num_classes if recipe["train"]["online_probe"] else None
    return cls(encoder, probe_classes=probe, **method)


def load_splits(recipe, data_spec=None):
    """The `DataSplits` of the recipe's `data` section, or of `data_spec` (another `load_data` spec) at the
    recipe's image size."""
    cfg = recipe["data"]
    kwargs = {}
    source = data.sources.parse(data_spec or cfg["source"], "image")
    if cfg["path"] is not None and data_spec is None:
        kwargs["path"] = cfg["path"]
    if cfg["image_size"] is not None and source.kind.streaming:
        kwargs["image_size"] = tuple(cfg["image_size"])
    splits = data.load_data(source, **kwargs)
    if cfg["image_size"] is not None and tuple(splits.x_train.shape[1:3]) != tuple(cfg["image_size"]):
        size = tuple(cfg["image_size"])
        resize = lambda x: tf.cast(tf.round(tf.image.resize(x, size)), tf.uint8).numpy()  # noqa: E731
        splits.x_train, splits.x_test = resize(splits.x_train), resize(splits.x_test)
    return splits


def data_dir_of(recipe):
    """`data.path` when the recipe's streamed source reads it (`tfds:`'s `data_dir`: `data.sources`), else
    None."""
    kind = data.sources.find(recipe["data"]["source"], "image")
    return recipe["data"]["path"] if kind is not None and kind.streaming and "path" in kind.keys else None


def open_source(recipe, data_spec=None, work_dir=None):
    """The streaming `data.ImageSource` of the recipe's `data` section (or of `data_spec`, at the recipe's
    image size and channels)."""
    cfg = recipe["data"]
    source = data_spec or cfg["source"]
    data_dir = data_dir_of(recipe) if data_spec is None else None
    return data.open_image_source(
        source,
        image_size=cfg["image_size"],
        channels=cfg["channels"],
        data_dir=data_dir,
        seed=recipe["train"]["seed"],
        work_dir=work_dir,
    )


def stream_features(embed, source, batch_size, skip_log=None, on_error="skip"):
    """`(train features, train labels, test features, test labels)` of a labelled streaming source: each
    split's centred squares through `embed` (images -> features), batch by batch."""
    if not source.labelled or source.test is None:
        raise ValueError(
            f"{source.name} has no labelled test split to evaluate on: give a folder with class sub-folders (and "
            "optionally train/ and test/), or TFRecord / TFDS data with labels and a test split."
        )
    out, shape = [], (source.image_size, source.channels)
    for split in (source.train, source.test):
        ds = data.eval_stream(split, *shape, batch_size, on_error=on_error, skip_log=skip_log)
        out += evaluation.extract_dataset_features(embed, ds)
    return tuple(out)


def evaluate_stream(encoder, source, recipe, random_encoder=None, skip_log=None):
    """`evaluate_encoder` for a streaming source: the same protocol on streamed features; `{}` (with a note)
    when the source has no labelled test split."""
    cfg = recipe["evaluate"]
    if not source.labelled or source.test is None:
        return {"evaluation": f"skipped: {source.name} has no labelled test split"}
    options = {"knn_k": cfg["knn_k"], "knn_temperature": cfg["knn_temperature"]}
    features = stream_features(encoder, source, cfg["batch_size"], skip_log, recipe["data"]["on_error"])
    out = evaluation.evaluate_features(*features, **options)
    out["feature_dim"] = int(features[0].shape[1])
    if cfg["baselines"]:
        if random_encoder is None:
            keras.utils.set_random_seed(recipe["train"]["seed"])
            random_encoder = build_model(recipe, source.image_shape).encoder
        pixels = keras.Sequential([keras.Input(source.image_shape), keras.layers.Flatten()])
        raw = evaluation.evaluate_features(*stream_features(pixels, source, cfg["batch_size"]), **options)
        scores = evaluation.evaluate_features(*stream_features(random_encoder, source, cfg["batch_size"]), **options)
        out.update(
            {
                "raw_pixel_top1": raw["linear_probe_top1"],
                "raw_pixel_knn_top1": raw["knn_top1"],
                "random_init_top1": scores["linear_probe_top1"],
                "random_init_knn_top1": scores["knn_top1"],
            }
        )
    out["test_images"] = int(len(features[2]))
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in out.items()}


def evaluate_encoder(encoder, splits, recipe, random_encoder=None):
    """Linear probe and kNN of `encoder` on `splits` under the recipe's `evaluate` settings (and, if the
    recipe asks, the raw-pixel and random-init baselines by the same code)."""
    cfg = recipe["evaluate"]
    options = {"batch_size": cfg["batch_size"], "knn_k": cfg["knn_k"], "knn_temperature": cfg["knn_temperature"]}
    out = evaluation.evaluate_encoder(encoder, splits, **options)
    if cfg["baselines"]:
        if random_encoder is None:
            keras.utils.set_random_seed(recipe["train"]["seed"])
            random_encoder = build_model(recipe, splits.image_shape).encoder
        out.update(evaluation.baselines(splits, random_encoder=random_encoder, **options))
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in out.items()}


class ImageTask(Task):
    """Images (in memory, or streamed from disk) through the recipe's views into an image method."""

    modality = "image"

    @property
    def streaming(self):
        return isinstance(self.data, data.ImageSource)

    def _path(self, name):
        return os.path.join(self.work_dir, name) if self.work_dir else None

    def load_data(self):
        if data.is_streaming_spec(self.recipe["data"]["source"]):
            self.data = open_source(self.recipe, work_dir=self._path(".listing"))
            if self.work_dir and os.path.exists(self._path(SKIP_LOG)):
                os.remove(self._path(SKIP_LOG))  # the names of this attempt only
            return self.data.train.num_examples
        self.data = load_splits(self.recipe)
        return len(self.data.x_train)

    @property
    def data_name(self):
        return self.data.name if self.data is not None else super().data_name

    @property
    def examples_name(self):
        return f"training images of {self.data_name}"

    def _needs_labels(self):
        method = models.get_method(self.recipe["method"]["name"])
        needs = self.recipe["train"]["online_probe"] or method.requires_labels
        if self.streaming and not self.data.labelled:
            if method.requires_labels:
                raise recipes.RecipeError(
                    f"method.name: {self.recipe['method']['name']} trains on labels, but {self.data.name} is "
                    "unlabeled: put each class's images in its own sub-folder."
                )
            return False
        return needs

    def build_model(self):
        return build_model(self.recipe, self.data.image_shape, self.data.num_classes)

    def training_dataset(self, model):
        cfg = self.recipe["train"]
        views = build_views(self.recipe, self.data.image_shape, seed=cfg["seed"])
        if not self.streaming:
            return data.pretrain_dataset(
                self.data.x_train,
                views,
                cfg["batch_size"],
                labels=self.data.y_train if self._needs_labels() else None,
                shuffle=True,
                seed=cfg["seed"],
                repeat=True,
            )
        labels = self._needs_labels()

        def stream(batch_size, num_shards=1, index=0):
            return data.pretrain_stream(
                self.data.train,
                views,
                batch_size,
                self.data.channels,
                labels=labels,
                seed=cfg["seed"],
                num_shards=num_shards,
                shard_index=index,
                on_error=self.recipe["data"]["on_error"],
                skip_log=self._path(SKIP_LOG),
            )

        strategy = model.distribute_strategy
        if input_pipelines(strategy) > 1:
            # Each worker reads its own files, batched per replica (`ImageSplit.records` shards by file when
            # there are enough files, else by record); Keras then takes the distributed data set as it is.
            self.sharding = self.data.train.sharding(input_pipelines(strategy))
            return strategy.distribute_datasets_from_function(
                lambda context: stream(
                    context.get_per_replica_batch_size(cfg["batch_size"]),
                    context.num_input_pipelines,
                    context.input_pipeline_id,
                )
            )
        return stream(cfg["batch_size"])

    def monitors(self, model, log_dir):
        monitors = []
        if self.streaming and self.recipe["data"]["on_error"] == "skip" and self.work_dir:
            monitors.append(SkippedFilesMonitor(self._path(SKIP_LOG)))
        every = self.recipe["train"]["knn_monitor_every"]
        if not every:
            return monitors
        evaluate = self.recipe["evaluate"]
        options = {
            "every": every,
            "k": evaluate["knn_k"],
            "temperature": evaluate["knn_temperature"],
            "num_classes": self.data.num_classes,
            "batch_size": evaluate["batch_size"],
            "log_dir": log_dir,
        }
        if self.streaming:
            if not self.data.labelled or self.data.test is None:
                raise recipes.RecipeError(
                    f"train.knn_monitor_every: {self.data.name} has no labelled test split to monitor; set it to 0."
                )
            streams = [
                data.eval_stream(split, self.data.image_size, self.data.channels, evaluate["batch_size"])
                for split in (self.data.train, self.data.test)
            ]
            return monitors + [KNNMonitor(streams[0], None, streams[1], None, **options)]
        splits = self.data
        return monitors + [KNNMonitor(splits.x_train, splits.y_train, splits.x_test, splits.y_test, **options)]

    def training_metrics(self, model, history):
        if not self.streaming:
            return {}
        metrics = {
            "train_images": self.data.train.num_examples,
            "image_shape": list(self.data.image_shape),
            "sharding": getattr(self, "sharding", None),
        }
        if self.recipe["data"]["on_error"] == "skip" and self.work_dir:
            metrics.update(skipped_counts(self._path(SKIP_LOG)))  # training's; evaluate() adds its own
        return metrics

    def evaluate(self, model):
        encoder = local_copy(model.encoder, model.distribute_strategy)
        if not self.streaming:
            return evaluate_encoder(encoder, self.data, self.recipe)
        log = self._path(SKIP_LOG)
        before = skipped_counts(log)["skipped_reads"]
        metrics = evaluate_stream(encoder, self.data, self.recipe, skip_log=log)
        if self.recipe["data"]["on_error"] == "skip" and log:
            # The run's counts, training and evaluation together: the distinct files and the failed reads
            # of skipped_files.txt (one line a read), as the warning says them.
            metrics.update(skipped_counts(log))
            if metrics["skipped_reads"] > before:
                with open(log, encoding="utf-8", errors="replace") as f:
                    names, reads = parse_skip_log(f.read())
                warnings.warn(skipped_warning("training and evaluation", names, reads, log), stacklevel=2)
        return metrics

    def export(self, model, target, version=None, assets=None, **options):
        from keras_contrastive import export

        if options:
            raise ValueError(f"An image encoder's export takes no {sorted(options)}: they are for CLIP runs.")
        return {"encoder": export.export_encoder(model.encoder, target, version=version, assets=assets)}

"""The image task: images -> views -> method -> `fit`, then linear probe and kNN on frozen features.

Recipe keys used: `encoder` (a backbone and its arguments), `method`, `data` (`source`, `path`,
`image_size`), `augment` (the views), `optimizer`, `train` (including `online_probe`,
`knn_monitor_every`), `evaluate` (`knn_k`, `knn_temperature`, `baselines`, `batch_size`), `export.name`.
"""

import keras
import numpy as np
import tensorflow as tf

from keras_contrastive import backbones, data, evaluation, models
from keras_contrastive.callbacks import KNNMonitor
from keras_contrastive.distributed import local_copy
from keras_contrastive.runs.task import Task
from keras_contrastive.runs.views import build_views


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
    source = data_spec or cfg["source"]
    if cfg["path"] is not None and data_spec is None:
        kwargs["path"] = cfg["path"]
    if cfg["image_size"] is not None and source.startswith("folder:"):
        kwargs["image_size"] = tuple(cfg["image_size"])
    splits = data.load_data(source, **kwargs)
    if cfg["image_size"] is not None and tuple(splits.x_train.shape[1:3]) != tuple(cfg["image_size"]):
        size = tuple(cfg["image_size"])
        resize = lambda x: tf.cast(tf.round(tf.image.resize(x, size)), tf.uint8).numpy()  # noqa: E731
        splits.x_train, splits.x_test = resize(splits.x_train), resize(splits.x_test)
    return splits


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
    """Images (`data.load_data` sources) through the recipe's views into an image method."""

    modality = "image"

    def load_data(self):
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
        return self.recipe["train"]["online_probe"] or method.requires_labels

    def build_model(self):
        return build_model(self.recipe, self.data.image_shape, self.data.num_classes)

    def training_dataset(self, model):
        cfg = self.recipe["train"]
        return data.pretrain_dataset(
            self.data.x_train,
            build_views(self.recipe, self.data.image_shape, seed=cfg["seed"]),
            cfg["batch_size"],
            labels=self.data.y_train if self._needs_labels() else None,
            shuffle=True,
            seed=cfg["seed"],
            repeat=True,
        )

    def monitors(self, model, log_dir):
        every = self.recipe["train"]["knn_monitor_every"]
        if not every:
            return []
        evaluate = self.recipe["evaluate"]
        splits = self.data
        monitor = KNNMonitor(
            splits.x_train,
            splits.y_train,
            splits.x_test,
            splits.y_test,
            every=every,
            k=evaluate["knn_k"],
            temperature=evaluate["knn_temperature"],
            num_classes=splits.num_classes,
            batch_size=evaluate["batch_size"],
            log_dir=log_dir,
        )
        return [monitor]

    def evaluate(self, model):
        return evaluate_encoder(local_copy(model.encoder, model.distribute_strategy), self.data, self.recipe)

    def export(self, model, target, version=None, assets=None, **options):
        from keras_contrastive import export

        if options:
            raise ValueError(f"An image encoder's export takes no {sorted(options)}: they are for CLIP runs.")
        return {"encoder": export.export_encoder(model.encoder, target, version=version, assets=assets)}

"""The base class every method subclasses.

It owns what all methods share: the gradient tape, per-replica loss scaling
(`loss / num_replicas`, since strategies sum gradients), `optimizer.scale_loss`
for mixed precision, the metric trackers and `metrics`, an optional online
linear probe, the `after_step` hook (EMA, queue pushes), `test_step`, and
serialization with nested models stored by `keras.layers.serialize`.

A method implements `compute_contrastive_loss(views, training)` and returns
`(loss, logs, features)`; it declares its extra metric names in
`extra_metric_names` and builds its own heads in `__init__` (its projection
head with `add_projector`, which also saves the head's arguments). A method
that trains on labels (SupCon) sets `requires_labels = True`: it then gets
`labels=` too, and a batch without labels is an error (checked here only).
Views that all go through the encoder together are encoded by
`encode_views`; a schedule counted in steps is sized in `on_fit_begin`.
"""

import copy

import keras
import tensorflow as tf
from keras import layers, ops

from keras_contrastive import keras_internals
from keras_contrastive.distributed import scale_loss_for_replicas
from keras_contrastive.layers import ProjectionHead

# A method's constructor arguments for its projection head -> the `ProjectionHead` argument each sets.
PROJECTION_ARGUMENTS = {
    "projection_dim": "output_dim",
    "projection_hidden_dim": "hidden_dim",
    "projection_layers": "num_layers",
    "projection_batch_norm": "batch_norm",
    "synchronized_bn": "synchronized_bn",
}


class _FitSchedule(keras.callbacks.Callback):
    """Tells the model what `fit` runs (`ContrastiveModel.on_fit_begin`, `on_fit_epoch_begin`, `_end`)."""

    def on_train_begin(self, logs=None):
        self.model.on_fit_begin(self.params.get("steps"), self.params.get("epochs"))

    def on_epoch_begin(self, epoch, logs=None):
        self.model.on_fit_epoch_begin(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.model.on_fit_epoch_end(epoch)


class ContrastiveModel(keras.Model):
    """Base class for self-supervised methods trained with `model.fit`.

    Training data are dicts `{"views": (view_1, ..., view_k)}`, optionally
    with `"label"` (used by the online probe, and by the loss of a method
    with `requires_labels`). Calling the model returns
    the encoder's features, so `predict` gives representations.

    Args:
        encoder: `keras.Model`. Maps float images in [0, 1] to features
            `[B, D]`.
        probe_classes: int or None. If set, a linear classifier is trained on
            stop-gradient encoder features of the first view whenever labels
            are present (keras.io `semisupervised_simclr`); it never changes
            the encoder. Defaults to `None`.
        **kwargs: `keras.Model` arguments (`name`, `dtype`).
    """

    extra_metric_names = ()
    # What the encoder reads: "image", "text" or "image_text" (recipes and the run layer dispatch on it).
    modality = "image"
    # True: the loss trains on labels (SupCon), compute_contrastive_loss takes `labels=`, every batch has "label"
    # (not only for the online probe).
    requires_labels = False

    def __init__(self, encoder, probe_classes=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(encoder, keras.Model):
            raise ValueError(
                f"encoder must be a keras.Model mapping images to [batch, features], received {type(encoder).__name__}."
            )
        self.encoder = encoder
        self.probe_classes = probe_classes
        self.probe = None
        if probe_classes:
            self.probe = layers.Dense(probe_classes, name="online_probe")
            self.probe.build((None, self.feature_dim))
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.method_trackers = {name: keras.metrics.Mean(name=name) for name in self.extra_metric_names}
        self.probe_loss_tracker = keras.metrics.Mean(name="probe_loss")
        self.probe_accuracy = keras.metrics.SparseCategoricalAccuracy(name="probe_accuracy")
        # The encoder is built and subclasses build their heads from its
        # feature size in __init__, so `fit` needs no symbolic build (which
        # would call the model on the training dict).
        self.built = True

    def fit(self, *args, **kwargs):
        if self.uses_fit_schedule():
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), _FitSchedule()]
        return super().fit(*args, **kwargs)

    def uses_fit_schedule(self):
        """True when the method sizes a schedule from what `fit` runs: `fit` then calls `on_fit_begin`,
        `on_fit_epoch_begin` and `on_fit_epoch_end` (after the user's callbacks)."""
        return False

    def on_fit_begin(self, steps_per_epoch, epochs):
        """Called when `fit` starts, with its steps per epoch (`None` when the dataset's length is unknown) and
        its `epochs`: a schedule counted in steps (a cosine momentum, a warm-up in epochs) takes its length here."""

    def on_fit_epoch_begin(self, epoch):
        """Called at the start of each epoch of `fit` (0-based, `initial_epoch` counted)."""

    def on_fit_epoch_end(self, epoch):
        """Called at the end of each epoch of `fit`."""

    def add_projector(self, name="projector", **arguments):
        """The method's `ProjectionHead` built on the encoder's features, from the method's constructor
        arguments named as in `PROJECTION_ARGUMENTS` (`projection_dim=...`): each is stored on `self` under
        that name and saved by `get_config`, so a method writes its head's defaults once, in its signature."""
        unknown = sorted(set(arguments) - set(PROJECTION_ARGUMENTS))
        if unknown:
            raise ValueError(f"add_projector takes {', '.join(PROJECTION_ARGUMENTS)}, received {', '.join(unknown)}.")
        for key, value in arguments.items():
            setattr(self, key, value)
        self._projection_arguments = (*getattr(self, "_projection_arguments", ()), *arguments)
        head = ProjectionHead(**{PROJECTION_ARGUMENTS[key]: value for key, value in arguments.items()}, name=name)
        head.build((None, self.feature_dim))
        return head

    def check_views(self, views, exactly=None, at_least=None):
        """A `ValueError` naming the method unless there are `exactly` (or `at_least`) views."""
        if exactly is not None and len(views) != exactly:
            raise ValueError(f"{type(self).__name__} takes exactly {exactly} views per example, received {len(views)}.")
        if at_least is not None and len(views) < at_least:
            raise ValueError(
                f"{type(self).__name__} takes at least {at_least} views per example, received {len(views)}."
            )

    def encode_views(self, views, head=None, training=False, exactly=2, at_least=None):
        """The views (checked: `exactly` of them, or `at_least`) through the encoder in one batched call (batch
        statistics over all views, as SimCLR's TF code) and through `head`; returns the encoder features of the
        first view (for the online probe) and `head`'s output for each view, in view order."""
        views = list(views)
        self.check_views(views, exactly=exactly, at_least=at_least)
        n = ops.shape(views[0])[0]
        features = self.encoder(ops.concatenate(views, axis=0), training=training)
        outputs = features if head is None else head(features, training=training)
        return features[:n], ops.split(outputs, len(views), axis=0)

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                **kwargs):  # fmt: skip
        """`keras.Model.compile` with an optimizer (and `steps_per_execution`, `run_eagerly`, ...). A method
        owns its loss and its metrics (`metrics`): a `loss` or `metrics` given here is an error, not dropped."""
        given = {
            name: value
            for name, value in (
                ("loss", loss),
                ("loss_weights", loss_weights),
                ("metrics", metrics),
                ("weighted_metrics", weighted_metrics),
            )
            if value
        }
        if given:
            raise ValueError(
                f"{type(self).__name__} computes its own loss and metrics ({', '.join(m.name for m in self.metrics)}) "
                f"in its train_step, so compile() takes an optimizer only, e.g. "
                f"model.compile(optimizer=keras.optimizers.AdamW(1e-3)). Received {', '.join(sorted(given))}."
            )
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        # Keras skips a custom `compile` when loading a model: restore the optimizer through it, built, so
        # that its saved state (momenta, iterations) loads too.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.optimizer is not None and self.built:
            self.optimizer.build(self.trainable_variables)

    # Built in __init__: before `fit`, only the optimizer is built (see keras_internals).
    _maybe_symbolic_build = keras_internals.build_optimizer_only

    @property
    def feature_dim(self):
        shape = self.encoder.output_shape
        if isinstance(shape, list):
            shape = shape[0]
        return shape[-1]

    @property
    def metrics(self):
        trackers = [self.loss_tracker, *self.method_trackers.values()]
        if self.probe is not None:
            trackers += [self.probe_loss_tracker, self.probe_accuracy]
        return trackers

    def call(self, inputs, training=False):
        return self.encoder(inputs, training=training)

    def compute_contrastive_loss(self, views, training=False):
        """Returns `(loss, logs, features)`: the scalar loss, a dict of extra
        metric values named in `extra_metric_names`, and the encoder features
        of the first view (for the online probe). A method with
        `requires_labels` takes `labels` (`[B]` integer class ids) as a third
        argument. A method may return a
        fourth element, handed to `after_step(state)` after the optimizer
        step (MoCo's keys to enqueue): under `MirroredStrategy` replicas are
        traced in parallel threads, so per-step tensors must not be kept on
        `self`."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute_contrastive_loss.")

    def clear_traced_functions(self):
        """Drops every traced function (Keras's train / test / predict, and a subclass's own caches): call
        after changing the model's variables' structure (e.g. `export.quantize`) so the next call retraces."""
        self.train_function = self.test_function = self.predict_function = None

    def after_step(self, state=None):
        """Runs after each optimizer step (EMA target update, queue push).
        `state` is the optional fourth output of `compute_contrastive_loss`."""

    def _encoder_for(self, shape):
        """The encoder for crops of `shape` `(H, W, C)`: the encoder itself, or
        for a functional encoder built for another size, its layers (shared
        weights) re-applied to an input of that size."""
        expected = self.encoder.input_shape if isinstance(self.encoder, keras.Model) else None
        try:
            fixed = tuple(expected[1:]) if expected is not None and not isinstance(expected, list) else None
        except (AttributeError, TypeError):
            fixed = None
        if fixed is None or fixed == shape or not isinstance(self.encoder, keras.Model):
            return self.encoder
        # A plain dict attribute bypassing Keras tracking: the shared layers'
        # weights belong to (and are saved with) the encoder only.
        cache = keras_internals.untracked_cache(self, "_resolution_encoders")
        if shape not in cache:
            try:
                other = keras.models.clone_model(
                    self.encoder, input_tensors=keras.Input(shape), clone_function=lambda layer: layer
                )
            except Exception as e:
                raise ValueError(
                    f"{type(self).__name__} cannot run the encoder (built for {fixed}) on crops of size {shape}: "
                    f"{e}. Use an encoder that accepts every crop size."
                ) from e
            if tuple(other.output_shape[1:]) != tuple(self.encoder.output_shape[1:]):
                raise ValueError(
                    f"{type(self).__name__}'s encoder gives features {tuple(other.output_shape[1:])} on crops of "
                    f"size {shape} but {tuple(self.encoder.output_shape[1:])} on {fixed}: all crops need features of "
                    "one size. A "
                    "flattened output keeps the spatial size: use a crop size with the same last feature map (for a "
                    "3-stage ConvNet, 24 to 31 pixels for 28), or global pooling (encoder.output_pool: average)."
                )
            cache[shape] = other
        return cache[shape]

    def _encode_by_resolution(self, views, training):
        """Encoder features of every view, in view order, with one encoder
        call per distinct crop size (BatchNorm statistics per size, as SwAV and DINO)."""
        groups = {}
        for i, view in enumerate(views):
            groups.setdefault(tuple(view.shape[1:]), []).append(i)
        features = [None] * len(views)
        for shape, indices in groups.items():
            batch = ops.concatenate([views[i] for i in indices], axis=0) if len(indices) > 1 else views[indices[0]]
            out = self._encoder_for(shape)(batch, training=training)
            chunks = ops.split(out, len(indices), axis=0) if len(indices) > 1 else [out]
            for i, chunk in zip(indices, chunks):
                features[i] = chunk
        return features

    def _unpack(self, data):
        if not isinstance(data, dict) or "views" not in data:
            raise ValueError(
                f"{type(self).__name__} expects batches shaped like {{'views': (view_1, view_2), 'label': y}}; "
                "build them with keras_contrastive.data.pretrain_dataset."
            )
        return tuple(data["views"]), data.get("label")

    def _forward(self, data, training):
        views, labels = self._unpack(data)
        if self.requires_labels:
            if labels is None:
                raise ValueError(
                    f"{type(self).__name__} trains on labels: every batch needs 'label' (integer class ids) beside "
                    "'views'; pass labels= to keras_contrastive.data.pretrain_dataset."
                )
            loss, logs, features, *state = self.compute_contrastive_loss(views, training=training, labels=labels)
        else:
            loss, logs, features, *state = self.compute_contrastive_loss(views, training=training)
        total = loss
        if self.probe is not None and labels is not None:
            probe_logits = ops.cast(self.probe(ops.stop_gradient(features)), "float32")
            probe_loss = ops.mean(ops.sparse_categorical_crossentropy(labels, probe_logits, from_logits=True))
            total = total + probe_loss
            self.probe_loss_tracker.update_state(probe_loss)
            self.probe_accuracy.update_state(labels, probe_logits)
        return loss, total, logs, (state[0] if state else None)

    def _record(self, loss, logs):
        self.loss_tracker.update_state(loss)
        for name, value in logs.items():
            self.method_trackers[name].update_state(value)
        results = {m.name: m.result() for m in self.metrics}
        if keras_internals.in_multi_worker_mode(self.distribute_strategy):
            # Keras reduces multi-worker logs with reduce(MEAN, axis=0), which
            # rejects scalars: hand it [1]-shaped values, reduced to scalars.
            results = {name: ops.reshape(value, (1,)) for name, value in results.items()}
        return results

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss, total, logs, state = self._forward(data, training=True)
            scaled = self.optimizer.scale_loss(scale_loss_for_replicas(total))
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        if state is None:
            self.after_step()
        else:
            self.after_step(state)
        return self._record(loss, logs)

    def test_step(self, data):
        loss, _, logs, _ = self._forward(data, training=False)
        return self._record(loss, logs)

    def get_config(self):
        config = super().get_config()
        config.update({"encoder": keras.layers.serialize(self.encoder), "probe_classes": self.probe_classes})
        config.update({key: getattr(self, key) for key in getattr(self, "_projection_arguments", ())})
        return config

    @classmethod
    def from_config(cls, config):
        # deserialize() consumes nested dicts: never touch the caller's config.
        config = copy.deepcopy(config)
        config["encoder"] = keras.layers.deserialize(config["encoder"])
        return cls(**config)

"""SwAV: Caron et al., 2020, https://arxiv.org/abs/2006.09882."""

import keras
from keras import ops

from keras_contrastive.distributed import num_replicas
from keras_contrastive.layers import Prototypes, Queue
from keras_contrastive.losses import swav_loss
from keras_contrastive.models.contrastive_model import ContrastiveModel
from keras_contrastive.normalize import l2_normalize


@keras.saving.register_keras_serializable(package="keras_contrastive")
class SwAV(ContrastiveModel):
    """SwAV: swapped prediction of cluster codes, with multi-crop.

    Views are the crops of `keras_contrastive.augment.multi_crop_views`:
    `num_large_crops` large crops first, then any number of small crops,
    possibly at another resolution. The crops of each resolution go through
    the encoder in one batched call (section 3.2); a functional encoder
    built for the large size runs on another size through its own layers
    (shared weights) re-applied to an input of that size, which needs
    features of the same size there (global pooling; a flattened map only
    for sizes that end on the same map). All crops then go through the
    projection head and the `Prototypes` (scores = cosine similarities).
    The codes of the large crops (Sinkhorn-Knopp, equipartitioned over the
    global batch) are the targets of every other crop's softmax prediction
    (`swav_loss`). After every step the prototypes are re-normalised; they
    are frozen (zero gradient) for the first `freeze_prototypes_steps`
    steps, by default the first epoch of what `fit` runs (paper appendix
    A.1). With `queue_size > 0`, from epoch `queue_start_epoch` (0-based) on,
    the embeddings of the last `queue_size` large crops of each kind join
    the Sinkhorn-Knopp batch once the queue holds only such embeddings (for
    small batches, section 4 / appendix A.1). Two views of one size (no
    small crops) also work. `assignment_accuracy` is the fraction of
    (crop, large crop) pairs where the crop's best prototype is the other's
    code's best, a label-free sign of learning.

    Args:
        encoder: `keras.Model`. Images in [0, 1] to features `[B, D]`, for
            every crop size used.
        projection_dim: int. Embedding size. Defaults to `128`.
        projection_hidden_dim: int or None. Head hidden width (`None` = `D`).
            Defaults to `None`.
        projection_layers: int. Dense layers in the head. Defaults to `2`.
        num_prototypes: int. Number of prototypes. Defaults to `3000`.
        temperature: float. Temperature of the predictions. Defaults to `0.1`.
        epsilon: float. Sinkhorn-Knopp regularisation. Defaults to `0.05`.
        sinkhorn_iterations: int. Defaults to `3`.
        num_large_crops: int. Leading views that give codes. Defaults to `2`.
        freeze_prototypes_steps: int or None. Optimizer steps during which the
            prototypes are not updated; `None` is the first epoch as `fit`
            runs it (its steps per epoch, or the first epoch's end when
            unknown). Defaults to `None`.
        queue_size: int. Embeddings kept per large crop; 0 for no queue.
            Defaults to `0`.
        queue_start_epoch: int. Epoch (0-based) from which the queue fills
            and is then used. Defaults to `15`.
        synchronized_bn: bool. Synchronized BatchNorm in the head. Defaults
            to `False`.
        probe_classes: int or None. Online linear probe classes (on the
            first large crop). Defaults to `None`.

    Example:

    >>> from keras_contrastive.backbones import ConvNet
    >>> model = SwAV(ConvNet(input_shape=(16, 16, 1), width=4, stages=2), projection_dim=8, num_prototypes=10)
    >>> views = [np.random.rand(4, 16, 16, 1).astype("float32")] * 2 + [np.random.rand(4, 8, 8, 1).astype("float32")]
    >>> loss, logs, features, _ = model.compute_contrastive_loss(views, training=True)
    >>> tuple(model.prototypes.kernel.shape), features.shape[0]
    ((8, 10), 4)
    """

    extra_metric_names = ("assignment_accuracy",)

    def __init__(
        self,
        encoder,
        projection_dim=128,
        projection_hidden_dim=None,
        projection_layers=2,
        num_prototypes=3000,
        temperature=0.1,
        epsilon=0.05,
        sinkhorn_iterations=3,
        num_large_crops=2,
        freeze_prototypes_steps=None,
        queue_size=0,
        queue_start_epoch=15,
        synchronized_bn=False,
        probe_classes=None,
        **kwargs,
    ):
        super().__init__(encoder, probe_classes=probe_classes, **kwargs)
        if temperature <= 0 or epsilon <= 0:
            raise ValueError(
                f"SwAV needs temperature > 0 and epsilon > 0, received temperature={temperature!r}, "
                f"epsilon={epsilon!r}."
            )
        bad_freeze = freeze_prototypes_steps is not None and freeze_prototypes_steps < 0
        if num_large_crops < 1 or queue_size < 0 or bad_freeze:
            raise ValueError(
                f"SwAV needs num_large_crops >= 1, queue_size >= 0 and freeze_prototypes_steps >= 0 or None, "
                f"received num_large_crops={num_large_crops}, queue_size={queue_size}, "
                f"freeze_prototypes_steps={freeze_prototypes_steps}."
            )
        self.num_prototypes = num_prototypes
        self.temperature = temperature
        self.epsilon = epsilon
        self.sinkhorn_iterations = sinkhorn_iterations
        self.num_large_crops = num_large_crops
        self.freeze_prototypes_steps = freeze_prototypes_steps
        self.queue_size = queue_size
        self.queue_start_epoch = queue_start_epoch
        self.projector = self.add_projector(
            projection_dim=projection_dim,
            projection_hidden_dim=projection_hidden_dim,
            projection_layers=projection_layers,
            synchronized_bn=synchronized_bn,
        )
        # Scores, codes and the loss stay float32 under mixed precision: the
        # temperature and epsilon magnify rounding errors 10 to 20 times.
        self.prototypes = Prototypes(num_prototypes, projection_dim, dtype="float32", name="prototypes")
        schedule = {"shape": (), "trainable": False, "dtype": "int32", "aggregation": "only_first_replica"}
        # -1: not known yet (the first epoch's length, set when fit starts).
        freeze = keras.initializers.Constant(-1 if freeze_prototypes_steps is None else int(freeze_prototypes_steps))
        self.freeze_steps = self.add_weight(initializer=freeze, name="freeze_steps", **schedule)
        self.epoch = self.add_weight(initializer="zeros", name="epoch", **schedule)
        self.queues = []
        if queue_size:
            self.queues = [Queue(queue_size, projection_dim, name=f"queue_{i + 1}") for i in range(num_large_crops)]
            self.queue_filled = self.add_weight(initializer="zeros", name="queue_filled", **schedule)

    # What `fit` runs: the epoch (queue start) and, unless freeze_prototypes_steps is set, the first epoch's
    # length (prototypes frozen over it).
    def uses_fit_schedule(self):
        return True

    def on_fit_begin(self, steps_per_epoch, epochs):
        if self.freeze_prototypes_steps is None and steps_per_epoch and int(self.freeze_steps.numpy()) < 0:
            self.freeze_steps.assign(int(steps_per_epoch))

    def on_fit_epoch_begin(self, epoch):
        self.epoch.assign(int(epoch))

    def on_fit_epoch_end(self, epoch):
        # Unknown epoch length: the first epoch ends here.
        if int(self.freeze_steps.numpy()) < 0:
            self.freeze_steps.assign(int(self.optimizer.iterations.numpy()))

    def _prototypes_frozen(self, training):
        if not training or getattr(self, "optimizer", None) is None:
            return None
        steps = self.freeze_steps.value
        return ops.logical_or(steps < 0, ops.cast(self.optimizer.iterations, "int32") < steps)

    def compute_contrastive_loss(self, views, training=False):
        views = list(views)
        if len(views) < 2 or len(views) < self.num_large_crops:
            raise ValueError(
                f"SwAV takes at least 2 views, the {self.num_large_crops} large crops first; received {len(views)}."
            )
        large_shapes = {tuple(v.shape[1:]) for v in views[: self.num_large_crops]}
        if len(large_shapes) > 1:
            raise ValueError(f"SwAV's {self.num_large_crops} large crops must share one size, received {large_shapes}.")
        features = self._encode_by_resolution(views, training)
        z = self.projector(ops.concatenate(features, axis=0), training=training)
        scores = self.prototypes(z, frozen=self._prototypes_frozen(training))
        crops = ops.split(scores, len(views), axis=0)
        embeddings = ops.split(l2_normalize(ops.cast(z, "float32")), len(views), axis=0)[: self.num_large_crops]

        queue_scores = use_queue = pending = None
        if self.queues:
            queue_scores = [ops.stop_gradient(self.prototypes(queue.value)) for queue in self.queues]
            use_queue = ops.convert_to_tensor(False)
            if training:
                use_queue = ops.logical_and(
                    self.epoch.value >= self.queue_start_epoch, self.queue_filled.value >= self.queue_size
                )
                # Handed to after_step (the base class passes this step's
                # state, per replica), pushed after the loss used the old contents.
                pending = [ops.stop_gradient(e) for e in embeddings]
        loss, codes = swav_loss(
            crops,
            num_large_crops=self.num_large_crops,
            temperature=self.temperature,
            epsilon=self.epsilon,
            sinkhorn_iterations=self.sinkhorn_iterations,
            queue_scores=queue_scores,
            use_queue=use_queue,
            return_codes=True,
        )
        agreements = [
            ops.cast(ops.equal(ops.argmax(crop, axis=-1), ops.argmax(q, axis=-1)), "float32")
            for i, q in enumerate(codes)
            for v, crop in enumerate(crops)
            if v != i
        ]
        return loss, {"assignment_accuracy": ops.mean(ops.stack(agreements))}, features[0], pending

    def after_step(self, pending=None):
        super().after_step()
        self.prototypes.normalize_weights()
        if self.queues and pending is not None:
            for queue, keys in zip(self.queues, pending):
                queue.enqueue(keys)
            added = ops.shape(pending[0])[0] * num_replicas()
            filled = ops.minimum(self.queue_filled.value + ops.cast(added, "int32"), self.queue_size)
            # Only keys pushed from queue_start_epoch on count: then the queue
            # is used once it holds no key from before (nor its random start).
            self.queue_filled.assign(ops.where(self.epoch.value >= self.queue_start_epoch, filled, 0))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_prototypes": self.num_prototypes,
                "temperature": self.temperature,
                "epsilon": self.epsilon,
                "sinkhorn_iterations": self.sinkhorn_iterations,
                "num_large_crops": self.num_large_crops,
                "freeze_prototypes_steps": self.freeze_prototypes_steps,
                "queue_size": self.queue_size,
                "queue_start_epoch": self.queue_start_epoch,
            }
        )
        return config

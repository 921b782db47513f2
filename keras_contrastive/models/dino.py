"""DINO: Caron et al., 2021, https://arxiv.org/abs/2104.14294."""

import keras
from keras import ops

from keras_contrastive.layers import Prototypes
from keras_contrastive.losses import dino_loss, teacher_batch_center
from keras_contrastive.models.momentum_model import MomentumContrastiveModel


@keras.saving.register_keras_serializable(package="keras_contrastive")
class DINO(MomentumContrastiveModel):
    """DINO: self-distillation with no labels, a student and an EMA teacher over multi-crop views.

    Views are the crops of `keras_contrastive.augment.multi_crop_views` (the
    recipe's `augment.small_crops`): `num_large_crops` large crops first,
    then any number of small ones. The student (encoder -> MLP head ->
    L2-normalised bottleneck -> `Prototypes`, the weight-normalised last layer
    of section 3.1 and appendix) sees every crop, one encoder call per crop
    size; the teacher, an EMA copy of encoder, head and prototypes
    (`MomentumContrastiveModel`, cosine momentum to 1), sees only the large
    crops. `losses.dino_loss` makes every student crop predict the teacher's
    centered, sharpened output of each *other* large crop. The center is a
    non-trainable weight, an EMA (`center_momentum`) of the teacher's mean
    output over the global batch, updated after each step; the teacher
    temperature rises linearly from `warmup_teacher_temperature` to
    `teacher_temperature` over the first `warmup_teacher_temperature_epochs`
    epochs of what `fit` runs (per step). Prototypes are re-normalised to
    unit norm after every step (the weight normalisation with fixed norm of
    DINO's `norm_last_layer`). `teacher_entropy` (the mean entropy of the
    teacher's targets, in nats) shows collapse: 0 is one prototype for all,
    `log(num_prototypes)` is uniform.

    Args:
        encoder: `keras.Model`. Images in [0, 1] to features `[B, D]`, for
            every crop size used.
        projection_dim: int. Bottleneck size of the head. Defaults to `256`.
        projection_hidden_dim: int or None. Head hidden width (`None` = `D`).
            Defaults to `2048`.
        projection_layers: int. Dense layers in the head. Defaults to `3`.
        projection_batch_norm: bool. BatchNorm in the head's hidden layers
            (DINO's `use_bn_in_head`). Defaults to `False`.
        num_prototypes: int. Output dimension `K`. Defaults to `65536`.
        student_temperature: float. Defaults to `0.1`.
        teacher_temperature: float. After the warm-up. Defaults to `0.04`.
        warmup_teacher_temperature: float. At step 0. Defaults to `0.04`.
        warmup_teacher_temperature_epochs: float. Length of the warm-up.
            Defaults to `0.0`.
        center_momentum: float. EMA momentum of the center. Defaults to `0.9`.
        momentum: float. Teacher EMA momentum at step 0. Defaults to `0.996`.
        momentum_schedule: str. `"cosine"` (to 1) or `"constant"`. Defaults
            to `"cosine"`.
        num_large_crops: int. Leading views the teacher sees. Defaults to `2`.
        synchronized_bn: bool. Synchronized BatchNorm in the head. Defaults
            to `False`.
        probe_classes: int or None. Online linear probe classes (on the
            first large crop). Defaults to `None`.

    Example:

    >>> from keras_contrastive.backbones import ConvNet
    >>> model = DINO(ConvNet(input_shape=(16, 16, 1), width=4, stages=2), projection_dim=8,
    ...              projection_hidden_dim=16, num_prototypes=32)
    >>> views = [np.random.rand(4, 16, 16, 1).astype("float32")] * 2 + [np.random.rand(4, 12, 12, 1).astype("float32")]
    >>> loss, logs, features, center = model.compute_contrastive_loss(views, training=True)
    >>> tuple(model.center.shape), tuple(center.shape), len(model.teacher_prototypes.trainable_weights)
    ((1, 32), (1, 32), 0)
    """

    extra_metric_names = ("teacher_entropy", "teacher_temperature", "momentum")

    def __init__(
        self,
        encoder,
        projection_dim=256,
        projection_hidden_dim=2048,
        projection_layers=3,
        projection_batch_norm=False,
        num_prototypes=65536,
        student_temperature=0.1,
        teacher_temperature=0.04,
        warmup_teacher_temperature=0.04,
        warmup_teacher_temperature_epochs=0.0,
        center_momentum=0.9,
        momentum=0.996,
        momentum_schedule="cosine",
        num_large_crops=2,
        synchronized_bn=False,
        probe_classes=None,
        **kwargs,
    ):
        super().__init__(encoder, momentum, momentum_schedule, probe_classes=probe_classes, **kwargs)
        if min(student_temperature, teacher_temperature, warmup_teacher_temperature) <= 0:
            raise ValueError(
                "DINO temperatures must be > 0, received "
                f"student_temperature={student_temperature!r}, teacher_temperature={teacher_temperature!r}, "
                f"warmup_teacher_temperature={warmup_teacher_temperature!r}."
            )
        if not 0.0 <= center_momentum <= 1.0 or warmup_teacher_temperature_epochs < 0 or num_large_crops < 1:
            raise ValueError(
                "DINO needs center_momentum in [0, 1], warmup_teacher_temperature_epochs >= 0 and "
                f"num_large_crops >= 1, received center_momentum={center_momentum!r}, "
                f"warmup_teacher_temperature_epochs={warmup_teacher_temperature_epochs!r}, "
                f"num_large_crops={num_large_crops!r}."
            )
        self.num_prototypes = num_prototypes
        self.student_temperature = student_temperature
        self.teacher_temperature = teacher_temperature
        self.warmup_teacher_temperature = warmup_teacher_temperature
        self.warmup_teacher_temperature_epochs = warmup_teacher_temperature_epochs
        self.center_momentum = center_momentum
        self.num_large_crops = num_large_crops
        self.projector = self.add_projector(
            projection_dim=projection_dim,
            projection_hidden_dim=projection_hidden_dim,
            projection_layers=projection_layers,
            projection_batch_norm=projection_batch_norm,
            synchronized_bn=synchronized_bn,
        )
        # Logits, center and loss stay float32 under mixed precision: the teacher temperature of 0.04 magnifies
        # rounding errors 25 times.
        self.prototypes = Prototypes(num_prototypes, projection_dim, dtype="float32", name="prototypes")
        self.teacher_encoder = self.add_target(self.encoder, None)
        self.teacher_projector = self.add_target(self.projector, (None, self.feature_dim))
        self.teacher_prototypes = self.add_target(self.prototypes, (None, projection_dim))
        state = {"trainable": False, "dtype": "float32", "aggregation": "only_first_replica"}
        # Every replica assigns the same all-reduced value (teacher_batch_center).
        self.center = self.add_weight(shape=(1, num_prototypes), initializer="zeros", name="center", **state)
        self.steps_per_epoch = self.add_weight(shape=(), initializer="zeros", name="steps_per_epoch", **state)

    def uses_fit_schedule(self):
        return self.warmup_teacher_temperature_epochs > 0 or super().uses_fit_schedule()

    def on_fit_begin(self, steps_per_epoch, epochs):
        # The teacher-temperature warm-up is in epochs: it needs their length.
        if self.warmup_teacher_temperature_epochs > 0:
            if not steps_per_epoch:
                raise ValueError(
                    "DINO with warmup_teacher_temperature_epochs > 0 needs the number of steps per epoch: pass "
                    "steps_per_epoch to fit (or use a dataset of known length)."
                )
            self.steps_per_epoch.assign(float(steps_per_epoch))
        super().on_fit_begin(steps_per_epoch, epochs)

    def current_teacher_temperature(self):
        """The teacher temperature of the step being taken (`optimizer.iterations`, 0-based)."""
        final = ops.convert_to_tensor(self.teacher_temperature, "float32")
        if self.warmup_teacher_temperature_epochs <= 0 or getattr(self, "optimizer", None) is None:
            return final
        warmup_steps = ops.maximum(self.warmup_teacher_temperature_epochs * self.steps_per_epoch.value, 1.0)
        progress = ops.clip(ops.cast(self.optimizer.iterations, "float32") / warmup_steps, 0.0, 1.0)
        return self.warmup_teacher_temperature + (final - self.warmup_teacher_temperature) * progress

    def _head(self, features, projector, prototypes, training):
        return prototypes(projector(features, training=training))

    def compute_contrastive_loss(self, views, training=False):
        views = list(views)
        if len(views) < 2 or len(views) < self.num_large_crops:
            raise ValueError(
                f"DINO takes at least 2 views, the {self.num_large_crops} large crops first; received {len(views)}."
            )
        large = views[: self.num_large_crops]
        if len({tuple(v.shape[1:]) for v in large}) > 1:
            raise ValueError(
                f"DINO's {self.num_large_crops} large crops must share one size, received "
                f"{sorted({tuple(v.shape[1:]) for v in large})}."
            )
        features = self._encode_by_resolution(views, training)
        student = self._head(ops.concatenate(features, axis=0), self.projector, self.prototypes, training)
        student = ops.split(student, len(views), axis=0)
        teacher_features = self.teacher_encoder(ops.concatenate(large, axis=0), training=training)
        teacher = ops.stop_gradient(
            self._head(teacher_features, self.teacher_projector, self.teacher_prototypes, training)
        )
        teacher = ops.split(teacher, self.num_large_crops, axis=0) if self.num_large_crops > 1 else [teacher]
        temperature = self.current_teacher_temperature()
        loss = dino_loss(student, teacher, self.center.value, self.student_temperature, temperature)
        targets = ops.softmax((ops.concatenate(teacher, axis=0) - self.center.value) / temperature, axis=-1)
        entropy = -ops.mean(ops.sum(targets * ops.log(ops.maximum(targets, 1e-12)), axis=-1))
        logs = {"teacher_entropy": entropy, "teacher_temperature": temperature, "momentum": self.current_momentum()}
        # The global batch's mean teacher output, handed to after_step: the loss used the old center.
        return loss, logs, features[0], teacher_batch_center(teacher)

    def after_step(self, batch_center=None):
        self.prototypes.normalize_weights()
        super().after_step()  # the teacher's EMA, prototypes included
        self.teacher_prototypes.normalize_weights()
        if batch_center is not None:
            m = self.center_momentum
            self.center.assign(m * self.center.value + (1.0 - m) * batch_center)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_prototypes": self.num_prototypes,
                "student_temperature": self.student_temperature,
                "teacher_temperature": self.teacher_temperature,
                "warmup_teacher_temperature": self.warmup_teacher_temperature,
                "warmup_teacher_temperature_epochs": self.warmup_teacher_temperature_epochs,
                "center_momentum": self.center_momentum,
                "num_large_crops": self.num_large_crops,
            }
        )
        return config

"""The base of the momentum-encoder family (MoCo, BYOL).

It owns what both methods share: target networks that are EMA copies of
online networks (`momentum.make_target`), the momentum schedule (constant, or
BYOL's cosine from `momentum` to 1), and the EMA applied in `after_step`,
after the optimizer step. The momentum step is `optimizer.iterations`, so it
is saved and restored with the optimizer (`BackupAndRestore`, `.keras`). The
cosine schedule's length is what `fit` will really run, `epochs x steps per
epoch`, set when `fit` starts.
"""

from keras import ops

from keras_contrastive.models.contrastive_model import ContrastiveModel
from keras_contrastive.momentum import cosine_momentum, make_target, update_momentum

MOMENTUM_SCHEDULES = ("constant", "cosine")


class MomentumContrastiveModel(ContrastiveModel):
    """A `ContrastiveModel` with EMA targets.

    Subclasses build their online networks, then call
    `self.add_target(online, input_shape)` for each, which returns the target
    copy; `after_step` updates every target.

    Args:
        encoder: `keras.Model`. Images to features `[B, D]`.
        momentum: float. The EMA momentum (`constant`) or its base value at
            step 0 (`cosine`).
        momentum_schedule: str. `"constant"` or `"cosine"`.
        probe_classes: int or None. Online linear probe classes.
    """

    def __init__(self, encoder, momentum, momentum_schedule, probe_classes=None, **kwargs):
        super().__init__(encoder, probe_classes=probe_classes, **kwargs)
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"{type(self).__name__} momentum must be in [0, 1], received momentum={momentum!r}.")
        if momentum_schedule not in MOMENTUM_SCHEDULES:
            raise ValueError(
                f"{type(self).__name__} momentum_schedule must be one of {', '.join(MOMENTUM_SCHEDULES)}, "
                f"received {momentum_schedule!r}."
            )
        self.momentum = float(momentum)
        self.momentum_schedule = momentum_schedule
        self.momentum_total_steps = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="momentum_total_steps", dtype="float32"
        )
        self._target_pairs = []

    def add_target(self, online, input_shape):
        """A non-trainable EMA copy of `online`, updated after every step."""
        target = make_target(online, input_shape)
        self._target_pairs.append((online, target))
        return target

    @property
    def momentum_step(self):
        """The index of the next optimizer step (restored on resume)."""
        return self.optimizer.iterations if getattr(self, "optimizer", None) is not None else 0

    def current_momentum(self):
        """The momentum of the step just taken (0-based `iterations - 1`)."""
        if self.momentum_schedule == "constant" or getattr(self, "optimizer", None) is None:
            return ops.convert_to_tensor(self.momentum, "float32")
        step = ops.maximum(ops.cast(self.optimizer.iterations, "float32") - 1.0, 0.0)
        return cosine_momentum(step, self.momentum_total_steps.value, self.momentum)

    def after_step(self, state=None):
        m = self.current_momentum()
        for online, target in self._target_pairs:
            update_momentum(online, target, m)

    def uses_fit_schedule(self):
        return self.momentum_schedule == "cosine"

    def on_fit_begin(self, steps_per_epoch, epochs):
        # The cosine schedule's length: what `fit` will really run.
        if self.momentum_schedule == "cosine":
            if not steps_per_epoch:
                raise ValueError(
                    f"{type(self).__name__} with momentum_schedule='cosine' needs the number of steps per epoch: "
                    "pass steps_per_epoch to fit (or use a dataset of known length)."
                )
            self.momentum_total_steps.assign(float(steps_per_epoch * epochs))

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "momentum_schedule": self.momentum_schedule})
        return config

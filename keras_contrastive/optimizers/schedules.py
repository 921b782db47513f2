"""Learning-rate schedules for recipes."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_contrastive")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak_learning_rate`, then cosine decay.

    Goyal et al., 2017 (warm-up) and Loshchilov & Hutter, 2017 (cosine), as in
    SimCLR appendix B.1: the rate rises linearly over `warmup_steps`, then
    follows half a cosine down to `final_learning_rate` at `total_steps`.

    Args:
        peak_learning_rate: float. Rate reached at the end of warm-up.
        total_steps: int. Steps of the whole run (epochs x steps per epoch).
        warmup_steps: int. Warm-up length. Defaults to `0`.
        final_learning_rate: float. Rate at `total_steps`. Defaults to `0.0`.
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps=0, final_learning_rate=0.0):
        if total_steps <= 0:
            raise ValueError(f"WarmupCosine needs total_steps > 0, received total_steps={total_steps!r}.")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(
                f"WarmupCosine needs 0 <= warmup_steps <= total_steps, received warmup_steps={warmup_steps!r} "
                f"and total_steps={total_steps!r}."
            )
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.final_learning_rate = float(final_learning_rate)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = ops.cast(max(self.warmup_steps, 1), "float32")
        warm = self.peak_learning_rate * ops.minimum(step + 1.0, warmup) / warmup
        decay_steps = float(max(self.total_steps - self.warmup_steps, 1))
        progress = ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        cosine = self.final_learning_rate + 0.5 * (self.peak_learning_rate - self.final_learning_rate) * (
            1.0 + ops.cos(math.pi * progress)
        )
        if self.warmup_steps == 0:
            return cosine
        return ops.where(step < self.warmup_steps, warm, cosine)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "final_learning_rate": self.final_learning_rate,
        }

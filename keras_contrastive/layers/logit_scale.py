"""CLIP's learnable temperature, kept as a log-scale."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_contrastive")
class LogitScale(keras.layers.Layer):
    """A learnable scalar `s`; calling the layer returns `exp(s)`, the factor that multiplies cosine similarities.

    Radford et al., 2021 (CLIP), section 2.5: the temperature is learned as
    a log-parameterised multiplicative scalar initialised to `1 / 0.07` and
    clipped so that logits are never scaled by more than 100. `clamp()`
    applies that bound to the variable (call it after each optimizer step).
    The variable is named `logit_scale`, so optimizers can exclude it from
    weight decay by name.

    Args:
        initial_value: float. Initial `s`. Defaults to `ln(1 / 0.07)`.
        max_value: float. Largest `s`. Defaults to `ln(100)`.

    Example:

    >>> scale = LogitScale()
    >>> round(float(scale()), 4)
    14.2857
    """

    def __init__(self, initial_value=math.log(1 / 0.07), max_value=math.log(100.0), **kwargs):
        super().__init__(**kwargs)
        if initial_value > max_value:
            raise ValueError(f"LogitScale initial_value={initial_value} is above max_value={max_value}: lower it.")
        self.initial_value = float(initial_value)
        self.max_value = float(max_value)
        self.scale = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.initial_value), name="logit_scale", dtype="float32"
        )
        self.built = True

    def call(self, inputs=None):
        return ops.exp(ops.cast(self.scale, "float32"))

    def clamp(self):
        """Sets `s = min(s, max_value)`."""
        self.scale.assign(ops.minimum(self.scale.value, self.max_value))

    def get_config(self):
        config = super().get_config()
        config.update({"initial_value": self.initial_value, "max_value": self.max_value})
        return config

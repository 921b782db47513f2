"""LARS on the Keras 3 optimizer API.

You et al., 2017, https://arxiv.org/abs/1708.03888, as used by SimCLR and
BYOL: SGD with momentum whose per-layer step is rescaled by the trust ratio
`eta * ||w|| / ||g + wd * w||`. Biases and normalisation parameters (every
variable of rank <= 1) get neither weight decay nor adaptation (SimCLR
appendix B.1; BYOL appendix C.1).
"""

import keras
from keras import ops

from keras_contrastive import keras_internals


@keras.saving.register_keras_serializable(package="keras_contrastive")
class LARS(keras.optimizers.Optimizer):
    """Layer-wise Adaptive Rate Scaling.

    Args:
        learning_rate: float or `LearningRateSchedule`. Defaults to `0.1`.
        momentum: float. Heavy-ball momentum. Defaults to `0.9`.
        weight_decay: float. Coupled L2 weight decay, added to the gradient
            before the trust ratio (not Keras's decoupled decay). Defaults to
            `1e-6`.
        eta: float. Trust coefficient. Defaults to `0.001`.
        nesterov: bool. Nesterov momentum. Defaults to `False`.
        exclude_rank_one: bool. Skip decay and adaptation for variables of
            rank <= 1 (biases, BatchNorm). Defaults to `True`.
        **kwargs: `keras.optimizers.Optimizer` arguments (`clipnorm`,
            `global_clipnorm`, `name`, ...).
    """

    def __init__(
        self,
        learning_rate=0.1,
        momentum=0.9,
        weight_decay=1e-6,
        eta=0.001,
        nesterov=False,
        exclude_rank_one=True,
        name="lars",
        **kwargs,
    ):
        kwargs.pop("weight_decay", None)
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"LARS momentum must be in [0, 1), received momentum={momentum!r}.")
        self.momentum = momentum
        self.lars_weight_decay = weight_decay
        self.eta = eta
        self.nesterov = nesterov
        self.exclude_rank_one = exclude_rank_one

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.velocities = [self.add_variable_from_reference(v, "velocity") for v in variables]

    def _adapted(self, variable):
        return not (self.exclude_rank_one and len(variable.shape) <= 1)

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        velocity = self.velocities[keras_internals.variable_index(self, variable)]
        if self._adapted(variable):
            gradient = gradient + self.lars_weight_decay * variable
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            g_norm = ops.sqrt(ops.sum(ops.square(gradient)))
            trust = ops.where(
                ops.logical_and(w_norm > 0, g_norm > 0), self.eta * w_norm / ops.maximum(g_norm, 1e-12), 1.0
            )
            gradient = gradient * ops.cast(trust, variable.dtype)
        new_velocity = self.momentum * velocity + gradient
        self.assign(velocity, new_velocity)
        step = gradient + self.momentum * new_velocity if self.nesterov else new_velocity
        self.assign_sub(variable, learning_rate * step)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "momentum": self.momentum,
                "weight_decay": self.lars_weight_decay,
                "eta": self.eta,
                "nesterov": self.nesterov,
                "exclude_rank_one": self.exclude_rank_one,
            }
        )
        return config

"""Momentum (EMA) targets shared by MoCo and BYOL.

- `update_momentum(online, target, m)`: `target <- m * target + (1 - m) * online`
  for every trainable weight of `online` and the weight at the same position
  in `target`. Called by the methods' `after_step` hook, after the optimizer
  step. Under `tf.distribute` every replica holds the same online weights
  (gradients are all-reduced), so every replica computes the same EMA.
- `cosine_momentum(step, total_steps, base)`: BYOL's schedule (Grill et al.,
  2020, section 3.2), from `base` at step 0 to 1 at `total_steps`.
- `make_target(layer, input_shape)`: a copy of `layer` with equal weights
  whose variables are not trainable. Its layers keep `trainable=True`, so a
  target BatchNormalization still normalizes with batch statistics in
  training mode, as PyTorch's target modules do in `train()` mode.
"""

import math

import keras
from keras import ops


def update_momentum(online, target, m):
    """EMA of `online`'s trainable weights into `target`'s matching weights.

    Args:
        online: `keras.layers.Layer`. The network trained by the optimizer.
        target: `keras.layers.Layer`. A copy with the same weight layout
            (see `make_target`).
        m: float or scalar tensor in [0, 1]. Momentum: 1 keeps the target,
            0 copies the online weights.
    """
    online_weights, target_weights = online.weights, target.weights
    if len(online_weights) != len(target_weights):
        raise ValueError(
            f"update_momentum: online {online.name!r} has {len(online_weights)} weights but target "
            f"{target.name!r} has {len(target_weights)}; build the target with make_target(online, input_shape)."
        )
    for o, t in zip(online_weights, target_weights):
        if not o.trainable:
            continue  # BatchNorm moving statistics: the target keeps its own
        m_t = ops.cast(m, t.dtype)
        t.assign(m_t * t.value + (1.0 - m_t) * ops.cast(o.value, t.dtype))


def cosine_momentum(step, total_steps, base=0.996):
    """`1 - (1 - base) * (cos(pi * step / total_steps) + 1) / 2`, clamped at `total_steps`.

    Works on Python numbers (returns a float) and on tensors (returns a
    float32 tensor), so the training step can evaluate it on
    `optimizer.iterations`.
    """
    if isinstance(step, (int, float)) and isinstance(total_steps, (int, float)):
        if total_steps <= 0:
            raise ValueError(f"cosine_momentum needs total_steps > 0, received {total_steps}.")
        progress = min(max(step / total_steps, 0.0), 1.0)
        return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0
    step = ops.cast(step, "float32")
    total = ops.maximum(ops.cast(total_steps, "float32"), 1.0)
    progress = ops.clip(step / total, 0.0, 1.0)
    return 1.0 - (1.0 - base) * (ops.cos(math.pi * progress) + 1.0) / 2.0


def make_target(layer, input_shape):
    """A copy of `layer` with the same weights, none of them trainable.

    Functional and Sequential models are copied with `clone_model`; other
    layers through `from_config` and `build(input_shape)`.
    """
    if isinstance(layer, keras.Model):
        target = keras.models.clone_model(layer)
    else:
        target = type(layer).from_config(layer.get_config())
        target.build(input_shape)
    target.set_weights(layer.get_weights())
    for variable in target.weights:
        variable.trainable = False
    return target

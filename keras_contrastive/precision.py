"""The Keras dtype policy a run trains under: resolving `auto` from the machine, and applying it while the
model is built.

Its own small module, not `hardware` (which stays free of TensorFlow: the package imports it first) nor
`distributed` (the strategy does not decide the policy): the run layer compiles under it, and the
benchmarks resolve the quick-start's `auto` with another CPU's flags to report which policy a figure used.
"""

import contextlib

import keras
import tensorflow as tf

from keras_contrastive import hardware
from keras_contrastive.run_options import PRECISIONS


def resolve_precision(precision, flags=None):
    """The Keras dtype policy of `precision`: itself, or for `"auto"` `mixed_bfloat16` when this machine
    (or the CPU `flags` given) executes bfloat16 natively (AVX512_BF16 or AMX) and has no GPU, else
    `float32`. On a CPU without native bfloat16, Keras's bfloat16 runs slower than float32."""
    if precision != "auto":
        if precision not in PRECISIONS:
            raise ValueError(f"Unknown precision {precision!r}: use auto or one of {', '.join(PRECISIONS)}.")
        return precision
    if flags is None:
        if tf.config.list_logical_devices("GPU"):
            return "float32"
        flags = hardware.cpu_info()["flags"]
    return "mixed_bfloat16" if hardware.native_bfloat16(flags) else "float32"


@contextlib.contextmanager
def dtype_policy(precision):
    """Keras's global dtype policy set to `resolve_precision(precision)` inside the block, restored after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(resolve_precision(precision))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)

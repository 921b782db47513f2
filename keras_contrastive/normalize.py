"""The one L2 normalisation every loss, head and queue uses."""

from keras import ops


def l2_normalize(x, axis=-1):
    """`x / ||x||` along `axis`; a zero vector stays zero (norm floored at 1e-6)."""
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), 1e-12))

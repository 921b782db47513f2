"""BYOL's regression loss."""

from keras import ops

from keras_contrastive.normalize import l2_normalize


def byol_loss(p, z):
    """`2 - 2 * cos(p, z)`, averaged over the batch (normalized MSE).

    Grill et al., 2020, equation (2): the mean squared error between the
    L2-normalised online prediction `p` and target projection `z`, which
    equals `2 - 2 * cosine similarity`. `z` is not differentiated (the
    target is updated by EMA only). Computed in float32; a zero vector is
    treated as having unit norm 1e-6, so the loss stays finite.

    Args:
        p: tensor `[n, d]`. Online predictions.
        z: tensor `[n, d]`. Target projections, row `i` paired with row `i`.

    Returns:
        Scalar float32 loss in [0, 4].
    """
    p = ops.cast(p, "float32")
    z = ops.cast(ops.stop_gradient(z), "float32")
    return ops.mean(2.0 - 2.0 * ops.sum(l2_normalize(p) * l2_normalize(z), axis=-1))

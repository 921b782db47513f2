"""Barlow Twins' redundancy-reduction loss on the cross-correlation matrix.

Zbontar et al., 2021, https://arxiv.org/abs/2103.03230, equations (1)-(2).
The standardisation and the cross-correlation are statistics over the batch:
under `tf.distribute` both views' embeddings are gathered across replicas
(`cross_replica_concat`, differentiable), so every replica computes them over
the *global* batch, as one device would (the official code's synchronized
BatchNorm and all-reduced `c`).
"""

from keras import ops

from keras_contrastive.distributed import cross_replica_concat


def _standardize(z, epsilon):
    # BatchNorm1d(affine=False) in training mode, as the official code: biased variance.
    z = z - ops.mean(z, axis=0, keepdims=True)
    return z / ops.sqrt(ops.mean(ops.square(z), axis=0, keepdims=True) + epsilon)


def barlow_twins_loss(z_a, z_b, redundancy_weight=0.0051, epsilon=1e-5, return_terms=False):
    """`sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2` (Barlow Twins, equation (1)).

    `C` is the `[d, d]` cross-correlation matrix between the two views'
    embeddings, each dimension standardised over the batch (equation (2)):
    `C = z_a_std^T z_b_std / N`.

    Args:
        z_a: tensor `[n, d]`. Embeddings of the first views.
        z_b: tensor `[n, d]`. Embeddings of the second views, row `i` paired
            with row `i` of `z_a`.
        redundancy_weight: float. `lambda`, the weight of the off-diagonal
            (redundancy reduction) term. Defaults to `0.0051` (the paper's,
            for `d = 8192`).
        epsilon: float. Added to the variance when standardising (BatchNorm's
            `eps`). Defaults to `1e-5`.
        return_terms: bool. Also return `{"invariance", "redundancy"}`, the
            on-diagonal sum and the unweighted off-diagonal sum. Defaults to
            `False`.

    Returns:
        The scalar float32 loss, or `(loss, terms)`.

    Example:

    >>> import numpy as np
    >>> z = np.array([[1, 1, 1], [-1, 1, -1], [1, -1, -1], [-1, -1, 1]], "float32")  # uncorrelated dimensions
    >>> round(float(barlow_twins_loss(z, z)), 6)  # C = I, up to epsilon
    0.0
    >>> round(float(barlow_twins_loss(z, -z)), 3)  # C = -I: (1 - (-1))^2 per dimension
    12.0
    """
    if redundancy_weight < 0 or epsilon <= 0:
        raise ValueError(
            "barlow_twins_loss needs redundancy_weight >= 0 and epsilon > 0, received "
            f"redundancy_weight={redundancy_weight!r}, epsilon={epsilon!r}."
        )
    z_a = _standardize(cross_replica_concat(ops.cast(z_a, "float32")), epsilon)
    z_b = _standardize(cross_replica_concat(ops.cast(z_b, "float32")), epsilon)
    n = ops.cast(ops.shape(z_a)[0], "float32")
    c = ops.matmul(ops.transpose(z_a), z_b) / n
    diagonal = ops.diagonal(c)
    invariance = ops.sum(ops.square(1.0 - diagonal))
    redundancy = ops.sum(ops.square(c)) - ops.sum(ops.square(diagonal))
    loss = invariance + redundancy_weight * redundancy
    if return_terms:
        return loss, {"invariance": invariance, "redundancy": redundancy}
    return loss

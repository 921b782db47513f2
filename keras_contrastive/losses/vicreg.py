"""VICReg's variance-invariance-covariance loss.

Bardes, Ponce and LeCun, 2022, https://arxiv.org/abs/2105.04906, section 3.
The variance and covariance terms are statistics of each embedding
dimension over the batch: under `tf.distribute` both views' embeddings are
gathered across replicas (`cross_replica_concat`, differentiable), so every
replica computes them over the *global* batch, as one device would (the
official code's `FullGatherLayer`).
"""

from keras import ops

from keras_contrastive.distributed import cross_replica_concat


def _off_diagonal_square_sum(matrix):
    return ops.sum(ops.square(matrix)) - ops.sum(ops.square(ops.diagonal(matrix)))


def vicreg_loss(
    z_a,
    z_b,
    invariance_weight=25.0,
    variance_weight=25.0,
    covariance_weight=1.0,
    epsilon=1e-4,
    return_terms=False,
):
    """`lambda * s(Z, Z') + mu * v + nu * c` (VICReg, equations (1)-(6)).

    As the official code (`facebookresearch/vicreg`, `main_vicreg.py`):
    - invariance `s`: the mean squared error between the two views'
      embeddings, averaged over the batch *and* the dimensions;
    - variance `v`: for each view, the mean over dimensions of
      `max(0, 1 - sqrt(Var(z_j) + epsilon))` (unbiased variance over the
      batch), averaged over the two views;
    - covariance `c`: for each view, the sum of the squared off-diagonal
      entries of the covariance matrix (`1 / (N - 1)`), divided by the
      dimension `d`, summed over the two views.

    Args:
        z_a: tensor `[n, d]`. Embeddings of the first views.
        z_b: tensor `[n, d]`. Embeddings of the second views, row `i` paired
            with row `i` of `z_a`.
        invariance_weight: float. `lambda`. Defaults to `25.0`.
        variance_weight: float. `mu`. Defaults to `25.0`.
        covariance_weight: float. `nu`. Defaults to `1.0`.
        epsilon: float. Added to the variance under the square root.
            Defaults to `1e-4`.
        return_terms: bool. Also return `{"invariance", "variance",
            "covariance"}`, the unweighted terms. Defaults to `False`.

    Returns:
        The scalar float32 loss, or `(loss, terms)`.

    Example:

    >>> import numpy as np
    >>> z = np.array([[1, 1, 1], [-1, 1, -1], [1, -1, -1], [-1, -1, 1]], "float32")  # std > 1, uncorrelated
    >>> float(vicreg_loss(z, z))
    0.0
    >>> round(float(vicreg_loss(np.ones((4, 3), "float32"), np.ones((4, 3), "float32"))), 4)  # collapsed
    24.75
    """
    if min(invariance_weight, variance_weight, covariance_weight) < 0 or epsilon <= 0:
        raise ValueError(
            "vicreg_loss needs weights >= 0 and epsilon > 0, received "
            f"invariance_weight={invariance_weight!r}, variance_weight={variance_weight!r}, "
            f"covariance_weight={covariance_weight!r}, epsilon={epsilon!r}."
        )
    z_a = cross_replica_concat(ops.cast(z_a, "float32"))
    z_b = cross_replica_concat(ops.cast(z_b, "float32"))
    n = ops.cast(ops.shape(z_a)[0], "float32")
    d = ops.cast(ops.shape(z_a)[1], "float32")

    invariance = ops.mean(ops.square(z_a - z_b))
    variance = 0.0
    covariance = 0.0
    for z in (z_a, z_b):
        z = z - ops.mean(z, axis=0, keepdims=True)
        var = ops.sum(ops.square(z), axis=0) / (n - 1.0)
        variance = variance + ops.mean(ops.relu(1.0 - ops.sqrt(var + epsilon))) / 2.0
        cov = ops.matmul(ops.transpose(z), z) / (n - 1.0)
        covariance = covariance + _off_diagonal_square_sum(cov) / d
    loss = invariance_weight * invariance + variance_weight * variance + covariance_weight * covariance
    if return_terms:
        return loss, {"invariance": invariance, "variance": variance, "covariance": covariance}
    return loss

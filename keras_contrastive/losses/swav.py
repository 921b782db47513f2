"""SwAV's swapped-prediction loss and its Sinkhorn-Knopp codes.

Caron et al., 2020, https://arxiv.org/abs/2006.09882. Codes are soft
assignments of the samples of a batch to the prototypes, constrained so that
every prototype gets an equal share of the batch (section 3.1, equation (3)),
computed by a few Sinkhorn-Knopp iterations. They are computed in float32,
in the log domain (finite for any finite scores, also float16 ones), with no
gradient. Under `tf.distribute` the sums over the batch are all-reduced
across replicas, so each replica's codes are the rows one device would get
on the global batch (SwAV's `distributed_sinkhorn`).
"""

import math

import tensorflow as tf
from keras import ops

from keras_contrastive.distributed import cross_replica_concat, cross_replica_sum, num_replicas


def _batch_logsumexp(local, shared=None, use_shared=True):
    """`log(sum(exp(x)))` over the rows of the global batch, per column: the
    rows of every replica's `local` `[b, K]` plus, where `use_shared`, the
    rows of `shared` `[q, K]` (identical on every replica, counted once).
    Returns `[1, K]`."""
    # One shift per column, the same on every replica, keeps exp() in range.
    shift = ops.max(cross_replica_concat(ops.max(local, axis=0, keepdims=True)), axis=0, keepdims=True)
    if shared is not None:
        shift = ops.where(use_shared, ops.maximum(shift, ops.max(shared, axis=0, keepdims=True)), shift)
    total = cross_replica_sum(ops.sum(ops.exp(local - shift), axis=0, keepdims=True))
    if shared is not None:
        total = total + ops.where(use_shared, ops.sum(ops.exp(shared - shift), axis=0, keepdims=True), 0.0)
    return shift + ops.log(total)


def sinkhorn_knopp(scores, epsilon=0.05, iterations=3, queue_scores=None, use_queue=None):
    """Equipartitioned soft assignments of samples to prototypes.

    SwAV, Algorithm 1 and `distributed_sinkhorn`: `Q = exp(scores / epsilon)`,
    normalised to sum to 1, then `iterations` times: every prototype's total
    over the global batch is set to `1 / K`, then every sample's total over
    the prototypes to `1 / B`; the result is multiplied by `B`, so each row
    of the codes sums to 1 and each prototype receives `B / K` in total (exactly
    for the rows, approximately for the prototypes after few iterations).

    Args:
        scores: tensor `[b, K]`. Similarities of this replica's samples to the
            `K` prototypes (any float dtype).
        epsilon: float. Entropic regularisation; smaller gives harder codes.
            Defaults to `0.05`.
        iterations: int. Sinkhorn-Knopp iterations. Defaults to `3`.
        queue_scores: tensor `[q, K]` or None. Scores of queued past samples,
            the same on every replica: they take part in the equipartition
            (counted once, not per replica) but get no codes. Defaults to
            `None`.
        use_queue: bool scalar (tensor) or None. Whether `queue_scores` take
            part (a tensor decides inside a compiled step, where a Python
            branch cannot); `None` is True. Defaults to `None`.

    Returns:
        float32 codes `[b, K]`, rows summing to 1, without gradient.

    Example:

    >>> import numpy as np
    >>> codes = sinkhorn_knopp(np.random.default_rng(0).normal(size=(8, 4)).astype("float32"))
    >>> np.allclose(np.sum(codes, axis=1), 1.0, atol=1e-5)
    True
    """
    if epsilon <= 0 or int(iterations) < 0:
        raise ValueError(
            f"sinkhorn_knopp needs epsilon > 0 and iterations >= 0, received epsilon={epsilon!r}, "
            f"iterations={iterations!r}."
        )
    log_q = ops.stop_gradient(ops.cast(scores, "float32")) / epsilon
    log_shared = None
    num_samples = ops.cast(ops.shape(log_q)[0] * num_replicas(), "float32")
    use = True if use_queue is None else ops.convert_to_tensor(use_queue, "bool")
    if queue_scores is not None:
        log_shared = ops.stop_gradient(ops.cast(queue_scores, "float32")) / epsilon
        num_samples = num_samples + ops.where(use, ops.cast(ops.shape(log_shared)[0], "float32"), 0.0)
    log_k = math.log(int(log_q.shape[-1]))
    log_b = ops.log(num_samples)

    # Q /= sum(Q): the log of the sum over every entry of the global matrix.
    total = ops.logsumexp(_batch_logsumexp(log_q, log_shared, use), axis=-1, keepdims=True)
    log_q = log_q - total
    if log_shared is not None:
        log_shared = log_shared - total
    for _ in range(int(iterations)):
        # Each prototype's total over the global batch -> 1 / K.
        rows = _batch_logsumexp(log_q, log_shared, use) + log_k
        log_q = log_q - rows
        # Each sample's total over the prototypes -> 1 / B.
        log_q = log_q - ops.logsumexp(log_q, axis=-1, keepdims=True) - log_b
        if log_shared is not None:
            log_shared = log_shared - rows
            log_shared = log_shared - ops.logsumexp(log_shared, axis=-1, keepdims=True) - log_b
    return tf.stop_gradient(ops.exp(log_q + log_b))


def swav_loss(
    scores,
    num_large_crops=2,
    temperature=0.1,
    epsilon=0.05,
    sinkhorn_iterations=3,
    queue_scores=None,
    use_queue=None,
    return_codes=False,
):
    """SwAV's swapped prediction (Caron et al., 2020, equations (1)-(2)).

    The code of each large crop, from `sinkhorn_knopp` on its scores, is the
    target of every other crop's prediction, `softmax(scores / temperature)`;
    each term is the cross-entropy averaged over the batch. The loss is the
    mean over the large crops of the mean over the other crops, as SwAV's
    `main_swav.py`. Small crops are predicted but give no codes.

    Args:
        scores: list of tensors `[b, K]`, one per crop, the large crops first:
            similarities of the crops' normalised embeddings to the normalised
            prototypes.
        num_large_crops: int. How many leading crops give codes (at least 1;
            with one crop the loss needs at least one other). Defaults to `2`.
        temperature: float. Temperature of the predictions. Defaults to `0.1`.
        epsilon: float. Sinkhorn-Knopp regularisation. Defaults to `0.05`.
        sinkhorn_iterations: int. Sinkhorn-Knopp iterations. Defaults to `3`.
        queue_scores: list of `num_large_crops` tensors `[q, K]` or None.
            Scores of queued past embeddings of each large crop (see
            `sinkhorn_knopp`). Defaults to `None`.
        use_queue: bool scalar (tensor) or None. See `sinkhorn_knopp`.
            Defaults to `None`.
        return_codes: bool. Also return the list of codes of the large crops.
            Defaults to `False`.

    Returns:
        The scalar float32 loss, or `(loss, codes)`.

    Example:

    >>> import numpy as np
    >>> s = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    >>> float(swav_loss([s, s])) > 0
    True
    """
    scores = [ops.cast(s, "float32") for s in scores]
    if not 1 <= num_large_crops <= len(scores) or len(scores) < 2:
        raise ValueError(
            f"swav_loss needs at least 2 crops and 1 <= num_large_crops <= crops, received {len(scores)} crops "
            f"and num_large_crops={num_large_crops}."
        )
    if temperature <= 0:
        raise ValueError(f"swav_loss temperature must be > 0, received temperature={temperature!r}.")
    if queue_scores is not None and len(queue_scores) != num_large_crops:
        raise ValueError(
            f"swav_loss takes one queue_scores tensor per large crop ({num_large_crops}), received {len(queue_scores)}."
        )
    log_predictions = [ops.log_softmax(s / temperature, axis=-1) for s in scores]
    codes = []
    loss = 0.0
    for i in range(num_large_crops):
        queued = None if queue_scores is None else queue_scores[i]
        q = sinkhorn_knopp(
            scores[i], epsilon=epsilon, iterations=sinkhorn_iterations, queue_scores=queued, use_queue=use_queue
        )
        codes.append(q)
        terms = [-ops.mean(ops.sum(q * log_p, axis=-1)) for v, log_p in enumerate(log_predictions) if v != i]
        loss = loss + ops.sum(ops.stack(terms)) / len(terms)
    loss = loss / num_large_crops
    if return_codes:
        return loss, codes
    return loss

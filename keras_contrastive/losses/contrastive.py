"""InfoNCE-family losses: NT-Xent (SimCLR) and InfoNCE (MoCo, SimCSE, CLIP).

Both are pure functions over `keras.ops`. Logits are computed in float32 even
when the embeddings come from a mixed-precision model. Inside a replica
context with several replicas, keys are gathered with
`cross_replica_concat`, so each replica's anchors are contrasted against the
global batch, exactly as one device would on the concatenated batch.
"""

from keras import ops

from keras_contrastive.distributed import cross_replica_concat, global_offset
from keras_contrastive.normalize import l2_normalize

# A finite "minus infinity": exp() underflows to 0 but arithmetic never makes
# inf - inf = NaN, also after a float16 -> float32 cast.
_MASK_VALUE = -1e9


def _cross_entropy(logits, labels):
    return ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)


def nt_xent(z_a, z_b, temperature=0.5, return_logits=False):
    """NT-Xent, the normalized temperature-scaled cross entropy of SimCLR.

    Chen et al., 2020, https://arxiv.org/abs/2002.05709, equation (1). For
    `N` pairs there are `2N` anchors; each anchor's positive is the other
    view of the same example and its negatives are the other `2N - 2` views.
    Similarities are cosine similarities divided by `temperature`; the loss is
    the mean over the `2N` anchors (as lightly's `NTXentLoss`).

    Args:
        z_a: tensor `[n, d]`. Embeddings of the first views.
        z_b: tensor `[n, d]`. Embeddings of the second views, row `i` paired
            with row `i` of `z_a`.
        temperature: float. Softmax temperature. Defaults to `0.5`.
        return_logits: bool. Also return logits and labels (for metrics).
            Defaults to `False`.

    Returns:
        The scalar float32 loss, or `(loss, logits, labels)` where `logits`
        is `[2n, 2N]` (`N` the global batch) and `labels` the index of each
        anchor's positive.

    Example:

    >>> import numpy as np
    >>> z = np.eye(4, dtype="float32")
    >>> round(float(nt_xent(z, z, temperature=1.0)), 4)
    1.1654
    """
    z_a = l2_normalize(ops.cast(z_a, "float32"))
    z_b = l2_normalize(ops.cast(z_b, "float32"))
    n = ops.shape(z_a)[0]
    all_a = cross_replica_concat(z_a)
    all_b = cross_replica_concat(z_b)
    global_n = ops.shape(all_a)[0]
    positions = ops.arange(n, dtype="int32") + global_offset(n)

    # The anchor itself sits at `positions` among same-view similarities.
    self_mask = ops.one_hot(positions, global_n, dtype="float32") * _MASK_VALUE
    logits_ab = ops.matmul(z_a, ops.transpose(all_b)) / temperature
    logits_aa = ops.matmul(z_a, ops.transpose(all_a)) / temperature + self_mask
    logits_ba = ops.matmul(z_b, ops.transpose(all_a)) / temperature
    logits_bb = ops.matmul(z_b, ops.transpose(all_b)) / temperature + self_mask
    logits = ops.concatenate(
        [
            ops.concatenate([logits_ab, logits_aa], axis=1),
            ops.concatenate([logits_ba, logits_bb], axis=1),
        ],
        axis=0,
    )
    labels = ops.concatenate([positions, positions], axis=0)
    loss = ops.mean(_cross_entropy(logits, labels))
    if return_logits:
        return loss, logits, labels
    return loss


def info_nce(
    query,
    key,
    negatives=None,
    temperature=0.07,
    in_batch_negatives=True,
    symmetric=False,
    normalize=True,
    return_logits=False,
):
    """InfoNCE: each query must pick its own key among the candidates.

    van den Oord et al., 2018, https://arxiv.org/abs/1807.03748. The
    candidates are the keys of the global batch (`in_batch_negatives=True`:
    SimCSE, CLIP) and/or external `negatives` (a MoCo queue). With
    `in_batch_negatives=False` each query sees only its own key plus
    `negatives` (MoCo, He et al., 2020, equation (1)).

    Args:
        query: tensor `[n, d]`. The anchors.
        key: tensor `[n, d]`. The positives, row `i` for query `i`.
        negatives: tensor `[k, d]` or `None`. Extra negatives shared by all
            queries (not gathered: a queue is already global). Defaults to
            `None`.
        temperature: float or scalar tensor. Logits are divided by it (CLIP
            passes `1 / logit_scale`). Defaults to `0.07`.
        in_batch_negatives: bool. Use the other keys of the global batch as
            negatives. Defaults to `True`.
        symmetric: bool. Average with the key -> query direction (CLIP).
            Requires `in_batch_negatives`. Defaults to `False`.
        normalize: bool. L2-normalise query, key and negatives (cosine
            similarity). Defaults to `True`.
        return_logits: bool. Also return the query -> key logits and labels.
            Defaults to `False`.

    Returns:
        The scalar float32 loss, or `(loss, logits, labels)`.
    """
    if symmetric and not in_batch_negatives:
        raise ValueError(
            "info_nce(symmetric=True) needs in_batch_negatives=True: the key -> query "
            "direction contrasts each key against the batch's queries."
        )
    query = ops.cast(query, "float32")
    key = ops.cast(key, "float32")
    if normalize:
        query, key = l2_normalize(query), l2_normalize(key)
    if negatives is not None:
        negatives = ops.cast(negatives, "float32")
        if normalize:
            negatives = l2_normalize(negatives)
    temperature = ops.cast(temperature, "float32")
    n = ops.shape(query)[0]

    if in_batch_negatives:
        all_keys = cross_replica_concat(key)
        labels = ops.arange(n, dtype="int32") + global_offset(n)
        logits = ops.matmul(query, ops.transpose(all_keys)) / temperature
    else:
        labels = ops.zeros((n,), dtype="int32")
        logits = ops.sum(query * key, axis=-1, keepdims=True) / temperature
    if negatives is not None:
        logits = ops.concatenate([logits, ops.matmul(query, ops.transpose(negatives)) / temperature], axis=1)
    loss = ops.mean(_cross_entropy(logits, labels))

    if symmetric:
        all_queries = cross_replica_concat(query)
        reverse_logits = ops.matmul(key, ops.transpose(all_queries)) / temperature
        loss = (loss + ops.mean(_cross_entropy(reverse_logits, labels))) / 2.0
    if return_logits:
        return loss, logits, labels
    return loss


def top1_accuracy(logits, labels):
    """Fraction of rows whose largest logit is at `labels` (no labels needed
    from the data: the positive's position is known)."""
    predicted = ops.cast(ops.argmax(logits, axis=-1), "int32")
    return ops.mean(ops.cast(ops.equal(predicted, ops.cast(labels, "int32")), "float32"))

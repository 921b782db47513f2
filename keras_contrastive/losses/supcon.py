"""The supervised contrastive loss (SupCon).

Khosla et al., 2020, https://arxiv.org/abs/2004.11362, equation (2),
`L_out`: every view of every image is an anchor; its positives are all the
other views of the same class in the batch (the other views of its own
image among them), its negatives the views of other classes. Under
`tf.distribute` the embeddings and labels of every replica are gathered
(`cross_replica_concat`), so each replica's anchors are contrasted against
the *global* batch, as one device would.
"""

from keras import ops

from keras_contrastive.distributed import cross_replica_concat, global_offset
from keras_contrastive.normalize import l2_normalize

# A finite "minus infinity" (see losses.contrastive).
_MASK_VALUE = -1e9


def supcon_loss(views, labels, temperature=0.1, return_logits=False):
    """SupCon `L_out`, averaged over the anchors.

    For anchor `i` with positives `P(i)` and every other view `A(i)` of the
    global batch, `-1 / |P(i)| * sum_{p in P(i)} log(exp(z_i . z_p / t) /
    sum_{a in A(i)} exp(z_i . z_a / t))` on L2-normalised embeddings. With
    every label distinct this is NT-Xent (SimCLR). There is no
    `base_temperature` rescaling (the official code's `t / 0.07` factor).

    Args:
        views: list of tensors `[n, d]`, at least 2: the embeddings of each
            view of this replica's `n` images, row `i` of every view from
            image `i`.
        labels: int tensor `[n]`. Class of each image.
        temperature: float. Defaults to `0.1`.
        return_logits: bool. Also return the `[V * n, V * N]` logits (self
            similarity masked) and the float positives mask of the same shape,
            for metrics. Defaults to `False`.

    Returns:
        The scalar float32 loss, or `(loss, logits, positives)`.

    Example:

    >>> import numpy as np
    >>> z = np.eye(4, dtype="float32")
    >>> from keras_contrastive.losses import nt_xent
    >>> # Every image its own class: SupCon is NT-Xent.
    >>> round(float(supcon_loss([z, z], np.arange(4), temperature=0.5)), 5) == round(float(nt_xent(z, z, 0.5)), 5)
    True
    """
    if len(views) < 2:
        raise ValueError(
            f"supcon_loss needs at least 2 views (every anchor then has a positive), received {len(views)}."
        )
    if temperature <= 0:
        raise ValueError(f"supcon_loss temperature must be > 0, received temperature={temperature!r}.")
    n = ops.shape(views[0])[0]
    anchors = ops.concatenate([l2_normalize(ops.cast(v, "float32")) for v in views], axis=0)
    labels = ops.cast(ops.reshape(labels, (-1,)), "int32")
    all_labels = cross_replica_concat(labels)
    global_n = ops.shape(all_labels)[0]
    # The contrast set: view 1 of the global batch, then view 2, ...
    contrast = ops.concatenate([cross_replica_concat(l2_normalize(ops.cast(v, "float32"))) for v in views], axis=0)
    anchor_labels = ops.tile(labels, (len(views),))
    contrast_labels = ops.tile(all_labels, (len(views),))

    # Anchor (view v, row r) is contrast column v * N + offset + r.
    rows = ops.arange(n, dtype="int32") + global_offset(n)
    self_columns = ops.concatenate([rows + v * global_n for v in range(len(views))], axis=0)
    is_self = ops.one_hot(self_columns, len(views) * global_n, dtype="float32")
    logits = ops.matmul(anchors, ops.transpose(contrast)) / temperature + is_self * _MASK_VALUE
    same_class = ops.cast(ops.equal(anchor_labels[:, None], contrast_labels[None, :]), "float32")
    positives = same_class * (1.0 - is_self)
    log_prob = logits - ops.logsumexp(logits, axis=1, keepdims=True)
    per_anchor = -ops.sum(positives * log_prob, axis=1) / ops.sum(positives, axis=1)
    loss = ops.mean(per_anchor)
    if return_logits:
        return loss, logits, positives
    return loss

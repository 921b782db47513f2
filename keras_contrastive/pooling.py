"""Pooling of token features into one vector per sentence (SimCSE, CLIP's text tower)."""

from keras import ops


def mean_pool(sequence, token_ids, pad_id=0):
    """Mean of the token features `sequence` `[B, L, D]` over the tokens of
    `token_ids` `[B, L]` that are not `pad_id`; an all-padding row gives 0.

    Returns:
        `[B, D]`, in `sequence`'s dtype.
    """
    mask = ops.cast(ops.not_equal(token_ids, pad_id), sequence.dtype)[..., None]
    return ops.sum(sequence * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)

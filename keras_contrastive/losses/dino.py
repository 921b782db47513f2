"""DINO's self-distillation loss and its teacher center.

Caron et al., 2021, https://arxiv.org/abs/2104.14294, section 3.1 and
Algorithm 1. The teacher's outputs are centered (a running mean is
subtracted) and sharpened (a low temperature); the student's softmax
predicts them across crops. The center is a statistic of the batch: under
`tf.distribute` `teacher_batch_center` all-reduces it, so every replica gets
the mean over the *global* batch (DINO's `update_center`).
"""

from keras import ops

from keras_contrastive.distributed import cross_replica_mean


def dino_loss(student_logits, teacher_logits, center, student_temperature=0.1, teacher_temperature=0.04):
    """Cross-entropy of every student crop against every *other* teacher crop.

    `H(softmax((t - center) / teacher_temperature), softmax(s / student_temperature))`
    for each teacher crop `t` (the large crops) and each student crop `s` of a
    different view, averaged over the batch, then over the pairs (DINO's
    `DINOLoss.forward`). The teacher side carries no gradient.

    Args:
        student_logits: list of tensors `[b, K]`, one per crop, the large crops
            first (in the teacher's order).
        teacher_logits: list of tensors `[b, K]`, one per large crop.
        center: tensor `[1, K]` or `[K]`. Subtracted from the teacher logits.
        student_temperature: float. Defaults to `0.1`.
        teacher_temperature: float or scalar tensor (a schedule). Defaults to
            `0.04`.

    Returns:
        The scalar float32 loss.

    Example:

    >>> import numpy as np
    >>> t = np.random.default_rng(0).normal(size=(4, 8)).astype("float32")
    >>> s = np.zeros((4, 8), "float32")  # a uniform student: log(8) against any teacher
    >>> round(float(dino_loss([s, s], [t, t], center=np.zeros(8, "float32"))), 4) == round(float(np.log(8)), 4)
    True
    """
    if len(teacher_logits) < 1 or len(student_logits) < 2 or len(teacher_logits) > len(student_logits):
        raise ValueError(
            "dino_loss needs at least 1 teacher crop, at least 2 student crops and no more teacher crops than "
            f"student crops, received {len(teacher_logits)} teacher and {len(student_logits)} student crops."
        )
    if student_temperature <= 0:
        raise ValueError(f"dino_loss student_temperature must be > 0, received {student_temperature!r}.")
    center = ops.cast(center, "float32")
    teacher_temperature = ops.cast(teacher_temperature, "float32")
    targets = [
        ops.stop_gradient(ops.softmax((ops.cast(t, "float32") - center) / teacher_temperature, axis=-1))
        for t in teacher_logits
    ]
    log_predictions = [ops.log_softmax(ops.cast(s, "float32") / student_temperature, axis=-1) for s in student_logits]
    terms = [
        -ops.mean(ops.sum(q * log_p, axis=-1))
        for i, q in enumerate(targets)
        for v, log_p in enumerate(log_predictions)
        if v != i
    ]
    return ops.sum(ops.stack(terms)) / len(terms)


def teacher_batch_center(teacher_logits):
    """The mean teacher output over the global batch and the teacher crops, `[1, K]` float32, no gradient.

    Each replica averages its own rows, then the replicas' means are averaged
    (equal shards), so every replica holds the global mean.
    """
    stacked = ops.concatenate([ops.cast(ops.stop_gradient(t), "float32") for t in teacher_logits], axis=0)
    return cross_replica_mean(ops.mean(stacked, axis=0, keepdims=True))

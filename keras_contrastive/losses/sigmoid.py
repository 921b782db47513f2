"""SigLIP's pairwise sigmoid loss (Zhai et al., 2023, https://arxiv.org/abs/2303.15343).

Every image-text pair of the global batch is its own binary problem: "do
these two belong together?". There is no softmax over the batch, so the loss
is a plain sum over pairs and can be computed one block of texts at a time:
each replica keeps its images and takes the texts of every replica in turn
(`distributed.ring_shards`), positives only in its own block, the diagonal
(paper section 3.3, "efficient chunked implementation"). No tensor larger
than a `[local, local]` block of logits is made, and a block's logits are
recomputed in the backward pass instead of being kept for it: the logits
cost O(local batch^2) memory per block, where a gathered `[local, global]`
logit matrix would cost O(local x global) and grow with the replica count.
"""

import tensorflow as tf
from keras import ops

from keras_contrastive.distributed import ring_shards


def _block_loss(positive_diagonal):
    """`sum(softplus(-z * logits))` over one block, `z = +1` on the diagonal of the own block, else `-1`
    (`-log sigmoid(x) = softplus(-x)`); the block's logits are recomputed in the backward pass."""

    @tf.recompute_grad
    def block(images, texts, scale, bias):
        logits = scale * tf.matmul(images, texts, transpose_b=True) + bias
        if positive_diagonal:
            logits = tf.linalg.set_diag(logits, -tf.linalg.diag_part(logits))  # -z * logits: z = +1 there
        return tf.reduce_sum(tf.nn.softplus(logits))  # elsewhere z = -1: softplus(-z * logits) = softplus(logits)

    return block


_OWN_BLOCK, _OTHER_BLOCK = _block_loss(True), _block_loss(False)


def pairwise_sigmoid_loss(image_embeddings, text_embeddings, scale, bias, return_accuracy=False):
    """SigLIP's loss: `-1/n sum_i sum_j log sigmoid(z_ij (scale * x_i . y_j + bias))`, `z_ij = 1` if image
    `i` goes with text `j`, else `-1` (paper algorithm 1).

    `i` runs over this replica's `n` images, `j` over the texts of the
    **global** batch; row `i` of both inputs is a pair. Divided by the
    replica count (as `ContrastiveModel` does), the replicas' losses sum to
    the one-device loss of the global batch, and so do their gradients.
    Pass L2-normalised embeddings (the products are then cosine
    similarities); logits are computed in float32.

    Args:
        image_embeddings: tensor `[n, d]`. This replica's image embeddings.
        text_embeddings: tensor `[n, d]`. Their texts, row for row.
        scale: float or scalar tensor. `t = exp(t')`, the temperature.
        bias: float or scalar tensor. `b`, added to every logit.
        return_accuracy: bool. Also return the fraction of this replica's
            images whose own text scores above every other text of the
            global batch (from a separate, gradient-free pass). Defaults to
            `False`.

    Returns:
        The scalar float32 loss, or `(loss, accuracy)`.

    Example:

    >>> import numpy as np
    >>> z = np.zeros((4, 8), "float32")  # every logit is the bias: 1 positive and 3 negatives per image
    >>> round(float(pairwise_sigmoid_loss(z, z, scale=10.0, bias=-10.0)), 4)  # log(1 + e^10) + 3 log(1 + e^-10)
    10.0002
    """
    images = ops.cast(image_embeddings, "float32")
    texts = ops.cast(text_embeddings, "float32")
    if len(images.shape) != 2 or len(texts.shape) != 2 or images.shape[-1] != texts.shape[-1]:
        raise ValueError(
            "pairwise_sigmoid_loss needs image_embeddings and text_embeddings shaped [n, d] with the same d; "
            f"received {tuple(images.shape)} and {tuple(texts.shape)}."
        )
    if None not in (images.shape[0], texts.shape[0]) and images.shape[0] != texts.shape[0]:
        raise ValueError(
            f"pairwise_sigmoid_loss pairs row i of image_embeddings with row i of text_embeddings; received "
            f"{images.shape[0]} images and {texts.shape[0]} texts."
        )
    scale = ops.cast(scale, "float32")
    bias = ops.cast(bias, "float32")
    blocks = ring_shards(texts)  # blocks[0] is this replica's own texts: the positives
    total = _OWN_BLOCK(images, blocks[0], scale, bias)
    for other in blocks[1:]:
        total = total + _OTHER_BLOCK(images, other, scale, bias)
    loss = total / ops.cast(ops.shape(images)[0], "float32")
    if not return_accuracy:
        return loss
    return loss, _top1(ops.stop_gradient(images), [ops.stop_gradient(b) for b in blocks])


def _top1(images, blocks):
    # Block by block too: a row is right when its positive beats the best other text of every block.
    own = ops.matmul(images, ops.transpose(blocks[0]))
    positive = ops.diagonal(own)
    n = ops.shape(own)[0]
    best_other = ops.max(ops.where(ops.eye(n, dtype="bool"), float("-inf"), own), axis=1)
    for other in blocks[1:]:
        best_other = ops.maximum(best_other, ops.max(ops.matmul(images, ops.transpose(other)), axis=1))
    return ops.mean(ops.cast(positive > best_other, "float32"))

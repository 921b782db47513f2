"""Cross-replica helpers shared by every loss that uses in-batch negatives.

All of the methods contrast a replica's anchors against the *global* batch.
Under ``tf.distribute`` each replica only sees its shard, so keys are
gathered across replicas here, in one place, with TensorFlow's
``ReplicaContext.all_gather`` whose gradient all-reduces the upstream
gradient and hands each replica the slice of its own inputs (the same
gradient one device would compute on the global batch).

The strategy a run trains under, and where this process stands in its
cluster (`resolve_strategy`, `chief_and_task`, `input_pipelines`,
`finish_together`), are here too.
"""

import os

import tensorflow as tf

from keras_contrastive.run_options import STRATEGIES


def _replica_context():
    """The active replica context, or None in a cross-replica context."""
    if tf.distribute.in_cross_replica_context():
        return None
    return tf.distribute.get_replica_context()


def num_replicas():
    """Number of replicas training in sync (1 without a strategy)."""
    ctx = _replica_context()
    if ctx is None:
        return tf.distribute.get_strategy().num_replicas_in_sync
    return ctx.num_replicas_in_sync


def replica_id():
    """This replica's index in its sync group, as an int32 scalar tensor."""
    ctx = _replica_context()
    if ctx is None:
        return tf.constant(0, tf.int32)
    rid = ctx.replica_id_in_sync_group
    return tf.cast(rid, tf.int32) if isinstance(rid, tf.Tensor) else tf.constant(rid, tf.int32)


def cross_replica_concat(tensor, axis=0):
    """Concatenates `tensor` from every replica along `axis`, in replica order.

    With one replica (or outside a replica context) the tensor is returned
    unchanged, so callers need no special case for one device.

    Args:
        tensor: Tensor. This replica's shard, e.g. `[local_batch, dim]`.
        axis: int. Axis to concatenate along. Defaults to `0`.

    Returns:
        The global tensor, e.g. `[num_replicas * local_batch, dim]`;
        differentiable: gradients flow back to every replica's shard.
    """
    ctx = _replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return tensor
    return ctx.all_gather(tensor, axis=axis)


def ring_shards(tensor):
    """Every replica's shard of `tensor`, in ring order from this replica's own: `[own, next, ...]`.

    Replica `r` gets the shards of replicas `r, r + 1, ..., r - 1 (mod R)`,
    so step `k` of a loop over them sees the shard `k` hops round the ring
    (SigLIP's chunked loss, Zhai et al., 2023, section 3.3) and step 0 is
    always the replica's own. TensorFlow's replica context offers no
    collective permute on CPU (nor under `MultiWorkerMirroredStrategy`), so
    the shards come from one all-gather, as in `cross_replica_concat`: each
    replica receives the same `R - 1` shards a full trip round the ring
    would bring it, and the gradient goes back to each shard's owner.
    Shards must all have the same size, as for `global_offset`.

    Args:
        tensor: Tensor `[local_batch, ...]`. This replica's shard.

    Returns:
        A list of `R` tensors shaped like `tensor` (`[tensor]` with one replica).
    """
    ctx = _replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return [tensor]
    n = ctx.num_replicas_in_sync
    gathered = ctx.all_gather(tensor, axis=0)
    shards = tf.reshape(gathered, tf.concat([[n, -1], tf.shape(tensor)[1:]], axis=0))
    return [tf.ensure_shape(s, tensor.shape) for s in tf.unstack(tf.roll(shards, -replica_id(), axis=0), num=n)]


def global_offset(local_size):
    """Index of this replica's first row in a `cross_replica_concat` result."""
    return replica_id() * tf.cast(local_size, tf.int32)


def cross_replica_sum(tensor):
    """Sums `tensor` over replicas (identity with one replica)."""
    ctx = _replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return tensor
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, tensor)


def cross_replica_mean(tensor):
    """Averages `tensor` over replicas (identity with one replica).

    The mean over the global batch of a statistic each replica computes as a
    mean over its own equal-sized shard (DINO's center, batch moments), so
    every replica holds the value one device computes on the global batch.
    Differentiable: the all-reduce's gradient all-reduces the upstream
    gradient.
    """
    ctx = _replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return tensor
    return ctx.all_reduce(tf.distribute.ReduceOp.MEAN, tensor)


def scale_loss_for_replicas(loss):
    """Divides a per-replica loss by the replica count.

    Strategies sum gradients over replicas; dividing each replica's mean loss
    by the replica count makes the summed gradient the gradient of the mean
    loss over the global batch.
    """
    n = num_replicas()
    if n == 1:
        return loss
    return loss / tf.cast(n, loss.dtype)


def local_copy(model, strategy):
    """`model` for work on this process alone (evaluation, feature extraction): under a strategy of several
    replicas, a copy outside it, since a distributed `predict` would split the batch and, multi-worker, gather
    across workers. With one replica, `model` itself."""
    if strategy.num_replicas_in_sync == 1:
        return model
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def resolve_strategy(strategy="auto"):
    """A `tf.distribute.Strategy` from a name (one of `run_options.STRATEGIES`), or the strategy given.

    - `auto`: `MirroredStrategy` over all GPUs when there are several, else
      the default (one device) strategy.
    - `one-device`: the default strategy (first GPU if any, else CPU).
    - `mirrored`: `MirroredStrategy` over all visible GPUs (or the CPU).
    - `multi-worker`: `MultiWorkerMirroredStrategy`, configured by `TF_CONFIG`.
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}.")
    if strategy == "multi-worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy 'multi-worker' needs TF_CONFIG describing the cluster and this worker's task.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if strategy == "mirrored" or (strategy == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def chief_and_task(strategy):
    """`(is_chief, task_id)` of this process: the chief is task `chief`, or
    worker 0 of a cluster without one; single-process runs are the chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True, 0
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief), task_id


def input_pipelines(strategy):
    """The number of worker processes of a multi-worker cluster (each reads its own part of the data), else 1."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, sum(len(spec.get(kind, [])) for kind in ("chief", "worker")))


def finish_together(strategy):
    """Every worker of a multi-worker cluster waits here until all reach it (a collective all-reduce).

    Called at the end of a run, after the chief has saved and evaluated: a worker that exited while the
    chief was still evaluating made the chief's health check log "tasks have crashed ... stopped sending
    heartbeats" on a clean run."""
    if input_pipelines(strategy) > 1:
        # In a tf.function: run eagerly, MultiWorkerMirroredStrategy warns of its overhead on every worker.
        tf.function(lambda: strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), None))()

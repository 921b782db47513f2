"""MoCo v2: He et al., 2020, https://arxiv.org/abs/1911.05722, and Chen
et al., 2020, https://arxiv.org/abs/2003.04297."""

import keras
import tensorflow as tf
from keras import ops

from keras_contrastive import keras_internals
from keras_contrastive.distributed import cross_replica_concat, global_offset, num_replicas
from keras_contrastive.layers import Queue
from keras_contrastive.losses import info_nce, top1_accuracy
from keras_contrastive.models.momentum_model import MomentumContrastiveModel
from keras_contrastive.normalize import l2_normalize


def _in_groups(fn, x, groups):
    """`fn` applied to `groups` equal consecutive slices of `x`, concatenated:
    BatchNorm statistics are then per slice (split-BN)."""
    if groups == 1:
        return fn(x)
    return ops.concatenate([fn(chunk) for chunk in ops.split(x, groups, axis=0)], axis=0)


def _uses_synchronized_bn(model):
    return any(
        isinstance(layer, keras.layers.BatchNormalization) and getattr(layer, "synchronized", False)
        for layer in keras_internals.flatten_layers(model)
    )


@keras.saving.register_keras_serializable(package="keras_contrastive")
class MoCo(MomentumContrastiveModel):
    """MoCo v2: a query encoder, an EMA key encoder and a queue of keys.

    The first view is the query (through encoder and MLP head, trained), the
    second the key (through EMA copies, no gradient). Each query's positive
    is its key and its negatives are the `queue_size` keys of past batches
    (InfoNCE, equation (1)); after the step the global batch's keys are
    enqueued. `queue_size=0` uses the other keys of the global batch instead.

    **Shuffle-BN** (section 3.3). With per-device BatchNorm, a query and its
    key must not be normalised with the statistics of the same samples, or
    the model finds its positive through the batch statistics. With
    `shuffle_bn=True` the query batch is normalised in `bn_groups` groups of
    consecutive examples (split-BN) and the key batch is permuted across the
    global batch (gathered from every replica, the same permutation on all)
    before being normalised in groups the same way, then un-permuted: key
    `i` is normalised with a different random subset than query `i`. On `R`
    replicas each replica holds `max(1, bn_groups // R)` groups, so with
    `bn_groups <= R` the groups are the replicas, as in MoCo's 8-GPU code.
    With synchronized BatchNorm in the encoder statistics are global for
    both branches (SimCLR's remedy) and no shuffling is done.

    Args:
        encoder: `keras.Model`. Images in [0, 1] to features `[B, D]`.
        projection_dim: int. Key and query size. Defaults to `128`.
        projection_hidden_dim: int or None. MLP head hidden width (`None` =
            `D`). Defaults to `None`.
        projection_batch_norm: bool. BatchNorm in the head (MoCo v2: none).
            Defaults to `False`.
        temperature: float. InfoNCE temperature. Defaults to `0.2`.
        queue_size: int. Number of negatives kept; must be at least the
            global batch size, or 0. Defaults to `65536`.
        momentum: float. Key-encoder momentum. Defaults to `0.999`.
        momentum_schedule: str. `"constant"` (MoCo) or `"cosine"`.
            Defaults to `"constant"`.
        shuffle_bn: bool. See above. Defaults to `True`.
        bn_groups: int. Global number of BatchNorm groups. Defaults to `4`.
        synchronized_bn: bool. Synchronized BatchNorm in the head.
            Defaults to `False`.
        seed: int. Seed of the key permutations. Defaults to `0`.
        probe_classes: int or None. Online linear probe classes.

    Example:

    >>> from keras_contrastive.backbones import ConvNet
    >>> model = MoCo(ConvNet(input_shape=(16, 16, 1), width=4, stages=2), projection_dim=8, queue_size=64)
    >>> tuple(model.queue.value.shape)
    (64, 8)
    """

    extra_metric_names = ("contrastive_accuracy",)

    def __init__(
        self,
        encoder,
        projection_dim=128,
        projection_hidden_dim=None,
        projection_batch_norm=False,
        temperature=0.2,
        queue_size=65536,
        momentum=0.999,
        momentum_schedule="constant",
        shuffle_bn=True,
        bn_groups=4,
        synchronized_bn=False,
        seed=0,
        probe_classes=None,
        **kwargs,
    ):
        super().__init__(encoder, momentum, momentum_schedule, probe_classes=probe_classes, **kwargs)
        if temperature <= 0:
            raise ValueError(f"MoCo temperature must be > 0, received temperature={temperature!r}.")
        if queue_size < 0 or bn_groups < 1:
            raise ValueError(
                f"MoCo needs queue_size >= 0 and bn_groups >= 1, received queue_size={queue_size}, "
                f"bn_groups={bn_groups}."
            )
        self.temperature = temperature
        self.queue_size = queue_size
        self.shuffle_bn = shuffle_bn
        self.bn_groups = bn_groups
        self.seed = seed
        self.projector = self.add_projector(
            projection_dim=projection_dim,
            projection_hidden_dim=projection_hidden_dim,
            projection_batch_norm=projection_batch_norm,
            synchronized_bn=synchronized_bn,
        )
        self.target_encoder = self.add_target(self.encoder, None)
        self.target_projector = self.add_target(self.projector, (None, self.feature_dim))
        self.queue = Queue(queue_size, projection_dim, seed=seed, name="queue") if queue_size else None

    def _groups_per_replica(self):
        if not self.shuffle_bn or _uses_synchronized_bn(self.encoder):
            return 1
        return max(1, self.bn_groups // num_replicas())

    def _check_batch(self, n, groups):
        if isinstance(n, int) and n % groups:
            raise ValueError(
                f"MoCo shuffle-BN splits each replica's batch of {n} into {groups} groups: use a batch size that "
                f"divides by {groups} per replica, or set method.bn_groups."
            )
        if self.queue is not None and isinstance(n, int) and n * num_replicas() > self.queue_size:
            raise ValueError(
                f"MoCo queue_size={self.queue_size} is smaller than the global batch of {n * num_replicas()}: "
                "use a queue of at least one global batch (a multiple of it keeps whole batches)."
            )

    def _keys_for(self, view, groups, training):
        def key_net(x):
            return self.target_projector(self.target_encoder(x, training=training), training=training)

        shuffle = self.shuffle_bn and (groups > 1 or num_replicas() > 1) and not _uses_synchronized_bn(self.encoder)
        if not shuffle:
            return key_net(view)
        n = ops.shape(view)[0]
        everything = cross_replica_concat(view)
        total = ops.shape(everything)[0]
        step = ops.cast(self.optimizer.iterations if getattr(self, "optimizer", None) is not None else 0, "int32")
        order = tf.argsort(tf.random.stateless_uniform([total], seed=tf.stack([self.seed, step])))
        start = global_offset(n)
        mine = ops.take(everything, order[start : start + n], axis=0)
        keys_in_order = cross_replica_concat(_in_groups(key_net, mine, groups))
        restore = tf.argsort(order)
        return ops.take(keys_in_order, restore[start : start + n], axis=0)

    def compute_contrastive_loss(self, views, training=False):
        if len(views) != 2:
            raise ValueError(f"MoCo takes exactly 2 views per example (query, key), received {len(views)}.")
        query_view, key_view = views
        groups = self._groups_per_replica()
        self._check_batch(query_view.shape[0], groups)

        def query_net(x):
            features = self.encoder(x, training=training)
            return features, self.projector(features, training=training)

        if groups == 1:
            features, q = query_net(query_view)
        else:
            outs = [query_net(chunk) for chunk in ops.split(query_view, groups, axis=0)]
            features = ops.concatenate([f for f, _ in outs], axis=0)
            q = ops.concatenate([z for _, z in outs], axis=0)
        # Normalised once: info_nce's normalisation is then a no-op, and these are the keys enqueued.
        k = l2_normalize(ops.cast(ops.stop_gradient(self._keys_for(key_view, groups, training)), "float32"))
        negatives = None if self.queue is None else self.queue.value
        loss, logits, labels = info_nce(
            q,
            k,
            negatives=negatives,
            temperature=self.temperature,
            in_batch_negatives=self.queue is None,
            return_logits=True,
        )
        # The keys go to after_step (enqueued after this step's optimizer update).
        return loss, {"contrastive_accuracy": top1_accuracy(logits, labels)}, features, k

    def after_step(self, state=None):
        super().after_step()
        if self.queue is not None and state is not None:
            self.queue.enqueue(state)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "temperature": self.temperature,
                "queue_size": self.queue_size,
                "shuffle_bn": self.shuffle_bn,
                "bn_groups": self.bn_groups,
                "seed": self.seed,
            }
        )
        return config

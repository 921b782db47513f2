"""A FIFO queue of keys (MoCo's dictionary, SwAV's feature queue)."""

import keras
from keras import ops

from keras_contrastive.distributed import cross_replica_concat
from keras_contrastive.normalize import l2_normalize


@keras.saving.register_keras_serializable(package="keras_contrastive")
class Queue(keras.layers.Layer):
    """FIFO of the last `size` keys, kept on non-trainable variables.

    He et al., 2020 (MoCo), section 3.2: the keys of the current batch are
    enqueued and the oldest dequeued. `enqueue` gathers the keys of every
    replica first (replica order, as `cross_replica_concat`), so the queue
    holds the global batch's keys and is identical on every replica; its
    variables use `only_first_replica` aggregation so that stays true by
    construction. Being layer weights, the contents and the write pointer are
    saved with the model (`.keras`) and in `BackupAndRestore` checkpoints.

    The queue starts filled with random unit vectors, as MoCo's.

    Args:
        size: int. Number of keys kept (`K`).
        dim: int. Size of each key.
        seed: int or None. Seed of the random initial contents.

    Example:

    >>> import numpy as np
    >>> queue = Queue(4, 2)
    >>> queue.enqueue(np.ones((3, 2), "float32"))
    >>> int(queue.pointer.numpy())
    3
    """

    def __init__(self, size, dim, seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(size) < 1 or int(dim) < 1:
            raise ValueError(f"Queue needs size >= 1 and dim >= 1, received size={size}, dim={dim}.")
        self.size = int(size)
        self.dim = int(dim)
        self.seed = seed
        self.queue = self.add_weight(
            shape=(self.size, self.dim),
            initializer=_UnitRows(seed),
            trainable=False,
            name="queue",
            aggregation="only_first_replica",
            dtype="float32",
        )
        self.pointer = self.add_weight(
            shape=(),
            initializer="zeros",
            trainable=False,
            name="pointer",
            aggregation="only_first_replica",
            dtype="int32",
        )
        self.built = True

    @property
    def value(self):
        """The `[size, dim]` float32 contents (row order is storage order)."""
        return self.queue.value

    def enqueue(self, keys, gather=True):
        """Writes `keys` (`[n, dim]`) after the newest keys, wrapping around.

        Args:
            keys: tensor `[n, dim]`, this replica's keys.
            gather: bool. Gather the keys of all replicas first (replica
                order). Pass `False` for keys that are already global.
                Defaults to `True`.
        """
        keys = ops.cast(ops.stop_gradient(keys), "float32")
        if gather:
            keys = cross_replica_concat(keys)
        n = keys.shape[0]
        if n is not None and n > self.size:
            raise ValueError(
                f"Queue of size {self.size} cannot take a global batch of {n} keys at once: use a queue size "
                f"of at least {n} (a multiple of the global batch size keeps whole batches)."
            )
        count = ops.shape(keys)[0]
        indices = ops.mod(ops.cast(self.pointer.value, "int32") + ops.arange(count, dtype="int32"), self.size)
        self.queue.assign(ops.scatter_update(self.queue.value, ops.expand_dims(indices, -1), keys))
        self.pointer.assign(ops.mod(self.pointer.value + ops.cast(count, "int32"), self.size))

    def call(self, inputs=None):
        return self.value

    def get_config(self):
        config = super().get_config()
        config.update({"size": self.size, "dim": self.dim, "seed": self.seed})
        return config


@keras.saving.register_keras_serializable(package="keras_contrastive")
class _UnitRows(keras.initializers.Initializer):
    """Random normal rows scaled to unit length."""

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        x = keras.random.normal(shape, seed=self.seed, dtype="float32")
        return ops.cast(l2_normalize(x), dtype or "float32")

    def get_config(self):
        return {"seed": self.seed}

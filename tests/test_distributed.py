import numpy as np
import tensorflow as tf

from keras_contrastive.distributed import ring_shards
from keras_contrastive.testing import two_replica_strategy


def test_ring_shards_without_replicas_is_the_tensor_itself():
    x = tf.constant(np.arange(6, dtype="float32").reshape(3, 2))
    shards = ring_shards(x)
    assert len(shards) == 1 and shards[0] is x


def test_ring_shards_start_at_the_own_shard_and_route_gradients_to_their_owner():
    strategy = two_replica_strategy()
    inputs = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.fill([3, 2], float(ctx.replica_id_in_sync_group + 1))
    )
    weights = tf.constant([10.0, 100.0])  # step k of the ring weighs its shard by weights[k]
    static_shapes = []

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            shards = ring_shards(x)
            total = sum(weights[k] * tf.reduce_sum(s) for k, s in enumerate(shards))
        static_shapes.extend(s.shape.as_list() for s in shards)
        return tf.stack([s[0, 0] for s in shards]), tape.gradient(total, x)

    firsts, grads = strategy.run(step, args=(inputs,))
    local = strategy.experimental_local_results
    assert [v.numpy().tolist() for v in local(firsts)] == [[1.0, 2.0], [2.0, 1.0]]
    assert static_shapes and all(shape == [3, 2] for shape in static_shapes)
    # Each shard is summed once as its owner's own (x10) and once by the other replica (x100).
    for g in local(grads):
        np.testing.assert_allclose(g.numpy(), np.full((3, 2), 110.0))

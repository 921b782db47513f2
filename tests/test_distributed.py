import numpy as np
import tensorflow as tf

from keras_contrastive import distributed
from keras_contrastive.testing import run_on_replicas, two_replica_strategy


def test_ring_shards_without_replicas_is_the_tensor_itself():
    x = tf.constant(np.arange(6, dtype="float32").reshape(3, 2))
    shards = distributed.ring_shards(x)
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
            shards = distributed.ring_shards(x)
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


def test_cross_replica_mean_of_shard_means_is_the_global_mean_on_every_replica():
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    results, grads = run_on_replicas(
        two_replica_strategy(), lambda a: distributed.cross_replica_mean(tf.reduce_mean(a, axis=0)), x
    )
    for value in results:
        np.testing.assert_allclose(value, x.mean(axis=0), rtol=1e-6)
    # d(both replicas' summed results) / d(an entry of a shard): 2 replicas x 1 / (global batch of 8).
    np.testing.assert_allclose(grads[0], np.full((8, 3), 2.0 / 8.0), rtol=1e-6)


def test_cross_replica_mean_is_the_identity_on_one_device():
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_array_equal(distributed.cross_replica_mean(tf.constant(x)).numpy(), x)

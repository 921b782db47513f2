import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.layers import Queue
from keras_contrastive.testing import two_replica_strategy


def test_queue_starts_with_unit_rows_and_is_not_trainable():
    queue = Queue(32, 8, seed=3)
    np.testing.assert_allclose(np.linalg.norm(queue.value.numpy(), axis=1), 1.0, atol=1e-5)
    assert queue.trainable_weights == [] and int(queue.pointer.numpy()) == 0


def test_fifo_wraps_around_and_holds_the_last_size_keys():
    queue = Queue(10, 2, seed=0)
    pushed = []
    for step in range(7):  # batches of 3 into 10 slots: the pointer wraps at steps 3 and 6
        keys = np.stack([np.arange(3) + 3 * step, np.full(3, step)], axis=1).astype("float32")
        queue.enqueue(keys, gather=False)
        pushed.extend(keys)
        assert int(queue.pointer.numpy()) == (3 * (step + 1)) % 10
    contents = queue.value.numpy()
    pointer = int(queue.pointer.numpy())
    oldest_first = np.concatenate([contents[pointer:], contents[:pointer]])
    np.testing.assert_array_equal(oldest_first, np.array(pushed[-10:]))


def test_a_batch_larger_than_the_queue_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="use a queue size of at least 5"):
        Queue(4, 2).enqueue(np.ones((5, 2), "float32"), gather=False)
    with pytest.raises(ValueError, match="size >= 1"):
        Queue(0, 2)


def test_two_replicas_enqueue_the_global_batch_in_replica_order_and_stay_identical():
    strategy = two_replica_strategy()
    with strategy.scope():
        queue = Queue(8, 2, seed=0)
    global_keys = np.arange(12, dtype="float32").reshape(6, 2)  # replica 0 rows 0-2, replica 1 rows 3-5

    @tf.function
    def push(shards):
        strategy.run(lambda k: queue.enqueue(k), args=(shards,))

    shards = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(global_keys[3 * ctx.replica_id_in_sync_group : 3 * ctx.replica_id_in_sync_group + 3])
    )
    push(shards)
    copies = [v.numpy() for v in queue.queue.value.values]
    np.testing.assert_array_equal(copies[0][:6], global_keys)
    np.testing.assert_array_equal(copies[0], copies[1])
    assert [int(p.numpy()) for p in queue.pointer.value.values] == [6, 6]
    push(shards)  # wraps: slots 6, 7, 0, 1, 2, 3
    copies = [v.numpy() for v in queue.queue.value.values]
    np.testing.assert_array_equal(copies[0][6:], global_keys[:2])
    np.testing.assert_array_equal(copies[0][:4], global_keys[2:])
    np.testing.assert_array_equal(copies[0], copies[1])

import doctest

import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import sinkhorn_knopp, swav_loss
from keras_contrastive.testing import two_replica_strategy


def _scores(n=16, k=8, seed=0):
    rng = np.random.default_rng(seed)
    return np.tanh(rng.normal(size=(n, k))).astype("float32")


def _reference(scores, epsilon=0.05, iterations=3):
    """SwAV's `distributed_sinkhorn` on one device, in float64 numpy."""
    q = np.exp(scores.astype("float64") / epsilon).T
    k, b = q.shape
    q /= q.sum()
    for _ in range(iterations):
        q /= q.sum(axis=1, keepdims=True)
        q /= k
        q /= q.sum(axis=0, keepdims=True)
        q /= b
    return (q * b).T


def test_sinkhorn_matches_the_papers_algorithm():
    scores = _scores()
    np.testing.assert_allclose(np.asarray(sinkhorn_knopp(scores)), _reference(scores), atol=1e-5)


def test_sinkhorn_marginals_are_uniform():
    scores = _scores(n=32, k=20)
    # The last step normalises each sample's code: exact after any iterations.
    codes = np.asarray(sinkhorn_knopp(scores, iterations=3))
    np.testing.assert_allclose(codes.sum(axis=1), 1.0, atol=1e-5)
    # Each prototype receives B / K in total once the iterations converge.
    codes = np.asarray(sinkhorn_knopp(scores, iterations=100))
    assert codes.min() >= 0
    np.testing.assert_allclose(codes.sum(axis=1), 1.0, atol=1e-3)
    np.testing.assert_allclose(codes.sum(axis=0), 32 / 20, atol=1e-3)


def test_sinkhorn_float16_scores_of_30_give_finite_codes():
    rng = np.random.default_rng(1)
    scores = (np.sign(rng.normal(size=(16, 8))) * 30).astype("float16")
    codes = np.asarray(sinkhorn_knopp(scores))
    assert codes.dtype == np.float32 and np.all(np.isfinite(codes))
    np.testing.assert_allclose(codes.sum(axis=1), 1.0, atol=1e-5)


def test_sinkhorn_has_no_gradient():
    scores = tf.Variable(_scores())
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(sinkhorn_knopp(scores) * tf.range(8, dtype=tf.float32))
    assert tape.gradient(out, scores) is None


def test_sinkhorn_on_two_replicas_equals_one_device_on_the_global_batch():
    scores, queue = _scores(n=16), _scores(n=6, seed=3)
    strategy = two_replica_strategy()
    shards = tf.constant(scores.reshape(2, 8, 8))

    @tf.function
    def step(with_queue):
        def replica_fn():
            rid = tf.distribute.get_replica_context().replica_id_in_sync_group
            return sinkhorn_knopp(shards[rid], queue_scores=queue if with_queue else None)

        per_replica = strategy.run(replica_fn)
        return tf.concat(strategy.experimental_local_results(per_replica), axis=0)

    np.testing.assert_allclose(step(False).numpy(), np.asarray(sinkhorn_knopp(scores)), atol=1e-6)
    # A shared queue counts once, not once per replica.
    np.testing.assert_allclose(step(True).numpy(), np.asarray(sinkhorn_knopp(scores, queue_scores=queue)), atol=1e-6)


def test_queue_scores_take_part_only_when_used():
    scores, queue = _scores(), _scores(n=6, seed=3)
    expected = _reference(np.concatenate([queue, scores]))[6:]
    np.testing.assert_allclose(np.asarray(sinkhorn_knopp(scores, queue_scores=queue)), expected, atol=1e-5)
    unused = sinkhorn_knopp(scores, queue_scores=queue, use_queue=tf.constant(False))
    np.testing.assert_allclose(np.asarray(unused), np.asarray(sinkhorn_knopp(scores)), atol=1e-6)


def test_swav_loss_is_the_swapped_cross_entropy():
    a, b, small = _scores(seed=0), _scores(seed=1), _scores(seed=2)

    def log_softmax(x):
        x = x / 0.1
        return x - np.log(np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True)) - x.max(1, keepdims=True)

    def ce(q, s):
        return -np.mean(np.sum(q * log_softmax(s), axis=1))

    qa, qb = _reference(a), _reference(b)
    expected = ((ce(qa, b) + ce(qa, small)) / 2 + (ce(qb, a) + ce(qb, small)) / 2) / 2
    loss, codes = swav_loss([a, b, small], return_codes=True)
    assert len(codes) == 2
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    # Two crops only: each large crop's code is the other's target.
    np.testing.assert_allclose(float(swav_loss([a, b])), (ce(qa, b) + ce(qb, a)) / 2, rtol=1e-5)


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="at least 2 crops"):
        swav_loss([_scores()])
    with pytest.raises(ValueError, match="temperature"):
        swav_loss([_scores(), _scores()], temperature=0.0)
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn_knopp(_scores(), epsilon=0.0)


def test_docstring_examples_run():
    from keras_contrastive.losses import swav

    assert doctest.testmod(swav, verbose=False).failed == 0

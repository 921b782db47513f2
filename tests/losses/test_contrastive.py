import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import distributed
from keras_contrastive.losses import info_nce, nt_xent, top1_accuracy
from keras_contrastive.testing import two_replica_strategy


def _normalize(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def reference_nt_xent(z_a, z_b, temperature):
    """NT-Xent written the plain way: loop over the 2N anchors."""
    z = _normalize(np.concatenate([z_a, z_b]).astype(np.float64))
    n = len(z_a)
    sim = z @ z.T / temperature
    losses = []
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        others = [sim[i, k] for k in range(2 * n) if k != i]
        losses.append(-sim[i, positive] + np.log(np.sum(np.exp(others))))
    return float(np.mean(losses))


def reference_info_nce(query, key, negatives, temperature, in_batch):
    q, k = _normalize(query.astype(np.float64)), _normalize(key.astype(np.float64))
    losses = []
    for i in range(len(q)):
        candidates = list(q[i] @ k.T) if in_batch else [q[i] @ k[i]]
        if negatives is not None:
            candidates += list(q[i] @ _normalize(negatives.astype(np.float64)).T)
        logits = np.array(candidates) / temperature
        target = i if in_batch else 0
        losses.append(-logits[target] + np.log(np.sum(np.exp(logits))))
    return float(np.mean(losses))


@pytest.mark.parametrize("n", [2, 4, 16])
def test_nt_xent_closed_form_for_aligned_orthogonal_views(n):
    z = np.eye(n, dtype="float32") * 3.0  # scale must not matter: cosine similarity
    for tau in (0.1, 0.5, 1.0):
        expected = -np.log(np.exp(1 / tau) / (np.exp(1 / tau) + 2 * n - 2))
        np.testing.assert_allclose(float(nt_xent(z, z, temperature=tau)), expected, rtol=1e-5, atol=1e-6)


def test_nt_xent_identical_views_all_alike_is_log_2n_minus_1():
    # All 2N embeddings identical: the positive is one of 2N - 1 equal candidates.
    z = np.ones((5, 3), "float32")
    np.testing.assert_allclose(float(nt_xent(z, z, temperature=0.3)), np.log(9), rtol=1e-5)


@pytest.mark.parametrize("n", [2, 7, 32])
@pytest.mark.parametrize("tau", [0.07, 0.5, 2.0])
def test_nt_xent_matches_plain_reference(n, tau):
    rng = np.random.default_rng(n)
    z_a, z_b = rng.normal(size=(n, 8)).astype("float32"), rng.normal(size=(n, 8)).astype("float32")
    np.testing.assert_allclose(float(nt_xent(z_a, z_b, tau)), reference_nt_xent(z_a, z_b, tau), rtol=1e-5, atol=1e-5)


def test_nt_xent_is_symmetric_and_permutation_invariant():
    rng = np.random.default_rng(1)
    z_a, z_b = rng.normal(size=(6, 4)).astype("float32"), rng.normal(size=(6, 4)).astype("float32")
    loss = float(nt_xent(z_a, z_b))
    np.testing.assert_allclose(float(nt_xent(z_b, z_a)), loss, rtol=1e-6)
    perm = rng.permutation(6)
    np.testing.assert_allclose(float(nt_xent(z_a[perm], z_b[perm])), loss, rtol=1e-6)


def test_nt_xent_logits_are_float32_under_float16_inputs_and_finite():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(4, 8)).astype("float16")
    loss, logits, labels = nt_xent(z, z[::-1], temperature=0.05, return_logits=True)
    assert logits.dtype == tf.float32 and loss.dtype == tf.float32
    assert logits.shape == (8, 8) and list(np.asarray(labels)) == [0, 1, 2, 3, 0, 1, 2, 3]
    assert np.isfinite(float(loss))


def test_top1_accuracy_reads_the_positive_off_the_similarity_matrix():
    z = np.eye(4, dtype="float32")
    _, logits, labels = nt_xent(z, z, return_logits=True)
    assert float(top1_accuracy(logits, labels)) == 1.0
    _, logits, labels = nt_xent(z, z[[1, 0, 3, 2]], return_logits=True)
    assert float(top1_accuracy(logits, labels)) == 0.0


@pytest.mark.parametrize("in_batch", [True, False])
def test_info_nce_matches_plain_reference(in_batch):
    rng = np.random.default_rng(3)
    q, k, neg = (rng.normal(size=s).astype("float32") for s in [(5, 8), (5, 8), (11, 8)])
    for negatives in (None, neg):
        if negatives is None and not in_batch:
            continue
        got = float(info_nce(q, k, negatives, temperature=0.2, in_batch_negatives=in_batch))
        np.testing.assert_allclose(got, reference_info_nce(q, k, negatives, 0.2, in_batch), rtol=1e-5)


def test_info_nce_symmetric_averages_both_directions():
    rng = np.random.default_rng(4)
    q, k = rng.normal(size=(6, 4)).astype("float32"), rng.normal(size=(6, 4)).astype("float32")
    sym = float(info_nce(q, k, temperature=0.1, symmetric=True))
    one_way = reference_info_nce(q, k, None, 0.1, True)
    other_way = reference_info_nce(k, q, None, 0.1, True)
    np.testing.assert_allclose(sym, (one_way + other_way) / 2, rtol=1e-5)
    np.testing.assert_allclose(float(info_nce(k, q, temperature=0.1, symmetric=True)), sym, rtol=1e-5)


def test_info_nce_symmetric_needs_in_batch_negatives():
    with pytest.raises(ValueError, match="in_batch_negatives=True"):
        info_nce(np.ones((2, 2)), np.ones((2, 2)), np.ones((3, 2)), symmetric=True, in_batch_negatives=False)


def _per_replica(strategy, fn, *global_arrays):
    """Runs `fn` on each replica with its contiguous shard; returns the per-replica
    results and the gradient of the summed result w.r.t. the global inputs."""
    n = strategy.num_replicas_in_sync
    shards = [np.split(a, n) for a in global_arrays]

    def value_fn(ctx):
        return tuple(tf.constant(s[ctx.replica_id_in_sync_group]) for s in shards)

    inputs = strategy.experimental_distribute_values_from_function(value_fn)

    @tf.function
    def step(*xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            loss = fn(*xs)
        return loss, tape.gradient(loss, xs)

    losses, grads = strategy.run(step, args=inputs)
    losses = [float(v) for v in strategy.experimental_local_results(losses)]
    grads = [np.concatenate([g.numpy() for g in strategy.experimental_local_results(gr)]) for gr in grads]
    return losses, grads


@pytest.mark.parametrize("loss_name", ["nt_xent", "info_nce", "info_nce_symmetric"])
def test_losses_on_two_replicas_equal_one_device_on_the_global_batch(loss_name):
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
    fn = {
        "nt_xent": lambda a, b: nt_xent(a, b, 0.5),
        "info_nce": lambda a, b: info_nce(a, b, temperature=0.2),
        "info_nce_symmetric": lambda a, b: info_nce(a, b, temperature=0.2, symmetric=True),
    }[loss_name]
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(8, 6)).astype("float32"), rng.normal(size=(8, 6)).astype("float32")
    one_losses, one_grads = _per_replica(tf.distribute.OneDeviceStrategy(devices[0]), fn, a, b)
    mirrored = two_replica_strategy()
    two_losses, two_grads = _per_replica(mirrored, lambda x, y: distributed.scale_loss_for_replicas(fn(x, y)), a, b)
    # Mean of the per-replica losses is the global loss ...
    np.testing.assert_allclose(np.sum(two_losses), one_losses[0], rtol=1e-5)
    # ... and each replica's gradient w.r.t. its shard is that shard's slice of
    # the one-device gradient (the gather's gradient routes the other replica's
    # terms back).
    for g_two, g_one in zip(two_grads, one_grads):
        np.testing.assert_allclose(g_two, g_one, rtol=1e-4, atol=1e-6)


def test_without_the_gather_replicas_would_not_match(monkeypatch):
    # Negative control: the equality above depends on cross_replica_concat.
    from keras_contrastive.losses import contrastive

    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(8, 6)).astype("float32"), rng.normal(size=(8, 6)).astype("float32")
    one, _ = _per_replica(tf.distribute.OneDeviceStrategy(devices[0]), lambda x, y: nt_xent(x, y), a, b)
    monkeypatch.setattr(contrastive, "cross_replica_concat", lambda t: t)
    monkeypatch.setattr(contrastive, "global_offset", lambda n: 0)
    two, _ = _per_replica(two_replica_strategy(), lambda x, y: distributed.scale_loss_for_replicas(nt_xent(x, y)), a, b)
    assert abs(np.sum(two) - one[0]) > 1e-2

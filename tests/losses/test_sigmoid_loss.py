import inspect
import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive import distributed
from keras_contrastive.losses import pairwise_sigmoid_loss
from keras_contrastive.testing import run_on_replicas, two_replica_strategy


def softplus(x):
    return np.logaddexp(0.0, x)


def reference_sigmoid_loss(images, texts, scale, bias):
    """The loss written the plain way: a double loop over pairs, `-log sigmoid(x) = log(1 + e^-x)`."""
    images, texts = images.astype(np.float64), texts.astype(np.float64)
    total = 0.0
    for i in range(len(images)):
        for j in range(len(texts)):
            logit = scale * float(images[i] @ texts[j]) + bias
            label = 1.0 if i == j else -1.0
            total += np.log1p(np.exp(-label * logit))
    return total / len(images)


def reference_gradients(images, texts, scale, bias):
    """d loss / d (images, texts, scale, bias) by hand: d/dlogit of -log sigmoid(z l) is -z sigmoid(-z l)."""
    images, texts = images.astype(np.float64), texts.astype(np.float64)
    n = len(images)
    z = 2.0 * np.eye(n) - 1.0
    similarity = images @ texts.T
    g = -z / (1.0 + np.exp(z * (scale * similarity + bias))) / n  # d loss / d logits
    return scale * g @ texts, scale * g.T @ images, float(np.sum(g * similarity)), float(np.sum(g))


@pytest.mark.parametrize("n", [1, 3, 8])
@pytest.mark.parametrize("bias", [-10.0, 0.0, 2.5])
def test_all_zero_embeddings_give_the_closed_form(n, bias):
    # Every logit is the bias: one positive log(1 + e^-b) and n - 1 negatives log(1 + e^b) per image.
    z = np.zeros((n, 4), "float32")
    expected = softplus(-bias) + (n - 1) * softplus(bias)
    for scale in (1.0, 10.0):
        np.testing.assert_allclose(float(pairwise_sigmoid_loss(z, z, scale, bias)), expected, rtol=1e-6)


def test_orthonormal_pairs_give_the_closed_form():
    # Positives have cosine 1, negatives 0: log(1 + e^-(t + b)) + (n - 1) log(1 + e^b).
    n, scale, bias = 5, 10.0, -10.0
    z = np.eye(n, dtype="float32")
    expected = softplus(-(scale + bias)) + (n - 1) * softplus(bias)
    np.testing.assert_allclose(float(pairwise_sigmoid_loss(z, z, scale, bias)), expected, rtol=1e-6)
    assert expected == pytest.approx(np.log(2) + 4 * np.log1p(np.exp(-10)), rel=1e-9)


@pytest.mark.parametrize("n", [2, 7, 16])
@pytest.mark.parametrize("scale,bias", [(10.0, -10.0), (1.0, 0.0), (37.5, -4.0)])
def test_matches_plain_reference(n, scale, bias):
    rng = np.random.default_rng(n)
    x, y = (rng.normal(size=(n, 6)).astype("float32") for _ in range(2))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    got = float(pairwise_sigmoid_loss(x, y, scale, bias))
    np.testing.assert_allclose(got, reference_sigmoid_loss(x, y, scale, bias), rtol=1e-5)


def test_not_symmetric_in_positives_only_the_diagonal_is_positive():
    # Swapping two texts moves the positives off the diagonal: the loss must rise.
    z = np.eye(4, dtype="float32")
    aligned = float(pairwise_sigmoid_loss(z, z, 10.0, -5.0))
    swapped = float(pairwise_sigmoid_loss(z, z[[1, 0, 2, 3]], 10.0, -5.0))
    assert swapped == pytest.approx(reference_sigmoid_loss(z, z[[1, 0, 2, 3]], 10.0, -5.0), rel=1e-6)
    assert swapped > aligned + 1.0


@pytest.mark.parametrize("mode", ["eager", "graph"])
def test_gradients_equal_the_hand_derived_ones(mode):
    # The block logits are recomputed in the backward pass (tf.recompute_grad): the gradients must not change.
    rng = np.random.default_rng(0)
    x, y = (rng.normal(size=(6, 5)).astype("float32") for _ in range(2))
    variables = [tf.Variable(x), tf.Variable(y), tf.Variable(3.0), tf.Variable(-2.0)]

    def gradients():
        with tf.GradientTape() as tape:
            loss = pairwise_sigmoid_loss(*variables)
        return tape.gradient(loss, variables)

    got = tf.function(gradients)() if mode == "graph" else gradients()
    for g, expected in zip(got, reference_gradients(x, y, 3.0, -2.0)):
        np.testing.assert_allclose(g.numpy(), expected, rtol=1e-4, atol=1e-6)


def test_float16_inputs_give_a_float32_loss():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 8)).astype("float16")
    loss = pairwise_sigmoid_loss(x, x[::-1], 10.0, -10.0)
    assert loss.dtype == tf.float32 and np.isfinite(float(loss))


def test_accuracy_reads_the_positive_off_the_blocks():
    z = np.eye(4, dtype="float32")
    assert float(pairwise_sigmoid_loss(z, z, 10.0, -10.0, return_accuracy=True)[1]) == 1.0
    assert float(pairwise_sigmoid_loss(z, z[[1, 0, 3, 2]], 10.0, -10.0, return_accuracy=True)[1]) == 0.0
    assert float(pairwise_sigmoid_loss(z, z[[1, 0, 2, 3]], 10.0, -10.0, return_accuracy=True)[1]) == 0.5


@pytest.mark.parametrize(
    "images,texts,message",
    [
        ((4, 8), (4, 6), "the same d"),
        ((4,), (4,), r"shaped \[n, d\]"),
        ((4, 8), (3, 8), "received 4 images and 3 texts"),
    ],
)
def test_bad_shapes_are_refused(images, texts, message):
    with pytest.raises(ValueError, match=message):
        pairwise_sigmoid_loss(np.ones(images, "float32"), np.ones(texts, "float32"), 10.0, -10.0)


# --- across replicas: the ring of text blocks ---------------------------------------------------------------------
def _run_on_replicas(strategy, x, y, scale, bias, **kwargs):
    """Each replica's loss (divided by the replica count, as `ContrastiveModel` does) summed, the mean
    accuracy, and the gradients: w.r.t. the shards concatenated, w.r.t. scale and bias summed over replicas
    (as the strategy sums them)."""

    def step(x_local, y_local, t, b):
        loss, accuracy = pairwise_sigmoid_loss(x_local, y_local, t, b, return_accuracy=True, **kwargs)
        return distributed.scale_loss_for_replicas(loss), accuracy

    results, grads = run_on_replicas(strategy, step, x, y, shared=(scale, bias))
    return sum(float(r[0]) for r in results), np.mean([float(r[1]) for r in results]), grads


def _two_devices():
    return [d.name for d in tf.config.list_logical_devices("CPU")[:2]]


def test_two_replicas_equal_one_device_on_the_global_batch():
    rng = np.random.default_rng(5)
    x, y = (rng.normal(size=(8, 6)).astype("float32") for _ in range(2))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    # The texts of the other half are the positives' best rivals: only the global batch sees them.
    y = np.concatenate([y[:4], x[:4] * 0.9 + y[4:] * 0.1])
    one = _run_on_replicas(tf.distribute.OneDeviceStrategy(_two_devices()[0]), x, y, 7.0, -3.0)
    two = _run_on_replicas(two_replica_strategy(), x, y, 7.0, -3.0)
    np.testing.assert_allclose(one[0], reference_sigmoid_loss(x, y, 7.0, -3.0), rtol=1e-5)
    np.testing.assert_allclose(two[0], one[0], rtol=1e-5)
    assert two[1] == pytest.approx(one[1]) and one[1] < 1.0
    for g_two, g_one in zip(two[2], one[2]):
        np.testing.assert_allclose(g_two, g_one, rtol=1e-4, atol=1e-6)


def test_without_the_ring_replicas_would_not_match(monkeypatch):
    # Negative control: each replica seeing only its own texts is a different (smaller) loss.
    from keras_contrastive.losses import sigmoid

    rng = np.random.default_rng(6)
    x, y = (rng.normal(size=(8, 6)).astype("float32") for _ in range(2))
    one = _run_on_replicas(tf.distribute.OneDeviceStrategy(_two_devices()[0]), x, y, 7.0, -3.0)
    monkeypatch.setattr(sigmoid, "ring_shards", lambda t: [t])
    two = _run_on_replicas(two_replica_strategy(), x, y, 7.0, -3.0)
    assert abs(two[0] - one[0]) > 1e-2


# The subprocesses run the same `_run_on_replicas` (its source, after their device set-up).
REPLICAS = "\n".join(
    [
        "from keras_contrastive import distributed",
        "from keras_contrastive.losses import pairwise_sigmoid_loss",
        "from keras_contrastive.testing import run_on_replicas",
        inspect.getsource(_run_on_replicas),
    ]
)

RING_OF_FOUR = textwrap.dedent(
    """
    import json
    import numpy as np, tensorflow as tf
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * 4)
    from keras_contrastive.distributed import ring_shards
    # _run_on_replicas

    strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    shards = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.fill([2, 3], float(ctx.replica_id_in_sync_group)))
    rings = strategy.run(tf.function(lambda s: tf.stack([b[0, 0] for b in ring_shards(s)])), args=(shards,))
    rng = np.random.default_rng(7)
    x, y = (rng.normal(size=(16, 5)).astype("float32") for _ in range(2))
    one = _run_on_replicas(tf.distribute.OneDeviceStrategy("/cpu:0"), x, y, 5.0, -2.0)
    four = _run_on_replicas(strategy, x, y, 5.0, -2.0)
    print(json.dumps({
        "rings": [r.numpy().tolist() for r in strategy.experimental_local_results(rings)],
        "loss": [one[0], four[0]],
        "gradient_difference": max(float(np.max(np.abs(np.subtract(a, b)))) for a, b in zip(one[2], four[2])),
    }))
    """
)


def test_four_replicas_pass_the_blocks_round_the_ring_and_equal_one_device(tmp_path):
    # Two replicas cannot tell the ring's direction or a repeated block from the right one: four can.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": os.pathsep.join(sys.path)}
    script = RING_OF_FOUR.replace("# _run_on_replicas", REPLICAS)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rings"] == [[(r + k) % 4 for k in range(4)] for r in range(4)]
    assert result["loss"][1] == pytest.approx(result["loss"][0], rel=1e-5)
    assert result["gradient_difference"] <= 1e-5


TWO_WORKERS = textwrap.dedent(
    """
    import json
    import numpy as np, tensorflow as tf
    # _run_on_replicas

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    rng = np.random.default_rng(8)
    x, y = (rng.normal(size=(8, 5)).astype("float32") for _ in range(2))
    loss, _, grads = _run_on_replicas(strategy, x, y, 5.0, -2.0)  # this worker's replica only
    print(json.dumps({"loss": loss, "grads": [np.asarray(g).tolist() for g in grads]}))
    """
)


def test_two_worker_processes_equal_one_device(tmp_path):
    # MultiWorkerMirroredStrategy: one replica per process on 127.0.0.1, the ring's all-gather between them.
    sockets = [socket.socket() for _ in range(2)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    workers = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    for s in sockets:
        s.close()
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update({"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": os.pathsep.join(sys.path)})
    procs = []
    try:
        for index in range(2):
            config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", TWO_WORKERS.replace("# _run_on_replicas", REPLICAS)],
                    env={**env, "TF_CONFIG": json.dumps(config)},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        outputs = [p.communicate(timeout=240) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    results = []
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    rng = np.random.default_rng(8)
    x, y = (rng.normal(size=(8, 5)).astype("float32") for _ in range(2))
    np.testing.assert_allclose(sum(r["loss"] for r in results), reference_sigmoid_loss(x, y, 5.0, -2.0), rtol=1e-5)
    expected = reference_gradients(x, y, 5.0, -2.0)
    for i in (0, 1):  # each worker's gradient w.r.t. its shard is that shard's slice of the one-device gradient
        got = np.concatenate([np.asarray(r["grads"][i]) for r in results])
        np.testing.assert_allclose(got, expected[i], rtol=1e-4, atol=1e-6)
    for i in (2, 3):  # the strategy sums the workers' gradients of t and b
        assert sum(r["grads"][i] for r in results) == pytest.approx(expected[i], rel=1e-4, abs=1e-6)

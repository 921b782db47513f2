"""Shared test helpers, so that a method's test file is a few one-liners.

The idea comes from keras-hub's `TestCase`: every method is checked the same
way for serialization, a training step, and equality of a 2-replica
`MirroredStrategy` step with a one-device step on the global batch.
Multi-replica checks need logical CPU devices, which must be configured
before TensorFlow initialises: call `configure_logical_cpus(2)` first thing
(the test suite's `conftest.py` does).
"""

import functools
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf


def configure_logical_cpus(count=2):
    """Splits the physical CPU into `count` logical devices (idempotent).

    Returns the number of logical CPUs available afterwards.
    """
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        pass  # Already initialised: keep what exists.
    return len(tf.config.list_logical_devices("CPU"))


@functools.lru_cache(maxsize=None)
def two_replica_strategy():
    """One `MirroredStrategy` over the first two logical CPUs, shared by the
    whole process: separate strategy objects in one process reuse collective
    instance keys and their all-gathers abort with mismatched types."""
    devices = tf.config.list_logical_devices("CPU")
    if len(devices) < 2:
        raise RuntimeError("Two logical CPUs are needed: call configure_logical_cpus(2) before TensorFlow starts.")
    return tf.distribute.MirroredStrategy([d.name for d in devices[:2]])


def _dataset(batch):
    size = len(next(iter(batch["views"])))
    return tf.data.Dataset.from_tensor_slices(batch).batch(size)


def _weights_max_diff(a, b):
    return max(float(np.max(np.abs(x - y))) if x.size else 0.0 for x, y in zip(a, b))


def fit_one_step(build_model, batch, strategy, weights=None, learning_rate=0.01, seed=1):
    """Builds a model under `strategy`, optionally loads `weights`, runs one
    `fit` step of SGD on the global `batch` and returns the model."""
    with strategy.scope():
        keras.utils.set_random_seed(seed)
        model = build_model()
        if weights is not None:
            model.set_weights(weights)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate))
    model.fit(_dataset(batch), epochs=1, verbose=0)
    return model


def run_replica_equivalence_test(build_model, batch, atol=1e-5, learning_rate=0.01, min_update=1e-3):
    """Checks that one `fit` step under `MirroredStrategy` over two logical CPU
    devices gives the weights one device gives on the global batch.

    Args:
        build_model: callable returning a compiled-free method instance (use
            synchronized BatchNorm or none: per-replica statistics differ by
            definition).
        batch: dict `{"views": (...), "label": ...}` of numpy arrays, the
            global batch (its size must divide by 2).
        atol: float. Largest allowed weight difference. Defaults to `1e-5`.
        learning_rate: float. SGD step. Defaults to `0.01`.
        min_update: float. The step must move some weight by at least this
            much, so the comparison cannot pass vacuously. Defaults to `1e-3`.

    Returns:
        `(max_difference, max_update)`.
    """
    devices = tf.config.list_logical_devices("CPU")
    mirrored = two_replica_strategy()
    with tf.distribute.OneDeviceStrategy(devices[0].name).scope():
        keras.utils.set_random_seed(1)
        initial = build_model().get_weights()
    one = fit_one_step(
        build_model,
        batch,
        tf.distribute.OneDeviceStrategy(devices[0].name),
        weights=initial,
        learning_rate=learning_rate,
    )
    two = fit_one_step(
        build_model,
        batch,
        mirrored,
        weights=initial,
        learning_rate=learning_rate,
    )
    difference = _weights_max_diff(one.get_weights(), two.get_weights())
    update = _weights_max_diff(one.get_weights(), initial)
    assert update >= min_update, f"the step moved no weight by {min_update} (max {update}): the test would be vacuous"
    assert difference <= atol, f"2-replica weights differ from 1-device weights by {difference} > {atol}"
    return difference, update


def run_serialization_test(model, images, batch=None, optimizer=None):
    """`get_config` -> `from_config` -> `get_config` is identical, and a `.keras` save -> load restores
    the whole model: identical embeddings on `images`, and every weight (heads, EMA targets, queues,
    prototypes, centres: trainable or not) equal in shape and value.

    With `batch` (a training batch, or a `tf.data.Dataset` of them), the model is first compiled with
    `optimizer` (default: its own optimizer, else SGD with momentum) and trained one step, so the optimizer
    has state; the reloaded optimizer must hold the same variables with the same values (Keras warns
    "Skipping variable loading for optimizer" when they differ: that warning fails the test).
    """
    import warnings

    config = model.get_config()
    revived = type(model).from_config(config)
    assert revived.get_config() == config, "get_config changed after from_config"
    if batch is not None:
        if optimizer is not None or getattr(model, "optimizer", None) is None:
            model.compile(optimizer=optimizer or keras.optimizers.SGD(0.01, momentum=0.9))
        dataset = batch if isinstance(batch, tf.data.Dataset) else _dataset(batch)
        model.fit(dataset.take(1), epochs=1, verbose=0)
    expected = model.predict(images, verbose=0)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    skipped = [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)]
    assert not skipped, f"the .keras file did not restore every variable: {skipped}"
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), expected)
    assert type(loaded) is type(model)
    # In creation order (auto-generated layer names differ between the two instances).
    assert len(loaded.weights) == len(model.weights), (
        f"{len(loaded.weights)} weights after loading, not {len(model.weights)}"
    )
    for saved, restored in zip(model.weights, loaded.weights):
        assert saved.shape == restored.shape, f"weight {saved.path} {saved.shape} came back as {restored.shape}"
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(restored), keras.ops.convert_to_numpy(saved), err_msg=f"{saved.path} differs"
        )
    if batch is not None:
        before = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
        after = [keras.ops.convert_to_numpy(v) for v in loaded.optimizer.variables]
        assert len(after) == len(before), f"the optimizer has {len(after)} variables after loading, not {len(before)}"
        assert int(loaded.optimizer.iterations.numpy()) == int(model.optimizer.iterations.numpy()) > 0
        for a, b in zip(before, after):
            np.testing.assert_array_equal(b, a, err_msg="an optimizer variable was not restored")
    return loaded


def run_train_step_test(model, batch, optimizer=None):
    """One `fit` step gives a finite loss, moves the trainable weights, and
    reports every tracker in `model.metrics` in the history."""
    model.compile(optimizer=optimizer or keras.optimizers.SGD(0.01))
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(_dataset(batch), epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0]), f"loss is not finite: {history['loss']}"
    assert set(history) == {m.name for m in model.metrics}, f"history {sorted(history)} != metrics"
    after = [w.numpy() for w in model.trainable_weights]
    assert _weights_max_diff(before, after) > 0, "no trainable weight changed"
    return history


def run_on_replicas(strategy, fn, *global_arrays, shared=()):
    """Runs `fn` on every replica of `strategy` with its contiguous shard of
    each global array (replica order, as `cross_replica_concat`), then each
    of `shared` whole (a scale, a bias: the same value on every replica).

    The replica function runs inside one `tf.function` around `strategy.run`,
    as Keras's train step does: a `tf.function` handed to `strategy.run`
    leaves its ops without a device under `MultiWorkerMirroredStrategy`, and
    the all-reduce of an all-gather's gradient then has no destination.

    Returns:
        `(results, gradients)`: each replica's result as numpy (a tuple of
        them when `fn` returns a tuple; the gradient is then of its first
        element), and the gradient of each replica's (summed) result w.r.t.
        its shards, concatenated back into one global array per input (only
        this process's replicas under `MultiWorkerMirroredStrategy`), then
        w.r.t. each of `shared`, summed over the replicas as a strategy sums
        a variable's gradient. Summed over the replicas of a
        `MirroredStrategy`, these are the gradients a training step applies;
        `None` for an input without gradient (integer labels).
    """
    n = strategy.num_replicas_in_sync
    shards = [np.split(np.asarray(a), n) for a in global_arrays]
    shared = [np.asarray(v, dtype="float32") for v in shared]

    def value_fn(ctx):
        return tuple(tf.constant(s[ctx.replica_id_in_sync_group]) for s in shards)

    inputs = strategy.experimental_distribute_values_from_function(value_fn)

    def step(*xs):
        xs = [*xs, *(tf.constant(v) for v in shared)]
        with tf.GradientTape() as tape:
            tape.watch([x for x in xs if x.dtype.is_floating])
            result = fn(*xs)
            total = tf.reduce_sum(result[0] if isinstance(result, (tuple, list)) else result)
        return result, tape.gradient(total, xs)

    results, grads = tf.function(lambda: strategy.run(step, args=inputs))()
    local = strategy.experimental_local_results
    if isinstance(results, (tuple, list)):
        per_output = [[v.numpy() for v in local(r)] for r in results]
        results = [tuple(values) for values in zip(*per_output)]
    else:
        results = [v.numpy() for v in local(results)]
    grads = [
        None if gr is None else (np.concatenate if i < len(shards) else sum)([g.numpy() for g in local(gr)])
        for i, gr in enumerate(grads)
    ]
    return results, grads


def tiny_simcse(dropout=0.0, seed=0, **kwargs):
    """`models.SimCSE` on `tiny_text_encoder` (`kwargs` go to SimCSE; mean pooling unless given: the
    `[CLS]` output of a 1-layer random encoder barely differs between sentences)."""
    from keras_contrastive.models import SimCSE
    from keras_contrastive.text.testing import tiny_text_encoder

    kwargs.setdefault("pooling", "mean")

    return SimCSE(tiny_text_encoder(dropout=dropout, seed=seed), **kwargs)

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.augment import RandomResizedCrop
from keras_contrastive.backbones import ConvNet
from keras_contrastive.data import pretrain_dataset
from keras_contrastive.models import SimCLR
from keras_contrastive.testing import two_replica_strategy


def test_two_replicas_see_every_example_once_per_epoch():
    n, batch = 96, 16
    images = np.zeros((n, 8, 8, 1), np.uint8)
    view = RandomResizedCrop((8, 8), seed=0)
    dataset = pretrain_dataset(images, [view, view], batch, labels=np.arange(n), seed=3)
    strategy = two_replica_strategy()
    seen = []
    for element in strategy.experimental_distribute_dataset(dataset):
        parts = strategy.experimental_local_results(element["label"])
        assert [len(p) for p in parts] == [batch // 2, batch // 2]
        seen += [int(i) for p in parts for i in p.numpy()]
    assert sorted(seen) == list(range(n)), "an example was repeated or left out within the epoch"


@pytest.fixture
def restore_policy():
    yield
    keras.config.set_dtype_policy("float32")


def _loss(policy, weights, batch):
    keras.config.set_dtype_policy(policy)
    keras.utils.set_random_seed(1)
    model = SimCLR(ConvNet(input_shape=(16, 16, 1), width=8, stages=2), projection_dim=16)
    if weights is not None:
        model.set_weights(weights)
    loss, _, _ = model.compute_contrastive_loss(batch, training=True)
    return model, float(loss)


def test_mixed_float16_step_is_finite_and_close_to_float32(restore_policy):
    rng = np.random.default_rng(0)
    batch = (rng.random((16, 16, 16, 1), dtype=np.float32), rng.random((16, 16, 16, 1), dtype=np.float32))
    reference, loss32 = _loss("float32", None, batch)
    mixed, loss16 = _loss("mixed_float16", reference.get_weights(), batch)
    assert mixed.encoder.layers[1].compute_dtype == "float16"
    assert np.isfinite(loss16) and abs(loss16 - loss32) <= 1e-2, (loss16, loss32)

    # A whole fit step with the loss-scale optimizer stays finite.
    mixed.compile(optimizer=keras.optimizers.SGD(0.01))
    assert isinstance(mixed.optimizer, keras.optimizers.LossScaleOptimizer)
    data = tf.data.Dataset.from_tensors({"views": batch})
    history = mixed.fit(data, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert all(np.all(np.isfinite(w)) for w in mixed.get_weights())

import numpy as np
import pytest

from keras_contrastive.layers import ProjectionHead


def test_shapes_depth_and_widths():
    head = ProjectionHead(output_dim=16, hidden_dim=32, num_layers=3)
    out = head(np.zeros((4, 8), "float32"))
    assert out.shape == (4, 16)
    dense = [w for w in head.weights if w.path.endswith("kernel")]
    assert [tuple(w.shape) for w in dense] == [(8, 32), (32, 32), (32, 16)]


def test_hidden_width_defaults_to_input_width_and_one_layer_is_linear():
    head = ProjectionHead(output_dim=4, num_layers=2)
    head(np.zeros((2, 6), "float32"))
    assert tuple(head.hidden_layers[0].kernel.shape) == (6, 6)
    linear = ProjectionHead(output_dim=3, num_layers=1)
    x = np.random.default_rng(0).normal(size=(5, 6)).astype("float32")
    y = np.asarray(linear(x))
    np.testing.assert_allclose(y, x @ linear.output_dense.kernel.numpy() + linear.output_dense.bias.numpy(), rtol=1e-5)


def test_config_round_trip_and_bad_depth():
    head = ProjectionHead(output_dim=5, hidden_dim=7, num_layers=3, output_batch_norm=True)
    assert ProjectionHead.from_config(head.get_config()).get_config() == head.get_config()
    with pytest.raises(ValueError, match="num_layers=0"):
        ProjectionHead(num_layers=0)

import keras
import numpy as np
import pytest

from keras_contrastive.evaluation import extract_features, images_to_float


def test_uint8_is_scaled_and_batches_do_not_matter(make_tiny_encoder):
    encoder = make_tiny_encoder((28, 28, 1))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(10, 28, 28, 1), dtype=np.uint8)
    expected = encoder.predict(images.astype(np.float32) / 255.0, verbose=0)
    features = extract_features(encoder, images, batch_size=3)
    assert features.dtype == np.float32
    assert features.shape == (10, 16)
    np.testing.assert_allclose(features, expected, atol=1e-6)
    from_float = extract_features(encoder, images / 255.0, batch_size=512)
    np.testing.assert_allclose(from_float, features, atol=1e-6)


def test_runs_in_inference_mode():
    encoder = keras.Sequential(
        [
            keras.Input((4, 4, 3)),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(5, kernel_initializer="ones"),
        ]
    )
    images = np.full((6, 4, 4, 3), 255, dtype=np.uint8)
    features = extract_features(encoder, images, batch_size=4)
    # Dropout off: every unit sums the 48 ones.
    np.testing.assert_allclose(features, 48.0)


def test_images_to_float_rejects_unscaled_floats():
    np.testing.assert_array_equal(
        images_to_float(np.array([0, 51, 255], dtype=np.uint8)),
        np.array([0.0, 0.2, 1.0], dtype=np.float32),
    )
    with pytest.raises(ValueError, match=r"in \[0, 1\]. Received values in \[0, 255\]"):
        images_to_float(np.array([0.0, 255.0]))
    with pytest.raises(ValueError, match="Received dtype int32"):
        images_to_float(np.array([0, 1], dtype=np.int32))


def test_rejects_images_without_channel_axis(make_tiny_encoder):
    encoder = make_tiny_encoder((28, 28, 1))
    with pytest.raises(ValueError, match=r"\[N, H, W, C\]. Received shape \(2, 28, 28\)"):
        extract_features(encoder, np.zeros((2, 28, 28), dtype=np.uint8))

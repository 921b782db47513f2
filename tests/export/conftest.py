import keras
import pytest


def tiny_encoder(input_shape, seed=0, feature_dim=8):
    """Conv2D + GlobalAveragePooling + Dense with seeded initialisers."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(
                4,
                3,
                activation="relu",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
                bias_initializer=keras.initializers.Constant(0.01),
            ),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(
                feature_dim,
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
                bias_initializer=keras.initializers.Constant(0.1),
            ),
        ]
    )


@pytest.fixture(scope="session")
def make_tiny_encoder():
    return tiny_encoder

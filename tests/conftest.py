import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_contrastive.testing import configure_logical_cpus  # noqa: E402

# Two logical CPU devices give a real 2-replica MirroredStrategy; this must
# happen before TensorFlow initialises its devices.
LOGICAL_CPUS = configure_logical_cpus(2)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slow: real training to an accuracy, several TensorFlow processes, or one check swept over every method "
        "(CI runs them all; pytest -m 'not slow' leaves them out while developing)",
    )


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory):
    """A finished run directory of the quick-start recipe cut to 2 steps of a 4-wide ConvNet (a few seconds)."""
    from keras_contrastive import recipes, runs

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    fast = ["train.epochs=1", "train.steps_per_epoch=2", "train.batch_size=64", "evaluate.baselines=false"]
    recipe = recipes.load(os.path.join(root, "recipes", "quickstart.yaml"), fast + ["encoder.width=4"])
    run_dir = str(tmp_path_factory.mktemp("tiny_run"))
    runs.train(recipe, run_dir, verbose=0, command="keras-contrastive train recipes/quickstart.yaml (tiny)")
    return run_dir


def tiny_encoder(input_shape, seed=0, feature_dim=8, filters=4, strides=1, biases=(0.01, 0.1)):
    """Conv2D (`filters`, 3x3, `strides`) + GlobalAveragePooling + Dense (`feature_dim`), seeded initialisers;
    `biases`: the two layers' constant bias initialisers (`None`: zeros)."""
    import keras

    def bias(i):
        return "zeros" if biases is None else keras.initializers.Constant(biases[i])

    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(
                filters,
                3,
                strides=strides,
                activation="relu",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
                bias_initializer=bias(0),
            ),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(
                feature_dim,
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
                bias_initializer=bias(1),
            ),
        ]
    )


@pytest.fixture(scope="session")
def make_tiny_encoder():
    """`tiny_encoder`: `make_tiny_encoder(input_shape, seed=0, ...)` (tests/evaluation makes it wider)."""
    return tiny_encoder

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

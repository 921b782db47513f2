import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_contrastive.testing import configure_logical_cpus  # noqa: E402

# Two logical CPU devices give a real 2-replica MirroredStrategy; this must
# happen before TensorFlow initialises its devices.
LOGICAL_CPUS = configure_logical_cpus(2)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: real training to an accuracy (run in CI when it fits)")

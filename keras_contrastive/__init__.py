"""keras-contrastive: contrastive and self-supervised representation learning in Keras 3."""

import sys as _sys
import warnings as _warnings

from keras_contrastive import hardware as _hardware

# Before anything here imports TensorFlow, which reads it once: its oneDNN kernels on every AVX2 + FMA CPU
# (TensorFlow's default leaves them off on CPUs without AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX).
ONEDNN_CHOICE = _hardware.configure_onednn()
if ONEDNN_CHOICE == "enabled" and "tensorflow" in _sys.modules:
    _warnings.warn(
        "TensorFlow was imported before keras_contrastive, with its oneDNN kernels off (its default on this "
        "CPU): training runs about 2x slower. Set TF_ENABLE_ONEDNN_OPTS=1 before importing TensorFlow, or "
        "import keras_contrastive first.",
        stacklevel=2,
    )

__version__ = "0.1.0"

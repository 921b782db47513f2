"""keras-contrastive: contrastive and self-supervised representation learning in Keras 3."""

__version__ = "0.1.0"

"""SavedModel export of encoders for TensorFlow Serving."""

from keras_contrastive.export.export_encoder import (
    SERVE_IMAGE_BYTES,
    SERVING_DEFAULT,
    embed_images,
    export_encoder,
    exported_signatures,
    load_exported,
    write_archive,
)

__all__ = [
    "SERVE_IMAGE_BYTES",
    "SERVING_DEFAULT",
    "embed_images",
    "export_encoder",
    "exported_signatures",
    "load_exported",
    "write_archive",
]

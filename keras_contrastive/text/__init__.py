"""Text encoders for sentence embeddings: in-graph WordPiece tokenizer, BERT-family backbones, presets.

Building blocks only: the methods (`models`) use them, and what uses a trained model sits above
(`export.text_export`: SavedModels that take raw strings; `mining`: hard negatives under any encoder).

Importing this package does not import keras-hub (the optional `text`
extra); the classes load it when first used.
"""

from keras_contrastive.text.presets import (
    TEXT_ENCODERS,
    build_text_encoder,
    is_text_encoder,
    minilm_preset_dir,
    resolve_preset,
    text_encoder_builder,
)

_LAZY = {
    "SentenceTokenizer": "keras_contrastive.text.tokenizer",
    "load_vocabulary": "keras_contrastive.text.tokenizer",
    "TextEncoder": "keras_contrastive.text.encoder",
    "trim_padding": "keras_contrastive.text.encoder",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keras_contrastive.text' has no attribute {name!r}")


__all__ = [
    "TEXT_ENCODERS",
    "build_text_encoder",
    "is_text_encoder",
    "minilm_preset_dir",
    "resolve_preset",
    "text_encoder_builder",
    *_LAZY,
]

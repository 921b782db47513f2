"""Data sets and tf.data pipelines for contrastive pre-training; `data.sources` declares every source.

`data.sources` loads without TensorFlow (the command line's help lists the sources); the rest is imported on
first use."""

import importlib

from keras_contrastive.data import sources

_LAZY = {
    "DataSplits": "keras_contrastive.data.data_splits",
    "load_data": "keras_contrastive.data.data_splits",
    "FASHION_MNIST_CLASS_NAMES": "keras_contrastive.data.fashion_mnist",
    "load_fashion_mnist": "keras_contrastive.data.fashion_mnist",
    "load_fashion_mnist_subset": "keras_contrastive.data.fashion_mnist",
    "IDXFormatError": "keras_contrastive.data.idx",
    "read_idx": "keras_contrastive.data.idx",
    "write_idx": "keras_contrastive.data.idx",
    "DataError": "keras_contrastive.data.image_source",
    "ImageSource": "keras_contrastive.data.image_source",
    "ImageSplit": "keras_contrastive.data.image_source",
    "is_streaming_spec": "keras_contrastive.data.image_source",
    "open_image_source": "keras_contrastive.data.image_source",
    "images_dataset": "keras_contrastive.data.pipeline",
    "pretrain_dataset": "keras_contrastive.data.pipeline",
    "eval_stream": "keras_contrastive.data.streaming",
    "pretrain_stream": "keras_contrastive.data.streaming",
    "load_sentence_tuples": "keras_contrastive.data.text",
    "load_sentences": "keras_contrastive.data.text",
    "load_stsb_pairs": "keras_contrastive.data.text",
    "load_stsb_rows": "keras_contrastive.data.text",
    "load_wordnet": "keras_contrastive.data.text",
    "load_wordnet_triplets": "keras_contrastive.data.text",
    "text_dataset": "keras_contrastive.data.text",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    try:  # a submodule (`data.image_text`), as the package's eager imports made them attributes before
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module 'keras_contrastive.data' has no attribute {name!r}")


__all__ = ["sources", *_LAZY]

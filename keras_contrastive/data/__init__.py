"""Data sets and tf.data pipelines for contrastive pre-training; `data.sources` declares every source."""

from keras_contrastive.data import sources
from keras_contrastive.data.data_splits import DataSplits, load_data
from keras_contrastive.data.fashion_mnist import (
    FASHION_MNIST_CLASS_NAMES,
    load_fashion_mnist,
    load_fashion_mnist_subset,
)
from keras_contrastive.data.idx import IDXFormatError, read_idx, write_idx
from keras_contrastive.data.image_source import (
    DataError,
    ImageSource,
    ImageSplit,
    is_streaming_spec,
    open_image_source,
)
from keras_contrastive.data.pipeline import images_dataset, pretrain_dataset
from keras_contrastive.data.streaming import eval_stream, pretrain_stream
from keras_contrastive.data.text import (
    load_sentence_tuples,
    load_sentences,
    load_stsb_pairs,
    load_stsb_rows,
    load_wordnet,
    load_wordnet_triplets,
    text_dataset,
)

__all__ = [
    "FASHION_MNIST_CLASS_NAMES",
    "DataError",
    "DataSplits",
    "IDXFormatError",
    "ImageSource",
    "ImageSplit",
    "eval_stream",
    "is_streaming_spec",
    "open_image_source",
    "pretrain_stream",
    "images_dataset",
    "load_data",
    "load_fashion_mnist",
    "load_fashion_mnist_subset",
    "load_sentence_tuples",
    "load_sentences",
    "load_stsb_pairs",
    "load_stsb_rows",
    "load_wordnet",
    "load_wordnet_triplets",
    "pretrain_dataset",
    "read_idx",
    "sources",
    "text_dataset",
    "write_idx",
]

"""The image-text protocols on a set of pairs: retrieval recall both ways (`retrieval`) and zero-shot
classification (`zero_shot`) together, the images embedded once for both. A CLIP run's held-out evaluation
(`runs.ImageTextTask`), the benchmarks and `runs.evaluate_retrieval` use them."""

import dataclasses

import numpy as np

from keras_contrastive.data import image_text
from keras_contrastive.evaluation import retrieval
from keras_contrastive.evaluation.zero_shot import zero_shot_metrics


def evaluate_pairs(encoder, pairs, class_names=None, templates=None, batch_size=256, descriptions="default"):
    """Retrieval recall@1/5/10 both ways and, on the pairs that carry a class label, zero-shot top-1
    (`zero_shot_metrics`) of `encoder` (a CLIP model, or anything with `encode_images` / `encode_text`)."""
    image_embeddings = encoder.encode_images(pairs.images, batch_size=batch_size)
    metrics = retrieval.retrieval_recall(image_embeddings, encoder.encode_text(pairs.captions), pairs.captions)
    metrics.update(
        zero_shot_metrics(encoder, pairs, class_names, templates, descriptions, image_embeddings=image_embeddings)
    )
    return metrics


def stream_pair_embeddings(encoder, listing, image_size, batch_size=256):
    """`(image embeddings, pairs)`: the listed images streamed from disk through `encoder.encode_images` batch
    by batch (centred squares), and the listing of the pairs kept (a file that cannot be decoded is left out
    with its caption)."""
    embeddings, kept = [], []
    for images, indices, _ in image_text.stream_pair_images(listing, image_size, batch_size, names=True):
        embeddings.append(np.asarray(encoder.encode_images(images.numpy(), batch_size=batch_size)))
        kept.append(indices.numpy())
    kept = np.concatenate(kept)
    pairs = dataclasses.replace(
        listing,
        paths=[listing.paths[i] for i in kept],
        captions=[listing.captions[i] for i in kept],
        keys=[listing.keys[i] for i in kept],
        held_out=listing.held_out[kept],
        labels=listing.labels[kept],
    )
    return np.concatenate(embeddings), pairs


def evaluate_streamed_pairs(encoder, listing, image_size, batch_size=256):
    """`evaluate_pairs` of listed pairs whose images are streamed from disk (`stream_pair_embeddings`)."""
    image_embeddings, pairs = stream_pair_embeddings(encoder, listing, image_size, batch_size)
    metrics = retrieval.retrieval_recall(image_embeddings, encoder.encode_text(pairs.captions), pairs.captions)
    metrics.update(zero_shot_metrics(encoder, pairs, image_embeddings=image_embeddings))
    return metrics

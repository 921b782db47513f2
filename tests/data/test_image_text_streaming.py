"""CLIP's pairs streamed from disk: each image (decoded crop first) arrives with its own caption's tokens."""

import numpy as np
from PIL import Image

from keras_contrastive.augment import SimCLRAugmentation
from keras_contrastive.data import image_text
from keras_contrastive.text import SentenceTokenizer
from keras_contrastive.text.testing import TINY_SENTENCES, TINY_VOCABULARY


def test_streamed_pairs_keep_each_image_with_its_caption(tmp_path):
    count = len(TINY_SENTENCES)
    for i in range(count):  # image i is one flat grey level, 10 * i: its identity
        Image.new("RGB", (30, 20 + i), (10 * i,) * 3).save(tmp_path / f"{i:02d}.png")
        (tmp_path / f"{i:02d}.txt").write_text(TINY_SENTENCES[i] + "\n")
    listing = image_text.list_image_text(f"folder:{tmp_path}")
    assert len(listing) == count and listing.captions == list(TINY_SENTENCES)
    tokenizer = SentenceTokenizer(TINY_VOCABULARY, sequence_length=8)
    view = SimCLRAugmentation(8, crop_scale=(0.5, 1.0), jitter_probability=0.0, grayscale_probability=0.0, seed=1)
    dataset = image_text.stream_pairs_dataset(listing, listing.captions, 4, view, (8, 8), tokenizer=tokenizer, seed=0)
    seen = []
    for batch in dataset:
        images, tokens = batch["views"]
        assert images.shape == (4, 8, 8, 3)
        for image, row in zip(images.numpy(), tokens.numpy()):
            index = int(round(image.mean() * 255 / 10))
            np.testing.assert_array_equal(row, tokenizer([TINY_SENTENCES[index]]).numpy()[0])
            seen.append(index)
    assert len(seen) == 4 * (count // 4) and len(set(seen)) == len(seen)
    # Held-out images stream in order with their row numbers, for evaluation.
    rows = [int(i) for _, indices, _ in image_text.stream_pair_images(listing, (8, 8), 5, names=True) for i in indices]
    assert rows == list(range(count))

"""Sentence files streamed with `TextLineDataset` (plain or gzip, one sentence a line, TSV pairs / triplets):
the same batches as the sentences read into memory, and the same clear errors."""

import gzip

import numpy as np
import pytest

from keras_contrastive import data
from keras_contrastive.data.text_files import scan_text_file, text_file_dataset
from keras_contrastive.text import SentenceTokenizer
from keras_contrastive.text.testing import TINY_SENTENCES, TINY_VOCABULARY


@pytest.fixture
def tokenizer():
    return SentenceTokenizer(TINY_VOCABULARY, sequence_length=8)


def _rows(dataset):
    return [np.concatenate([v.numpy() for v in batch["views"]], axis=1) for batch in dataset]


@pytest.mark.parametrize("gz", [False, True])
def test_a_text_file_streams_the_batches_of_its_sentences_in_memory(tmp_path, tokenizer, gz):
    lines = ["\ufeff" + TINY_SENTENCES[0], "", "   ", *TINY_SENTENCES[1:], "  padded line  "]
    path = tmp_path / ("sentences.txt.gz" if gz else "sentences.txt")
    text = "\n".join(lines) + "\n"
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    scanned = scan_text_file(path)
    (tmp_path / "plain.txt").write_text(text)
    in_memory = data.load_sentences(tmp_path / "plain.txt")
    assert scanned.sentences == len(in_memory) and scanned.columns == 1
    streamed = _rows(text_file_dataset(scanned, tokenizer, 4, shuffle=False))
    expected = _rows(data.text_dataset(in_memory, tokenizer, 4, shuffle=False))
    assert len(streamed) == len(expected) == len(in_memory) // 4
    for a, b in zip(streamed, expected):
        np.testing.assert_array_equal(a, b)
    # Shuffled and repeated: each pass over the file holds every sentence once, in another order.
    n = scanned.sentences
    shuffled = text_file_dataset(scanned, tokenizer, 1, shuffle=True, seed=0, repeat=True, shuffle_buffer=3)
    first_pass = np.concatenate(_rows(shuffled.take(n)))
    everything = np.concatenate(_rows(text_file_dataset(scanned, tokenizer, 1, shuffle=False)))
    assert sorted(map(tuple, first_pass)) == sorted(map(tuple, everything))
    assert not np.array_equal(first_pass, everything)


def test_tsv_triplets_stream_as_three_views(tmp_path, tokenizer):
    rows = [(a, b, c) for a, b, c in zip(TINY_SENTENCES, TINY_SENTENCES[1:], TINY_SENTENCES[2:])]
    path = tmp_path / "triplets.tsv"
    path.write_text("\n".join(" \t ".join(r) for r in rows) + "\n")
    scanned = scan_text_file(path, tsv=True)
    assert scanned.columns == 3 and scanned.sentences == len(rows)
    streamed = text_file_dataset(scanned, tokenizer, 2, shuffle=False)
    expected = data.text_dataset(tuple(list(c) for c in zip(*rows)), tokenizer, 2, shuffle=False)
    for a, b in zip(streamed, expected):
        assert len(a["views"]) == 3
        for x, y in zip(a["views"], b["views"]):
            np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_bad_text_files_name_the_file_the_line_and_the_fix(tmp_path):
    (tmp_path / "latin1.txt.gz").write_bytes(gzip.compress("fine\ncaf\xe9 au lait\n".encode("latin1")))
    with pytest.raises(ValueError, match=r"latin1.txt.gz: line 2 is not valid UTF-8.*iconv"):
        scan_text_file(tmp_path / "latin1.txt.gz")
    (tmp_path / "blank.txt").write_text("\n  \n")
    with pytest.raises(ValueError, match="no sentences"):
        scan_text_file(tmp_path / "blank.txt")
    (tmp_path / "mixed.tsv").write_text("a\tb\na\tb\tc\n")
    with pytest.raises(ValueError, match="line 2 has 3 fields but the first line has 2"):
        scan_text_file(tmp_path / "mixed.tsv", tsv=True)
    (tmp_path / "fake.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="must be gzip-compressed"):
        scan_text_file(tmp_path / "fake.gz")
    with pytest.raises(FileNotFoundError, match="not found"):
        scan_text_file(tmp_path / "missing.txt")

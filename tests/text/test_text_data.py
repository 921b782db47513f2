"""Sentence files, TSV pairs / triplets, WordNet, and the token-id pipeline."""

import os

import numpy as np
import pytest

from keras_contrastive import data
from keras_contrastive.text import SentenceTokenizer
from keras_contrastive.text.testing import TINY_VOCABULARY


def test_load_sentences_skips_blank_lines_and_keeps_long_ones(tmp_path):
    path = tmp_path / "s.txt"
    path.write_text("\ufeffFirst one.\n\n   \nsecond\r\n" + "long " * 3000 + "\n", encoding="utf-8")
    sentences = data.load_sentences(path)
    assert sentences[:2] == ["First one.", "second"] and len(sentences) == 3 and len(sentences[2]) > 10000


def test_load_sentences_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt.*not found"):
        data.load_sentences(tmp_path / "nope.txt")
    (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match="empty.txt: no sentences"):
        data.load_sentences(tmp_path / "empty.txt")
    (tmp_path / "latin.txt").write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin.txt: line 2 is not valid UTF-8.*iconv"):
        data.load_sentences(tmp_path / "latin.txt")


def test_tsv_pairs_and_triplets(tmp_path):
    (tmp_path / "p.tsv").write_text("a cat\tthe cat\n\nthe dog\ta dog\n", encoding="utf-8")
    assert data.load_sentence_tuples(tmp_path / "p.tsv") == (["a cat", "the dog"], ["the cat", "a dog"], None)
    (tmp_path / "t.tsv").write_text("a\tb\tc\nd\te\tf\n", encoding="utf-8")
    assert data.load_sentence_tuples(tmp_path / "t.tsv") == (["a", "d"], ["b", "e"], ["c", "f"])
    (tmp_path / "bad.tsv").write_text("a\tb\nd\te\tf\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2 has 3 fields but the first line has 2"):
        data.load_sentence_tuples(tmp_path / "bad.tsv")


@pytest.mark.skipif(not os.path.isfile("/usr/share/wordnet/data.noun"), reason="apt-get install wordnet-base")
def test_wordnet_glosses_examples_and_triplets():
    sentences = data.load_wordnet()
    assert len(sentences) > 150_000 and len(set(sentences)) == len(sentences)
    assert "that which is perceived or known or inferred to have its own distinct existence (living or nonliving)" in (
        sentences
    )
    assert not any(s.startswith('"') for s in sentences[:1000])
    anchors, positives, negatives = data.load_wordnet_triplets()
    assert len(anchors) == len(positives) == len(negatives) > 30_000
    assert all(p != n for p, n in zip(positives[:1000], negatives[:1000]))


def test_wordnet_missing_directory_says_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install wordnet-base"):
        data.load_wordnet(str(tmp_path))


def test_text_dataset_yields_token_id_views():
    tokenizer = SentenceTokenizer(TINY_VOCABULARY, sequence_length=6)
    unsup = next(iter(data.text_dataset(["a cat", "the dog", "a mat"], tokenizer, 2, seed=0)))
    assert len(unsup["views"]) == 1 and unsup["views"][0].shape == (2, 6)
    triplets = data.text_dataset((["a"] * 4, ["cat"] * 4, ["dog"] * 4), tokenizer, 4, shuffle=False)
    views = next(iter(triplets))["views"]
    assert [v.numpy()[0, 1] for v in views] == [7, 9, 10]
    with pytest.raises(ValueError, match="equal lengths"):
        data.text_dataset((["a"], ["b", "c"]), tokenizer, 1)
    with pytest.raises(ValueError, match="batch_size=8 is larger than the 3 sentences"):
        data.text_dataset(["a", "b", "c"], tokenizer, 8)
    assert np.all(unsup["views"][0].numpy()[:, 0] == 2)


def test_stsb_pairs_keep_gold_at_least_min_gold_and_every_sentence_as_corpus(tmp_path):
    rows = [
        "main-captions\tMSRvid\t2012test\t0001\t5.000\ta plane is taking off .\tan air plane is taking off .",
        "main-captions\tMSRvid\t2012test\t0006\t2.600\tthree men are playing chess .\ttwo men are playing chess .",
        "main-news\theadlines\t2013\t0002\t4.000\tstocks fell .\tshares dropped .\textra\tfields",
        "",
        "main-forum\tdeft-forum\t2014\t0003\t0.400\ta plane is taking off .\tthe cat sat .",
    ]
    path = tmp_path / "sts-train.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    anchors, positives, sentences = data.load_stsb_pairs(path)
    assert anchors == ["a plane is taking off .", "stocks fell ."]
    assert positives == ["an air plane is taking off .", "shares dropped ."]
    assert sentences == [
        "a plane is taking off .",
        "an air plane is taking off .",
        "three men are playing chess .",
        "two men are playing chess .",
        "stocks fell .",
        "shares dropped .",
        "the cat sat .",
    ]
    assert len(data.load_stsb_pairs(path, min_gold=2.5)[0]) == 3
    with pytest.raises(ValueError, match=r"no pair has a gold score >= 5.5 \(data.min_gold\)"):
        data.load_stsb_pairs(path, min_gold=5.5)
    (tmp_path / "pairs.tsv").write_text("a\tb\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 1 is not an STS Benchmark row .* tsv:PATH"):
        data.load_stsb_pairs(tmp_path / "pairs.tsv")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        data.load_stsb_pairs(tmp_path / "nope.csv")

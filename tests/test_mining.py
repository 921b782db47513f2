"""Hard-negative mining on a hand-made corpus with hand-written answers, and against a brute-force reference."""

import math

import numpy as np
import pytest

from keras_contrastive.mining import mine_hard_negatives, top_k_excluding, write_triplets


def _unit(degrees):
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]


# Each sentence is a unit vector at an angle: cosine similarity = cos(angle difference), easy to work out by hand.
ANGLES = {
    "a man plays a guitar .": 0,
    "a man is playing the guitar .": 10,  # cos 10 = 0.985: the positive
    "a guy plays guitar .": 12,  # cos 12 = 0.978: within 0.05 of the positive, a paraphrase
    "a man plays a violin .": 30,  # 0.866
    "a woman plays a flute .": 45,  # 0.707
    "a dog runs .": 90,  # 0.000
    "the market fell .": 180,  # -1.000
    "stocks dropped sharply .": 170,  # with the next one: a second pair, far from the first
    "shares fell steeply .": 172,
}


def embed(sentences):
    return np.array([_unit(ANGLES[s]) for s in sentences], dtype="float32")


CORPUS = list(ANGLES)
PAIRS = (
    ["a man plays a guitar .", "stocks dropped sharply ."],
    ["a man is playing the guitar .", "shares fell steeply ."],
)


def test_margin_skips_paraphrases_and_never_returns_the_pair_itself():
    mined = mine_hard_negatives(embed, *PAIRS, CORPUS, k=2, margin=0.05, progress=False)
    # Pair 1: the positive (0.985) and the anchor itself are skipped; "a guy plays guitar" (0.978 >= 0.985 - 0.05)
    # is within the margin; the next two by cosine are the violin (0.866) and the flute (0.707).
    # Pair 2 (anchor at 170, positive at 172, cos 2 = 0.9994): the market (cos 10 = 0.985) is within the margin;
    # next come the dog (cos 80 = 0.174) and the flute (cos 125 = -0.574).
    assert mined["negatives"] == [
        ["a man plays a violin .", "a woman plays a flute ."],
        ["a dog runs .", "a woman plays a flute ."],
    ]
    assert mined["indices"].tolist() == [[3, 4], [5, 4]]
    np.testing.assert_allclose(mined["scores"][0], [math.cos(math.radians(30)), math.cos(math.radians(45))], atol=1e-6)
    np.testing.assert_allclose(mined["positive_scores"], [math.cos(math.radians(10)), math.cos(math.radians(2))])


def test_zero_margin_keeps_the_paraphrase_and_k_beyond_the_candidates_gives_fewer():
    mined = mine_hard_negatives(embed, PAIRS[0][:1], PAIRS[1][:1], CORPUS, k=1, margin=0.0, progress=False)
    assert mined["negatives"] == [["a guy plays guitar ."]]  # 0.978 < 0.985: not as close as the positive
    # Only 7 sentences besides the anchor and the positive; duplicates in the corpus count once.
    mined = mine_hard_negatives(embed, PAIRS[0][:1], PAIRS[1][:1], CORPUS + CORPUS, k=10, margin=0.0, progress=False)
    assert len(mined["negatives"][0]) == 7 and len(set(mined["negatives"][0])) == 7
    assert mined["indices"][0, 7:].tolist() == [-1, -1, -1] and np.all(np.isneginf(mined["scores"][0, 7:]))
    assert mined["negatives"][0][-1] == "the market fell ."  # the least similar comes last
    assert "a man is playing the guitar ." not in mined["negatives"][0]
    assert "a man plays a guitar ." not in mined["negatives"][0]


def test_a_large_margin_can_leave_a_pair_with_nothing():
    mined = mine_hard_negatives(embed, PAIRS[0][:1], PAIRS[1][:1], CORPUS, k=3, margin=2.5, progress=False)
    assert mined["negatives"] == [[]] and mined["indices"].tolist() == [[-1, -1, -1]]


def test_blocked_top_k_equals_brute_force_whatever_the_block_sizes():
    rng = np.random.default_rng(0)
    queries = rng.normal(size=(37, 8)).astype("float32")
    corpus = rng.normal(size=(101, 8)).astype("float32")
    thresholds = rng.uniform(0.0, 3.0, size=37).astype("float32")
    exclude = rng.integers(-1, 101, size=(37, 2))
    full = queries @ corpus.T
    full[full >= thresholds[:, None]] = -np.inf
    for i, row in enumerate(exclude):
        full[i, row[row >= 0]] = -np.inf
    expected = np.argsort(-full, axis=1, kind="stable")[:, :5]
    for anchor_block, corpus_block in ((1024, 16384), (5, 7), (1, 1), (37, 100)):
        indices, scores = top_k_excluding(queries, corpus, 5, thresholds, exclude, anchor_block, corpus_block)
        finite = np.isfinite(scores)
        np.testing.assert_array_equal(np.where(finite, indices, -1), np.where(finite, expected, -1))
        np.testing.assert_allclose(scores[finite], np.take_along_axis(full, expected, axis=1)[finite], atol=1e-5)
        assert np.all(np.diff(np.where(finite, scores, -1e9), axis=1) <= 0)  # best first


def test_bad_arguments_and_triplet_file(tmp_path):
    with pytest.raises(ValueError, match="2 anchors but 1 positives"):
        mine_hard_negatives(embed, PAIRS[0], PAIRS[1][:1], CORPUS)
    with pytest.raises(ValueError, match="at least 1; received k=0"):
        mine_hard_negatives(embed, *PAIRS, CORPUS, k=0)
    with pytest.raises(ValueError, match="the corpus is empty"):
        mine_hard_negatives(embed, *PAIRS, [])
    with pytest.raises(ValueError, match="not 'minilm': open a path or a zoo name first with .*runs.open_model"):
        mine_hard_negatives("minilm", *PAIRS, CORPUS)
    mined = mine_hard_negatives(embed, *PAIRS, CORPUS, k=2, margin=0.05, progress=False)
    path = tmp_path / "triplets.tsv"
    assert write_triplets(path, *PAIRS, mined["negatives"]) == 4
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "a man plays a guitar .\ta man is playing the guitar .\ta man plays a violin ."
    assert [line.split("\t")[2] for line in lines[2:]] == ["a dog runs .", "a woman plays a flute ."]


def test_any_model_with_encode_or_embed_text_is_used_without_knowing_its_class():
    class Encoder:  # duck-typed like models.SimCSE
        def encode(self, sentences, batch_size=64):
            self.batch_size = batch_size
            return embed(sentences)

    class Source:  # like runs.ModelSource
        def embed_text(self, sentences, batch_size=64):
            return embed(sentences)

    encoder = Encoder()
    expected = mine_hard_negatives(embed, *PAIRS, CORPUS, k=2, margin=0.05, progress=False)["negatives"]
    assert (
        mine_hard_negatives(encoder, *PAIRS, CORPUS, k=2, margin=0.05, batch_size=3, progress=False)["negatives"]
        == expected
        and encoder.batch_size == 3
    )
    assert mine_hard_negatives(Source(), *PAIRS, CORPUS, k=2, margin=0.05, progress=False)["negatives"] == expected


def test_the_mine_command_writes_the_library_triplets(tmp_path, capsys):
    import json

    from keras_contrastive import cli
    from keras_contrastive.testing import tiny_simcse
    from keras_contrastive.text.testing import TINY_SENTENCES

    model = tiny_simcse()
    model.save(tmp_path / "model.keras")
    anchors, positives = TINY_SENTENCES[:4], TINY_SENTENCES[4:8]
    (tmp_path / "pairs.tsv").write_text("".join(f"{a}\t{p}\n" for a, p in zip(anchors, positives)), encoding="utf-8")
    (tmp_path / "corpus.txt").write_text("\n".join(TINY_SENTENCES) + "\n\n", encoding="utf-8")
    out = tmp_path / "triplets.tsv"
    argv = ["mine", "--model", str(tmp_path / "model.keras"), "--pairs", str(tmp_path / "pairs.tsv")]
    argv += ["--corpus", str(tmp_path / "corpus.txt"), "--out", str(out), "--k", "2", "--margin", "0.01"]
    assert cli.main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["pairs"] == 4 and summary["corpus"] == len(TINY_SENTENCES)
    expected = mine_hard_negatives(model, anchors, positives, TINY_SENTENCES, k=2, margin=0.01, progress=False)
    rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows == [[a, p, n] for a, p, negs in zip(anchors, positives, expected["negatives"]) for n in negs]
    assert summary["triplets"] == len(rows) > 0 and all(n not in (a, p) for a, p, n in rows)
    (tmp_path / "triplets_in.tsv").write_text("a\tb\tc\n", encoding="utf-8")
    argv[4] = str(tmp_path / "triplets_in.tsv")
    assert cli.main(argv) == 2
    assert "has three columns: mining takes anchor<TAB>positive pairs" in capsys.readouterr().err

"""benchmarks/bench_french.py: the pairs built from message catalogues and the retrieval figures."""

import importlib.util
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))  # its `_results` import
    try:
        spec = importlib.util.spec_from_file_location(
            "bench_french", os.path.join(ROOT, "benchmarks", "bench_french.py")
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    return module


def test_sentence_filters(bench):
    assert bench.is_english_sentence("Mandatory arguments to long options are mandatory for short options too.")
    assert not bench.is_english_sentence("Report bugs to %s and include the output of the command.")
    assert not bench.is_english_sentence("Les paramètres requis pour les options longues le sont aussi.")
    assert not bench.is_english_sentence("Save the file as it is now")  # no sentence end
    english = "Copy the file to the directory given on the command line."
    assert bench.is_french_translation("Copier le fichier dans le répertoire donné sur la ligne de commande.", english)
    assert not bench.is_french_translation(english, english)


def test_build_sets_pairs_paraphrases_and_held_out(bench):
    entries = [
        ("a.mo", f"This is English sentence number {i} of the test.", f"Voici la phrase française numéro {i} du test.")
        for i in range(30)
    ]
    entries += [
        ("b.mo", "This is English sentence number 0 of the test.", "C'est la phrase française numéro 0 de l'essai."),
        ("b.mo", "This is English sentence number 1 of the test.", "Voici la phrase française numéro 1 du test !"),
    ]
    corpus = {bench.normalise("Voici la phrase française numéro 5 du test.")}
    pairs, paraphrases, info = bench.build_sets(entries, corpus, pairs=20, seed=0)
    # Source 0 has two translations that differ in words: a paraphrase pair (not a translation pair then);
    # source 1's second French differs only in punctuation: not a paraphrase. Source 5 is in the corpus.
    assert paraphrases == [
        ("Voici la phrase française numéro 0 du test.", "C'est la phrase française numéro 0 de l'essai.")
    ]
    assert info == {"catalogue_sources": 30, "candidate_pairs": 28, "dropped_in_corpus": 1, "paraphrase_pairs": 1}
    assert len(pairs) == 20 and len({f for _, f in pairs}) == 20
    assert not {e for e, _ in pairs} & {
        "This is English sentence number 0 of the test.",
        "This is English sentence number 5 of the test.",
    }
    assert pairs == bench.build_sets(entries, corpus, pairs=20, seed=0)[0]
    with pytest.raises(SystemExit, match="Only 28 English/French sentence pairs .* fewer than --pairs 29"):
        bench.build_sets(entries, corpus, pairs=29)


def test_retrieval_figures(bench):
    keys = np.eye(4, dtype=np.float32)
    queries = keys[[0, 1, 3, 2]] + 0.1
    assert bench.accuracy_at_1(queries, keys) == 0.5
    # Pairs (0, 1) and (2, 3), distractor 4; row 2's partner ranks second (behind the distractor).
    pool = np.array([[1, 0, 0], [0.9, 0.1, 0], [0, 1, 0.2], [0, 0.6, 1], [0, 1, 0.1]], np.float32)
    acc1, mrr10 = bench.paraphrase_scores(pool, 2)
    assert acc1 == 0.75 and mrr10 == pytest.approx((1 + 1 + 0.5 + 1) / 4)

"""scripts/build_french_corpus.py: the sentence filter, the held-out split, dpkg's file lists and the failure
message naming the apt-get command."""

import collections
import gzip
import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def corpus():
    spec = importlib.util.spec_from_file_location(
        "build_french_corpus", os.path.join(ROOT, "scripts", "build_french_corpus.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_french_prose_is_kept_and_code_english_and_short_lines_are_not(corpus):
    keep = "Le chat dort sur le canapé pendant que nous lisons la documentation."
    assert corpus.is_french_sentence(keep)
    assert not corpus.is_french_sentence("Le chat dort sur le canapé.")  # 6 words: under 8
    assert not corpus.is_french_sentence("The cat sleeps on the sofa while we read the documentation of it.")
    assert not corpus.is_french_sentence("Pour installer le paquet, tapez apt-get install $PAQUET pour la suite.")
    assert not corpus.is_french_sentence("ls -l affiche les fichiers du répertoire courant avec leurs droits.")
    assert corpus.is_french_sentence("Avec l'option -l, la commande affiche les fichiers avec leurs droits.")
    assert not corpus.is_french_sentence("Le fichier de configuration est dans /etc/apt/ et il faut le lire.")
    assert not corpus.is_french_sentence("Si la valeur est x = 3 alors la fonction renvoie le résultat attendu.")
    assert not corpus.is_french_sentence("Le chat dort sur le canapé pendant que nous lisons la documentation")


def test_heldout_is_a_stable_hash_split(corpus):
    keys = [f"phrase numéro {i} de la documentation française" for i in range(5000)]
    held = [k for k in keys if corpus.heldout(k, 2)]
    assert 60 <= len(held) <= 140  # ~2% of 5000
    assert held == [k for k in keys if corpus.heldout(k, 2)]
    assert not any(corpus.heldout(k, 0) for k in keys) and all(corpus.heldout(k, 100) for k in keys[:50])
    assert set(held) <= {k for k in keys if corpus.heldout(k, 10)}  # a larger share holds the smaller


def test_build_reads_a_packages_files_and_splits(corpus, tmp_path, monkeypatch):
    pages = tmp_path / "doc"
    pages.mkdir()
    sentences = [f"Cette phrase numéro {i} est une phrase de la documentation du paquet." for i in range(300)]
    (pages / "a.html").write_text(
        "<html><body><p>" + " ".join(sentences) + "</p><pre>apt-get install le paquet pour la documentation.</pre>"
        "<p>Cette phrase numéro 0 est une phrase de la documentation du paquet.</p></body></html>",
        encoding="utf-8",
    )
    monkeypatch.setattr(corpus, "held_out_translations", lambda: {corpus._key(sentences[1])})
    monkeypatch.setattr(corpus, "DPKG_INFO", str(tmp_path / "no-dpkg"))
    kept, held, counts, missing = corpus.build(
        {"doc-fr": [str(pages / "*.html")], "absent-fr": [str(tmp_path / "none" / "*.html")]}, heldout_percent=10
    )
    assert missing == ["absent-fr"]
    assert counts["doc-fr"] == 299 == len(kept) + len(held)  # the catalogue's sentence left out, duplicates once
    assert sentences[1] not in kept + held
    assert set(held) == {s for s in sentences if corpus.heldout(corpus._key(s), 10)} - {sentences[1]}
    assert not any("apt-get" in s for s in kept)


def test_dpkg_list_decides_which_files_are_a_packages(corpus, tmp_path, monkeypatch):
    man = tmp_path / "man"
    man.mkdir()
    for name in ("ours.1.gz", "other.1.gz"):
        with gzip.open(man / name, "wt") as f:
            f.write(".TH X 1\n")
    info = tmp_path / "info"
    info.mkdir()
    (info / "manpages-xx:all.list").write_text(f"{man}\n{man / 'ours.1.gz'}\n")
    monkeypatch.setattr(corpus, "DPKG_INFO", str(info))
    assert corpus.package_files("manpages-xx", [str(man / "*.gz")]) == [str(man / "ours.1.gz")]
    assert len(corpus.package_files("not-in-dpkg", [str(man / "*.gz")])) == 2  # no list: every match


def test_too_few_sentences_names_the_apt_get_command(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "build", lambda **kwargs: ([], [], collections.Counter(), ["manpages-fr"]))
    with pytest.raises(SystemExit, match=r"not installed: manpages-fr\. Install the sources: apt-get install -y "):
        corpus.main(["--out", str(tmp_path / "out.txt")])
    assert not (tmp_path / "out.txt").exists()

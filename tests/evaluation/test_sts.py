"""STS evaluation: hand-computed Spearman on tiny files, blank gold lines skipped, CLI output."""

import json
import os

import numpy as np
import pytest

from keras_contrastive import cli
from keras_contrastive.evaluation import sts

# Sentence -> 2-d vector; cosine with "base" (1, 0) is the first coordinate.
VECTORS = {
    "base": (1.0, 0.0),
    "s90": (0.9, np.sqrt(1 - 0.81)),
    "s10": (0.1, np.sqrt(1 - 0.01)),
    "s50": (0.5, np.sqrt(1 - 0.25)),
    "s30": (0.3, np.sqrt(1 - 0.09)),
    "noise": (-1.0, 0.0),
}


def _embed(sentences):
    return np.asarray([VECTORS[s] for s in sentences])


def _write_year(root, year, subsets):
    folder = root / f"{year}-en-test"
    folder.mkdir(parents=True)
    for name, rows in subsets.items():
        (folder / f"STS.input.{name}.txt").write_text("".join(f"{a}\t{b}\n" for a, b, _ in rows), encoding="utf-8")
        (folder / f"STS.gs.{name}.txt").write_text("".join(f"{g}\n" for _, _, g in rows), encoding="utf-8")


def _write_sts_dir(root):
    # cosines 0.9, 0.1, 0.5, 0.3 vs gold 5, 1, 3, 4: ranks (4,1,3,2) vs (4,1,2,3), sum d^2 = 2,
    # Spearman = 1 - 6 * 2 / (4 * 15) = 0.8. The blank-gold pair would break the ranks if scored.
    rows = [("base", "s90", "5"), ("base", "noise", ""), ("base", "s10", "1"), ("base", "s50", "3")]
    for year in sts.STS_YEARS:
        _write_year(root, year, {"a": rows, "b": [("s30", "base", "4.0")]})
    (root / "STSBenchmark").mkdir()
    lines = [("5.0", "s90"), ("1.0", "s10"), ("3.0", "s50"), ("4.0", "s30")]
    text = "".join(f"main-captions\tMSRvid\t2012test\t{i:04d}\t{g}\tbase\t{s}\n" for i, (g, s) in enumerate(lines))
    (root / "STSBenchmark" / "sts-test.csv").write_text(text, encoding="utf-8")


def test_hand_computed_spearman_and_blank_gold_lines_skipped(tmp_path):
    _write_sts_dir(tmp_path)
    first, second, gold = sts.load_sts_task(str(tmp_path / "STS12-en-test"))
    assert first == ["base", "base", "base", "s30"] and second == ["s90", "s10", "s50", "base"]
    np.testing.assert_array_equal(gold, [5, 1, 3, 4])
    results = sts.evaluate_sts(_embed, str(tmp_path))
    assert set(results) == {"STS12", "STS13", "STS14", "STS15", "STS16", "STSB", "avg"}
    for value in results.values():
        assert value == pytest.approx(80.0)


def test_spearman_averages_tied_ranks():
    # x ranks (1, 2.5, 2.5, 4), y ranks (1, 2, 3, 4): Pearson of the ranks.
    x_ranks, y_ranks = np.array([1, 2.5, 2.5, 4]), np.array([1, 2, 3, 4])
    expected = np.corrcoef(x_ranks, y_ranks)[0, 1]
    assert sts.spearman([0.1, 0.5, 0.5, 0.9], [1, 2, 3, 4]) == pytest.approx(expected)


def test_missing_directory_and_table_marks_sick_r_unavailable(tmp_path):
    with pytest.raises(FileNotFoundError, match="--sts-dir"):
        sts.load_sts(str(tmp_path / "nowhere"))
    table = sts.format_sts_table({"STS12": 70.0, "STSB": 80.0, "avg": 75.0})
    assert "| SICK-R | n/a: not available offline" in table and table.splitlines()[-1] == "| avg | 75.00 |"


def _ranks(values):
    """Ranks 1..n, ties given their average rank (a plain re-implementation, not scipy's)."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[order[j + 1]] == values[order[i]]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def test_cli_evaluate_sts_scores_a_model_by_hand_computed_spearman(tmp_path, capsys):
    from keras_contrastive.testing import tiny_simcse

    pairs = [
        ("the cat sat on the mat .", "a small cat ran .", "3.2"),
        ("a dog ran in the park .", "the big dog sat .", "2.5"),
        ("the bird sings in a tree .", "birds sing", "4.6"),
        ("a red car is fast .", "a fast blue car", "3.9"),
        ("the blue bird .", "the car ran on the mat .", "0.4"),
        ("a tree is big , the mat is red .", "cats and dogs", "0.0"),
    ]
    root = tmp_path / "sts"
    for year in sts.STS_YEARS:
        _write_year(root, year, {"a": pairs})
    (root / "STSBenchmark").mkdir()
    text = "".join(f"g\tf\t2012\t{i:04d}\t{gold}\t{a}\t{b}\n" for i, (a, b, gold) in enumerate(pairs))
    (root / "STSBenchmark" / "sts-test.csv").write_text(text, encoding="utf-8")
    model = tiny_simcse(seed=3)
    model_path = str(tmp_path / "model.keras")
    model.save(model_path)

    # The expected score, by hand: cosines of the model's own embeddings, Pearson of their ranks x 100.
    left = model.encode([a for a, _, _ in pairs])
    right = model.encode([b for _, b, _ in pairs])
    cosines = np.sum(left * right, axis=1) / (np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1))
    gold = [float(g) for _, _, g in pairs]
    expected = 100.0 * np.corrcoef(_ranks(cosines), _ranks(gold))[0, 1]
    assert abs(expected) > 5.0, "the tiny model must give a score that is not trivially zero"

    out = tmp_path / "result.json"
    args = ["evaluate", "sts", "--model", model_path, "--sts-dir", str(root), "--out", str(out)]
    assert cli.main(args) == 0
    result = json.loads(out.read_text())
    assert set(result) == {"STS12", "STS13", "STS14", "STS15", "STS16", "STSB", "avg", "model"}
    for task in (*sts.STS_YEARS, "STSB", "avg"):
        assert result[task] == pytest.approx(expected, abs=1e-4), task
    assert "SICK-R" in capsys.readouterr().out
    assert cli.main(["evaluate", "sts", "--model", str(tmp_path / "nope"), "--sts-dir", str(tmp_path)]) == 2
    assert os.path.exists(out)

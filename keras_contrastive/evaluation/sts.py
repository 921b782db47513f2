"""Semantic textual similarity: STS12–16 and STS-B, SimCSE's protocol.

Spearman correlation (× 100) between the cosine similarity of the two
sentence embeddings and the gold score. STS12–16 are scored on all their
subsets concatenated (SimCSE's "all" setting), STS-B on its test split; pairs
whose gold line is blank are not scored. The data (SentEval's files) are
passed by directory: nothing here ships or downloads them. SICK-R is not
available offline and is reported as unavailable.
"""

import glob
import os

import numpy as np
from scipy import stats

STS_YEARS = ("STS12", "STS13", "STS14", "STS15", "STS16")
STS_TASKS = (*STS_YEARS, "STSB")
UNAVAILABLE = {"SICKR": "not available offline (SICK is not in the STS directory)"}


def _read(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read().split("\n")


def load_sts_task(directory):
    """`(sentences_1, sentences_2, gold)` of one SemEval STS year directory
    (`STS.input.<set>.txt` + `STS.gs.<set>.txt`, subsets concatenated in name
    order); pairs with a blank gold line are skipped."""
    inputs = sorted(glob.glob(os.path.join(directory, "STS.input.*.txt")))
    if not inputs:
        raise FileNotFoundError(f"No STS.input.*.txt files in {directory!r}: not a SentEval STS year directory.")
    first, second, gold = [], [], []
    for input_path in inputs:
        subset = os.path.basename(input_path)[len("STS.input.") : -len(".txt")]
        gold_path = os.path.join(directory, f"STS.gs.{subset}.txt")
        if not os.path.isfile(gold_path):
            raise FileNotFoundError(f"{input_path} has no gold file {gold_path}.")
        pairs, scores = _read(input_path), _read(gold_path)
        for number, (pair, score) in enumerate(zip(pairs, scores), start=1):
            if not score.strip():
                continue  # a blank gold line: the pair is not scored
            fields = pair.split("\t")
            if len(fields) < 2:
                raise ValueError(f"{input_path}: line {number} is not sentence1<TAB>sentence2.")
            first.append(fields[0].strip())
            second.append(fields[1].strip())
            gold.append(float(score))
    return first, second, np.asarray(gold, dtype="float64")


def load_stsb(path):
    """`(sentences_1, sentences_2, gold)` of an STS Benchmark CSV
    (tab-separated `genre, file, year, id, score, sentence1, sentence2`)."""
    first, second, gold = [], [], []
    for number, line in enumerate(_read(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 7:
            raise ValueError(f"{path}: line {number} has {len(fields)} tab-separated fields, expected 7.")
        if not fields[4].strip():
            continue
        gold.append(float(fields[4]))
        first.append(fields[5].strip())
        second.append(fields[6].strip())
    return first, second, np.asarray(gold, dtype="float64")


def load_sts(sts_dir, tasks=STS_TASKS):
    """`{task: (sentences_1, sentences_2, gold)}` from a SentEval-layout directory
    (`STS12-en-test/` ... `STS16-en-test/`, `STSBenchmark/sts-test.csv`)."""
    sts_dir = os.fspath(sts_dir)
    if not os.path.isdir(sts_dir):
        raise FileNotFoundError(
            f"STS directory {sts_dir!r} not found: pass the folder holding STS12-en-test/ ... STSBenchmark/ "
            "(e.g. --sts-dir ../shared/data/sts)."
        )
    data = {}
    for task in tasks:
        if task == "STSB":
            data[task] = load_stsb(os.path.join(sts_dir, "STSBenchmark", "sts-test.csv"))
        elif task in STS_YEARS:
            data[task] = load_sts_task(os.path.join(sts_dir, f"{task}-en-test"))
        else:
            raise ValueError(f"Unknown STS task {task!r}: use some of {', '.join(STS_TASKS)}.")
    return data


def spearman(x, y):
    """Spearman's rank correlation (ties get their average rank)."""
    return float(stats.spearmanr(x, y).correlation)


def cosine_scores(embed, first, second):
    """Row-wise cosine similarity of `embed(first)` and `embed(second)`;
    every distinct sentence is embedded once."""
    unique = sorted(set(first) | set(second))
    vectors = np.asarray(embed(unique), dtype="float64")
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    index = {s: i for i, s in enumerate(unique)}
    a = vectors[[index[s] for s in first]]
    b = vectors[[index[s] for s in second]]
    return np.sum(a * b, axis=1)


def evaluate_sts(embed, sts_dir=None, data=None, tasks=STS_TASKS):
    """Spearman × 100 for each task and their average.

    Args:
        embed: callable. A list of N strings to an array `[N, D]`.
        sts_dir: str. The SentEval-layout directory (or pass `data`).
        data: dict or None. Already loaded `load_sts` output. Defaults to
            `None`.
        tasks: tuple of str. Defaults to STS12–16 and STSB.

    Returns:
        `{"STS12": ..., ..., "STSB": ..., "avg": ...}` (floats).
    """
    if data is None:
        data = load_sts(sts_dir, tasks)
    results = {}
    for task in tasks:
        first, second, gold = data[task]
        results[task] = 100.0 * spearman(cosine_scores(embed, first, second), gold)
    results["avg"] = float(np.mean([results[t] for t in tasks]))
    return results


def format_sts_table(results):
    """The results as a Markdown table, SICK-R marked unavailable."""
    names = {"STSB": "STS-B", "avg": "avg"}
    rows = [f"| {names.get(k, k)} | {v:.2f} |" for k, v in results.items()]
    rows.insert(len(rows) - 1, f"| SICK-R | n/a: {UNAVAILABLE['SICKR']} |")
    return "\n".join(["| task | Spearman x 100 |", "|---|---|", *rows])

"""Sentence data for SimCSE: text files, TSV pairs / triplets, WordNet, and the tf.data pipeline.

Sentences stay strings until the pipeline, which tokenizes each batch with
the encoder's in-graph `SentenceTokenizer`. Over-long lines are not an
error: the tokenizer truncates them.
"""

import os
import random

import tensorflow as tf

WORDNET_DIR = "/usr/share/wordnet"
_WORDNET_FILES = ("data.noun", "data.verb", "data.adj", "data.adv")


def _read_lines(path, what):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{what} file {path!r} not found. Pass an existing UTF-8 text file (data.path in a recipe)."
        )
    if os.path.isdir(path):
        raise ValueError(f"{what} file {path!r} is a directory: pass a UTF-8 text file, {what.lower()} per line.")
    with open(path, "rb") as f:
        raw = f.read()
    lines = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            lines.append(line.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as e:
            raise ValueError(
                f"{path}: line {number} is not valid UTF-8 (byte {line[e.start]:#04x} at column {e.start + 1}). "
                f"Re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 {path} > fixed.txt`."
            ) from None
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]  # a UTF-8 byte-order mark is not text
    return lines


def load_sentences(path):
    """The non-empty lines of a UTF-8 text file, one sentence per line, stripped.

    Empty (or blank) lines are skipped. Lines of any length are kept: the
    tokenizer truncates them to its `sequence_length`.

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        ValueError: the file has no non-empty line, or a line is not valid
            UTF-8 (the message names the file, the line and the fix).
    """
    sentences = [line.strip() for line in _read_lines(path, "Sentence")]
    sentences = [s for s in sentences if s]
    if not sentences:
        raise ValueError(
            f"{os.fspath(path)}: no sentences (the file is empty or has only blank lines). "
            "Put one sentence per line in a UTF-8 text file."
        )
    return sentences


def load_sentence_tuples(path):
    """Tab-separated pairs or triplets: `(anchors, positives, hard_negatives or None)`, lists of str.

    Each non-empty line is `anchor<TAB>positive` or
    `anchor<TAB>positive<TAB>hard_negative`; every line must have the same
    number of columns.
    """
    columns, rows = None, []
    for number, line in enumerate(_read_lines(path, "Sentence-pair"), start=1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("\t")]
        if len(fields) not in (2, 3) or not all(fields):
            raise ValueError(
                f"{os.fspath(path)}: line {number} has {len(fields)} tab-separated fields (or an empty one); "
                "expected anchor<TAB>positive or anchor<TAB>positive<TAB>hard_negative."
            )
        if columns is None:
            columns = len(fields)
        elif len(fields) != columns:
            raise ValueError(
                f"{os.fspath(path)}: line {number} has {len(fields)} fields but the first line has {columns}: "
                "use pairs or triplets throughout."
            )
        rows.append(fields)
    if not rows:
        raise ValueError(f"{os.fspath(path)}: no sentence pairs (the file is empty or has only blank lines).")
    cols = list(zip(*rows))
    return list(cols[0]), list(cols[1]), (list(cols[2]) if columns == 3 else None)


def load_stsb_rows(path):
    """Every scored pair of an STS Benchmark CSV: `(sentences_1, sentences_2, gold)`, lists.

    The file is tab-separated `genre, file, year, id, score, sentence1,
    sentence2` (STS-B's `sts-train.csv`; extra trailing fields are
    ignored); blank lines are skipped.

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        ValueError: a line is not in the STS-B format (the message names it).
    """
    path = os.fspath(path)
    first, second, gold = [], [], []
    for number, line in enumerate(_read_lines(path, "STS Benchmark CSV"), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            if len(fields) < 7:
                raise ValueError
            score = float(fields[4])
        except ValueError:
            raise ValueError(
                f"{path}: line {number} is not an STS Benchmark row (tab-separated genre, file, year, id, score, "
                "sentence1, sentence2): pass STS-B's sts-train.csv, or use data.source tsv:PATH for plain pairs."
            ) from None
        first.append(fields[5].strip())
        second.append(fields[6].strip())
        gold.append(score)
    return first, second, gold


def load_stsb_pairs(path, min_gold=4.0):
    """Paraphrase pairs of an STS Benchmark CSV: `(anchors, positives, sentences)`.

    Pairs whose gold score is at least `min_gold` (0-5 scale) are
    positives, `sentence1` the anchor (`load_stsb_rows` reads the file).
    `sentences` are the distinct sentences of every pair of the file,
    whatever their score (a corpus to mine hard negatives from).

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        ValueError: a line is not in the STS-B format, or no pair reaches
            `min_gold` (the message names the line, or the threshold).
    """
    first, second, gold = load_stsb_rows(path)
    pairs = [(a, b) for a, b, g in zip(first, second, gold) if g >= min_gold and a and b]
    if not pairs:
        raise ValueError(
            f"{os.fspath(path)}: no pair has a gold score >= {min_gold} (data.min_gold): lower it, at most 5."
        )
    sentences = list(dict.fromkeys(s for pair in zip(first, second) for s in pair if s))
    return [a for a, _ in pairs], [b for _, b in pairs], sentences


def _wordnet_entries(wordnet_dir):
    """`(pos, offset, lemmas, definition, examples)` of every synset."""
    paths = [os.path.join(wordnet_dir, name) for name in _WORDNET_FILES]
    present = [p for p in paths if os.path.isfile(p)]
    if not present:
        raise FileNotFoundError(
            f"No WordNet data files ({', '.join(_WORDNET_FILES)}) in {wordnet_dir!r}. Install them with "
            "`apt-get install wordnet-base` (Debian/Ubuntu), or pass the directory holding them."
        )
    for path in present:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):  # the licence header
                    continue
                head, _, gloss = line.partition(" | ")
                fields = head.split()
                count = int(fields[3], 16)
                lemmas = [fields[4 + 2 * i].replace("_", " ").split("(")[0].lower() for i in range(count)]
                parts = [p.strip() for p in gloss.strip().split(";")]
                definition = "; ".join(p for p in parts if p and not p.startswith('"'))
                examples = [p.strip('"').strip() for p in parts if p.startswith('"')]
                yield fields[2], fields[0], lemmas, definition, [e for e in examples if e]


def load_wordnet(wordnet_dir=WORDNET_DIR, examples=True):
    """WordNet glosses (and example sentences) as a list of distinct sentences.

    From the Debian package `wordnet-base` (`/usr/share/wordnet/data.*`):
    117,659 synset definitions and about 48,000 example sentences, an
    offline corpus of short English sentences.

    Args:
        wordnet_dir: str. Folder of `data.noun`, `data.verb`, ... Defaults
            to `/usr/share/wordnet`.
        examples: bool. Include the quoted example sentences. Defaults to
            `True`.
    """
    seen, sentences = set(), []
    for _, _, _, definition, example_list in _wordnet_entries(wordnet_dir):
        for sentence in [definition, *(example_list if examples else [])]:
            if sentence and sentence not in seen:
                seen.add(sentence)
                sentences.append(sentence)
    return sentences


def load_wordnet_triplets(wordnet_dir=WORDNET_DIR, seed=0):
    """Supervised WordNet triplets `(anchors, positives, hard_negatives)`.

    Anchor: an example sentence; positive: the definition of its sense;
    hard negative: the definition of another sense of the same word (e.g.
    "bank" the river side vs the institution), or of a random synset when
    the word has one sense.
    """
    entries = list(_wordnet_entries(wordnet_dir))
    by_lemma = {}
    for index, (_, _, lemmas, definition, _) in enumerate(entries):
        if definition:
            for lemma in lemmas:
                by_lemma.setdefault(lemma, []).append(index)
    rng = random.Random(seed)
    anchors, positives, negatives = [], [], []
    for index, (_, _, lemmas, definition, example_list) in enumerate(entries):
        if not definition:
            continue
        others = [j for lemma in lemmas for j in by_lemma.get(lemma, ()) if j != index]
        for example in example_list:
            j = rng.choice(others) if others else rng.randrange(len(entries))
            if entries[j][3] and entries[j][3] != definition:
                anchors.append(example)
                positives.append(definition)
                negatives.append(entries[j][3])
    return anchors, positives, negatives


def text_dataset(columns, tokenizer, batch_size, shuffle=True, seed=None, repeat=False, sequence_length=None):
    """A tf.data pipeline of `{"views": (token_ids, ...)}` batches for `models.SimCSE`.

    Args:
        columns: list of str, or a tuple of equal-length lists. One list:
            unsupervised (one view, encoded twice by SimCSE); two or three:
            anchor, positive (and hard negative), row-aligned.
        tokenizer: `SentenceTokenizer` (the encoder's `tokenizer`).
        batch_size: int. Global batch size; the last partial batch is
            dropped (every batch has the same negatives count).
        shuffle: bool. Shuffle rows every epoch. Defaults to `True`.
        seed: int or None. Shuffle seed. Defaults to `None`.
        repeat: bool. Repeat forever. Defaults to `False`.
        sequence_length: int or None. Tokens per sentence; `None` = the
            tokenizer's. Defaults to `None`.
    """
    if isinstance(columns, list) and (len(columns) == 0 or isinstance(columns[0], str)):
        columns = (columns,)
    columns = tuple(list(c) for c in columns if c is not None)
    if len({len(c) for c in columns}) != 1:
        raise ValueError(f"text_dataset columns must have equal lengths, received {[len(c) for c in columns]}.")
    if len(columns[0]) < batch_size:
        raise ValueError(
            f"batch_size={batch_size} is larger than the {len(columns[0])} sentences: lower the batch size."
        )
    dataset = tf.data.Dataset.from_tensor_slices(tuple(tf.constant(c, dtype=tf.string) for c in columns))
    if shuffle:
        dataset = dataset.shuffle(len(columns[0]), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=True)

    def tokenize(*texts):
        return {"views": tuple(tokenizer(t, sequence_length=sequence_length) for t in texts)}

    return dataset.map(tokenize, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

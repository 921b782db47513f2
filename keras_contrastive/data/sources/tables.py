"""Tabular sources (`csv:`, `parquet:`): a file's columns as sentences, or as a listing of image files.

A format module reads its file into `{column: list of cells}` and hands it here:

- text: a `sentence` column, optional `positive` and `negative` columns: one column of sentences
  (unsupervised), `(sentence, positive)` pairs or `(sentence, positive, negative)` triplets (supervised).
  Read into memory, as WordNet and STS-B are (a million sentences are some 100 MB).
- images: a `path` column (relative to the file's folder, or absolute) and an optional `label` column
  (class names, or integers). Listed as a folder is (`label<TAB>path` lines, `data.image_source`), then
  streamed: a path that does not exist or does not decode is skipped and named when it is read
  (`data.on_error`), as a folder's bad file is. The test split: `test_fraction` of the rows by a hash of
  their path (labelled tables only, as folders).

A cell that is empty where a value is needed, or that is not UTF-8 text, is an error naming the file, its
row (1 = the first data row) and its column.
"""

import hashlib
import os

TEXT_COLUMNS = ("sentence", "positive", "negative")
IMAGE_COLUMNS = ("path", "label")


def require_columns(name, found, required, optional=()):
    """The columns of `required` + `optional` the file has; a missing required one is a `DataError`."""
    from keras_contrastive.data.image_source import DataError  # TensorFlow: loaded when read, not for --help

    missing = [c for c in required if c not in found]
    if missing:
        raise DataError(
            f"{name} lacks the column {missing[0]!r} (columns found: {sorted(found)}). Name its columns "
            f"{', '.join(required)}{' (and optionally ' + ', '.join(optional) + ')' if optional else ''}."
        )
    return [c for c in (*required, *optional) if c in found]


def text_cell(name, row, column, value, required=True):
    """`value` as text: bytes are decoded as UTF-8, an undecodable or (when `required`) empty cell is a
    `DataError` naming the row and column."""
    from keras_contrastive.data.image_source import DataError  # TensorFlow: loaded when read, not for --help

    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(
                f"{name}, row {row}, column {column!r}: not UTF-8 text (byte {value[e.start]:#04x}). Save the "
                "file as UTF-8."
            ) from None
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a byte that was not UTF-8, kept as a surrogate by the reader
            raise DataError(f"{name}, row {row}, column {column!r}: not UTF-8 text. Save the file as UTF-8.") from None
    elif value is not None:
        value = str(value)
    value = (value or "").strip()
    if required and not value:
        raise DataError(f"{name}, row {row}, column {column!r}: the cell is empty. Fill it or remove the row.")
    return value


def text_columns(name, columns):
    """`(sentences,)`, `(sentences, positives)` or `(sentences, positives, negatives)` of a table."""
    from keras_contrastive.data.image_source import DataError  # TensorFlow: loaded when read, not for --help

    present = require_columns(name, columns, TEXT_COLUMNS[:1], TEXT_COLUMNS[1:])
    if "negative" in present and "positive" not in present:
        raise DataError(f"{name} has a 'negative' column but no 'positive': a hard negative needs its positive.")
    out = tuple([] for _ in present)
    for row, cells in enumerate(zip(*(columns[c] for c in present)), start=1):
        for column, (cell, values) in enumerate(zip(cells, out)):
            values.append(text_cell(name, row, present[column], cell))
    if not out[0]:
        raise DataError(f"{name} holds no row: add one sentence a row under its 'sentence' header.")
    return out


def image_source(name, columns, file, test_fraction=0.2, seed=0, folder_for_listings=None):
    """The streaming `ImageSource` (named `name`) of the table of image paths (and labels) read from `file`,
    listed to a file."""
    from keras_contrastive.data.image_source import (
        DataError,
        ImageSource,
        ImageSplit,
        _hash_fraction,
        _write_listing,
        work_dir,
    )  # TensorFlow: loaded when read, not for --help

    present = require_columns(name, columns, IMAGE_COLUMNS[:1], IMAGE_COLUMNS[1:])
    paths = [text_cell(name, row, "path", p) for row, p in enumerate(columns["path"], start=1)]
    if not paths:
        raise DataError(f"{name} holds no row: add one image path a row under its 'path' header.")
    class_names, labels = None, [-1] * len(paths)
    if "label" in present:
        cells = [text_cell(name, row, "label", v) for row, v in enumerate(columns["label"], start=1)]
        distinct = set(cells)
        numeric = all(c.lstrip("-").isdigit() for c in distinct)
        class_names = tuple(sorted(distinct, key=int if numeric else str))
        index = {c: i for i, c in enumerate(class_names)}
        labels = [index[c] for c in cells]
    if class_names and not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be in (0, 1); received {test_fraction}.")
    folder = folder_for_listings or work_dir()
    os.makedirs(folder, exist_ok=True)
    base = os.path.dirname(os.path.abspath(file))
    key = f"{os.path.abspath(file)}|{test_fraction}|{seed}"
    listing = os.path.join(folder, hashlib.sha1(key.encode("utf-8")).hexdigest()[:16] + ".tsv")
    entries = ((label, os.path.normpath(os.path.join(base, p))) for label, p in zip(labels, paths))
    relative = {os.path.normpath(os.path.join(base, p)): p for p in paths}
    test_of = (lambda f: _hash_fraction(relative[f], seed) < test_fraction) if class_names else None
    n_train, n_test = _write_listing(listing, entries, test_of=test_of)
    if not n_train:
        raise DataError(f"{name}: every row fell in the test split; add rows or lower test_fraction.")
    train = ImageSplit("files", n_train, n_train, bool(class_names), listing)
    test = ImageSplit("files", n_test, n_test, True, listing + ".test") if n_test else None
    return ImageSource(name, train, test, class_names, None, None)


def table_kinds(prefix, noun, read):
    """The two `SourceKind`s of a table file format (`csv`, `parquet`): its text form (a `sentence` column,
    optional `positive` / `negative`, read into memory) and its image form (a `path` column relative to the
    file, an optional `label`, listed then streamed). `read(path, wanted)` -> `{column: list of cells}` (every
    column's name a key, the `wanted` ones filled); `noun` names the file in the help ("a CSV")."""
    from keras_contrastive.data.sources import SourceKind

    def name(spec):
        return f"{prefix}:{spec.argument}"

    def text(spec, min_gold=None, seed=0):
        return text_columns(name(spec), read(spec.argument, TEXT_COLUMNS))

    def corpus(spec):
        return list(dict.fromkeys(s for column in text(spec) for s in column))

    def images(spec, test_fraction=0.2, seed=0, work_dir=None, data_dir=None):
        columns = read(spec.argument, IMAGE_COLUMNS)
        return image_source(name(spec), columns, os.path.expanduser(spec.argument), test_fraction, seed, work_dir)

    return (
        SourceKind(
            prefix, "text", f"{noun} with a sentence column (, positive (, negative)), read into memory",
            keys=("path", "hard_negatives", "mine_margin"), argument="PATH", path_is_argument=True, in_memory=True,
            load=text, corpus=corpus,
        ),
        SourceKind(
            prefix, "image", f"{noun} with a path column (relative to the file) and an optional label column",
            keys=("image_size", "channels", "on_error"), argument="PATH",
            split="test_fraction of the rows by a hash of their path", open=images,
            options=("image_size", "seed", "test_fraction"),
        ),
    )  # fmt: skip

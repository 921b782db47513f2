"""`csv:PATH`: a CSV file (comma-separated, a header line) of sentences, or of image paths and labels.

- text methods: a `sentence` column, optional `positive` and `negative` columns (`data.sources.tables`);
- image methods: a `path` column (relative to the CSV's folder) and an optional `label` column.

The file is read as UTF-8: a cell that is not is an error naming its row and column.
"""

import csv
import os

from keras_contrastive.data.sources import tables


def read_csv(path, wanted=None):
    """`{column: list of cells}` of the CSV file at `path`, every column (`wanted` is for the readers of
    formats that can read only some; cells that are not UTF-8 are kept as surrogates
    for `tables.text_cell` to name)."""
    from keras_contrastive.data.image_source import DataError

    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"CSV file {path!r} not found. Pass csv:PATH with PATH a CSV file whose first line names its columns."
        )
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if not header:
            raise DataError(f"CSV file {path!r} is empty: its first line names the columns.")
        header = [h.strip().lstrip("\ufeff") for h in header]
        columns = {h: [] for h in header}
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(
                    f"CSV file {path!r}, line {line}: {len(row)} cells but {len(header)} columns in the header. "
                    "Quote cells that hold commas."
                )
            for name, cell in zip(header, row):
                columns[name].append(cell)
    return columns


KINDS = tables.table_kinds("csv", "a CSV", read_csv)

"""`parquet:PATH`: a Parquet file of sentences, or of image paths and labels (needs pyarrow: the `parquet`
extra, `pip install "keras-contrastive[parquet]"`).

- text methods: a `sentence` column, optional `positive` and `negative` columns (`data.sources.tables`);
- image methods: a `path` column (relative to the file's folder) and an optional `label` column (strings
  or integers).

Only those columns are read. Text cells must be UTF-8 (a `binary` column's cells are decoded as UTF-8): a
cell that is not is an error naming its row and column.
"""

import os

from keras_contrastive.data.sources import tables


def read_parquet(path, wanted):
    """`{column: list of cells}` of the columns of `wanted` that the Parquet file at `path` has (text cells as
    bytes, for `tables.text_cell` to decode and name)."""
    from keras_contrastive.data.image_source import DataError

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError(
            'parquet:PATH reads Parquet files with pyarrow, which is not installed: pip install "keras-contrastive'
            '[parquet]" (or pip install pyarrow).'
        ) from None
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Parquet file {path!r} not found. Pass parquet:PATH with PATH a .parquet file.")
    try:
        names = pq.read_schema(path).names
        table = pq.read_table(path, columns=[c for c in wanted if c in names])
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"Could not read the Parquet file {path!r} ({e}).") from None
    columns = {name: None for name in names}  # every column's name, for the message of a missing one
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = column.cast(pa.binary() if pa.types.is_string(column.type) else pa.large_binary())
        columns[name] = column.to_pylist()
    return columns


KINDS = tables.table_kinds("parquet", "a Parquet file", read_parquet)

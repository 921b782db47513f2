"""Sentence files streamed through `tf.data`: one sentence a line (plain or `.gz`), or TSV pairs / triplets.

`scan_text_file` reads a file once, line by line, to count its sentences and check it (UTF-8, the same
number of tab-separated fields on every line), holding nothing of it; `text_file_dataset` then streams it
with `TextLineDataset` (gzip by the `.gz` extension), strips and splits each line, shuffles within a buffer
and tokenizes each batch in the graph with the encoder's `SentenceTokenizer`. Neither grows with the file
beyond the shuffle buffer.
"""

import dataclasses
import gzip
import os

import tensorflow as tf


@dataclasses.dataclass
class TextFile:
    """A checked sentence file.

    Args:
        path: str. The file.
        sentences: int. Non-blank lines (rows).
        columns: int. 1 (sentences), 2 (pairs) or 3 (triplets).
    """

    path: str
    sentences: int
    columns: int

    @property
    def compression(self):
        return "GZIP" if self.path.lower().endswith(".gz") else ""


def _open(path):
    return gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")


def scan_text_file(path, tsv=False):
    """Counts and checks the sentences of a UTF-8 text file (`.gz` read as gzip), one pass, nothing kept.

    Args:
        path: str. The file.
        tsv: bool. Lines are `anchor<TAB>positive[<TAB>hard negative]`, the same count on every line.

    Returns:
        A `TextFile`.

    Raises:
        FileNotFoundError: no such file. ValueError: a directory, a line that is not UTF-8 (naming the line and
        `iconv`), a TSV line with another number of fields, or no sentence at all.
    """
    path = os.fspath(path)
    what = "Sentence-pair" if tsv else "Sentence"
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{what} file {path!r} not found. Pass an existing UTF-8 text file (data.path in a recipe)."
        )
    if os.path.isdir(path):
        raise ValueError(f"{what} file {path!r} is a directory: pass a UTF-8 text file, {what.lower()} per line.")
    count, columns = 0, None
    try:
        with _open(path) as f:
            for number, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as e:
                    raise ValueError(
                        f"{path}: line {number} is not valid UTF-8 (byte {raw[e.start]:#04x} at column {e.start + 1})."
                        f" Re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 {path} > fixed.txt`."
                    ) from None
                if number == 1 and line.startswith("\ufeff"):
                    line = line[1:]
                if not line.strip():
                    continue
                if tsv:
                    fields = [field.strip() for field in line.split("\t")]
                    if len(fields) not in (2, 3) or not all(fields):
                        raise ValueError(
                            f"{path}: line {number} has {len(fields)} tab-separated fields (or an empty one); "
                            "expected anchor<TAB>positive or anchor<TAB>positive<TAB>hard_negative."
                        )
                    if columns is None:
                        columns = len(fields)
                    elif len(fields) != columns:
                        raise ValueError(
                            f"{path}: line {number} has {len(fields)} fields but the first line has {columns}: "
                            "use pairs or triplets throughout."
                        )
                count += 1
    except (OSError, EOFError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"Could not read {path} ({e}). A .gz file must be gzip-compressed text.") from None
    if not count:
        raise ValueError(
            f"{path}: no sentences (the file is empty or has only blank lines). Put one sentence per line in a UTF-8 "
            "text file."
        )
    return TextFile(path, count, columns or 1)


def text_file_dataset(text_file, tokenizer, batch_size, shuffle=True, seed=None, repeat=False,
                      sequence_length=None, shuffle_buffer=65536, num_shards=1, shard_index=0):  # fmt: skip
    """A streaming `tf.data` pipeline of `{"views": (token_ids, ...)}` batches for a text method (SimCSE), as
    `data.text_dataset` gives for sentences in memory.

    Args:
        text_file: `TextFile` (`scan_text_file`).
        tokenizer: the encoder's `SentenceTokenizer`.
        batch_size: int. The last partial batch is dropped.
        shuffle: bool. Shuffle within `shuffle_buffer` lines, anew every epoch. Defaults to `True`.
        seed: int or None. Defaults to `None`.
        repeat: bool. Repeat forever. Defaults to `False`.
        sequence_length: int or None. Tokens per sentence; `None` = the tokenizer's.
        shuffle_buffer: int. Lines shuffled at once (the only part of the file held). Defaults to `65536`.
        num_shards, shard_index: int. This input pipeline's lines (every `num_shards`-th, DATA sharding: one
            file). Defaults to one pipeline.
    """
    if text_file.sentences < batch_size:
        raise ValueError(
            f"batch_size={batch_size} is larger than the {text_file.sentences} sentences of {text_file.path}: "
            "lower the batch size."
        )
    columns = text_file.columns
    ds = tf.data.TextLineDataset(text_file.path, compression_type=text_file.compression)
    ds = ds.filter(lambda line: tf.strings.length(tf.strings.strip(line)) > 0)
    if num_shards > 1:
        ds = ds.shard(num_shards, shard_index)
    if shuffle:
        ds = ds.shuffle(min(int(shuffle_buffer), text_file.sentences), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(int(batch_size), drop_remainder=True)

    def tokenize(lines):
        lines = tf.strings.regex_replace(lines, "^\ufeff", "")
        if columns == 1:
            texts = [tf.strings.strip(lines)]
        else:
            fields = tf.strings.split(lines, "\t").to_tensor("")
            texts = [tf.strings.strip(fields[:, i]) for i in range(columns)]
        return {"views": tuple(tokenizer(t, sequence_length=sequence_length) for t in texts)}

    ds = ds.map(tokenize, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    # One file cannot be split by file among workers: each worker takes its share of the batches (DATA),
    # said explicitly so that tf.distribute does not try FILE first and warn.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)

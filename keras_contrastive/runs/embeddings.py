"""Embeddings for retrieval and vector databases: a model and inputs in, `(ids, vectors)` out.

    keras-contrastive embed --model runs/simcse --input sentences.txt --out sentences.parquet
    keras-contrastive embed --model simclr_quickstart --input photos/ --out photos.npy   # + photos.ids.txt

`model` is anything `runs.open_model` opens: a run directory, a `.keras` file, an exported SavedModel
(a version folder, or a model folder: its latest version), a CLIP export folder, a zoo name, `minilm` or
a local text preset folder. `inputs` is a text file (one sentence per line, blank lines skipped; id = line
number), a folder of images (recursively; id = path relative to the folder), a data spec (`wordnet`,
`text:PATH`, `stsb:PATH`, `tsv:PATH`, `fashion_mnist_subset`, `npz:PATH`, `folder:PATH`, ...; id =
position, or `train/i`, `test/i` for image splits), a list of strings or an image array. A text file and a
folder of images are read and embedded `chunk_size` at a time and written as they come, so memory holds one
chunk of inputs (and, for `.npy`, a memory-mapped output); the image data specs are read whole by
`data.load_data`.
"""

import os
import tempfile

import numpy as np

from keras_contrastive.data import sources
from keras_contrastive.data.sources import IMAGE_EXTENSIONS
from keras_contrastive.progress_bar import ProgressBar
from keras_contrastive.runs.sources import open_model


# --- models ---------------------------------------------------------------------------------------------------
class Embedder:
    """A model reduced to what `embed` needs: `texts(list of str, batch_size)` and / or
    `images(uint8 [N, H, W, C], batch_size)` to float32 `[N, D]` (normalised or not: `embed` normalises)."""

    def __init__(self, name, texts=None, images=None, image_shape=None):
        self.name, self._texts, self._images, self.image_shape = name, texts, images, image_shape

    @property
    def modalities(self):
        return tuple(m for m, f in (("text", self._texts), ("image", self._images)) if f is not None)

    def texts(self, sentences, batch_size=256):
        return np.asarray(self._texts(list(sentences), batch_size), dtype="float32")

    def images(self, images, batch_size=256):
        return np.asarray(self._images(images, batch_size), dtype="float32")


def load_embedder(model):
    """An `Embedder` of `model` (a `runs.ModelSource` or anything `runs.open_model` opens): text models embed
    sentences, image models images, image-text (CLIP) models both; an exported zero-shot classifier is
    refused (it gives class probabilities, not embeddings)."""
    if isinstance(model, Embedder):
        return model
    source = open_model(model)
    if source.modality == "text":
        return Embedder(source.spec, texts=lambda s, b: source.embed_text(s, batch_size=b, normalize=False))
    if source.modality == "image":
        return Embedder(
            source.spec, images=lambda x, b: source.embed_images(x, batch_size=b), image_shape=source.image_shape
        )
    if source.kind == "clip_export":
        image_tower, text_tower = source.towers["image_tower"], source.towers["text_tower"]
        return Embedder(
            source.spec,
            texts=lambda s, b: text_tower(s, batch_size=b),
            images=lambda x, b: image_tower(x, batch_size=b),
            image_shape=source.image_shape,
        )
    if source.model is None:
        raise ValueError(
            f"{source.spec} is an exported zero-shot classifier: it gives class probabilities, not embeddings. "
            "Embed with the CLIP run directory, or its export folder (image_tower/, text_tower/)."
        )
    clip = source.model
    return Embedder(
        source.spec,
        texts=lambda s, b: clip.encode_text(s, batch_size=b),
        images=lambda x, b: clip.encode_images(x, batch_size=b),
        image_shape=source.image_shape,
    )


# --- inputs -----------------------------------------------------------------------------------------------------
class Inputs:
    """`kind` ("text" or "image"), `count`, and `chunks(size)`: an iterator of `(ids, items)`."""

    def __init__(self, kind, count, chunks, description):
        self.kind, self.count, self._chunks, self.description = kind, count, chunks, description

    def chunks(self, size):
        return self._chunks(size)


def _text_file(path):
    def lines():
        with open(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise ValueError(
                        f"{path}: line {number} is not valid UTF-8 (byte {raw[e.start]:#04x}). Re-encode the file "
                        f"as UTF-8, e.g. `iconv -f latin1 -t utf-8 {path} > fixed.txt`."
                    ) from None
                if number == 1:
                    line = line.lstrip("\ufeff")
                line = line.strip()
                if line:
                    yield str(number), line

    count = sum(1 for _ in lines())
    if not count:
        raise ValueError(f"{path}: no sentences (the file is empty or blank). Put one sentence per line.")
    return Inputs("text", count, lambda size: _batched(lines(), size), f"text file {path}")


def _batched(pairs, size):
    ids, items = [], []
    for i, item in pairs:
        ids.append(i)
        items.append(item)
        if len(ids) == size:
            yield ids, items
            ids, items = [], []
    if ids:
        yield ids, items


def _image_folder(root, image_shape):
    from keras_contrastive.data.data_splits import read_images

    paths = sorted(
        os.path.join(folder, f)
        for folder, _, files in os.walk(root)
        for f in files
        if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")
    )
    if not paths:
        raise ValueError(f"{root}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in this folder or below it.")

    def chunks(size):
        for start in range(0, len(paths), size):
            batch = paths[start : start + size]
            images = read_images(batch, image_shape[:2] if image_shape else None)
            yield [os.path.relpath(p, root) for p in batch], _to_channels(images, image_shape)

    return Inputs("image", len(paths), chunks, f"image folder {root}")


def _to_channels(images, image_shape):
    if image_shape is None or images.shape[-1] == image_shape[-1]:
        return images
    if image_shape[-1] == 1:  # RGB to luminance, as PIL's "L"
        grey = images.astype("float32") @ np.array([0.299, 0.587, 0.114], dtype="float32")
        return np.clip(np.round(grey), 0, 255).astype("uint8")[..., None]
    return np.repeat(images, image_shape[-1], axis=-1)


def _array(images, ids):
    def chunks(size):
        for start in range(0, len(images), size):
            yield ids[start : start + size], images[start : start + size]

    return chunks


def _data_spec(spec, image_shape):
    try:
        parsed = sources.parse(spec, ("text", "image"), what="--input")
    except sources.SourceError as e:
        raise ValueError(f"{e} (Or give a text file or a folder of images.)") from None
    kind = parsed.kind
    if kind.modality == "text":
        if kind.open is not None and kind.prefix == "text":  # one sentence a line: streamed in chunks
            return _text_file(parsed.argument)
        sentences = kind.corpus(parsed)
        pairs = ((str(i), s) for i, s in enumerate(sentences))
        return Inputs("text", len(sentences), lambda size: _batched(pairs, size), spec)
    from keras_contrastive import data

    kwargs = {"image_size": image_shape[:2]} if kind.streaming and image_shape else {}
    splits = data.load_data(parsed, **kwargs)
    images = np.concatenate([splits.x_train, splits.x_test])
    ids = [f"train/{i}" for i in range(len(splits.x_train))] + [f"test/{i}" for i in range(len(splits.x_test))]
    return Inputs("image", len(images), _array(images, ids), spec)


def open_inputs(inputs, image_shape=None):
    """`Inputs` from a text file, an image folder, a data spec, a list of strings or an image array."""
    if isinstance(inputs, np.ndarray):
        if inputs.ndim != 4:
            raise ValueError(f"An image array is [N, H, W, C]; received shape {inputs.shape}.")
        return Inputs("image", len(inputs), _array(inputs, [str(i) for i in range(len(inputs))]), "image array")
    if isinstance(inputs, (list, tuple)):
        sentences = [str(s) for s in inputs]
        pairs = [(str(i), s) for i, s in enumerate(sentences)]
        return Inputs("text", len(sentences), lambda size: _batched(iter(pairs), size), "list of sentences")
    path = os.fspath(inputs)
    if os.path.isfile(path):
        return _text_file(path)
    if os.path.isdir(path):
        return _image_folder(path, image_shape)
    if sources.find(path, ("text", "image")) is not None:
        return _data_spec(path, image_shape)
    raise FileNotFoundError(
        f"--input {path!r} is not a text file, a folder of images or a data spec "
        f"({sources.help_text(('text', 'image'))})."
    )


# --- shards: N machines embed N parts of one corpus ---------------------------------------------------------
def parse_shard(shard):
    """`(i, n)` of a shard given as `"I/N"` (or a pair): part `i` (from 0) of `n`."""
    if isinstance(shard, str):
        index, _, total = shard.partition("/")
        try:
            shard = (int(index), int(total))
        except ValueError:
            shard = None
    if not shard or len(shard) != 2 or not 0 <= shard[0] < shard[1]:
        raise ValueError(f"--shard {shard!r}: write I/N with 0 <= I < N, e.g. 0/4 for the first of 4 parts.")
    return int(shard[0]), int(shard[1])


def shard_inputs(stream, shard):
    """The items of part `i` of `n` of `stream` (`shard`: `"I/N"` or `(i, n)`): the contiguous range
    `[i * count // n, (i + 1) * count // n)`, so the parts in order are the whole corpus in order. Ids stay the
    corpus's (line numbers, paths, positions), so the parts' ids never collide."""
    index, total = parse_shard(shard)
    low, high = index * stream.count // total, (index + 1) * stream.count // total

    def chunks(size):
        position = 0
        for ids, items in stream.chunks(size):
            start, stop = max(low - position, 0), min(high - position, len(ids))
            position += len(ids)
            if start < stop:
                yield ids[start:stop], items[start:stop]
            if position >= high:
                return

    return Inputs(stream.kind, high - low, chunks, f"{stream.description} (part {index}/{total})")


# --- embedding --------------------------------------------------------------------------------------------------
def _l2_normalize(x):
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def iter_embeddings(model, inputs, batch_size=256, normalize=True, chunk_size=4096, progress=None):
    """Yields `(ids, items, embeddings)` chunk by chunk (`items`: the sentences, or the image arrays).

    Args:
        model: see `load_embedder`.
        inputs: see `open_inputs`.
        batch_size: int. Inputs per model call. Defaults to `256`.
        normalize: bool. L2-normalise each embedding (a text export's always are). Defaults to `True`.
        chunk_size: int. Inputs read (and written) at a time. Defaults to `4096`.
        progress: bool or None. Progress bar on stderr (`None`: on a terminal). Defaults to `None`.
    """
    embedder = load_embedder(model)
    stream = inputs if isinstance(inputs, Inputs) else open_inputs(inputs, embedder.image_shape)
    if stream.kind not in embedder.modalities:
        kinds = " and ".join(f"{m}s" for m in embedder.modalities)
        raise ValueError(
            f"{embedder.name} embeds {kinds}, but {stream.description} holds {stream.kind}s: pass {kinds}, or a "
            f"model for {stream.kind}s."
        )
    bar = ProgressBar(stream.count, "embedding", progress)
    for ids, items in stream.chunks(max(int(chunk_size), 1)):
        vectors = (embedder.texts if stream.kind == "text" else embedder.images)(items, batch_size)
        yield ids, items, (_l2_normalize(vectors) if normalize else vectors)
        bar.update(len(ids))
    bar.close()


def embed(model, inputs, batch_size=256, normalize=True, progress=None):
    """`(ids, embeddings)`: a list of str and float32 `[N, D]` (L2-normalised unless `normalize=False`).

    Holds every embedding in memory; `write_embeddings` streams them to a file instead.

    Example:

    >>> ids, vectors = embed("simclr_quickstart", "fashion_mnist_subset")  # doctest: +SKIP
    >>> ids[0], vectors.shape  # doctest: +SKIP
    ('train/0', (13000, 256))
    """
    all_ids, chunks = [], []
    for ids, _, vectors in iter_embeddings(model, inputs, batch_size, normalize, progress=progress):
        all_ids += ids
        chunks.append(vectors)
    return all_ids, (np.concatenate(chunks) if chunks else np.zeros((0, 0), "float32"))


def ids_path(npy_path):
    """The ids file beside a `.npy` output: `X.npy` -> `X.ids.txt` (one id a line, in row order)."""
    return os.fspath(npy_path)[: -len(".npy")] + ".ids.txt"


def write_embeddings(model, inputs, out, batch_size=256, normalize=True, chunk_size=4096, progress=None, shard=None):
    """Embeds `inputs` with `model` into `out`, streaming: `.npy` (float32 `[N, D]`, plus `ids_path(out)`) or
    `.parquet` (columns `id` and `embedding`, plus `text` for text inputs; needs pyarrow: the `embed` extra).

    Each file is written under a temporary name and renamed into place when complete. `shard` (`"I/N"`)
    embeds part I of N only (`shard_inputs`), for N machines sharing one corpus.

    Returns:
        A dict: `out`, `ids` (the ids file of a `.npy`), `count`, `dim`, `normalized`, `kind`, `model`.
    """
    out = os.fspath(out)
    if not out.endswith((".npy", ".parquet")):
        raise ValueError(f"--out {out!r}: write FILE.npy (with FILE.ids.txt beside it) or FILE.parquet.")
    if out.endswith(".parquet"):
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ValueError(
                "Writing .parquet needs pyarrow: pip install 'keras-contrastive[embed]' (or write a .npy)."
            ) from None
    embedder = load_embedder(model)
    stream = open_inputs(inputs, embedder.image_shape) if not isinstance(inputs, Inputs) else inputs
    if shard is not None:
        stream = shard_inputs(stream, shard)
    directory = os.path.dirname(os.path.abspath(out))
    os.makedirs(directory, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=directory, prefix=f".{os.path.basename(out)}.")
    try:
        writer = (_ParquetWriter if out.endswith(".parquet") else _NpyWriter)(tmp, stream.count, stream.kind)
        for ids, items, vectors in iter_embeddings(embedder, stream, batch_size, normalize, chunk_size, progress):
            writer.write(ids, items, vectors)
        result = writer.close(out)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return {**result, "out": out, "normalized": bool(normalize), "kind": stream.kind, "model": embedder.name}


class _NpyWriter:
    def __init__(self, tmp, count, kind):
        self.tmp, self.count, self.rows, self.array = tmp, count, 0, None
        self.ids = open(os.path.join(tmp, "ids.txt"), "w", encoding="utf-8")

    def write(self, ids, items, vectors):
        if self.array is None:
            path = os.path.join(self.tmp, "embeddings.npy")
            shape = (self.count, vectors.shape[1])
            self.array = np.lib.format.open_memmap(path, mode="w+", dtype="float32", shape=shape)
        self.array[self.rows : self.rows + len(vectors)] = vectors
        self.rows += len(vectors)
        self.ids.writelines(f"{_one_line(i)}\n" for i in ids)

    def close(self, out):
        self.ids.close()
        if self.rows != self.count:
            raise RuntimeError(f"embedded {self.rows} inputs but counted {self.count}: did the input change?")
        dim = int(self.array.shape[1])
        self.array.flush()
        del self.array
        os.replace(os.path.join(self.tmp, "ids.txt"), ids_path(out))
        os.replace(os.path.join(self.tmp, "embeddings.npy"), out)
        return {"ids": ids_path(out), "count": self.rows, "dim": dim}


class _ParquetWriter:
    def __init__(self, tmp, count, kind):
        self.path, self.kind, self.writer, self.rows, self.dim = os.path.join(tmp, "e.parquet"), kind, None, 0, 0

    def write(self, ids, items, vectors):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.dim = int(vectors.shape[1])
        columns = {
            "id": pa.array(ids, pa.string()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), self.dim),
        }
        if self.kind == "text":
            columns["text"] = pa.array(items, pa.string())
        table = pa.table(columns)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table)
        self.rows += len(ids)

    def close(self, out):
        if self.writer is None:
            raise ValueError("Nothing to write: the input holds no items.")
        self.writer.close()
        os.replace(self.path, out)
        return {"ids": None, "count": self.rows, "dim": self.dim}


def _one_line(text):
    return " ".join(str(text).splitlines())


def read_embeddings(path):
    """`(ids, embeddings)` of a file written by `write_embeddings` (`.npy` + ids file, or `.parquet`)."""
    path = os.fspath(path)
    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        vectors = np.asarray(table.column("embedding").combine_chunks().flatten(), dtype="float32")
        return table.column("id").to_pylist(), vectors.reshape(table.num_rows, -1)
    with open(ids_path(path), encoding="utf-8") as f:
        ids = f.read().splitlines()
    return ids, np.load(path)

"""A search index: the vectors of a corpus, their ids, the model they came from and how they were normalised,
in one directory that a fresh process loads and queries by text, by image or by vector.

    keras-contrastive index --model minilm --input sentences.txt --out index/
    keras-contrastive search --index index/ --query "a cat on a mat" --k 5

`DIR/` holds `index.json` (what the index is: count, dim, model, normalisation, probe embeddings, shard),
`vectors.npy` (float32 `[N, D]`, memory-mapped when loaded), `ids.txt` (one id a line, in row order) and,
with `ann=True`, `ann.faiss` (`search.ann`). The directory is written as a hidden sibling `.DIR.tmp-*` and
renamed into place when complete, so a killed build never leaves a `DIR` that loads; an existing index is
replaced only with `overwrite=True`.

The model is recorded by what it was opened from (a path is also kept absolute) and by its embeddings of a
few fixed probe inputs: queries are embedded by that model, and another model given at query time is refused
when its probe embeddings differ.
"""

import json
import os
import shutil
import tempfile
import time

import numpy as np

from keras_contrastive.search import ann as ann_engine
from keras_contrastive.search.exact import check_k, exact_search

FORMAT = "keras-contrastive-index"
FORMAT_VERSION = 1
META = "index.json"
VECTORS = "vectors.npy"
IDS = "ids.txt"
PROBE_SENTENCES = ("a probe sentence that tells one model from another", "the quick brown fox jumps over the dog")
ENGINES = ("auto", "exact", "ann")
EMBEDDING_FILES = (".npy", ".parquet")


class SearchResult:
    """Top-k results of a batch of queries.

    Attributes:
        ids: list of list of str. Each query's ids, best first.
        scores: float32 `[Q, k]`. Their inner products with the query (cosines when normalised).
        rows: int64 `[Q, k]`. Their rows in the index.
    """

    def __init__(self, ids, scores, rows):
        self.ids, self.scores, self.rows = ids, scores, rows

    def to_list(self, queries=None):
        """`[{"query", "ids", "scores"}]`, one dict a query (JSON-ready)."""
        queries = queries if queries is not None else [None] * len(self.ids)
        return [
            {"query": q, "ids": ids, "scores": [round(float(s), 6) for s in scores]}
            for q, ids, scores in zip(queries, self.ids, self.scores)
        ]


# --- the model --------------------------------------------------------------------------------------------------
def _model_record(model, embedder):
    if isinstance(model, (str, os.PathLike)):
        spec = os.fspath(model)
        return {"model": spec, "model_path": os.path.abspath(spec) if os.path.exists(spec) else None}
    return {"model": embedder.name, "model_path": None}


def _probe_images(image_shape):
    return np.random.default_rng(0).integers(0, 256, size=(2, *image_shape), dtype=np.uint8)


def _normalize(vectors):
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def probe_embeddings(embedder, modality, normalize=True):
    """The embeddings of fixed probe inputs (two sentences, or two seeded noise images) by `embedder`: what
    tells the index's model from another."""
    if modality == "text":
        vectors = embedder.texts(list(PROBE_SENTENCES), 2)
    else:
        vectors = embedder.images(_probe_images(embedder.image_shape), 2)
    return _normalize(vectors) if normalize else np.asarray(vectors, dtype=np.float32)


# --- writing ------------------------------------------------------------------------------------------------
def _write_directory(out, fill, overwrite=False):
    """Runs `fill(tmp)` on a hidden sibling of `out`, then renames it to `out` (replacing an existing index only
    when `overwrite`). On any error or kill nothing but the hidden folder is left."""
    out = os.path.abspath(os.fspath(out))
    parent, name = os.path.dirname(out), os.path.basename(out)
    if os.path.lexists(out) and not overwrite:
        raise FileExistsError(
            f"{out} already exists; it was left untouched. Choose another --out, or pass --overwrite to replace it."
        )
    if os.path.isdir(out) and os.listdir(out) and not os.path.isfile(os.path.join(out, META)):
        raise FileExistsError(f"{out} holds files but no index; it was left untouched. Choose another --out.")
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{name}.tmp-")
    try:
        result = fill(tmp)
        if os.path.lexists(out):
            old = tempfile.mkdtemp(dir=parent, prefix=f".{name}.old-")
            os.rename(out, os.path.join(old, name))
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _write_meta(tmp, meta):
    with open(os.path.join(tmp, META), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


class _VectorWriter:
    """`vectors.npy` (memory-mapped, `count` rows) and `ids.txt`, filled chunk by chunk."""

    def __init__(self, tmp, count, dim):
        self.vectors = np.lib.format.open_memmap(
            os.path.join(tmp, VECTORS), mode="w+", dtype=np.float32, shape=(count, dim)
        )
        self.ids = open(os.path.join(tmp, IDS), "w", encoding="utf-8")
        self.rows, self.count, self.seen = 0, count, set()
        self.origin = {}

    def write(self, ids, vectors, origin):
        for i in ids:
            if i in self.seen:
                raise ValueError(
                    f"The id {i!r} occurs twice ({self.origin.get(i, origin)} and {origin}): ids must be unique. Was "
                    "a part given twice? Give each shard once."
                )
            self.seen.add(i)
            self.origin[i] = origin
        if vectors.shape[1] != self.vectors.shape[1]:
            raise ValueError(
                f"{origin} holds vectors of dimension {vectors.shape[1]}, the index {self.vectors.shape[1]}: every "
                "part must come from the same model."
            )
        self.vectors[self.rows : self.rows + len(vectors)] = vectors
        self.rows += len(vectors)
        self.ids.writelines(f"{' '.join(str(i).splitlines())}\n" for i in ids)

    def close(self):
        self.ids.close()
        if self.rows != self.count:
            raise RuntimeError(f"wrote {self.rows} vectors but counted {self.count}: did the input change?")
        self.vectors.flush()
        del self.vectors


def _finish(tmp, meta, ann, nlist):
    if ann:
        vectors = np.load(os.path.join(tmp, VECTORS), mmap_mode="r")
        ann_engine.IVFIndex.build(vectors, nlist=nlist).save(tmp)
        meta["ann"] = {"engine": ann_engine.ENGINE, "nlist": int(nlist or ann_engine.default_nlist(len(vectors)))}
    meta["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _write_meta(tmp, meta)  # last: a folder without index.json is never an index
    return meta


def _is_embedding_file(path):
    return isinstance(path, (str, os.PathLike)) and os.fspath(path).endswith(EMBEDDING_FILES)


def _read_embedding_file(path):
    from keras_contrastive.runs.embeddings import ids_path, read_embeddings

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--input {path}: no such file (an output of `keras-contrastive embed`).")
    if path.endswith(".npy"):
        if not os.path.isfile(ids_path(path)):
            raise FileNotFoundError(f"{path} has no ids file beside it ({ids_path(path)}), as `embed` writes it.")
        with open(ids_path(path), encoding="utf-8") as f:
            ids = f.read().splitlines()
        vectors = np.load(path, mmap_mode="r")
    else:
        ids, vectors = read_embeddings(path)
    if vectors.ndim != 2 or len(ids) != len(vectors):
        raise ValueError(f"{path}: {len(ids)} ids for vectors of shape {vectors.shape}; embed the corpus again.")
    return ids, vectors


def build_index(
    model,
    inputs,
    out,
    batch_size=256,
    normalize=True,
    shard=None,
    ann=False,
    nlist=None,
    overwrite=False,
    progress=None,
    chunk_size=4096,
):
    """Embeds a corpus with `model` and writes it as an index directory `out`, atomically.

    Args:
        model: str or model. Anything `runs.open_model` opens (run, export, zoo name, `minilm`, ...): the
            corpus is embedded with it, and so are the queries later.
        inputs: the corpus: anything `embed` reads (a text file, an image folder, a data spec, a list of
            strings, an image array), or one or more files written by `keras-contrastive embed` (`.npy` with
            its ids file, `.parquet`), whose vectors are taken as they are (checked against `model`'s dimension).
        out: str. The index directory.
        batch_size: int. Inputs per model call. Defaults to `256`.
        normalize: bool. L2-normalise the vectors (and the queries): inner product = cosine. Defaults to `True`.
        shard: str or None. `"I/N"`: index part I (from 0) of N of the corpus, for `merge_indexes`. Defaults
            to `None`.
        ann: bool. Also build the approximate engine (`search.ann`, needs faiss). Defaults to `False`.
        nlist: int or None. The approximate engine's lists. Defaults to `ann.default_nlist(N)`.
        overwrite: bool. Replace an existing index at `out`. Defaults to `False`.
        progress: bool or None. Progress bar on stderr (`None`: on a terminal). Defaults to `None`.
        chunk_size: int. Inputs read and embedded at a time. Defaults to `4096`.

    Returns:
        The loaded `Index`.
    """
    from keras_contrastive.runs.embeddings import iter_embeddings, load_embedder, open_inputs, shard_inputs

    if ann:
        ann_engine.require_faiss()
    embedder = load_embedder(model)
    files = [inputs] if _is_embedding_file(inputs) else None
    if isinstance(inputs, (list, tuple)) and inputs and all(_is_embedding_file(i) for i in inputs):
        files = list(inputs)
    if files is None:
        stream = open_inputs(inputs, embedder.image_shape)
        if shard is not None:
            stream = shard_inputs(stream, shard)
        modality = stream.kind
        if modality not in embedder.modalities:
            kinds = " and ".join(f"{m}s" for m in embedder.modalities)
            raise ValueError(f"{embedder.name} embeds {kinds}, but {stream.description} holds {stream.kind}s.")
        count = stream.count
    else:
        if shard is not None:
            raise ValueError("--shard splits a corpus to embed; embed outputs are parts already: give them all.")
        parts = [(os.fspath(f), *_read_embedding_file(f)) for f in files]
        count = sum(len(ids) for _, ids, _ in parts)
        modality = "text" if "text" in embedder.modalities else "image"
    if count == 0:
        raise ValueError(f"The corpus {inputs!r} is empty: an index needs at least one item (one sentence a line).")
    probe = probe_embeddings(embedder, modality, normalize)
    dim = probe.shape[1]
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **_model_record(model, embedder),
        "modality": modality,
        "count": int(count),
        "dim": int(dim),
        "normalized": bool(normalize),
        "metric": "inner_product",
        "probe": probe.tolist(),
        "shard": list(_parse(shard)) if shard is not None else None,
        "source": [os.fspath(f) for f in files] if files else getattr(stream, "description", str(inputs)),
    }

    def fill(tmp):
        writer = _VectorWriter(tmp, count, dim)
        if files is None:
            for ids, _, vectors in iter_embeddings(embedder, stream, batch_size, normalize, chunk_size, progress):
                writer.write(ids, vectors, stream.description)
        else:
            for path, ids, vectors in parts:
                if vectors.shape[1] != dim:
                    raise ValueError(
                        f"{path} holds vectors of dimension {vectors.shape[1]}, but {embedder.name} embeds into "
                        f"{dim}: index it with the model that embedded it (--model)."
                    )
                for start in range(0, len(ids), chunk_size):
                    block = np.asarray(vectors[start : start + chunk_size], dtype=np.float32)
                    writer.write(ids[start : start + chunk_size], _normalize(block) if normalize else block, path)
        writer.close()
        return _finish(tmp, meta, ann, nlist)

    _write_directory(out, fill, overwrite)
    return load_index(out)


def _parse(shard):
    from keras_contrastive.runs.embeddings import parse_shard

    return parse_shard(shard)


def merge_indexes(parts, out, ann=False, nlist=None, overwrite=False):
    """One index of several (e.g. the shards `build_index(..., shard="I/N")` wrote on N machines), written
    atomically to `out`.

    The parts must come from the same model (same probe embeddings), dimension and normalisation, and their
    ids must be unique. Parts that are shards of one corpus are put in shard order, and all N must be given;
    other parts keep the order given.

    Args:
        parts: list of str. Index directories.
        out: str. The merged index directory.
        ann: bool. Also build the approximate engine. Defaults to `False`.
        nlist: int or None. Its lists. Defaults to `ann.default_nlist(N)`.
        overwrite: bool. Replace an existing index at `out`. Defaults to `False`.

    Returns:
        The loaded `Index`.
    """
    if ann:
        ann_engine.require_faiss()
    if len(parts) < 1:
        raise ValueError("--merge needs the index directories to merge.")
    indexes = [load_index(p) for p in parts]
    first = indexes[0]
    for index in indexes[1:]:
        for key in ("dim", "normalized", "modality"):
            if index.meta[key] != first.meta[key]:
                raise ValueError(
                    f"{index.path} has {key}={index.meta[key]!r} but {first.path} has {first.meta[key]!r}: merge "
                    "parts built with the same model and options."
                )
        if not np.allclose(index.probe, first.probe, atol=1e-3):
            raise ValueError(
                f"{index.path} was built with {index.meta['model']!r} and {first.path} with {first.meta['model']!r}:"
                " their probe embeddings differ. Merge parts embedded by one model."
            )
    shards = [tuple(i.meta["shard"]) if i.meta.get("shard") else None for i in indexes]
    if all(shards):
        totals = {n for _, n in shards}
        given = sorted(i for i, _ in shards)
        if len(totals) > 1:
            raise ValueError(f"The parts are shards of different splits ({sorted(totals)} parts): rebuild them alike.")
        total = totals.pop()
        if given != list(range(total)):
            missing = sorted(set(range(total)) - set(given))
            doubled = sorted({i for i in given if given.count(i) > 1})
            problem = f"missing {', '.join(f'{i}/{total}' for i in missing)}" if missing else ""
            problem += ("; " if missing and doubled else "") + (f"given twice: {doubled}" if doubled else "")
            raise ValueError(
                f"The parts are shards I/{total}, {problem}: build each with `keras-contrastive index --shard I/"
                f"{total}` and merge all {total} once."
            )
        indexes = [indexes[k] for k in np.argsort([i for i, _ in shards], kind="stable")]
    count = sum(i.count for i in indexes)
    meta = {
        **{k: first.meta[k] for k in ("format", "format_version", "model", "model_path", "modality", "dim")},
        **{k: first.meta[k] for k in ("normalized", "metric", "probe")},
        "count": int(count),
        "shard": None,
        "source": [i.path for i in indexes],
    }

    def fill(tmp):
        writer = _VectorWriter(tmp, count, first.dim)
        for index in indexes:
            for start in range(0, index.count, 65536):
                writer.write(index.ids[start : start + 65536], index.vectors[start : start + 65536], index.path)
        writer.close()
        return _finish(tmp, meta, ann, nlist)

    _write_directory(out, fill, overwrite)
    return load_index(out)


# --- reading -----------------------------------------------------------------------------------------------
def _incomplete(path, why):
    name = os.path.basename(os.path.normpath(path))
    hint = " (a hidden .NAME.tmp-* folder is an unfinished build: delete it)" if ".tmp-" in name else ""
    return ValueError(
        f"{path} is not a complete index: {why}{hint}. Build it again with `keras-contrastive index --model M "
        f"--input CORPUS --out {path} --overwrite`."
    )


def load_index(path):
    """The `Index` in directory `path`, checked complete (a half-written or damaged one is a clear error)."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"No index at {path}: build one with `keras-contrastive index --model M --input CORPUS --out {path}`."
        )
    if not os.path.isfile(os.path.join(path, META)):
        raise _incomplete(path, f"it has no {META}, written last when a build finishes")
    try:
        with open(os.path.join(path, META), encoding="utf-8") as f:
            meta = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _incomplete(path, f"{META} is not valid JSON ({error})") from None
    if meta.get("format") != FORMAT:
        raise _incomplete(path, f"{META} is not a keras-contrastive index's")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path} is a newer index format ({meta['format_version']}): upgrade keras-contrastive.")
    try:
        vectors = np.load(os.path.join(path, VECTORS), mmap_mode="r")
    except (OSError, ValueError) as error:
        raise _incomplete(path, f"{VECTORS} cannot be read ({error})") from None
    if vectors.shape != (meta["count"], meta["dim"]) or vectors.dtype != np.float32:
        raise _incomplete(
            path, f"{VECTORS} holds {vectors.dtype} {vectors.shape}, {META} says ({meta['count']}, {meta['dim']})"
        )
    try:
        with open(os.path.join(path, IDS), encoding="utf-8") as f:
            ids = f.read().splitlines()
    except OSError as error:
        raise _incomplete(path, f"{IDS} cannot be read ({error})") from None
    if len(ids) != meta["count"]:
        raise _incomplete(path, f"{IDS} holds {len(ids)} ids for {meta['count']} vectors")
    return Index(path, meta, vectors, ids)


class Index:
    """A loaded index: search it by text, image or vector (see the module docstring for its files).

    Args:
        path: str. Its directory.
        meta: dict. `index.json`.
        vectors: float32 `[N, D]` (memory-mapped).
        ids: list of str. The id of each row.

    Example:

    >>> index = load_index("index/")  # doctest: +SKIP
    >>> index.search(["a cat on a mat"], k=3).ids  # doctest: +SKIP
    [['12', '3', '40']]
    """

    def __init__(self, path, meta, vectors, ids):
        self.path, self.meta, self.vectors, self.ids = path, meta, vectors, ids
        self.count, self.dim = int(meta["count"]), int(meta["dim"])
        self.normalized = bool(meta["normalized"])
        self.probe = np.asarray(meta["probe"], dtype=np.float32)
        self._embedder = None
        self._ann = None

    def __repr__(self):
        return f"Index({self.path!r}, {self.count} x {self.dim}, model={self.meta['model']!r})"

    @property
    def has_ann(self):
        return "ann" in self.meta and os.path.isfile(os.path.join(self.path, ann_engine.FILE))

    # --- the model ------------------------------------------------------------------------------------------
    def embedder(self, model=None):
        """The model queries are embedded with: `model` if given (checked to be the index's), else the one the
        index was built with."""
        from keras_contrastive.runs.embeddings import load_embedder

        if model is None and self._embedder is not None:
            return self._embedder
        recorded = self.meta["model"]
        if model is None:
            path = self.meta.get("model_path")
            model = path if path and os.path.exists(path) else recorded
        try:
            embedder = load_embedder(model)
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"The index {self.path} was built with the model {recorded!r}, which is not found here ({error}). "
                "Pass the same model (search --model PATH)."
            ) from None
        self.check_model(embedder, model)
        self._embedder = embedder
        return embedder

    def check_model(self, embedder, name=None):
        """Refuses a model whose probe embeddings differ from those the index recorded (another model)."""
        name = name if isinstance(name, str) else embedder.name
        modality = self.meta["modality"]
        if modality not in embedder.modalities:
            modality = embedder.modalities[0]
        probe = probe_embeddings(embedder, modality, True)
        fix = (
            f"Query with the model the index was built with ({self.meta['model']!r}), or rebuild the index with "
            f"this one: `keras-contrastive index --model {name} --input CORPUS --out DIR`."
        )
        if probe.shape[1] != self.dim:
            raise ValueError(
                f"{name} embeds into {probe.shape[1]} dimensions, the index {self.path} into {self.dim}. {fix}"
            )
        if modality == self.meta["modality"]:
            difference = float(np.max(np.abs(probe - _normalize(self.probe))))
            if difference > 1e-3:
                raise ValueError(
                    f"{name} is not the model the index {self.path} was built with: its embeddings of the probe "
                    f"inputs differ by {difference:.3g}. {fix}"
                )

    # --- queries --------------------------------------------------------------------------------------------
    def embed_queries(self, queries, model=None):
        """Query vectors `[Q, D]` of sentences (a str or list of str), images (uint8 or [0, 1] float `[Q, H, W,
        C]`) or vectors (`[Q, D]` or `[D]`), normalised as the index."""
        if isinstance(queries, str):
            queries = [queries]
        if isinstance(queries, (list, tuple)):
            embedder = self.embedder(model)
            if "text" not in embedder.modalities:
                raise ValueError(f"The model of {self.path} embeds images, not text: query it with an image.")
            vectors = embedder.texts([str(q) for q in queries], 256)
        else:
            queries = np.asarray(queries)
            if queries.ndim == 4:
                embedder = self.embedder(model)
                if "image" not in embedder.modalities:
                    raise ValueError(f"The model of {self.path} embeds text, not images: query it with text.")
                vectors = embedder.images(queries, 256)
            elif queries.ndim in (1, 2) and queries.dtype.kind == "f":
                vectors = queries.reshape(-1, queries.shape[-1]).astype(np.float32)
            else:
                raise ValueError(
                    f"Queries of shape {queries.shape} ({queries.dtype}): give sentences, images [Q, H, W, C] or "
                    f"vectors [Q, {self.dim}]."
                )
        if vectors.shape[1] != self.dim:
            raise ValueError(
                f"Query vectors have dimension {vectors.shape[1]}, the index {self.path} {self.dim}: embed the "
                f"queries with the index's model ({self.meta['model']!r}), or rebuild the index with yours."
            )
        return _normalize(vectors) if self.normalized else vectors

    def read_images(self, paths, model=None):
        """uint8 images `[Q, H, W, C]` of image files, resized to the model's input."""
        from keras_contrastive.data.data_splits import read_images
        from keras_contrastive.runs.embeddings import _to_channels

        embedder = self.embedder(model)
        if embedder.image_shape is None:
            raise ValueError(f"The model of {self.path} embeds text, not images: query it with text.")
        for path in paths:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"--image {path}: no such file.")
        return _to_channels(read_images(list(paths), embedder.image_shape[:2]), embedder.image_shape)

    def search(self, queries, k=10, engine="auto", nprobe=None, model=None):
        """The `k` nearest rows of each query.

        Args:
            queries: sentences (str or list of str), images (`[Q, H, W, C]`) or vectors (`[Q, D]`).
            k: int. Results per query, at most the index's size. Defaults to `10`.
            engine: str. `"exact"` (blocked, `search.exact`), `"ann"` (`search.ann`; the index must have been
                built with `ann=True`) or `"auto"` (ann when built). Defaults to `"auto"`.
            nprobe: int or None. The approximate engine's lists scanned per query. Defaults to `32`.
            model: str or None. Embed the queries with this model (checked to be the index's). Defaults to the
                index's own.

        Returns:
            A `SearchResult`.
        """
        if engine not in ENGINES:
            raise ValueError(f"engine={engine!r}: use one of {ENGINES}.")
        k = check_k(k, self.count)
        vectors = self.embed_queries(queries, model)
        if engine == "ann" and not self.has_ann:
            raise ValueError(
                f"{self.path} has no approximate engine: build it with `keras-contrastive index ... --ann`, or search "
                "with --engine exact."
            )
        if engine == "ann" or (engine == "auto" and self.has_ann):
            if self._ann is None:
                self._ann = ann_engine.IVFIndex.load(self.path)
            scores, rows = self._ann.search(vectors, k, nprobe)
        else:
            scores, rows = exact_search(self.vectors, vectors, k)
        ids = [[self.ids[r] if r >= 0 else None for r in row] for row in rows]
        return SearchResult(ids, scores, rows)

"""Hard-negative mining: for each (anchor, positive) pair, the corpus sentences the encoder finds closest.

The similarity of every anchor to every corpus sentence is computed in
blocks (`anchor_block` anchors x `corpus_block` sentences) and folded into a
running top-k, so memory grows with the corpus embeddings (`corpus x D`
floats), never with `anchors x corpus`.
"""

import os

import numpy as np

from keras_contrastive.progress_bar import ProgressBar


def _embed_function(model, batch_size):
    """A function of a list of strings to float32 embeddings `[N, D]`.

    Duck-typed: a model with `encode(sentences, batch_size=...)` (`models.SimCSE`), a `runs.ModelSource`
    (`embed_text`), or any callable on a list of strings."""
    # A name or a path is not an encoder (and a `str` has an unrelated `encode`).
    if not isinstance(model, (str, bytes, os.PathLike)):
        if callable(getattr(model, "encode", None)):
            return lambda sentences: model.encode(sentences, batch_size=batch_size)
        if callable(getattr(model, "embed_text", None)):
            return lambda sentences: model.embed_text(sentences, batch_size=batch_size)
        if callable(model):
            return model
    raise ValueError(
        f"mine_hard_negatives takes an encoder, not {model!r}: open a path or a zoo name first with "
        "`keras_contrastive.runs.open_model(...)`, or call `keras_contrastive.runs.mine_triplets` (files in, "
        "triplets out)."
    )


def _normalized(x):
    x = np.asarray(x, dtype="float32")
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def embed_sentences(embed, sentences, chunk_size=4096, progress=None, label="embedding"):
    """Embeddings `[N, D]` (float32, L2-normalised) of `sentences`, `chunk_size` at a time, shortest first.

    Sorting the whole list by length before chunking keeps each batch's padding small;
    the rows come back in the input order.
    """
    sentences = list(sentences)
    order = np.argsort([len(s) for s in sentences], kind="stable")
    out = None
    bar = ProgressBar(len(sentences), label, progress)
    for start in range(0, len(sentences), chunk_size):
        index = order[start : start + chunk_size]
        vectors = _normalized(embed([sentences[i] for i in index]))
        if out is None:
            out = np.empty((len(sentences), vectors.shape[1]), dtype="float32")
        out[index] = vectors
        bar.update(len(index))
    bar.close()
    return out if out is not None else np.zeros((0, 0), dtype="float32")


def top_k_excluding(queries, corpus, k, thresholds, exclude, anchor_block=1024, corpus_block=16384):
    """The `k` corpus rows most similar (dot product) to each query, under two exclusions.

    Args:
        queries: float32 `[N, D]`.
        corpus: float32 `[M, D]`.
        k: int. Neighbours per query.
        thresholds: float `[N]`. A corpus row whose similarity to query `i`
            is `>= thresholds[i]` is skipped.
        exclude: int `[N, E]`. Corpus rows never returned for query `i`
            (`-1` = none).
        anchor_block, corpus_block: int. Block sizes: the largest matrix
            held is `anchor_block x corpus_block` floats.

    Returns:
        `(indices, scores)`, int64 and float32 `[N, k]`, best first; `-1`
        and `-inf` where fewer than `k` rows qualify.
    """
    n, m = len(queries), len(corpus)
    exclude = np.asarray(exclude, dtype="int64").reshape(n, -1)
    thresholds = np.asarray(thresholds, dtype="float32")
    indices = np.full((n, k), -1, dtype="int64")
    scores = np.full((n, k), -np.inf, dtype="float32")
    for a0 in range(0, n, anchor_block):
        rows = slice(a0, min(a0 + anchor_block, n))
        q = queries[rows]
        best_s = np.full((len(q), k), -np.inf, dtype="float32")
        best_i = np.full((len(q), k), -1, dtype="int64")
        for c0 in range(0, m, corpus_block):
            block = corpus[c0 : c0 + corpus_block]
            sims = q @ block.T
            sims[sims >= thresholds[rows, None]] = -np.inf
            local = exclude[rows] - c0
            hit = (local >= 0) & (local < len(block))
            r, e = np.nonzero(hit)
            sims[r, local[r, e]] = -np.inf
            if sims.shape[1] > k:
                part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            else:
                part = np.broadcast_to(np.arange(sims.shape[1]), (len(q), sims.shape[1]))
            cand_s = np.take_along_axis(sims, part, axis=1)
            merged_s = np.concatenate([best_s, cand_s], axis=1)
            merged_i = np.concatenate([best_i, part + c0], axis=1)
            # Ties go to the lower corpus index, so the result does not depend on the block size.
            order = np.lexsort((merged_i, -merged_s), axis=1)[:, :k]
            best_s = np.take_along_axis(merged_s, order, axis=1)
            best_i = np.take_along_axis(merged_i, order, axis=1)
        best_i[~np.isfinite(best_s)] = -1
        indices[rows], scores[rows] = best_i, best_s
    return indices, scores


def mine_hard_negatives(
    model,
    anchors,
    positives,
    corpus,
    k=1,
    margin=0.05,
    batch_size=128,
    anchor_block=1024,
    corpus_block=16384,
    progress=None,
):
    """The `k` hard negatives of each (anchor, positive) pair: the corpus sentences closest to the anchor.

    Under the encoder `model` (cosine similarity of L2-normalised
    embeddings), for each pair: the `k` most similar corpus sentences to
    the anchor, skipping the anchor and the positive themselves (every
    copy of them in the corpus) and every candidate whose similarity is
    `>= sim(anchor, positive) - margin` (likely a paraphrase too: a false
    negative). The corpus is de-duplicated (a sentence is returned once).
    Similarities are computed in blocks with a running top-k, so memory
    holds the corpus embeddings, never the anchors x corpus matrix.

    Args:
        model: the encoder: a `models.SimCSE`, a `runs.ModelSource`
            (`runs.open_model` of a text run, a `.keras` file, an export,
            a zoo name or `"minilm"`), or a function of a list of strings
            to embeddings.
        anchors: list of str.
        positives: list of str, one per anchor.
        corpus: list of str. Candidate negatives.
        k: int. Negatives per pair. Defaults to `1`.
        margin: float. False-negative filter (see above); `0` skips only
            candidates at least as close as the positive. Defaults to `0.05`.
        batch_size: int. Sentences per encoder call. Defaults to `128`.
        anchor_block, corpus_block: int. Similarity block size. Defaults to
            `1024` and `16384` (a 64 MB block).
        progress: bool or None. Progress bars on stderr; `None` = when
            stderr is a terminal. Defaults to `None`.

    Returns:
        A dict: `negatives` (list of `k`-lists of str; shorter when fewer
        candidates qualify), `indices` (int64 `[N, k]` into `corpus`, the
        first copy of each sentence, `-1` = none), `scores` (float32
        `[N, k]`, cosine similarities, best first) and `positive_scores`
        (float32 `[N]`).

    Example:

    >>> import numpy as np
    >>> vectors = {"a": [1, 0], "a'": [0.9, 0.1], "b": [0.6, 0.4], "c": [0, 1]}
    >>> embed = lambda s: np.array([vectors[x] for x in s], dtype="float32")
    >>> mine_hard_negatives(embed, ["a"], ["a'"], ["a", "a'", "b", "c"], k=1, margin=0.0)["negatives"]
    [['b']]
    """
    anchors, positives, corpus = list(anchors), list(positives), list(corpus)
    if len(anchors) != len(positives):
        raise ValueError(
            f"mine_hard_negatives: {len(anchors)} anchors but {len(positives)} positives; pass one positive per "
            "anchor (anchor<TAB>positive lines)."
        )
    if int(k) < 1:
        raise ValueError(f"mine_hard_negatives: k is the number of negatives per pair, at least 1; received k={k!r}.")
    if not np.isfinite(margin):
        raise ValueError(f"mine_hard_negatives: margin must be a finite number, received margin={margin!r}.")
    if not corpus:
        raise ValueError("mine_hard_negatives: the corpus is empty; pass the sentences to mine negatives from.")
    k = int(k)
    first = {}
    for i, sentence in enumerate(corpus):
        first.setdefault(sentence, i)
    unique = list(first)  # insertion order: the first copy of each sentence
    unique_index = {s: j for j, s in enumerate(unique)}
    embed = _embed_function(model, batch_size)
    corpus_vectors = embed_sentences(embed, unique, progress=progress, label="corpus")
    pair_vectors = embed_sentences(embed, sorted(set(anchors) | set(positives)), progress=progress, label="pairs")
    pair_index = {s: i for i, s in enumerate(sorted(set(anchors) | set(positives)))}
    a = pair_vectors[[pair_index[s] for s in anchors]]
    p = pair_vectors[[pair_index[s] for s in positives]]
    positive_scores = np.sum(a * p, axis=1)
    exclude = np.array([[unique_index.get(x, -1), unique_index.get(y, -1)] for x, y in zip(anchors, positives)])
    exclude = exclude.reshape(len(anchors), 2)
    bar = ProgressBar(len(anchors), "mining", progress)
    indices, scores = [], []
    for start in range(0, len(anchors), anchor_block):
        rows = slice(start, start + anchor_block)
        i, s = top_k_excluding(
            a[rows], corpus_vectors, k, positive_scores[rows] - margin, exclude[rows], anchor_block, corpus_block
        )
        indices.append(i)
        scores.append(s)
        bar.update(len(i))
    bar.close()
    indices = np.concatenate(indices) if indices else np.zeros((0, k), "int64")
    scores = np.concatenate(scores) if scores else np.zeros((0, k), "float32")
    negatives = [[unique[j] for j in row if j >= 0] for row in indices]
    original = np.array([first[s] for s in unique] + [-1], dtype="int64")
    return {
        "negatives": negatives,
        "indices": original[indices],  # -1 indexes the trailing -1
        "scores": scores,
        "positive_scores": positive_scores.astype("float32"),
    }


def write_triplets(path, anchors, positives, negatives):
    """Writes `anchor<TAB>positive<TAB>negative` lines (one per mined negative) to `path`, atomically.

    Tabs and line breaks inside a sentence become spaces (the format has no
    escaping). Returns the number of lines written.
    """
    from keras_contrastive.io_utils import atomic_write_text

    def clean(s):
        return " ".join(s.replace("\t", " ").splitlines())

    lines = [f"{clean(a)}\t{clean(p)}\t{clean(n)}\n" for a, p, row in zip(anchors, positives, negatives) for n in row]
    atomic_write_text(os.fspath(path), "".join(lines))
    return len(lines)

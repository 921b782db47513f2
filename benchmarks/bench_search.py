"""Search: speed and memory of exact search against FAISS, the approximate engine against exact, and the quality
of search with the zoo's models.

    python benchmarks/bench_search.py --out benchmarks/results/bench_search.json --part speed \
        [--peer-python benchmarks/.venvs/st/bin/python] [--count 1000000] [--dim 384] [--queries 1000]
    python benchmarks/bench_search.py --out benchmarks/results/bench_search.json --part images
    python benchmarks/bench_search.py --out benchmarks/results/bench_search.json --part text \
        --sts-dir ../shared/data/sts [--text-models minilm,simcse_unsup_minilm_wordnet,simcse_sup_minilm_stsb]

Each part updates its keys of `--out` (the JSON keeps the other parts' keys and each part's command).

**speed** (all side by side in one run). The vectors: `--count` x `--dim` float32, a documented clustered set,
not real embeddings (embedding 1M sentences takes hours here): 1,000 topics (random unit vectors), each with
20 sub-topics (topic + 0.7 x a random unit vector, normalised), each vector a sub-topic + 0.9 x a random unit
vector, normalised; the queries are fresh vectors of the same mixture (seed 1). Uniform random vectors would
have no neighbourhoods for an approximate engine to find. Then, each on the same `.npy`:
- exact: `search.exact_search` (blocks of 8,192 rows, memory-mapped vectors) in a fresh process that imports
  NumPy and `keras_contrastive.search` only: queries/s and its peak RSS (`ru_maxrss`);
- FAISS `IndexFlatIP` in `--peer-python` (faiss-cpu installed there), its default threads;
- NumPy's brute force: the full `[100, N]` score matrix per 100 queries, then the 10 best (ties to the lower
  row); `exact_ids_equal_numpy` compares every id;
- the approximate engine (`search.ann`, FAISS IVF-Flat, `--nlist` lists): recall@10 against exact and
  queries/s at several `nprobe`; `ann_recall_at_10` / `ann_qps_over_exact` are those of the smallest `nprobe`
  reaching recall 0.95.

**images**: Fashion-MNIST test (10,000), each image queries the other 9,999 (exact, cosine): precision@10 (same
class) for every image model of the zoo and for raw pixels (flattened, L2-normalised).

**text**: STS-B test as search: each sentence 1 of a pair scored >= 4.0 queries a corpus of every STS-B test
sentence plus `--distractors` WordNet glosses and examples (not in STS-B); the answer is its sentence 2, the
query's own sentence is left out of its results. recall@1 and MRR@10 per model (`minilm` as loaded, the zoo's
text models). Embeddings are cached in `--cache-dir` chunk by chunk, so a part cut by `--time-budget` resumes.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from _results import command_line, machine  # noqa: E402 (benchmarks/ is on sys.path)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K = 10

EXACT = r"""
import json, resource, sys, time
import numpy as np
from keras_contrastive.search.exact import exact_search
vectors = np.load(sys.argv[1], mmap_mode="r")
queries = np.load(sys.argv[2])
for start in range(0, len(vectors), 65536):  # the file into the page cache, as FAISS reads it whole
    float(vectors[start : start + 65536].sum())
start = time.perf_counter()
scores, rows = exact_search(vectors, queries, k=int(sys.argv[4]))
seconds = time.perf_counter() - start
np.save(sys.argv[3], rows)
print(json.dumps({"seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

FAISS_FLAT = r"""
import json, sys, time
import faiss
import numpy as np
vectors = np.load(sys.argv[1])
queries = np.load(sys.argv[2])
index = faiss.IndexFlatIP(vectors.shape[1])
index.add(vectors)
index.search(queries[:8], int(sys.argv[4]))
start = time.perf_counter()
scores, rows = index.search(queries, int(sys.argv[4]))
seconds = time.perf_counter() - start
np.save(sys.argv[3], rows)
print(json.dumps({"seconds": seconds, "faiss": faiss.__version__, "threads": faiss.omp_get_max_threads()}))
"""


# --- speed ----------------------------------------------------------------------------------------------------
def clustered(count, dim, seed, topics=1000, subtopics=20, chunk=100_000, out=None):
    """`count` unit vectors of the mixture in the module docstring (the centres from seed 0, the noise from
    `seed`), into `out` (a writable array) or a new array."""

    def unit(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    centres_rng = np.random.default_rng(0)
    topic = unit(centres_rng.standard_normal((topics, dim), dtype=np.float32))
    sub = unit(
        np.repeat(topic, subtopics, 0) + 0.7 * unit(centres_rng.standard_normal((topics * subtopics, dim), np.float32))
    )
    rng = np.random.default_rng(seed)
    out = np.empty((count, dim), np.float32) if out is None else out
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        which = rng.integers(0, len(sub), n)
        out[start : start + n] = unit(sub[which] + 0.9 * unit(rng.standard_normal((n, dim), dtype=np.float32)))
    return out


def numpy_brute_force(vectors, queries, k, chunk=100):
    """The `k` best rows per query from the full score matrix of `chunk` queries at a time (ties: lower row)."""
    rows = np.empty((len(queries), k), np.int64)
    for start in range(0, len(queries), chunk):
        scores = queries[start : start + chunk] @ vectors.T
        kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]
        for i, (row, threshold) in enumerate(zip(scores, kth)):
            candidates = np.flatnonzero(row >= threshold)
            order = np.lexsort((candidates, -row[candidates]))
            rows[start + i] = candidates[order[:k]]
    return rows


def _subprocess(python, script, *args):
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([python, "-c", script, *map(str, args)], capture_output=True, text=True, env=env)
    if result.returncode:
        sys.exit(f"bench_search: {python} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def speed(args, work):
    from keras_contrastive.search.ann import IVFIndex

    peer = args.peer_python if os.path.isabs(args.peer_python) else os.path.join(REPO, args.peer_python)
    if not os.path.exists(peer):
        sys.exit(f"bench_search: no Python at {peer}: build it (benchmarks/peer/make_venvs.sh) or pass --peer-python.")
    vectors_path, queries_path = os.path.join(work, "vectors.npy"), os.path.join(work, "queries.npy")
    start = time.perf_counter()
    mapped = np.lib.format.open_memmap(vectors_path, mode="w+", dtype=np.float32, shape=(args.count, args.dim))
    clustered(args.count, args.dim, seed=0, out=mapped)
    mapped.flush()
    del mapped
    queries = clustered(args.queries, args.dim, seed=1)
    np.save(queries_path, queries)
    print(f"vectors made in {time.perf_counter() - start:.0f} s", flush=True)

    exact = _subprocess(sys.executable, EXACT, vectors_path, queries_path, os.path.join(work, "exact.npy"), K)
    exact_rows = np.load(os.path.join(work, "exact.npy"))
    print(f"exact: {exact}", flush=True)
    flat = _subprocess(peer, FAISS_FLAT, vectors_path, queries_path, os.path.join(work, "flat.npy"), K)
    flat_rows = np.load(os.path.join(work, "flat.npy"))
    print(f"faiss flat: {flat}", flush=True)

    vectors = np.load(vectors_path, mmap_mode="r")
    start = time.perf_counter()
    reference = numpy_brute_force(vectors, queries, K)
    numpy_seconds = time.perf_counter() - start
    print(f"numpy brute force: {numpy_seconds:.1f} s", flush=True)

    start = time.perf_counter()
    ivf = IVFIndex.build(vectors, nlist=args.nlist)
    build_seconds = time.perf_counter() - start
    print(f"IVF built in {build_seconds:.0f} s", flush=True)
    sweep = []
    for nprobe in (4, 8, 16, 32, 64):
        ivf.search(queries[:8], K, nprobe)
        start = time.perf_counter()
        _, rows = ivf.search(queries, K, nprobe)
        seconds = time.perf_counter() - start
        recall = float(np.mean([len(set(a) & set(e)) / K for a, e in zip(rows, exact_rows)]))
        sweep.append({"nprobe": nprobe, "recall_at_10": round(recall, 4), "qps": round(len(queries) / seconds, 1)})
        print(sweep[-1], flush=True)
    exact_qps = len(queries) / exact["seconds"]
    chosen = next((s for s in sweep if s["recall_at_10"] >= 0.95), sweep[-1])
    vectors_mib = args.count * args.dim * 4 / 2**20
    return {
        "vectors": f"{args.count} x {args.dim} float32, clustered (1,000 topics x 20 sub-topics; see the docstring)",
        "count": args.count,
        "dim": args.dim,
        "queries": args.queries,
        "k": K,
        "exact_seconds": round(exact["seconds"], 2),
        "exact_qps": round(exact_qps, 1),
        "faiss_flat_seconds": round(flat["seconds"], 2),
        "faiss_flat_qps": round(len(queries) / flat["seconds"], 1),
        "faiss_version": flat["faiss"],
        "faiss_threads": flat["threads"],
        "exact_qps_over_faiss_flat": round(flat["seconds"] / exact["seconds"], 3),
        "exact_ids_equal_numpy": bool(np.array_equal(exact_rows, reference)),
        "faiss_flat_ids_equal_numpy_fraction": round(float(np.mean(flat_rows == reference)), 6),
        "numpy_brute_force_seconds": round(numpy_seconds, 2),
        "peak_rss_mib": round(exact["peak_rss_mib"], 1),
        "vectors_mib": round(vectors_mib, 1),
        "peak_rss_over_vectors_mib": round(exact["peak_rss_mib"] - vectors_mib, 1),
        "ann_engine": "faiss-ivf (IndexIVFFlat, inner product)",
        "ann_nlist": int(ivf.index.nlist),
        "ann_build_seconds": round(build_seconds, 1),
        "ann_sweep": sweep,
        "ann_nprobe": chosen["nprobe"],
        "ann_recall_at_10": chosen["recall_at_10"],
        "ann_qps": chosen["qps"],
        "ann_qps_over_exact": round(chosen["qps"] / exact_qps, 2),
    }


# --- quality --------------------------------------------------------------------------------------------------
def _normalize(x):
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def precision_at_10_leave_one_out(vectors, labels):
    from keras_contrastive.search import exact_search

    _, rows = exact_search(vectors, vectors, k=K + 1)
    own = rows == np.arange(len(rows))[:, None]
    # Each image's own row dropped (the last of the 11 when a duplicate outranks it).
    neighbours = np.array([r[~o][:K] if o.any() else r[:K] for r, o in zip(rows, own)])
    return float(np.mean(labels[neighbours] == labels[:, None]))


def images(args):
    from keras_contrastive import data, runs, zoo

    splits = data.load_data("fashion_mnist")
    x, y = splits.x_test, np.asarray(splits.y_test)
    result = {"raw_pixels": round(precision_at_10_leave_one_out(_normalize(x.reshape(len(x), -1) / 255.0), y), 4)}
    for item in zoo.list():
        source = runs.open_model(item["name"])
        if source.modality != "image" or tuple(source.image_shape) != tuple(x.shape[1:]):
            continue
        start = time.perf_counter()
        vectors = _normalize(source.embed_images(x))
        result[item["name"]] = round(precision_at_10_leave_one_out(vectors, y), 4)
        print(f"{item['name']}: precision@10 {result[item['name']]} ({time.perf_counter() - start:.0f} s)", flush=True)
    return {"images_precision_at_10": result, "images_data": "Fashion-MNIST test, 10,000 images, leave-one-out"}


def _cached_embeddings(model, name, sentences, cache_dir, deadline, chunk=5000):
    """Embeddings of `sentences`, chunk by chunk, each chunk cached; `None` when `deadline` passed first."""
    from keras_contrastive import runs

    os.makedirs(cache_dir, exist_ok=True)
    source, parts = None, []
    for start in range(0, len(sentences), chunk):
        path = os.path.join(cache_dir, f"{name}-{len(sentences)}-{start}.npy")
        if not os.path.exists(path):
            if time.time() > deadline:
                return None
            source = source or runs.open_model(model)
            vectors = _normalize(source.embed_text(sentences[start : start + chunk], batch_size=256))
            np.save(path + ".tmp.npy", vectors)
            os.replace(path + ".tmp.npy", path)
            print(f"{name}: {min(start + chunk, len(sentences))}/{len(sentences)} embedded", flush=True)
        parts.append(np.load(path))
    return np.concatenate(parts)


def text(args):
    from keras_contrastive import data
    from keras_contrastive.search import exact_search

    sts_dir = args.sts_dir if os.path.isabs(args.sts_dir) else os.path.join(REPO, args.sts_dir)
    anchors, positives, sts_sentences = data.load_stsb_pairs(os.path.join(sts_dir, "STSBenchmark", "sts-test.csv"))
    seen = set(sts_sentences)
    distractors = [s for s in dict.fromkeys(data.load_wordnet()) if s not in seen][: args.distractors]
    corpus = sts_sentences + distractors
    position = {s: i for i, s in enumerate(corpus)}
    answer = np.array([position[p] for p in positives])
    own = np.array([position[a] for a in anchors])
    deadline = time.time() + args.time_budget
    results, unfinished = {}, []
    for model in args.text_models.split(","):
        vectors = _cached_embeddings(model, model, corpus, args.cache_dir, deadline)
        if vectors is None:
            unfinished.append(model)
            continue
        queries = vectors[own]  # sentence 1 is in the corpus: its own vector is the query's
        _, rows = exact_search(vectors, queries, k=K + 1)
        ranked = np.array([r[r != o][:K] for r, o in zip(rows, own)])
        hits = ranked == answer[:, None]
        ranks = np.where(hits.any(1), hits.argmax(1) + 1, 0)
        results[model] = {
            "recall_at_1": round(float(np.mean(ranks == 1)), 4),
            "mrr_at_10": round(float(np.mean(np.where(ranks > 0, 1.0 / np.maximum(ranks, 1), 0.0))), 4),
        }
        print(f"{model}: {results[model]}", flush=True)
    out = {
        "text_search": results,
        "text_data": f"STS-B test: {len(anchors)} queries (pairs >= 4.0), corpus {len(corpus)} sentences "
        f"({len(sts_sentences)} STS-B test + {len(distractors)} WordNet)",
    }
    if unfinished:
        out["text_unfinished"] = unfinished
        print(f"--time-budget reached before {unfinished}: run the same command again to continue", flush=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON file (its other parts' keys are kept)")
    parser.add_argument("--part", choices=["speed", "images", "text", "all"], default="all")
    parser.add_argument("--peer-python", default=os.path.join("benchmarks", ".venvs", "st", "bin", "python"))
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--nlist", type=int, help="the approximate engine's lists (default: about sqrt(count))")
    parser.add_argument("--work-dir", help="where the vectors are written (default: a temporary folder)")
    parser.add_argument("--sts-dir", default=os.path.join("..", "shared", "data", "sts"))
    parser.add_argument("--text-models", default="minilm,simcse_unsup_minilm_wordnet,simcse_sup_minilm_stsb")
    parser.add_argument("--distractors", type=int, default=100_000)
    parser.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "bench_search_cache"))
    parser.add_argument("--time-budget", type=float, default=float("inf"), help="seconds of text embedding")
    args = parser.parse_args(argv)

    result = {}
    if os.path.exists(args.out):
        with open(args.out, encoding="utf-8") as f:
            result = json.load(f)
    parts = ["speed", "images", "text"] if args.part == "all" else [args.part]
    for part in parts:
        start = time.perf_counter()
        if part == "speed":
            with tempfile.TemporaryDirectory(dir=args.work_dir) as work:
                figures = speed(args, work)
        else:
            figures = images(args) if part == "images" else text(args)
        if part == "text" and result.get("text_search"):
            figures["text_search"] = {**result["text_search"], **figures["text_search"]}
        if part == "text" and "text_unfinished" not in figures:
            result.pop("text_unfinished", None)  # an earlier, cut run's list: every model is done now
        result.update(figures)
        result.setdefault("commands", {})[part] = command_line(argv)
        result.setdefault("seconds", {})[part] = round(time.perf_counter() - start, 1)
    result["machine"] = machine()
    print(json.dumps(result, indent=2))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".tmp", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()

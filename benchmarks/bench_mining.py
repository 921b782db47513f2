"""Times `keras-contrastive mine`: 10,000 WordNet (example, definition) pairs against 100,000 WordNet sentences.

    python benchmarks/bench_mining.py --out benchmarks/results/bench_mining.json [--model minilm] \
        [--anchors 10000] [--corpus 100000] [--k 1] [--margin 0.05]

The pairs are (example sentence, definition of its sense) of Debian's
`wordnet-base` (`data.load_wordnet_triplets`), a seeded sample; the corpus a
seeded sample of WordNet's distinct glosses and examples (`data.load_wordnet`).
Both are written to files and mined by the command line, in a child process,
as a user would run it; the JSON records its wall time (model loading,
embedding every sentence, the blocked similarity search, writing the
triplets) and its peak resident memory (`ru_maxrss` of the child), plus a
check of the output (one line per pair, never the positive). Bars (issue
#20): <= 10 min and <= 2 GiB on this machine.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from _results import command_line, write_result  # noqa: E402 (benchmarks/ is on sys.path)

from keras_contrastive import data  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="JSON output file")
    parser.add_argument("--model", default="minilm", help="the encoder (default: all-MiniLM-L6-v2 as loaded)")
    parser.add_argument("--anchors", type=int, default=10_000)
    parser.add_argument("--corpus", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--margin", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    anchors, positives, _ = data.load_wordnet_triplets(seed=args.seed)
    pick = rng.choice(len(anchors), size=args.anchors, replace=False)
    sentences = data.load_wordnet()
    corpus = [sentences[i] for i in np.sort(rng.choice(len(sentences), size=args.corpus, replace=False))]
    with tempfile.TemporaryDirectory() as tmp:
        pairs_path, corpus_path, out_path = (os.path.join(tmp, n) for n in ("pairs.tsv", "corpus.txt", "mined.tsv"))
        with open(pairs_path, "w", encoding="utf-8") as f:
            f.writelines(f"{anchors[i]}\t{positives[i]}\n" for i in pick)
        with open(corpus_path, "w", encoding="utf-8") as f:
            f.writelines(f"{s}\n" for s in corpus)
        command = [sys.executable, "-m", "keras_contrastive.cli", "mine", "--model", args.model]
        command += ["--pairs", pairs_path, "--corpus", corpus_path, "--out", out_path]
        command += ["--k", str(args.k), "--margin", str(args.margin)]
        start = time.perf_counter()
        child = subprocess.run(command, check=False)
        seconds = time.perf_counter() - start
        if child.returncode:
            sys.exit(f"bench_mining: the mine command failed with status {child.returncode}")
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux: KiB, the largest child
        with open(out_path, encoding="utf-8") as f:
            triplets = [line.rstrip("\n").split("\t") for line in f]
    wanted = {(anchors[i], positives[i]) for i in pick}
    result = {
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "anchors": args.anchors,
        "corpus": args.corpus,
        "k": args.k,
        "margin": args.margin,
        "model": args.model,
        "triplets": len(triplets),
        "negative_is_positive": sum(t[2] == t[1] for t in triplets),
        "negative_is_anchor": sum(t[2] == t[0] for t in triplets),
        "pairs_covered": len({(t[0], t[1]) for t in triplets} & wanted),
        "bars": {"seconds": 600, "peak_rss_mib": 2048},
        # The temporary folder is gone: recorded as TMPDIR, so the line reads the same on every machine.
        "mine_command": " ".join(["keras-contrastive", *command[3:]]).replace(tmp, "TMPDIR"),
        "command": command_line(argv),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()

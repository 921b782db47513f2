"""Sentence embeddings, ours against sentence-transformers on the same all-MiniLM-L6-v2 files, side by side.

    python benchmarks/bench_embed.py --sts-dir ../shared/data/sts --out benchmarks/results/bench_embed.json \
        [--model simcse_sup_minilm_stsb] [--peer-python benchmarks/.venvs/st/bin/python] [--rounds 2] \
        [--sentences 6000]

The sentences: the first `--sentences` distinct sentences of STS12-16 and STS-B (train, dev, test; 41,251 in
all), one per line in a temporary file, in the order the files give them. Each measurement runs in a fresh
process, ours and the peer's alternately, `--rounds` times (the median is kept):
- `embed`: the whole command `keras-contrastive embed --model MODEL --input FILE --out FILE.npy` (the zoo's
  text SavedModel as shipped), and the same with `--model minilm` (the float Keras model);
- the peer's whole script: `peer/st_encode.py`, `SentenceTransformer(<MiniLM folder>).encode(batch_size=64)`
  on PyTorch (and its ONNX backend when `--onnx-python` has it, `bash benchmarks/peer/make_venvs.sh onnx`);
- in-process throughput after loading: the SavedModel's `serving_default` called directly in batches of 64
  in file order (what TF Serving runs when clients send such batches), against the peer's `encode` alone;
- `fraction_of_bf16_matmul`: MiniLM-L6's FLOPs per token times our serving rate in tokens/s, over TensorFlow's
  bfloat16 4096^2 matmul rate on this machine (the most this CPU multiplies).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _results import REPO, check_peer_python, command_line, peer_python, write_result  # noqa: E402

SERVING_CHILD = r"""
import json, sys, time
import numpy as np, tensorflow as tf
from keras_contrastive import zoo
model = zoo.load(sys.argv[1])
fn = model.loaded.signatures["serving_default"]
sentences = [l.strip() for l in open(sys.argv[2], encoding="utf-8") if l.strip()]
batches = [sentences[i : i + 64] for i in range(0, len(sentences), 64)]
fn(sentences=tf.constant(batches[0]))  # warm-up: oneDNN primitives
t = time.perf_counter()
for b in batches:
    fn(sentences=tf.constant(b))["embedding"].numpy()
seconds = time.perf_counter() - t
print(json.dumps({"serving_seconds": seconds, "sentences": len(sentences)}))
"""

TOKENS_CHILD = r"""
import json, sys
from keras_contrastive.text import build_text_encoder
encoder = build_text_encoder("minilm", dropout=0.0)
sentences = [l.strip() for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
tokens = 0
for i in range(0, len(sentences), 512):
    ids = encoder.tokenize(sentences[i : i + 512])
    tokens += int((ids != encoder.pad_id).sum())
print(json.dumps({"tokens": tokens}))
"""

MATMUL_CHILD = r"""
import json, time
import tensorflow as tf
a = tf.random.normal((4096, 4096), dtype=tf.float32)
out = {}
for dtype in ("bfloat16", "float32"):
    x = tf.cast(a, dtype)
    f = tf.function(lambda: tf.linalg.matmul(x, x))
    f()
    t = time.perf_counter()
    for _ in range(5):
        f().numpy()
    out[dtype] = 5 * 2 * 4096**3 / (time.perf_counter() - t) / 1e9
print(json.dumps(out))
"""

# MiniLM-L6 (6 layers, hidden 384, intermediate 1536): 2 FLOPs per weight of the Q, K, V, output and two
# feed-forward kernels per token; attention's score and mix matmuls add 4 * L * hidden per token per layer
# (L ~ 20 here), under 2 %, left out.
FLOPS_PER_TOKEN = 2 * 6 * (4 * 384 * 384 + 2 * 384 * 1536)


def timed(cmd, env=None):
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    seconds = time.perf_counter() - t
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    for line in reversed(out.stdout.splitlines()):  # the child's one JSON line, if it prints one
        try:
            return seconds, json.loads(line)
        except ValueError:
            continue
    return seconds, {}


def sts_sentences(sts_dir):
    sentences = []
    for folder, _, files in sorted(os.walk(sts_dir)):
        for name in sorted(files):
            path = os.path.join(folder, name)
            if name.startswith("STS.input.") or (name.startswith("sts-") and name.endswith(".csv")):
                with open(path, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        fields = line.rstrip("\n").split("\t")
                        sentences += fields[-2:] if len(fields) >= 2 else []
    return [s for s in dict.fromkeys(s.strip() for s in sentences) if s]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sts-dir", default=os.path.join(os.path.dirname(REPO), "shared", "data", "sts"))
    parser.add_argument("--model", default="simcse_sup_minilm_stsb")
    parser.add_argument("--peer-python", default=peer_python("st"))
    parser.add_argument("--onnx-python", default=peer_python("onnx"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=6000)
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results", "bench_embed.json"))
    args = parser.parse_args()
    check_peer_python(args.peer_python)
    from keras_contrastive.text.presets import minilm_preset_dir

    minilm_dir = minilm_preset_dir()
    sentences = sts_sentences(args.sts_dir)[: args.sentences]
    if len(sentences) < args.sentences:
        raise SystemExit(f"{args.sts_dir}: {len(sentences)} distinct STS sentences, fewer than {args.sentences}.")
    work = tempfile.mkdtemp(prefix="bench-embed-")
    corpus = os.path.join(work, "sentences.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(sentences) + "\n")
    cli = [sys.executable, "-m", "keras_contrastive.cli", "embed", "--input", corpus]
    peer = [args.peer_python, os.path.join(REPO, "benchmarks", "peer", "st_encode.py"), "--model", minilm_dir,
            "--input", corpus, "--batch-size", "64"]  # fmt: skip
    have_onnx = os.path.exists(args.onnx_python)
    runs = {k: [] for k in ("ours_embed", "ours_float_embed", "st_torch", "st_torch_encode", "st_onnx",
                            "st_onnx_encode", "ours_serving")}  # fmt: skip
    for round_ in range(args.rounds):
        seconds, _ = timed(cli + ["--model", args.model, "--out", os.path.join(work, "ours.npy")])
        runs["ours_embed"].append(seconds)
        seconds, peer_out = timed(peer + ["--out", os.path.join(work, "st.npy")])
        runs["st_torch"].append(seconds)
        runs["st_torch_encode"].append(peer_out["encode_seconds"])
        _, serving = timed([sys.executable, "-c", SERVING_CHILD, args.model, corpus])
        runs["ours_serving"].append(serving["serving_seconds"])
        seconds, _ = timed(cli + ["--model", "minilm", "--out", os.path.join(work, "float.npy")])
        runs["ours_float_embed"].append(seconds)
        if have_onnx:
            seconds, onnx_out = timed([args.onnx_python] + peer[1:] + ["--backend", "onnx"])
            runs["st_onnx"].append(seconds)
            runs["st_onnx_encode"].append(onnx_out["encode_seconds"])
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in runs.items() if v), flush=True)
    _, tokens = timed([sys.executable, "-c", TOKENS_CHILD, corpus])
    _, matmul = timed([sys.executable, "-c", MATMUL_CHILD])
    import numpy as np

    ours, theirs = np.load(os.path.join(work, "float.npy")), np.load(os.path.join(work, "st.npy"))
    ours = ours / np.linalg.norm(ours, axis=1, keepdims=True)
    n = len(sentences)
    med = {k: statistics.median(v) if v else None for k, v in runs.items()}
    rate = {k: (n / v if v else None) for k, v in med.items()}
    serving_tokens_per_s = tokens["tokens"] / med["ours_serving"]
    result = {
        "command": command_line(),
        "model": args.model,
        "sentences": n,
        "tokens": tokens["tokens"],
        "rounds": args.rounds,
        "seconds": runs,
        "ours_embed_per_s": round(rate["ours_embed"], 1),
        "ours_float_embed_per_s": round(rate["ours_float_embed"], 1),
        "ours_serving_per_s": round(rate["ours_serving"], 1),
        "st_torch_per_s": round(rate["st_torch"], 1),
        "st_torch_encode_per_s": round(rate["st_torch_encode"], 1),
        "st_onnx_per_s": round(rate["st_onnx"], 1) if have_onnx else None,
        "st_onnx_encode_per_s": round(rate["st_onnx_encode"], 1) if have_onnx else None,
        "ratio_embed_vs_st_torch": round(rate["ours_embed"] / rate["st_torch"], 3),
        "ratio_float_embed_vs_st_torch": round(rate["ours_float_embed"] / rate["st_torch"], 3),
        "ratio_serving_vs_st_torch": round(rate["ours_serving"] / rate["st_torch_encode"], 3),
        "ratio_embed_vs_st_onnx": round(rate["ours_embed"] / rate["st_onnx"], 3) if have_onnx else None,
        "matmul_gflops": {k: round(v, 1) for k, v in matmul.items()},
        "serving_gflops": round(serving_tokens_per_s * FLOPS_PER_TOKEN / 1e9, 1),
        "fraction_of_bf16_matmul": round(serving_tokens_per_s * FLOPS_PER_TOKEN / 1e9 / matmul["bfloat16"], 3),
        "float_vs_st_min_cosine": round(float(np.sum(ours * theirs, axis=1).min()), 6),
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()

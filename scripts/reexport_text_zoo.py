"""Re-exports a text zoo model with today's text exporter, from its shipped SavedModel's own weights.

    python scripts/reexport_text_zoo.py simcse_sup_minilm_stsb [--sts-dir ../shared/data/sts] [--keep-old]

For a zoo model whose run directory is gone: the method is rebuilt from the recipe in the model's assets
(its pre-trained encoder from the installed package), quantized as the shipped model was, and given the
shipped weights (the int8 kernels and scales themselves, matched by name, shape and dtype in order, so
nothing is quantized twice); then it is exported as the next version with the same assets. Before that
version is moved into place, its embeddings are checked against the shipped version's on every STS-B test
sentence (cosine >= 0.9999 each), and it is re-evaluated on STS as `zoo publish` does. The old version is
removed unless `--keep-old` (the zoo's size limit counts every version).
"""

import argparse
import datetime
import json
import os
import shutil
import sys
from collections import defaultdict

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _leaf(name):
    return name.rsplit(":", 1)[0].rsplit("/", 1)[-1]


def copy_shipped_weights(model, serving_fn):
    """Assigns the variables the shipped signature captures to `model`'s, matched in order by leaf name,
    shape and dtype. Every shipped variable must find its place; model weights the signature never used
    (dropout seeds, a training-only MLP) keep their values and are listed. The caller checks the result."""
    shipped = defaultdict(list)
    for variable in serving_fn.variables:
        shipped[(_leaf(variable.name), tuple(variable.shape), variable.dtype.name)].append(variable)
    missing = []
    for variable in model.variables:
        key = (_leaf(variable.path), tuple(variable.shape), str(variable.dtype))
        if shipped[key]:
            variable.assign(shipped[key].pop(0).numpy())
        elif "seed_generator" not in variable.path:
            missing.append(variable.path)
    left = [k for k, v in shipped.items() for _ in v]
    if left:
        raise ValueError(f"The rebuilt model has no place for the shipped weights {left}.")
    if missing:
        print(f"not in the shipped signature (unused by the embeddings): {missing}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name")
    parser.add_argument("--root", default=os.path.join(REPO, "savedmodels"))
    parser.add_argument("--sts-dir", default=os.path.join(os.path.dirname(REPO), "shared", "data", "sts"))
    parser.add_argument("--keep-old", action="store_true")
    args = parser.parse_args(argv)

    import keras
    import numpy as np
    import tensorflow as tf

    import keras_contrastive
    from keras_contrastive import zoo, zoo_publish
    from keras_contrastive.evaluation.sts import load_stsb
    from keras_contrastive.export.quantize import quantize_weights
    from keras_contrastive.export.text_export import embed_with_export, export_text_encoder, load_text_export
    from keras_contrastive.runs.text_task import build_text_model

    old = zoo.load(args.name, root=args.root)
    meta = dict(old.metadata)
    if meta.get("modality") != "text":
        raise SystemExit(f"{args.name} is a {meta.get('modality')} model: this script re-exports text models.")
    model = build_text_model(meta["recipe"])
    model(model.encoder.tokenize(["a sentence"]))  # builds every layer
    if meta.get("quantization"):
        quantize_weights(model, meta["quantization"])
    copy_shipped_weights(model, old.loaded.signatures["serving_default"])

    old_version = int(os.path.basename(old.path))
    new_version = old_version + 1
    assets_dir = os.path.join(old.path, "assets")
    assets = {}
    for folder, _, files in os.walk(assets_dir):
        for f in files:
            relative = os.path.relpath(os.path.join(folder, f), assets_dir)
            if relative != zoo.METADATA:
                with open(os.path.join(folder, f), "rb") as fh:
                    assets[relative] = fh.read()
    staging = os.path.join(args.root, f".reexport-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staged = export_text_encoder(model, staging, version=new_version, assets=assets)
        splits = load_stsb(os.path.join(args.sts_dir, "STSBenchmark", "sts-test.csv"))
        sentences = sorted(set(splits[0]) | set(splits[1]))
        before = embed_with_export(old.loaded, sentences)
        after = embed_with_export(load_text_export(staged), sentences)
        cosine = np.sum(before * after, axis=1)
        print(f"{len(sentences)} STS-B test sentences: cosine to the shipped version min {cosine.min():.6f}")
        if cosine.min() < 0.9999:
            raise SystemExit(f"The re-export differs from the shipped {args.name} (cosine {cosine.min():.6f}).")
        meta.update(
            version=new_version,
            created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            reexport_command=f"python scripts/reexport_text_zoo.py {args.name}",
            reexported_from={
                "version": old_version,
                "zoo_evaluation": meta.get("zoo_evaluation"),
                "min_cosine_stsb_test": float(cosine.min()),
            },  # fmt: skip
            versions={
                "keras_contrastive": keras_contrastive.__version__,
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
            },  # fmt: skip
        )
        new = zoo.ZooModel(staged, meta)
        meta["signatures"] = zoo_publish.signature_summary(new.signatures)
        meta["zoo_evaluation"] = zoo.evaluate(new, sts_dir=args.sts_dir)
        print(f"STS avg: shipped {meta['reexported_from']['zoo_evaluation']}, re-exported {meta['zoo_evaluation']}")
        with open(os.path.join(staged, "assets", zoo.METADATA), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2, sort_keys=True, default=float)
            f.write("\n")
        final = os.path.join(args.root, args.name, str(new_version))
        os.rename(staged, final)
        if not args.keep_old:
            shutil.rmtree(old.path)
        print(f"{final}: {zoo.directory_bytes(final) / 2**20:.1f} MB")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

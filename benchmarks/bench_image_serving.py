"""Image embeddings: the exported signatures against the same encoder's Keras `predict`, in one process.

    python benchmarks/bench_image_serving.py [--recipe recipes/simclr_fashion_mnist.yaml] [--images 10000] \
        [--batch-size 256] --out benchmarks/results/bench_image_serving.json

The recipe's encoder (initial weights: speed does not depend on them) embeds the Fashion-MNIST subset's test
images through `encoder.predict`, then through its export: `serving_default` (float32 pixels) and
`serve_image_bytes` (PNG files, decoded in the graph), each called directly in batches of `--batch-size`
after one warm-up batch; the median of `--rounds` passes. Embeddings are checked equal (max abs difference).
"""

import argparse
import io
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _results import REPO, command_line, write_result  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default=os.path.join(REPO, "recipes", "simclr_fashion_mnist.yaml"))
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(REPO, "benchmarks", "results", "bench_image_serving.json"))
    args = parser.parse_args()
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    from keras_contrastive import recipes
    from keras_contrastive.data import load_data
    from keras_contrastive.export import export_encoder
    from keras_contrastive.runs.image_task import build_model

    recipe = recipes.load(args.recipe, check_paths=False)
    x = load_data("fashion_mnist_subset").x_test[: args.images]
    encoder = build_model(recipe, x.shape[1:]).encoder
    images = x.astype("float32") / 255.0
    pngs = []
    for image in x:
        buf = io.BytesIO()
        Image.fromarray(image[..., 0]).save(buf, format="PNG")
        pngs.append(buf.getvalue())
    path = export_encoder(encoder, tempfile.mkdtemp(prefix="bench-image-serving-"), image_shape=x.shape[1:])
    loaded = tf.saved_model.load(path)
    b = args.batch_size

    def keras_predict():
        return encoder.predict(images, batch_size=b, verbose=0)

    def serving(name, key, inputs, dtype):
        fn = loaded.signatures[name]

        def run():
            return np.concatenate(
                [
                    fn(**{key: tf.constant(inputs[i : i + b], dtype)})["embedding"].numpy()
                    for i in range(0, len(inputs), b)
                ]
            )

        return run

    paths = {
        "keras_predict": keras_predict,
        "serving_default": serving("serving_default", "images", images, tf.float32),
        "serve_image_bytes": serving("serve_image_bytes", "image_bytes", pngs, tf.string),
    }
    outputs, seconds = {}, {k: [] for k in paths}
    for name, run in paths.items():
        outputs[name] = run()  # warm-up (traces, oneDNN primitives)
    for _ in range(args.rounds):
        for name, run in paths.items():
            t = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - t)
    per_s = {k: round(len(x) / statistics.median(v), 1) for k, v in seconds.items()}
    result = {
        "command": command_line(),
        "recipe": os.path.relpath(args.recipe, REPO),
        "images": len(x),
        "image_shape": list(x.shape[1:]),
        "batch_size": b,
        "seconds": seconds,
        "images_per_s": per_s,
        "serving_default_over_predict": round(per_s["serving_default"] / per_s["keras_predict"], 3),
        "serve_image_bytes_over_predict": round(per_s["serve_image_bytes"] / per_s["keras_predict"], 3),
        "max_abs_difference": {
            k: float(np.abs(outputs[k] - outputs["keras_predict"]).max())
            for k in ("serving_default", "serve_image_bytes")
        },
    }
    write_result(result, args.out)


if __name__ == "__main__":
    main()

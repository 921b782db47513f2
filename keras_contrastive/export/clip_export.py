"""Export a CLIP model as three TF Serving models: image tower, text tower, zero-shot classifier.

`export_clip(model, "savedmodels/clip")` writes

- `clip/image_tower/<v>/` (`export_encoder`): `serving_default`, `images` float32
  `[B, H, W, C]` in [0, 1] -> `embedding`; `serve_image_bytes`, `image_bytes`
  string `[B]` (PNG / JPEG) -> `embedding`.
- `clip/text_tower/<v>/` (`export.text_export.export_text_encoder`): `serving_default`,
  `sentences` string `[B]` (raw text, tokenized in the graph) -> `embedding`.
- `clip/zero_shot/<v>/`: `serving_default`, `image_bytes` string `[B]` ->
  `probabilities` `[B, K]`, `class_index` int64 `[B]`, `class_name` string
  `[B]`; `serve_images`, float images -> the same.

Embeddings are L2-normalised, so image-text similarity is a dot product.
Each directory is written atomically (a hidden sibling renamed into place)
and never over an existing version.
"""

import json
import os

import keras
import tensorflow as tf

from keras_contrastive.evaluation.zero_shot import DEFAULT_TEMPLATES, build_zero_shot_classifier
from keras_contrastive.export.export_encoder import (
    _check_finite_weights,
    export_encoder,
    write_archive,
)

SERVE_IMAGES = "serve_images"


def _zero_shot_archive(classifier, class_names):
    height, width, channels = (int(d) for d in classifier.input_shape[1:])
    names = tf.constant(list(class_names), dtype=tf.string)

    def classify(images):
        probabilities = tf.cast(classifier(images, training=False), tf.float32)
        index = tf.argmax(probabilities, axis=-1)
        return {"probabilities": probabilities, "class_index": index, "class_name": tf.gather(names, index)}

    def to_pixels(encoded):
        image = tf.io.decode_image(encoded, channels=channels, dtype=tf.uint8, expand_animations=False)
        # Same pixels as the image tower's serve_image_bytes: /255, bilinear resize only when the size differs.
        image = tf.cast(image, tf.float32) / 255.0
        same = tf.reduce_all(tf.equal(tf.shape(image)[:2], [height, width]))
        image = tf.cond(same, lambda: image, lambda: tf.image.resize(image, (height, width)))
        return tf.ensure_shape(image, (height, width, channels))

    def serving_default(image_bytes):
        spec = tf.TensorSpec((height, width, channels), tf.float32)
        return classify(tf.map_fn(to_pixels, image_bytes, fn_output_signature=spec))

    def serve_images(images):
        return classify(images)

    archive = keras.export.ExportArchive()
    # Not archive.track(classifier): see export_encoder._build_archive (every weight would be saved twice).
    archive.add_endpoint(
        name="serving_default",
        fn=serving_default,
        input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
    )
    archive.add_endpoint(
        name=SERVE_IMAGES,
        fn=serve_images,
        input_signature=[tf.TensorSpec([None, height, width, channels], tf.float32, name="images")],
    )
    return archive


def export_zero_shot_classifier(
    model, base_dir, class_names, templates=DEFAULT_TEMPLATES, version=None, assets=None, descriptions=None
):
    """The zero-shot classifier of `model` over `class_names` (each described by its `descriptions` phrases, or
    its name) as `base_dir/<version>/` (see the module table); `assets/classes.txt`, `assets/templates.txt` and
    `assets/descriptions.json` (if any) list the classes and prompts."""
    classifier = build_zero_shot_classifier(model, class_names, templates, descriptions)
    _check_finite_weights(classifier)
    assets = {
        **(assets or {}),
        "classes.txt": "\n".join(class_names) + "\n",
        "templates.txt": "\n".join(templates) + "\n",
    }
    if descriptions is not None:
        assets["descriptions.json"] = json.dumps({c: descriptions[c] for c in class_names}, indent=2) + "\n"
    return write_archive(_zero_shot_archive(classifier, class_names), base_dir, version=version, assets=assets)


def export_clip(
    model, base_dir, class_names=None, templates=DEFAULT_TEMPLATES, version=None, assets=None, descriptions=None
):
    """Exports the image tower, the text tower and (if `class_names`) the zero-shot classifier of a
    `models.CLIP` under `base_dir` (`image_tower/`, `text_tower/`, `zero_shot/`); `descriptions` as in
    `export_zero_shot_classifier`.

    Returns:
        dict `{"image_tower": dir, "text_tower": dir[, "zero_shot": dir]}` of version directories.
    """
    from keras_contrastive.export.text_export import export_text_encoder

    base_dir = os.fspath(base_dir)
    paths = {
        "image_tower": export_encoder(
            model.image_embedder(), os.path.join(base_dir, "image_tower"), version=version, assets=assets
        ),
        "text_tower": export_text_encoder(
            model.text_embedder(), os.path.join(base_dir, "text_tower"), version=version, assets=assets
        ),
    }
    if class_names:
        paths["zero_shot"] = export_zero_shot_classifier(
            model,
            os.path.join(base_dir, "zero_shot"),
            class_names,
            templates,
            version=version,
            assets=assets,
            descriptions=descriptions,
        )
    return paths

"""Zero-shot classification with an image-text model (CLIP, Radford et al., 2021, section 3.1.4).

Each class name is put into every prompt template ("an emoji of {}."), the
prompts are embedded by the text tower, L2-normalised, averaged over the
templates and normalised again (the paper's prompt ensembling); an image's
class is the one whose embedding is most similar to the image's. A class can
also be described by several phrases (`descriptions`, e.g. an emoji group by
the names of its subgroups); its embedding is then the mean over every
phrase x template. The
classifier is a Keras model, images in, class probabilities out, so it can be
exported and served like any other.
"""

import keras
import numpy as np
from keras import ops

from keras_contrastive.normalize import l2_normalize

DEFAULT_TEMPLATES = ("a photo of a {}.", "a picture of {}.", "{}")
EMOJI_TEMPLATES = ("an emoji of {}.", "{} emoji", "{}")


def class_phrases(class_names, descriptions=None):
    """`[[phrase, ...] per class]`: each class's phrases in `descriptions` (a dict `{class name: [phrases]}`),
    or its name alone. Every class must be described when `descriptions` is given."""
    class_names = [str(c) for c in class_names]
    if descriptions is None:
        return [[name] for name in class_names]
    if not isinstance(descriptions, dict):
        raise TypeError(f"descriptions must be a dict {{class name: [phrases]}}; received {type(descriptions)}.")
    missing = [name for name in class_names if not descriptions.get(name)]
    if missing:
        raise ValueError(
            f"descriptions lack the classes {missing}: give each class at least one phrase (its name will do)."
        )
    phrases = [descriptions[name] for name in class_names]
    bad = [p for p in phrases if isinstance(p, str) or not all(isinstance(x, str) and x.strip() for x in p)]
    if bad:
        raise ValueError(f"Each class's description is a list of non-empty phrases; received {bad[0]!r}.")
    return [list(p) for p in phrases]


def class_text_embeddings(model, class_names, templates=DEFAULT_TEMPLATES, descriptions=None):
    """float32 `[K, E]`: for each class, the normalised mean of the normalised embeddings of its prompts
    (each of its phrases, `class_phrases`, in each template)."""
    class_names, templates = list(class_names), list(templates)
    if not class_names:
        raise ValueError("Zero-shot classification needs at least one class name.")
    bad = [t for t in templates if "{}" not in t]
    if not templates or bad:
        raise ValueError(f"Prompt templates must each hold '{{}}' (where the class name goes); received {templates}.")
    phrases = class_phrases(class_names, descriptions)
    prompts = [t.format(phrase) for class_ in phrases for phrase in class_ for t in templates]
    embeddings = np.asarray(l2_normalize(model.encode_text(prompts)))
    ends = np.cumsum([len(class_) * len(templates) for class_ in phrases])
    means = [np.mean(chunk, axis=0) for chunk in np.split(embeddings, ends[:-1])]
    return np.asarray(l2_normalize(np.stack(means)), dtype="float32")


@keras.saving.register_keras_serializable(package="keras_contrastive")
class ZeroShotHead(keras.layers.Layer):
    """Image embeddings `[B, E]` to class probabilities `[B, K]`: `softmax(scale * x W^T)` with fixed class
    embeddings `W` (`class_text_embeddings`).

    Args:
        class_names: list of str. The `K` classes.
        embed_dim: int. `E`.
        scale: float. The logit scale (CLIP's `exp(logit_scale)`); it does
            not change the argmax. Defaults to `100.0`.
    """

    def __init__(self, class_names, embed_dim, scale=100.0, **kwargs):
        super().__init__(**kwargs)
        self.class_names = [str(c) for c in class_names]
        self.embed_dim = int(embed_dim)
        self.scale = float(scale)
        self.class_embeddings = self.add_weight(
            shape=(len(self.class_names), self.embed_dim), initializer="zeros", trainable=False, name="classes"
        )
        self.built = True

    def call(self, embeddings):
        logits = ops.matmul(ops.cast(embeddings, "float32"), ops.transpose(self.class_embeddings)) * self.scale
        return ops.softmax(logits, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update({"class_names": self.class_names, "embed_dim": self.embed_dim, "scale": self.scale})
        return config


def build_zero_shot_classifier(model, class_names, templates=DEFAULT_TEMPLATES, descriptions=None):
    """A functional `keras.Model`: images `[B, H, W, C]` in `[0, 1]` to class probabilities `[B, K]`.

    Args:
        model: `models.CLIP` (anything with `image_embedder()`,
            `encode_text(list)` and a `logit_scale`).
        class_names: list of str. The classes, in output order.
        templates: list of str. Prompt templates holding `{}`. Defaults to
            `DEFAULT_TEMPLATES`.
        descriptions: dict or None. `{class name: [phrases]}` put into the
            templates instead of the bare name (`class_phrases`). Defaults
            to `None`.
    """
    weights = class_text_embeddings(model, class_names, templates, descriptions)
    image_tower = model.image_embedder()
    head = ZeroShotHead(class_names, weights.shape[1], scale=float(model.logit_scale()), name="zero_shot_head")
    head.class_embeddings.assign(weights)
    return keras.Model(image_tower.inputs, head(image_tower.outputs[0]), name="zero_shot_classifier")


def zero_shot_accuracy(probabilities, labels, num_classes):
    """`top1`, `balanced_top1` (mean per-class recall), `chance` (`1 / K`, also the balanced
    chance), `majority` (share of the most frequent class: a constant guess's top-1), `examples`."""
    labels = np.asarray(labels)
    predicted = np.argmax(np.asarray(probabilities), axis=1)
    present = [c for c in range(num_classes) if np.any(labels == c)]
    return {
        "top1": float(np.mean(predicted == labels)),
        "balanced_top1": float(np.mean([np.mean(predicted[labels == c] == c) for c in present])),
        "chance": 1.0 / num_classes,
        "majority": float(max(np.mean(labels == c) for c in present)),
        "examples": int(len(labels)),
    }


def evaluate_zero_shot(
    model, images, labels, class_names, templates=DEFAULT_TEMPLATES, batch_size=256, descriptions=None
):
    """Zero-shot accuracy (`zero_shot_accuracy`) of `model` on uint8 or float `images` with int `labels`."""
    classifier = build_zero_shot_classifier(model, class_names, templates, descriptions)
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype("float32") / 255.0
    probabilities = classifier.predict(images, batch_size=batch_size, verbose=0)
    return zero_shot_accuracy(probabilities, labels, len(class_names))

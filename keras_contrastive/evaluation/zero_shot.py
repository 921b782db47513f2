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

On image-text pairs (a run's held-out pairs, the zoo's re-evaluation), `zero_shot_metrics` scores a model
with image and text towers, `classifier_zero_shot` an exported classifier.
"""

import keras
import numpy as np
from keras import ops

from keras_contrastive.data import image_text
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


# --- the protocol on image-text pairs (a run's held-out pairs, `runs.evaluate_zero_shot`, the zoo) ------------
def labelled_pairs(pairs):
    """bool `[N]`: the pairs (`data.image_text.ImageTextPairs`) that carry a class label (label `-1` = none)."""
    return pairs.labels >= 0 if pairs.labels is not None else np.zeros(len(pairs), bool)


def classifier_zero_shot(classify, pairs, num_classes):
    """`zero_shot_accuracy` of an exported zero-shot classifier (`classify`: images in, class probabilities
    out) on the labelled `pairs`, as `zero_shot_*` keys. The caller checks that some pairs are labelled."""
    labelled = labelled_pairs(pairs)
    scores = zero_shot_accuracy(classify(pairs.images[labelled]), pairs.labels[labelled], num_classes)
    return {f"zero_shot_{k}": v for k, v in scores.items()}


def default_templates(class_names):
    """`EMOJI_TEMPLATES` when `class_names` are the emoji groups, else `DEFAULT_TEMPLATES`."""
    emoji = class_names is not None and tuple(class_names) == image_text.EMOJI_GROUPS
    return list(EMOJI_TEMPLATES if emoji else DEFAULT_TEMPLATES)


def default_descriptions(class_names):
    """The emoji groups' Unicode subgroup names (`image_text.emoji_group_descriptions`) when `class_names` are
    the emoji groups, else `None` (each class is described by its name)."""
    if class_names is not None and tuple(class_names) == image_text.EMOJI_GROUPS:
        return image_text.emoji_group_descriptions()
    return None


def zero_shot_scores(encoder, image_embeddings, labels, class_names, templates, descriptions):
    """`zero_shot_accuracy` of images (their embeddings) against the classes' prompt
    embeddings (`class_text_embeddings` through `encoder.encode_text`)."""
    weights = class_text_embeddings(encoder, class_names, templates, descriptions)
    logits = np.asarray(image_embeddings, dtype="float32") @ weights.T
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return zero_shot_accuracy(probabilities, labels, len(class_names))


def zero_shot_metrics(encoder, pairs, class_names=None, templates=None, descriptions="default", batch_size=256,
                      image_embeddings=None):  # fmt: skip
    """Zero-shot top-1 of `encoder` (anything with `encode_images` and `encode_text`: a CLIP model, an
    export's towers) on the labelled `pairs`, as `zero_shot_*` keys; `{}` when they carry no labels.

    `descriptions`: `{class: [phrases]}`, `None` (class names alone) or `"default"` (`default_descriptions`).
    With descriptions, the accuracy from the bare class names is also given, as
    `zero_shot_names_only_top1` / `zero_shot_names_only_balanced_top1`.
    """
    class_names = list(class_names or pairs.class_names or [])
    labelled = labelled_pairs(pairs)
    if not class_names or not labelled.any():
        return {}
    if pairs.class_names and len(class_names) != len(pairs.class_names):
        raise ValueError(
            f"classes lists {len(class_names)} names but {pairs.name} has {len(pairs.class_names)} classes "
            f"({', '.join(pairs.class_names)}), in that order."
        )
    templates = list(templates or default_templates(class_names))
    descriptions = default_descriptions(class_names) if descriptions == "default" else descriptions
    if image_embeddings is None:
        image_embeddings = encoder.encode_images(pairs.images, batch_size=batch_size)
    embeddings, labels = np.asarray(image_embeddings)[labelled], pairs.labels[labelled]
    scores = zero_shot_scores(encoder, embeddings, labels, class_names, templates, descriptions)
    metrics = {f"zero_shot_{k}": v for k, v in scores.items()}
    if descriptions is not None:
        names_only = zero_shot_scores(encoder, embeddings, labels, class_names, templates, None)
        metrics.update({f"zero_shot_names_only_{k}": names_only[k] for k in ("top1", "balanced_top1")})
    metrics.update(
        {"zero_shot_classes": class_names, "zero_shot_templates": templates, "zero_shot_descriptions": descriptions}
    )
    return metrics

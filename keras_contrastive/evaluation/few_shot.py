"""Few-shot fine-tuning: encoder + linear head on a small labelled fraction.

The semi-supervised protocol of SimCLR (Chen et al. 2020,
https://arxiv.org/abs/2002.05709, section 4 / appendix B.5): fine-tune the
whole pre-trained encoder with a linear classifier on 1 % or 10 % of the
labels (class-balanced), and compare with the same architecture trained from
random initialisation the same way.
"""

import keras
import numpy as np

from keras_contrastive import keras_internals
from keras_contrastive.evaluation.extract_features import images_to_float


def class_balanced_subset(labels, fraction, seed=0):
    """Indices of a class-balanced `fraction` of `labels`, at least one per class.

    Each class `c` with `n_c` examples contributes `max(1, round(fraction * n_c))`
    of them, drawn without replacement by a generator seeded with `seed`.

    Args:
        labels: int array `[N]`.
        fraction: float in `(0, 1]`.
        seed: int. Defaults to `0`.

    Returns:
        A sorted int64 array of indices into `labels`.

    Example:

    >>> class_balanced_subset([0, 0, 0, 0, 1, 1, 1, 1], 0.5, seed=0).size
    4
    """
    labels = np.asarray(labels).reshape(-1)
    if not 0.0 < float(fraction) <= 1.0:
        raise ValueError(f"`fraction` must be in (0, 1], e.g. 0.01 or 0.1. Received {fraction!r}.")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = max(1, int(round(float(fraction) * len(members))))
        chosen.append(rng.choice(members, size=count, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def fine_tune(encoder, x_train, y_train, x_test, y_test, num_classes, *, steps=300, batch_size=64,
              learning_rate=1e-3, seed=0):  # fmt: skip
    """Trains `encoder` + a linear head end to end; returns the test top-1.

    Adam, sparse cross-entropy, no augmentation, `steps` batches whatever
    the number of labelled examples (passes over them reshuffled with
    `seed`): with 1 % of the labels an epoch is a couple of steps, too few
    for the weights, and for BatchNorm's moving statistics, to settle. The
    head is initialised with `seed`, so two encoders see identical batches.

    Args:
        encoder: `keras.Model`. Float images in `[0, 1]` to `[B, D]`. Its
            weights are updated in place.
        x_train, y_train: the labelled images (uint8 or float in `[0, 1]`)
            and int labels.
        x_test, y_test: the test images and labels.
        num_classes: int.
        steps: int. Training steps. Defaults to `300`.
        batch_size: int. Defaults to `64`.
        learning_rate: float. Defaults to `1e-3`.
        seed: int. Defaults to `0`.

    Returns:
        A dict with `top1` (test accuracy) and `train_top1` (after the last
        epoch, in inference mode).
    """
    keras.utils.set_random_seed(seed)
    for layer in keras_internals.flatten_layers(encoder):
        if isinstance(layer, keras.layers.BatchNormalization):
            # SimCLR's fine-tuning BN decay (0.9): Keras's 0.99 leaves the moving statistics, used at
            # test time, far from the batch statistics after the few hundred steps a 1 % subset allows.
            layer.momentum = 0.9
    inputs = keras.Input(encoder.input_shape[1:])
    head = keras.layers.Dense(num_classes, kernel_initializer=keras.initializers.GlorotUniform(seed), name="head")
    classifier = keras.Model(inputs, head(encoder(inputs)), name="few_shot_classifier")
    classifier.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    x_train, x_test = images_to_float(x_train), images_to_float(x_test)
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    # Our own shuffle: the same batches for every encoder given the same seed.
    rng = np.random.default_rng(seed)
    passes = -(-int(steps) * batch_size // len(x_train))
    order = np.concatenate([rng.permutation(len(x_train)) for _ in range(passes)])[: int(steps) * batch_size]
    classifier.fit(x_train[order], y_train[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    _, train_top1 = classifier.evaluate(x_train, y_train, batch_size=512, verbose=0)
    _, top1 = classifier.evaluate(x_test, y_test, batch_size=512, verbose=0)
    return {"top1": float(top1), "train_top1": float(train_top1)}


def few_shot_comparison(pretrained_encoder, scratch_encoder, splits, fraction, *, steps=300, batch_size=64,
                        learning_rate=1e-3, seed=0):  # fmt: skip
    """Fine-tunes a pre-trained and a randomly initialised encoder identically
    on a class-balanced `fraction` of `splits.y_train`; test top-1 of both.

    Args:
        pretrained_encoder: `keras.Model`. Updated in place (pass a copy).
        scratch_encoder: `keras.Model`. The same architecture, freshly
            initialised. Updated in place.
        splits: a `DataSplits` (or any object with `x_train`, `y_train`,
            `x_test`, `y_test`, `num_classes`).
        fraction: float in `(0, 1]`. Fraction of the training labels used.
        steps, batch_size, learning_rate, seed: as in `fine_tune`.

    Returns:
        A dict with `fraction`, `labelled_examples`, `per_class` (counts),
        `pretrained_top1`, `scratch_top1`, `gain` (their difference), the
        train accuracies and the settings.
    """
    indices = class_balanced_subset(splits.y_train, fraction, seed=seed)
    x, y = splits.x_train[indices], np.asarray(splits.y_train)[indices]
    options = {"steps": steps, "batch_size": batch_size, "learning_rate": learning_rate, "seed": seed}
    args = (x, y, splits.x_test, splits.y_test, splits.num_classes)
    pretrained = fine_tune(pretrained_encoder, *args, **options)
    scratch = fine_tune(scratch_encoder, *args, **options)
    return {
        "fraction": float(fraction),
        "labelled_examples": int(len(indices)),
        "per_class": {int(c): int(n) for c, n in zip(*np.unique(y, return_counts=True))},
        "pretrained_top1": pretrained["top1"],
        "scratch_top1": scratch["top1"],
        "gain": pretrained["top1"] - scratch["top1"],
        "pretrained_train_top1": pretrained["train_top1"],
        "scratch_train_top1": scratch["train_top1"],
        "test_examples": int(len(splits.y_test)),
        **options,
    }

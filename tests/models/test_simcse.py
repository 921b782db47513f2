"""SimCSE: dropout views, MLP only in training, losses against numpy references, 2 replicas == 1 device."""

import numpy as np
import pytest

from keras_contrastive import models
from keras_contrastive.testing import (
    run_replica_equivalence_test,
    run_serialization_test,
    run_train_step_test,
    tiny_simcse,
)
from keras_contrastive.text.testing import TINY_SENTENCES


def _ids(model, sentences=TINY_SENTENCES[:8]):
    return model.encoder.tokenize(sentences)


def _reference_info_nce(anchor, positive, negative=None, temperature=0.05):
    """SimCSE's loss written plainly: cosine similarities / t, cross-entropy on the diagonal."""

    def normalize(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    a, p = normalize(anchor.astype("float64")), normalize(positive.astype("float64"))
    logits = a @ p.T
    if negative is not None:
        logits = np.concatenate([logits, a @ normalize(negative.astype("float64")).T], axis=1)
    logits = logits / temperature
    logits -= logits.max(axis=1, keepdims=True)
    log_softmax = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -np.mean(np.diag(log_softmax[:, : len(a)]))


def test_registered_as_a_text_method():
    assert models.get_method("SimCSE") is models.SimCSE
    assert models.SimCSE.modality == "text" and models.SimCLR.modality == "image"


def test_dropout_makes_the_two_views_differ_in_training_only():
    model = tiny_simcse(dropout=0.3)
    ids = _ids(model)
    train_a, train_b = (np.asarray(model.pool(ids, training=True)) for _ in range(2))
    assert np.max(np.abs(train_a - train_b)) > 1e-3
    infer_a, infer_b = (np.asarray(model.pool(ids, training=False)) for _ in range(2))
    np.testing.assert_array_equal(infer_a, infer_b)
    np.testing.assert_array_equal(np.asarray(model(ids)), infer_a)


def test_mlp_is_used_in_training_and_absent_from_embeddings():
    model = tiny_simcse()
    ids = _ids(model)
    embedding = np.asarray(model(ids))
    loss = float(model.compute_contrastive_loss((ids,), training=True)[0])
    kernel, bias = model.mlp.get_weights()
    model.mlp.set_weights([np.random.default_rng(1).normal(size=kernel.shape).astype("float32"), bias])
    np.testing.assert_array_equal(np.asarray(model(ids)), embedding)  # embeddings: no MLP
    assert abs(float(model.compute_contrastive_loss((ids,), training=True)[0]) - loss) > 1e-4  # training: MLP
    # A train step updates the MLP (it is on the loss path).
    before = model.mlp.get_weights()[0].copy()
    run_train_step_test(model, {"views": (ids,)})
    assert np.max(np.abs(model.mlp.get_weights()[0] - before)) > 0
    # mlp_only_train=False keeps it in the embeddings too.
    with_mlp = tiny_simcse(mlp_only_train=False)
    pooled = np.asarray(with_mlp.pool(ids))
    np.testing.assert_allclose(np.asarray(with_mlp(ids)), np.asarray(with_mlp.mlp(pooled)), rtol=1e-6)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_unsupervised_loss_equals_numpy_reference(pooling):
    model = tiny_simcse(pooling=pooling, temperature=0.05)
    ids = _ids(model)
    z = np.asarray(model.mlp(model.pool(ids, training=True)))  # dropout 0: both views equal
    loss, logs, features = model.compute_contrastive_loss((ids,), training=True)
    np.testing.assert_allclose(float(loss), _reference_info_nce(z, z), rtol=1e-4)
    assert features.shape == (8, 8) and 0.0 <= float(logs["contrastive_accuracy"]) <= 1.0


def test_mean_pooling_ignores_padding():
    model = tiny_simcse(pooling="mean")
    short = model.encoder.tokenize(["the cat sat"], sequence_length=6)
    longer = model.encoder.tokenize(["the cat sat"])
    assert short.shape == (1, 6) and longer.shape == (1, 12) and np.all(longer[:, 6:] == 0)
    np.testing.assert_allclose(np.asarray(model(short)), np.asarray(model(longer)), atol=1e-5)


def test_supervised_loss_with_hard_negatives_equals_numpy_reference():
    model = tiny_simcse(temperature=0.1)
    anchor, positive, negative = (
        _ids(model, TINY_SENTENCES[0:4]),
        _ids(model, TINY_SENTENCES[4:8]),
        _ids(model, TINY_SENTENCES[8:12]),
    )
    z = [np.asarray(model.mlp(model.pool(v, training=True))) for v in (anchor, positive, negative)]
    loss, logs, _ = model.compute_contrastive_loss((anchor, positive, negative), training=True)
    np.testing.assert_allclose(float(loss), _reference_info_nce(*z, temperature=0.1), rtol=1e-4)
    # Pairs without negatives: the same formula without the negative columns.
    pair_loss = float(model.compute_contrastive_loss((anchor, positive), training=True)[0])
    np.testing.assert_allclose(pair_loss, _reference_info_nce(z[0], z[1], temperature=0.1), rtol=1e-4)


def test_two_replicas_equal_one_device_with_hard_negatives():
    # Supervised triplets: gathered positives and hard negatives must keep each anchor's label at its global
    # row (the unsupervised mode is the same loss without the negative columns).
    probe = tiny_simcse()
    columns = [TINY_SENTENCES[0:8], TINY_SENTENCES[4:12], TINY_SENTENCES[2:10]]
    batch = {"views": tuple(_ids(probe, c) for c in columns)}
    difference, update = run_replica_equivalence_test(lambda: tiny_simcse(temperature=0.1), batch, learning_rate=0.1)
    assert difference <= 1e-5 < update


def test_serialization_keeps_tokenizer_and_embeddings():
    model = tiny_simcse(pooling="mean", temperature=0.07)
    loaded = run_serialization_test(model, _ids(model))
    assert loaded.pooling == "mean" and loaded.temperature == 0.07
    np.testing.assert_allclose(loaded.encode(TINY_SENTENCES[:4]), model.encode(TINY_SENTENCES[:4]), atol=1e-6)


def test_encode_returns_unit_vectors_in_input_order():
    model = tiny_simcse()
    sentences = ["a much longer sentence about the red car and the dog .", "cat", "the bird sings"]
    out = model.encode(sentences, batch_size=2)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    single = np.stack([model.encode([s])[0] for s in sentences])
    np.testing.assert_allclose(out, single, atol=1e-5)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="pooling must be one of"):
        tiny_simcse(pooling="max")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        tiny_simcse(temperature=0)
    model = tiny_simcse()
    ids = _ids(model, TINY_SENTENCES[:2])
    with pytest.raises(ValueError, match="received 4"):
        model.compute_contrastive_loss((ids, ids, ids, ids))


def test_crop_keeps_a_contiguous_span_between_cls_and_sep():
    model = tiny_simcse(crop=0.5)
    ids = _ids(model, TINY_SENTENCES[:4] + [""])
    cropped = np.asarray(model._random_crop(ids))
    for row, out in zip(ids, cropped):
        words, kept = row[(row != 0)][1:-1], out[(out != 0)]
        assert kept[0] == 2 and kept[-1] == 3 and np.all(out[len(kept) :] == 0)
        span = kept[1:-1]
        assert len(span) == (max(1, int(np.ceil(len(words) * 0.5))) if len(words) else 0)
        assert any(np.array_equal(words[i : i + len(span)], span) for i in range(len(words) - len(span) + 1))
    # Two crops of one batch differ (each view its own span); inference never crops.
    assert not np.array_equal(cropped, np.asarray(model._random_crop(ids)))
    np.testing.assert_array_equal(np.asarray(model(ids)), np.asarray(tiny_simcse()(ids)))
    assert type(model).from_config(model.get_config()).crop == 0.5
    with pytest.raises(ValueError, match="crop is the fraction"):
        tiny_simcse(crop=1.0)


def test_without_mlp_the_loss_sees_the_embeddings_themselves():
    # Fine-tuning a pre-trained sentence encoder: no freshly initialised layer between its embeddings and the loss.
    model = tiny_simcse(use_mlp=False, temperature=0.1)
    assert model.mlp is None and not [w for w in model.trainable_weights if "mlp" in w.path]
    anchor, positive, negative = (_ids(model, TINY_SENTENCES[i : i + 4]) for i in (0, 4, 8))
    z = [np.asarray(model(v)) for v in (anchor, positive, negative)]  # dropout 0: training == inference
    loss = float(model.compute_contrastive_loss((anchor, positive, negative), training=True)[0])
    np.testing.assert_allclose(loss, _reference_info_nce(*z, temperature=0.1), rtol=1e-4)
    loaded = run_serialization_test(model, anchor)
    assert loaded.use_mlp is False and loaded.mlp is None
    difference, update = run_replica_equivalence_test(
        lambda: tiny_simcse(use_mlp=False, temperature=0.1),
        {"views": (anchor, positive, negative)},
        learning_rate=0.1,
    )
    assert difference <= 1e-5 < update


def test_symmetric_loss_averages_both_directions():
    model = tiny_simcse(use_mlp=False, symmetric=True, temperature=0.1)
    anchor, positive, negative = (_ids(model, TINY_SENTENCES[i : i + 4]) for i in (0, 4, 8))
    a, p, n = (np.asarray(model(v)) for v in (anchor, positive, negative))
    loss = float(model.compute_contrastive_loss((anchor, positive, negative), training=True)[0])
    # Anchor -> positives and hard negatives; positive -> anchors (the hard negatives are the anchors' only).
    expected = (_reference_info_nce(a, p, n, temperature=0.1) + _reference_info_nce(p, a, temperature=0.1)) / 2
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    assert type(model).from_config(model.get_config()).symmetric is True

import doctest

import numpy as np
import pytest
import tensorflow as tf

from keras_contrastive.losses import dino_loss, teacher_batch_center
from keras_contrastive.testing import run_on_replicas, two_replica_strategy


def _logits(n=6, k=10, seed=0):
    return np.random.default_rng(seed).normal(size=(n, k)).astype("float32") * 3


def reference_dino(student, teacher, center, tau_s, tau_t):
    """DINO's loss written the plain way, in float64: loops over pairs of crops and over examples."""
    total, pairs = 0.0, 0
    for i, t in enumerate(teacher):
        for v, s in enumerate(student):
            if v == i:
                continue
            per_example = []
            for row_t, row_s in zip(t.astype(np.float64), s.astype(np.float64)):
                q = np.exp((row_t - center) / tau_t)
                q /= q.sum()
                log_p = row_s / tau_s - np.log(np.sum(np.exp(row_s / tau_s)))
                per_example.append(-np.dot(q, log_p))
            total += np.mean(per_example)
            pairs += 1
    return total / pairs


@pytest.mark.parametrize("num_students", [2, 3, 5])
def test_dino_loss_matches_plain_reference(num_students):
    student = [_logits(seed=s) for s in range(num_students)]
    teacher = [_logits(seed=10 + t) for t in range(2)]
    center = _logits(n=1, seed=99)[0] * 0.1
    loss = dino_loss(student, teacher, center, student_temperature=0.2, teacher_temperature=0.07)
    np.testing.assert_allclose(float(loss), reference_dino(student, teacher, center, 0.2, 0.07), rtol=1e-5)


def test_dino_loss_known_values():
    k = 10
    teacher = [_logits(seed=1), _logits(seed=2)]
    # A uniform student predicts log(K) whatever the teacher.
    uniform = np.zeros((6, k), "float32")
    assert float(dino_loss([uniform] * 4, teacher, np.zeros(k, "float32"))) == pytest.approx(np.log(k), rel=1e-6)
    # A teacher that is one-hot on class j (after a very low temperature) scores -log p_j of the other crop.
    one_hot = np.full((6, k), -1.0, "float32")
    one_hot[:, 3] = 1.0
    student = _logits(seed=3)
    scaled = student.astype(np.float64) / 0.1
    log_p = scaled - scaled.max(axis=1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    loss = dino_loss([uniform, student], [one_hot], np.zeros(k, "float32"), teacher_temperature=1e-3)
    assert float(loss) == pytest.approx(-np.mean(log_p[:, 3]), rel=1e-5)
    # A crop is never its own target: one teacher crop, its student twin is skipped.
    assert float(dino_loss([student, uniform], [one_hot], np.zeros(k, "float32"), teacher_temperature=1e-3)) == (
        pytest.approx(np.log(k), rel=1e-6)
    )
    # Shifting every teacher logit and the center by the same amount changes nothing.
    center = _logits(n=1, seed=4)[0]
    a = dino_loss([student, uniform], teacher, center)
    b = dino_loss([student, uniform], [t + 5.0 for t in teacher], center + 5.0)
    assert float(a) == pytest.approx(float(b), rel=1e-5)


def test_dino_loss_sends_no_gradient_to_the_teacher():
    student, teacher = tf.Variable(_logits(seed=5)), tf.Variable(_logits(seed=6))
    with tf.GradientTape() as tape:
        loss = dino_loss([student, student * 0.5], [teacher, teacher], tf.zeros(10))
    grad_s, grad_t = tape.gradient(loss, [student, teacher])
    assert grad_t is None and float(tf.reduce_max(tf.abs(grad_s))) > 0


def test_teacher_batch_center_is_the_global_mean_on_every_replica():
    a, b = _logits(n=8, seed=7), _logits(n=8, seed=8)
    results, _ = run_on_replicas(two_replica_strategy(), lambda x, y: teacher_batch_center([x, y]), a, b)
    for value in results:
        np.testing.assert_allclose(value, np.concatenate([a, b]).mean(axis=0, keepdims=True), rtol=1e-5, atol=1e-6)


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="at least 2 student crops"):
        dino_loss([_logits()], [_logits()], np.zeros(10, "float32"))
    with pytest.raises(ValueError, match="student_temperature must be > 0"):
        dino_loss([_logits()] * 2, [_logits()], np.zeros(10, "float32"), student_temperature=0.0)


def test_docstring_examples_run():
    from keras_contrastive.losses import dino

    assert doctest.testmod(dino, verbose=False).failed == 0

"""Tests of `kerasdl.softmax_regression`."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasdl

FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-6
FLOAT64_RTOL = 1e-12
# Anchors are quoted with 5-6 significant digits.
ANCHOR_RTOL = 1e-4

Y_HAT = [[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]]
Y = [0, 2]


def _log_softmax_float64(O):
    O = np.asarray(O, dtype=np.float64)
    shifted = O - O.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def test_softmax_anchor_large_logits():
    """Is softmax([1000, 1001, 1002]) = [0.09003, 0.24473, 0.66524], finite?"""
    result = kerasdl.softmax(tf.constant([[1000.0, 1001.0, 1002.0]]))
    np.testing.assert_allclose(result.numpy(), [[0.09003, 0.24473, 0.66524]], rtol=ANCHOR_RTOL)


def test_softmax_matches_keras_and_float64(rng):
    """Does softmax agree with keras.activations.softmax and float64 NumPy?"""
    O = rng.normal(scale=5.0, size=(4, 10))
    result32 = kerasdl.softmax(tf.constant(O, dtype=tf.float32))
    keras_result = keras.activations.softmax(tf.constant(O, dtype=tf.float32))
    np.testing.assert_allclose(result32.numpy(), keras_result.numpy(), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    result64 = kerasdl.softmax(O)
    assert result64.dtype == tf.float64
    np.testing.assert_allclose(result64.numpy(), np.exp(_log_softmax_float64(O)), rtol=FLOAT64_RTOL)


def test_softmax_stays_finite_at_minus_1000():
    """Are probabilities finite and summing to 1 for logits near -1000?"""
    result = kerasdl.softmax([[-1000.0, -1001.0], [1000.0, -1000.0]]).numpy()
    assert np.isfinite(result).all()
    np.testing.assert_allclose(result.sum(axis=1), [1.0, 1.0], rtol=FLOAT32_RTOL)


def test_cross_entropy_anchor():
    """Does cross_entropy give [2.302585, 0.693147] on the notes' example?"""
    result = kerasdl.cross_entropy(tf.constant(Y_HAT), tf.constant(Y))
    assert result.shape == (2,)
    np.testing.assert_allclose(result.numpy(), [2.302585, 0.693147], rtol=FLOAT32_RTOL)


def test_log_softmax_matches_keras_and_float64(rng):
    """Does log_softmax agree with keras.ops.log_softmax and float64 NumPy?"""
    O = rng.normal(scale=5.0, size=(3, 7))
    np.testing.assert_allclose(
        kerasdl.log_softmax(O).numpy(), _log_softmax_float64(O), rtol=FLOAT64_RTOL
    )
    O32 = tf.constant(O, dtype=tf.float32)
    np.testing.assert_allclose(
        kerasdl.log_softmax(O32).numpy(),
        keras.ops.log_softmax(O32, axis=-1).numpy(),
        rtol=FLOAT32_RTOL,
        atol=FLOAT32_ATOL,
    )


def test_softmax_cross_entropy_anchor_stable():
    """Is the CE of logits [[1000, 0], [-1000, 0]] with labels [0, 0] = [0, 1000]?"""
    result = kerasdl.softmax_cross_entropy(tf.constant([[1000.0, 0.0], [-1000.0, 0.0]]), tf.constant([0, 0]))
    np.testing.assert_allclose(result.numpy(), [0.0, 1000.0], rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def test_softmax_cross_entropy_matches_keras_loss(rng):
    """Does it equal SparseCategoricalCrossentropy(from_logits=True, reduction=None)?"""
    O = rng.normal(scale=3.0, size=(6, 5)).astype(np.float32)
    y = rng.integers(0, 5, size=6)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)
    np.testing.assert_allclose(
        kerasdl.softmax_cross_entropy(O, y).numpy(), keras_loss(y, O).numpy(), rtol=FLOAT32_RTOL
    )


def test_softmax_cross_entropy_equals_cross_entropy_of_softmax(rng):
    """Do the stable and the two-step computation agree on moderate logits (float64)?"""
    O = rng.standard_normal((5, 4))
    y = rng.integers(0, 4, size=5)
    np.testing.assert_allclose(
        kerasdl.softmax_cross_entropy(O, y).numpy(),
        kerasdl.cross_entropy(kerasdl.softmax(O), y).numpy(),
        rtol=FLOAT64_RTOL,
    )


def test_accuracy_counts_correct_predictions():
    """Is accuracy the number (1.0), not the fraction (0.5), of correct predictions?"""
    result = kerasdl.accuracy(tf.constant(Y_HAT), tf.constant(Y))
    assert isinstance(result, float)
    np.testing.assert_allclose(result, 1.0)


def test_accuracy_accepts_class_indices():
    """Does a 1-D y_hat count as predicted class indices?"""
    np.testing.assert_allclose(kerasdl.accuracy(np.array([1, 2, 0]), np.array([1, 2, 2])), 2.0)


class _RecordingNet(keras.layers.Layer):
    """Identity on one-hot inputs that records the `training` flags it saw."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def call(self, X, training=None):
        self.seen.append(training)
        return X


def test_evaluate_accuracy_weights_last_batch_and_uses_inference():
    """Is the last, smaller batch weighted by its size, and training=False passed?"""
    # 10 examples in batches of 4, 4, 2: the first 8 are half right, the last 2 right.
    labels = np.array([0, 1, 0, 1, 0, 1, 0, 1, 2, 2])
    predictions = np.array([0, 0, 0, 0, 0, 0, 0, 0, 2, 2])
    X = np.eye(3, dtype=np.float32)[predictions]
    data_iter = tf.data.Dataset.from_tensor_slices((X, labels)).batch(4)
    net = _RecordingNet()
    # 6 correct of 10; the mean of batch fractions would be (0.5 + 0.5 + 1) / 3.
    np.testing.assert_allclose(kerasdl.evaluate_accuracy(net, data_iter), 0.6)
    assert net.seen == [False, False, False]


def test_evaluate_accuracy_turns_dropout_off():
    """Does a net that is exact at inference but dropped out in training score 1?"""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=200)
    X = np.eye(10, dtype=np.float32)[y]
    net = keras.Sequential([keras.Input((10,)), keras.layers.Dropout(0.9, seed=0)])
    data_iter = tf.data.Dataset.from_tensor_slices((X, y)).batch(64)
    np.testing.assert_allclose(kerasdl.evaluate_accuracy(net, data_iter), 1.0)


def test_evaluate_accuracy_calls_plain_function_without_training():
    """Does a scratch network (a plain function of X) work too?"""
    X = np.eye(3, dtype=np.float32)
    data_iter = [(X, np.array([0, 1, 1]))]
    np.testing.assert_allclose(kerasdl.evaluate_accuracy(lambda X: X, data_iter), 2 / 3)


def test_softmax_regression_matches_keras_dense(rng):
    """Does the scratch net equal softmax(Dense(flatten(X)))?"""
    X = rng.random((3, 4, 4, 1)).astype(np.float32)
    W = rng.normal(scale=0.1, size=(16, 5)).astype(np.float32)
    b = rng.normal(scale=0.1, size=5).astype(np.float32)
    dense = keras.layers.Dense(5, activation="softmax")
    dense.build((None, 16))
    dense.set_weights([W, b])
    np.testing.assert_allclose(
        kerasdl.softmax_regression(X, W, b).numpy(),
        dense(X.reshape(3, 16)).numpy(),
        rtol=FLOAT32_RTOL,
        atol=FLOAT32_ATOL,
    )


def test_softmax_regression_model_outputs_logits():
    """Is the concise model Flatten + Dense(10) with no softmax (785 * 10 params)?"""
    net = kerasdl.softmax_regression_model(10, seed=0)
    out = net(tf.ones((2, 28, 28, 1)))
    assert out.shape == (2, 10)
    assert net.count_params() == 785 * 10
    assert net.layers[-1].activation is keras.activations.linear


def test_softmax_and_cross_entropy_are_quiet(quiet):
    """Do the graded functions run without stderr output or warnings?"""
    with quiet():
        kerasdl.softmax(np.array([[1000.0, -1000.0]]))
        kerasdl.softmax_cross_entropy(np.array([[1000.0, -1000.0]]), [1])
        kerasdl.accuracy(np.array(Y_HAT), np.array(Y))

"""Tests of `kerasdl.linear_regression`."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.linear_model import LinearRegression

import kerasdl

FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-6
FLOAT64_RTOL = 1e-10
# Parameter recovery after 3 epochs of SGD on 1000 noisy examples (noise std 0.01).
RECOVERY_ATOL = 1e-2
TRUE_W = [2.0, -3.4]
TRUE_B = 4.2


def _collect(batches):
    Xs, ys = zip(*[(X.numpy(), y.numpy()) for X, y in batches])
    return Xs, ys


def test_data_iter_covers_every_example_once():
    """Does one pass yield every example exactly once, last batch smaller?"""
    features = np.arange(20.0).reshape(10, 2)
    labels = np.arange(10)
    Xs, ys = _collect(kerasdl.data_iter(4, features, labels, seed=0))
    assert [len(y) for y in ys] == [4, 4, 2]
    all_labels = np.concatenate(ys)
    np.testing.assert_array_equal(np.sort(all_labels), np.arange(10))
    # Rows stay paired with their labels.
    np.testing.assert_array_equal(np.concatenate(Xs), features[all_labels])


def test_data_iter_shuffles():
    """Is the order shuffled, and different for different seeds?"""
    labels = np.arange(100)
    first = np.concatenate(_collect(kerasdl.data_iter(10, labels[:, None], labels, seed=0))[1])
    second = np.concatenate(_collect(kerasdl.data_iter(10, labels[:, None], labels, seed=1))[1])
    assert not np.array_equal(first, labels)
    assert not np.array_equal(first, second)


def test_data_iter_unseeded_follows_set_seed():
    """Does kerasdl.set_seed make the unseeded shuffle repeat?"""
    labels = np.arange(50)
    kerasdl.set_seed(3)
    first = np.concatenate(_collect(kerasdl.data_iter(7, labels, labels))[1])
    kerasdl.set_seed(3)
    second = np.concatenate(_collect(kerasdl.data_iter(7, labels, labels))[1])
    np.testing.assert_array_equal(first, second)


def test_data_iter_rejects_bad_batch_size_and_lengths():
    """Are a zero batch size and mismatched lengths refused with pinned messages?"""
    with pytest.raises(ValueError, match=r"`batch_size` must be a positive integer. Received: batch_size=0"):
        next(kerasdl.data_iter(0, np.zeros((3, 1)), np.zeros(3)))
    with pytest.raises(TypeError, match=r"`batch_size` must be a positive integer. Received: batch_size=2.5"):
        next(kerasdl.data_iter(2.5, np.zeros((3, 1)), np.zeros(3)))
    with pytest.raises(ValueError, match=r"same number of rows. Received: features with 3 rows, labels with 2 rows"):
        next(kerasdl.data_iter(2, np.zeros((3, 1)), np.zeros(2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linreg_matches_numpy(rng, dtype):
    """Is linreg X @ w + b in float32 and float64?"""
    X = rng.standard_normal((6, 3)).astype(dtype)
    w = rng.standard_normal((3, 1)).astype(dtype)
    b = dtype(0.5)
    result = kerasdl.linreg(tf.constant(X), tf.constant(w), b)
    assert result.dtype == tf.as_dtype(dtype)
    expected = X.astype(np.float64) @ w.astype(np.float64) + 0.5
    rtol = FLOAT32_RTOL if dtype == np.float32 else FLOAT64_RTOL
    np.testing.assert_allclose(result.numpy(), expected, rtol=rtol, atol=FLOAT32_ATOL)


def test_squared_loss_reshapes_labels_and_halves():
    """Is the loss (y_hat - y)^2 / 2 with (n,) labels against (n, 1) predictions?"""
    y_hat = tf.constant([[1.0], [2.0], [4.0]])
    y = tf.constant([0.0, 2.0, 1.0])
    result = kerasdl.squared_loss(y_hat, y)
    assert result.shape == (3, 1)
    np.testing.assert_allclose(result.numpy()[:, 0], [0.5, 0.0, 4.5], rtol=FLOAT32_RTOL)


def test_squared_loss_is_half_of_keras_mse(rng):
    """Is the mean squared_loss half of keras.losses.MeanSquaredError?"""
    y_hat = rng.standard_normal((8, 1)).astype(np.float32)
    y = rng.standard_normal((8, 1)).astype(np.float32)
    mse = keras.losses.MeanSquaredError()(y, y_hat)
    mean_loss = tf.reduce_mean(kerasdl.squared_loss(y_hat, y))
    np.testing.assert_allclose(2 * mean_loss.numpy(), mse.numpy(), rtol=FLOAT32_RTOL)


def test_sgd_updates_variables_in_place():
    """Does sgd update the same tf.Variable objects by lr * grad / batch_size?"""
    w = tf.Variable([1.0, 2.0])
    b = tf.Variable(0.5)
    params = [w, b]
    result = kerasdl.sgd(params, [tf.constant([10.0, -20.0]), tf.constant(4.0)], 0.1, 2)
    assert result is None
    assert params[0] is w and params[1] is b
    np.testing.assert_allclose(w.numpy(), [0.5, 3.0], rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(b.numpy(), 0.3, rtol=FLOAT32_RTOL)


def test_sgd_rejects_tensors():
    """Is a non-variable parameter refused (it cannot be updated in place)?"""
    with pytest.raises(TypeError, match=r"must hold tf.Variable objects .*Received: a param of type"):
        kerasdl.sgd([tf.constant(1.0)], [tf.constant(1.0)], 0.1, 1)


def test_normal_equation_anchor():
    """Does x = [0, 1, 2], y = [1, 2, 4] give w = 1.5, b = 0.833333?"""
    w, b = kerasdl.normal_equation(tf.constant([[0.0], [1.0], [2.0]]), tf.constant([1.0, 2.0, 4.0]))
    assert w.shape == (1, 1) and b.shape == ()
    assert w.dtype == tf.float32
    np.testing.assert_allclose(w.numpy(), [[1.5]], rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(b.numpy(), 0.833333, rtol=FLOAT32_RTOL)


def test_normal_equation_matches_sklearn(rng):
    """Does the closed form agree with scikit-learn's least squares in float64?"""
    X = rng.standard_normal((50, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0 + rng.standard_normal(50)
    w, b = kerasdl.normal_equation(X, y)
    oracle = LinearRegression().fit(X, y)
    np.testing.assert_allclose(w.numpy()[:, 0], oracle.coef_, rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(b.numpy(), oracle.intercept_, rtol=FLOAT64_RTOL)


def test_train_linreg_recovers_parameters():
    """Does scratch SGD (lr 0.03, 3 epochs, batch 10) recover w and b within 1e-2?"""
    features, labels = kerasdl.synthetic_data(TRUE_W, TRUE_B, 1000, seed=0)
    w, b = kerasdl.train_linreg(features, labels, 0.03, 3, 10, seed=0)
    assert w.shape == (2, 1)
    np.testing.assert_allclose(w.numpy()[:, 0], TRUE_W, atol=RECOVERY_ATOL)
    np.testing.assert_allclose(b.numpy(), TRUE_B, atol=RECOVERY_ATOL)


def test_train_linreg_is_reproducible_with_seed():
    """Do two seeded runs give the same parameters?"""
    features, labels = kerasdl.synthetic_data(TRUE_W, TRUE_B, 100, seed=1)
    first = kerasdl.train_linreg(features, labels, 0.03, 1, 10, seed=5)
    second = kerasdl.train_linreg(features, labels, 0.03, 1, 10, seed=5)
    np.testing.assert_allclose(first[0].numpy(), second[0].numpy(), rtol=FLOAT32_RTOL)


def test_linreg_model_is_one_dense_unit():
    """Is linreg_model a Dense(1) with zero bias and N(0, 0.01^2) weights?"""
    net = kerasdl.linreg_model(2, seed=0)
    dense = net.layers[-1]
    assert isinstance(dense, keras.layers.Dense) and dense.units == 1
    assert net.count_params() == 3
    np.testing.assert_array_equal(dense.bias.numpy(), [0.0])
    assert np.abs(dense.kernel.numpy()).max() < 0.05  # 5 standard deviations


def test_train_linreg_concise_recovers_parameters():
    """Does the Keras version (SGD, MSE) recover w and b within 1e-2?"""
    features, labels = kerasdl.synthetic_data(TRUE_W, TRUE_B, 1000, seed=0)
    w, b = kerasdl.train_linreg_concise(features, labels, 0.03, 3, 10, seed=0)
    np.testing.assert_allclose(w.numpy()[:, 0], TRUE_W, atol=RECOVERY_ATOL)
    np.testing.assert_allclose(b.numpy(), TRUE_B, atol=RECOVERY_ATOL)

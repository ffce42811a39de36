"""Tests of `kerasdl.regularization`."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasdl

FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-6
# Statistical bounds: 5 standard deviations of the estimate.
NUM_SIGMAS = 5
DROPOUT = 0.3
DROPOUT_SHAPE = (500, 200)  # 100,000 Bernoulli draws


def test_k_fold_data_hand_computed_folds():
    """With n=10, k=3: fold_size 3, folds 0-2, 3-5, 6-8, row 9 dropped?"""
    X = np.arange(20).reshape(10, 2)
    y = np.arange(10)
    expected = {0: ([3, 4, 5, 6, 7, 8], [0, 1, 2]), 1: ([0, 1, 2, 6, 7, 8], [3, 4, 5]),
                2: ([0, 1, 2, 3, 4, 5], [6, 7, 8])}
    for i, (train_rows, valid_rows) in expected.items():
        X_train, y_train, X_valid, y_valid = kerasdl.k_fold_data(3, i, X, y)
        np.testing.assert_array_equal(y_train, train_rows)
        np.testing.assert_array_equal(y_valid, valid_rows)
        np.testing.assert_array_equal(X_train, X[train_rows])
        np.testing.assert_array_equal(X_valid, X[valid_rows])


def test_k_fold_data_keeps_tensors():
    """Do tensor inputs give tensor folds with the same rows?"""
    X = tf.reshape(tf.range(20.0), (10, 2))
    y = tf.range(10)
    X_train, y_train, X_valid, y_valid = kerasdl.k_fold_data(3, 1, X, y)
    assert isinstance(X_train, tf.Tensor) and isinstance(y_valid, tf.Tensor)
    np.testing.assert_array_equal(y_train.numpy(), [0, 1, 2, 6, 7, 8])
    np.testing.assert_array_equal(X_valid.numpy(), X.numpy()[3:6])


@pytest.mark.parametrize(
    "k, i, message",
    [(1, 0, r"`k` must be an int >= 2. Received: k=1"),
     (3, 3, r"`i` must be an int in \[0, k=3\). Received: i=3"),
     (11, 0, r"`k` must not exceed the number of rows \(10\). Received: k=11")],
)
def test_k_fold_data_rejects_bad_indices(k, i, message):
    """Are bad k and i refused with pinned messages?"""
    with pytest.raises(ValueError, match=message):
        kerasdl.k_fold_data(k, i, np.zeros((10, 2)), np.zeros(10))


def test_l2_penalty_anchor_and_keras_convention():
    """Is l2_penalty([1,2,3]) = 7.0 while Keras L2(0.01) gives 0.14?"""
    w = tf.constant([1.0, 2.0, 3.0])
    np.testing.assert_allclose(kerasdl.l2_penalty(w).numpy(), 7.0, rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(keras.regularizers.L2(0.01)(w).numpy(), 0.14, rtol=FLOAT32_RTOL)


def test_weight_decay_regularizer_equals_notes_penalty(rng):
    """Is weight_decay_regularizer(wd)(w) = wd * l2_penalty(w), i.e. L2(wd / 2)?"""
    w = tf.constant(rng.standard_normal((4, 3)).astype(np.float32))
    wd = 0.3
    np.testing.assert_allclose(
        kerasdl.weight_decay_regularizer(wd)(w).numpy(), wd * kerasdl.l2_penalty(w).numpy(), rtol=FLOAT32_RTOL
    )
    with pytest.raises(ValueError, match=r"`wd` must be >= 0. Received: wd=-1"):
        kerasdl.weight_decay_regularizer(-1)


def test_weight_decay_model_reports_penalty():
    """Does the model's loss list hold wd * l2_penalty of its kernel?"""
    net = kerasdl.weight_decay_model(5, 3.0, seed=0)
    kernel = net.layers[-1].kernel
    np.testing.assert_allclose(
        net.losses[0].numpy(), 3.0 * kerasdl.l2_penalty(kernel).numpy(), rtol=FLOAT32_RTOL
    )


def test_sgd_weight_decay_is_sgd_on_penalized_loss(rng):
    """Is the step equal to plain SGD on loss + wd * l2_penalty(w)?"""
    w = tf.constant(rng.standard_normal(6))
    grad = tf.constant(rng.standard_normal(6))
    lr, wd = 0.1, 0.5
    with tf.GradientTape() as tape:
        tape.watch(w)
        penalty = wd * kerasdl.l2_penalty(w)
    penalized_grad = grad + tape.gradient(penalty, w)
    np.testing.assert_allclose(
        kerasdl.sgd_weight_decay(w, grad, lr, wd).numpy(), (w - lr * penalized_grad).numpy(), rtol=1e-12
    )


def _dropout_bounds(p, n):
    """Allowed deviations of the zero fraction and of the mean of ones."""
    zero_fraction_tol = NUM_SIGMAS * math.sqrt(p * (1 - p) / n)
    # Each element is 0 or 1/(1-p): mean 1, variance p / (1 - p).
    mean_tol = NUM_SIGMAS * math.sqrt(p / (1 - p) / n)
    return zero_fraction_tol, mean_tol


def test_dropout_layer_statistics_match_keras_dropout():
    """Are the zero fraction and the mean within bounds, like keras.layers.Dropout?"""
    X = tf.ones(DROPOUT_SHAPE)
    n = math.prod(DROPOUT_SHAPE)
    zero_tol, mean_tol = _dropout_bounds(DROPOUT, n)
    ours = kerasdl.dropout_layer(X, DROPOUT, seed=0).numpy()
    theirs = keras.layers.Dropout(DROPOUT, seed=0)(X, training=True).numpy()
    for result in (ours, theirs):
        assert abs((result == 0).mean() - DROPOUT) < zero_tol
        assert abs(result.mean() - 1.0) < mean_tol
        np.testing.assert_allclose(result[result != 0], 1 / (1 - DROPOUT), rtol=FLOAT32_RTOL)


def test_dropout_layer_edges():
    """Does dropout 0 return X and dropout 1 return zeros (float64 kept)?"""
    X = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(kerasdl.dropout_layer(X, 0).numpy(), X)
    result = kerasdl.dropout_layer(X, 1.0)
    assert result.dtype == tf.float64
    np.testing.assert_array_equal(result.numpy(), np.zeros((2, 3)))


@pytest.mark.parametrize("dropout", [1.5, -0.1])
def test_dropout_layer_rejects_out_of_range(dropout):
    """Is a dropout outside [0, 1] refused with the argument named?"""
    with pytest.raises(ValueError, match=rf"`dropout` must be in \[0, 1\]. Received: dropout={dropout}"):
        kerasdl.dropout_layer(tf.ones((2, 2)), dropout)


def test_dropout_layer_rejects_non_number():
    """Is a string dropout refused with a TypeError?"""
    with pytest.raises(TypeError, match=r"`dropout` must be a number in \[0, 1\]. Received: dropout='0.5'"):
        kerasdl.dropout_layer(tf.ones((2, 2)), "0.5")


def test_dropout_mlp_drops_only_in_training():
    """Is DropoutMLP deterministic for training None/False and random for True?"""
    net = kerasdl.DropoutMLP(10, 64, 32, 0.5, 0.5, seed=0)
    X = tf.random.stateless_uniform((8, 28, 28, 1), seed=(1, 2))
    inference = net(X).numpy()
    np.testing.assert_array_equal(net(X, training=False).numpy(), inference)
    np.testing.assert_array_equal(net(X, training=None).numpy(), inference)
    first, second = net(X, training=True).numpy(), net(X, training=True).numpy()
    assert not np.allclose(first, inference)
    assert not np.allclose(first, second)


def test_dropout_mlp_matches_inference_formula():
    """At inference, is DropoutMLP relu(relu(X W1 + b1) W2 + b2) W3 + b3?"""
    net = kerasdl.DropoutMLP(3, 6, 5, 0.5, 0.5)
    X = np.random.default_rng(0).random((4, 2, 2, 1)).astype(np.float32)
    net(X)  # build
    W1, b1, W2, b2, W3, b3 = (w.numpy() for w in net.trainable_variables)
    H = np.maximum(X.reshape(4, 4) @ W1 + b1, 0)  # (N, H, W, C) -> (N, H*W*C)
    expected = np.maximum(H @ W2 + b2, 0) @ W3 + b3
    np.testing.assert_allclose(net(X).numpy(), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


# Saving any Keras 3.15 model on TF 2.21 with NumPy 2 warns from inside Keras.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_dropout_mlp_config_round_trip(tmp_path):
    """Does DropoutMLP round-trip get_config and a .keras file save/load?"""
    net = kerasdl.DropoutMLP(10, 16, 8, 0.2, 0.4, seed=3, name="dmlp")
    X = tf.ones((2, 4, 4, 1))
    expected = net(X).numpy()
    config = net.get_config()
    clone = kerasdl.DropoutMLP.from_config(config)
    assert clone.get_config() == config
    assert (clone.dropout1, clone.dropout2, clone.num_hiddens1) == (0.2, 0.4, 16)
    path = tmp_path / "dropout_mlp.keras"
    net.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, kerasdl.DropoutMLP)
    np.testing.assert_allclose(loaded(X).numpy(), expected, rtol=FLOAT32_RTOL)


def test_dropout_mlp_rejects_bad_rate():
    """Is a dropout probability above 1 refused at construction?"""
    with pytest.raises(ValueError, match=r"`dropout2` must be in \[0, 1\]. Received: dropout2=1.5"):
        kerasdl.DropoutMLP(10, 16, 8, 0.2, 1.5)


def test_polynomial_data_features_and_labels():
    """Are features x^i / i! and labels the notes' cubic plus N(0, 0.1^2) noise?"""
    true_w, features, poly_features, labels = kerasdl.polynomial_data(20, 100, 100, seed=0)
    assert poly_features.shape == (200, 20) and labels.shape == (200,)
    np.testing.assert_allclose(true_w.numpy()[:4], [5.0, 1.2, -3.4, 5.6])
    np.testing.assert_array_equal(true_w.numpy()[4:], np.zeros(16))
    x = features.numpy()[:, 0].astype(np.float64)
    for i in (0, 1, 3, 7):
        np.testing.assert_allclose(poly_features.numpy()[:, i], x**i / math.factorial(i), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    cubic = 5 + 1.2 * x - 3.4 * x**2 / 2 + 5.6 * x**3 / 6
    noise = labels.numpy() - cubic
    # Sample std of 200 N(0, 0.1^2) draws: relative error about 1 / sqrt(400) = 5%.
    np.testing.assert_allclose(noise.std(), 0.1, rtol=NUM_SIGMAS * 0.05)


def test_polynomial_data_is_seeded():
    """Does the same seed give the same data?"""
    first = kerasdl.polynomial_data(seed=1)[3].numpy()
    np.testing.assert_array_equal(kerasdl.polynomial_data(seed=1)[3].numpy(), first)


def test_augmentation_identity_at_inference_and_random_in_training():
    """Do augmentations change images only when training, keeping [0, 1]?"""
    aug = kerasdl.augmentation_layers(seed=0)
    X = tf.random.stateless_uniform((4, 28, 28, 1), seed=(0, 1))
    np.testing.assert_allclose(aug(X, training=False).numpy(), X.numpy(), rtol=FLOAT32_RTOL)
    augmented = aug(X, training=True).numpy()
    assert augmented.shape == (4, 28, 28, 1)
    assert not np.allclose(augmented, X.numpy())
    assert augmented.min() >= 0.0 and augmented.max() <= 1.0


def test_augmentation_crop_size_and_error():
    """Does a crop give height x width, and is a lone height refused?"""
    aug = kerasdl.augmentation_layers(24, 20, seed=0)
    assert aug(tf.zeros((2, 28, 28, 1)), training=True).shape == (2, 24, 20, 1)
    with pytest.raises(ValueError, match=r"given together. Received: height=24, width=None"):
        kerasdl.augmentation_layers(24)

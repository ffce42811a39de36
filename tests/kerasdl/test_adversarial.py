"""Tests of the fast gradient sign method (kerasdl/adversarial.py)."""

import keras
import matplotlib.figure
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from kerasdl.adversarial import (
    _COMPILED_STEPS,
    adversarial_accuracy,
    adversarial_curve,
    fgsm,
    fgsm_gradient,
    plot_adversarial_curve,
    plot_adversarial_examples,
)
from kerasdl.layers import BatchNorm

# FACTS anchors are given to 5 significant digits.
ANCHOR_RTOL = 1e-4
# float32 pixel arithmetic (x + eps, clipping) on values in [0, 1].
FLOAT32_ATOL = 1e-6
# Bit-for-bit equality of untouched variables.
UNCHANGED_ATOL = 0.0
EPSILONS = (0.0, 0.02, 0.05, 0.1, 0.2)
DIGITS_MAX_PIXEL = 16.0  # load_digits pixels are integers 0..16


def toy_logistic_model():
    """The FACTS toy: p = sigmoid(w.x + b), w = [1, -2], b = 0, as 2-class logits [0, w.x + b]."""
    net = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(2)])
    kernel = np.array([[0.0, 1.0], [0.0, -2.0]], np.float32)  # column 1 is w
    net.layers[0].set_weights([kernel, np.zeros(2, np.float32)])
    return net


@pytest.fixture(scope="module")
def digits():
    """1797 real 8x8 digits as NHWC float32 in [0, 1] and int32 labels."""
    data = load_digits()
    X = (data.images / DIGITS_MAX_PIXEL).astype(np.float32)[..., None]  # (N, 8, 8) -> (N, 8, 8, 1)
    return X, data.target.astype(np.int32)


@pytest.fixture(scope="module")
def trained_net(digits):
    """A small CNN with Keras and scratch batch norm, trained a few epochs on digits."""
    keras.utils.set_random_seed(0)
    X, y = digits
    net = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            keras.layers.Conv2D(8, 3, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(32),
            BatchNorm(),
            keras.layers.Activation("relu"),
            keras.layers.Dense(10),
        ]
    )
    net.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    net.fit(X[:1200], y[:1200], epochs=8, batch_size=64, verbose=0, shuffle=False)
    return net


def test_toy_gradient_anchor():
    """Is the toy input gradient [-0.62246, 1.24492]?"""
    grad = fgsm_gradient(toy_logistic_model(), np.array([[0.5, 0.5]], np.float32), np.array([1]))
    np.testing.assert_allclose(grad, [[-0.62246, 1.24492]], rtol=ANCHOR_RTOL)


@pytest.mark.parametrize("epsilon,expected", [(0.1, [0.4, 0.6]), (0.6, [0.0, 1.0])])
def test_toy_fgsm_anchor(epsilon, expected):
    """Does FGSM move the toy input to [0.4, 0.6] at 0.1 and clip it to [0, 1] at 0.6?"""
    X_adv = fgsm(toy_logistic_model(), np.array([[0.5, 0.5]], np.float32), np.array([1]), epsilon)
    assert isinstance(X_adv, tf.Tensor)
    np.testing.assert_allclose(X_adv, [expected], atol=FLOAT32_ATOL)


def test_perturbation_within_epsilon_and_range(trained_net, digits):
    """Is every adversarial pixel within epsilon of the clean one and inside [0, 1]?"""
    X, y = digits
    epsilon = 0.1
    X_adv = np.asarray(fgsm(trained_net, X[:64], y[:64], epsilon))
    assert np.max(np.abs(X_adv - X[:64])) <= epsilon + FLOAT32_ATOL
    assert X_adv.min() >= 0.0 and X_adv.max() <= 1.0
    # Pixels not at a clipped border move by exactly epsilon.
    interior = (X[:64] >= epsilon) & (X[:64] <= 1 - epsilon)
    np.testing.assert_allclose(np.abs(X_adv - X[:64])[interior], epsilon, atol=FLOAT32_ATOL)


def test_float64_images(trained_net, digits):
    """Does a float64 batch give a float64 attack equal to the float32 one?"""
    X, y = digits
    X_adv64 = fgsm(trained_net, X[:16].astype(np.float64), y[:16], 0.05)
    assert X_adv64.dtype == tf.float64
    np.testing.assert_allclose(X_adv64, fgsm(trained_net, X[:16], y[:16], 0.05), atol=FLOAT32_ATOL)


@pytest.mark.parametrize("epsilon", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_epsilon_validated(epsilon):
    """Does FGSM reject negative, non-finite and non-numeric epsilons with a ValueError?"""
    with pytest.raises(ValueError) as info:
        fgsm(toy_logistic_model(), np.array([[0.5, 0.5]], np.float32), np.array([1]), epsilon)
    assert f"`epsilon` must be a finite number >= 0 (pixel units on [0, 1]). Received: epsilon={epsilon!r}" in str(info.value)
    with pytest.raises(ValueError, match="`epsilon` must be a finite number >= 0"):
        adversarial_accuracy(toy_logistic_model(), [], epsilon)


def test_accuracy_at_zero_epsilon_is_clean_accuracy(trained_net, digits):
    """Is the adversarial accuracy at epsilon 0 the clean accuracy (ragged last batch included)?"""
    X, y = digits
    X_test, y_test = X[1200:], y[1200:]  # 597 examples: last batch of 64 is ragged
    dataset = tf.data.Dataset.from_tensor_slices((X_test, y_test)).batch(64)
    clean = np.mean(np.argmax(trained_net.predict(X_test, verbose=0), axis=1) == y_test)
    assert clean > 0.8  # the fixture really learned something
    np.testing.assert_allclose(adversarial_accuracy(trained_net, dataset, 0.0), clean, atol=1e-12)


def test_accuracy_matches_eager_fgsm(trained_net, digits):
    """Does the compiled, batched accuracy equal eager fgsm on the whole test set at once?"""
    X, y = digits
    X_test, y_test = X[1200:], y[1200:]
    dataset = tf.data.Dataset.from_tensor_slices((X_test, y_test)).batch(100)
    X_adv = fgsm(trained_net, X_test, y_test, 0.1)
    expected = np.mean(np.argmax(trained_net(X_adv, training=False), axis=1) == y_test)
    np.testing.assert_allclose(adversarial_accuracy(trained_net, dataset, 0.1), expected, atol=1e-12)


def test_accuracy_non_increasing_in_epsilon(trained_net, digits):
    """Does the accuracy of a trained model fall (never rise) as epsilon grows, well below clean at 0.2?"""
    X, y = digits
    dataset = tf.data.Dataset.from_tensor_slices((X[1200:], y[1200:])).batch(128)
    df = adversarial_curve(trained_net, dataset, EPSILONS)
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == ["epsilon", "accuracy"]
    np.testing.assert_allclose(df["epsilon"], EPSILONS)
    assert np.all(np.diff(df["accuracy"]) <= 0)
    assert df["accuracy"].iloc[-1] < df["accuracy"].iloc[0] - 0.3
    np.testing.assert_allclose(df["accuracy"].iloc[3], adversarial_accuracy(trained_net, dataset, 0.1), atol=1e-12)


def test_attack_leaves_model_untouched(trained_net, digits):
    """Do fgsm and adversarial_accuracy leave every weight, incl. batch-norm statistics, unchanged?"""
    X, y = digits
    before = [w.numpy().copy() for w in trained_net.weights]
    fgsm(trained_net, X[:32], y[:32], 0.1)
    adversarial_accuracy(trained_net, tf.data.Dataset.from_tensor_slices((X[:70], y[:70])).batch(32), 0.1)
    for b, w in zip(before, trained_net.weights):
        np.testing.assert_allclose(w, b, rtol=0, atol=UNCHANGED_ATOL)


def test_no_retracing_and_no_stderr(trained_net, digits, capfd):
    """Is the attack traced once for ragged batches and several epsilons, with nothing on stderr?"""
    X, y = digits
    capfd.readouterr()
    for batch_size in (50, 64, 97, 128, 200, 33):
        dataset = tf.data.Dataset.from_tensor_slices((X[:300], y[:300])).batch(batch_size)
        adversarial_curve(trained_net, dataset, EPSILONS)
    steps = list(_COMPILED_STEPS[trained_net].values())
    assert len(steps) == 1
    assert steps[0].experimental_get_tracing_count() == 1
    assert capfd.readouterr().err == ""


def test_empty_inputs_rejected(trained_net):
    """Do an empty dataset and an empty epsilon list raise a ValueError?"""
    with pytest.raises(ValueError, match="`dataset` yielded no examples"):
        adversarial_accuracy(trained_net, [], 0.1)
    with pytest.raises(ValueError, match=r"`epsilons` must not be empty. Received: epsilons=\[\]"):
        adversarial_curve(trained_net, [], [])


def test_plots(trained_net, digits):
    """Do the plot helpers return figures: 2 x n images with titles, and one curve?"""
    X, y = digits
    fig = plot_adversarial_examples(trained_net, X[:5], y[:5], 0.1, labels=[str(d) for d in range(10)])
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(fig.axes) == 10
    assert all(ax.get_title() for ax in fig.axes)
    df = pd.DataFrame({"epsilon": [0.0, 0.1], "accuracy": [0.9, 0.4]})
    fig = plot_adversarial_curve(df)
    assert isinstance(fig, matplotlib.figure.Figure)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [0.9, 0.4])

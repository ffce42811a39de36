"""Tests of `kerasdl.mlp`: activations, their derivatives, the MLP."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasdl

FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-6
FLOAT64_RTOL = 1e-12
FLOAT64_ATOL = 1e-15

ACTIVATIONS = {
    "relu": (kerasdl.relu, keras.activations.relu, lambda x: np.maximum(x, 0.0)),
    "sigmoid": (kerasdl.sigmoid, keras.activations.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "tanh": (kerasdl.tanh, keras.activations.tanh, np.tanh),
}
GRADIENTS = {
    "relu": (kerasdl.relu_grad, kerasdl.relu),
    "sigmoid": (kerasdl.sigmoid_grad, kerasdl.sigmoid),
    "tanh": (kerasdl.tanh_grad, kerasdl.tanh),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_matches_keras_and_float64(rng, name):
    """Does each activation agree with Keras (float32) and NumPy (float64)?"""
    ours, keras_fn, numpy_fn = ACTIVATIONS[name]
    x = rng.normal(scale=3.0, size=(4, 5))
    x32 = tf.constant(x, dtype=tf.float32)
    np.testing.assert_allclose(ours(x32).numpy(), keras_fn(x32).numpy(), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    result = ours(x)
    assert result.dtype == tf.float64
    np.testing.assert_allclose(result.numpy(), numpy_fn(x), rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL)


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradient_matches_autodiff(rng, name):
    """Does each closed-form derivative equal the GradientTape derivative?"""
    grad_fn, fn = GRADIENTS[name]
    x = tf.constant(rng.normal(scale=3.0, size=20))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    np.testing.assert_allclose(grad_fn(x).numpy(), tape.gradient(y, x).numpy(), rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL)


def test_gradients_at_zero():
    """Are relu'(0) = 0, sigmoid'(0) = 0.25 and tanh'(0) = 1?"""
    zero = tf.constant([0.0])
    np.testing.assert_array_equal(kerasdl.relu_grad(zero).numpy(), [0.0])
    np.testing.assert_allclose(kerasdl.sigmoid_grad(zero).numpy(), [0.25], rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(kerasdl.tanh_grad(zero).numpy(), [1.0], rtol=FLOAT32_RTOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_finite_and_quiet_at_1000(quiet, dtype):
    """Is sigmoid finite (0 and 1) at -+1000, without warnings or stderr?"""
    x = np.array([-1000.0, 0.0, 1000.0], dtype=dtype)
    with quiet():
        result = kerasdl.sigmoid(x).numpy()
        grad = kerasdl.sigmoid_grad(x).numpy()
    np.testing.assert_allclose(result, [0.0, 0.5, 1.0], atol=FLOAT32_ATOL)
    assert np.isfinite(grad).all()


def test_activations_accept_lists():
    """Do the activations take Python lists (as float32)?"""
    result = kerasdl.tanh([0.0, 1.0])
    assert result.dtype == tf.float32
    np.testing.assert_allclose(result.numpy(), np.tanh([0.0, 1.0]), rtol=FLOAT32_RTOL)


def _mlp_params(rng, num_inputs=16, num_hiddens=8, num_outputs=3):
    return [
        rng.normal(scale=0.3, size=(num_inputs, num_hiddens)).astype(np.float32),
        rng.normal(scale=0.3, size=num_hiddens).astype(np.float32),
        rng.normal(scale=0.3, size=(num_hiddens, num_outputs)).astype(np.float32),
        rng.normal(scale=0.3, size=num_outputs).astype(np.float32),
    ]


def test_mlp_matches_keras_dense_layers(rng):
    """Does the scratch MLP equal Flatten -> Dense(relu) -> Dense with its weights?"""
    params = _mlp_params(rng)
    X = rng.random((5, 4, 4, 1)).astype(np.float32)
    net = keras.Sequential(
        [keras.Input((4, 4, 1)), keras.layers.Flatten(),
         keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
    )
    net.set_weights(params)
    result = kerasdl.mlp(tf.constant(X), [tf.Variable(p) for p in params])
    assert result.shape == (5, 3)
    np.testing.assert_allclose(result.numpy(), net(X).numpy(), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def test_mlp_float64_matches_numpy(rng):
    """Does the MLP in float64 equal the NumPy formula?"""
    W1, b1, W2, b2 = (p.astype(np.float64) for p in _mlp_params(rng))
    X = rng.random((5, 16))
    expected = np.maximum(X @ W1 + b1, 0.0) @ W2 + b2
    np.testing.assert_allclose(kerasdl.mlp(X, [W1, b1, W2, b2]).numpy(), expected, rtol=FLOAT64_RTOL)


def test_mlp_rejects_wrong_params():
    """Is a parameter list of the wrong length refused?"""
    with pytest.raises(ValueError, match=r"`params` must be \[W1, b1, W2, b2\]. Received: params with 2 elements"):
        kerasdl.mlp(np.zeros((1, 2)), [np.zeros((2, 2)), np.zeros(2)])


def test_mlp_model_structure():
    """Is mlp_model Flatten, Dense(256, relu), Dense(10) logits (203,530 params)?"""
    net = kerasdl.mlp_model(256, 10)
    assert net(tf.zeros((2, 28, 28, 1))).shape == (2, 10)
    flatten, hidden, output = net.layers
    assert isinstance(flatten, keras.layers.Flatten)
    assert hidden.units == 256 and hidden.activation is keras.activations.relu
    assert output.units == 10 and output.activation is keras.activations.linear
    assert net.count_params() == 784 * 256 + 256 + 256 * 10 + 10

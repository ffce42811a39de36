"""Multilayer perceptrons: activation functions, their derivatives, the MLP.

References for the exercises of chapter 5 (`relu`, `sigmoid`, `tanh`,
`relu_grad`, `sigmoid_grad`, `tanh_grad`, `mlp`, `mlp_model`).
"""

import keras
import tensorflow as tf

from kerasdl.preliminaries import _as_float_tensor, _common_float_dtype

__all__ = [
    "relu",
    "sigmoid",
    "tanh",
    "relu_grad",
    "sigmoid_grad",
    "tanh_grad",
    "mlp",
    "mlp_model",
]


def relu(x):
    """Return `max(x, 0)` elementwise.

    Args:
        x: array-like, float32 or float64.

    Returns:
        `tf.Tensor` with the shape and float dtype of `x`.

    Source: notes, 5.1 Multilayer Perceptrons.
    """
    x = _as_float_tensor(x)
    return tf.maximum(x, tf.zeros_like(x))


def sigmoid(x):
    """Return `1 / (1 + exp(-x))` elementwise, finite for any finite `x`.

    `tf.math.sigmoid` never evaluates `exp` of a large positive number, so
    `|x| <= 1000` gives values in [0, 1] with no overflow and no warning
    (the naive NumPy formula overflows in `exp(1000)`).

    Args:
        x: array-like, float32 or float64.

    Returns:
        `tf.Tensor` with the shape and float dtype of `x`.

    Source: notes, 5.1 Multilayer Perceptrons.
    """
    return tf.math.sigmoid(_as_float_tensor(x))


def tanh(x):
    """Return `(1 - exp(-2x)) / (1 + exp(-2x))` elementwise.

    Args:
        x: array-like, float32 or float64.

    Returns:
        `tf.Tensor` with the shape and float dtype of `x`, in [-1, 1].

    Source: notes, 5.1 Multilayer Perceptrons.
    """
    return tf.math.tanh(_as_float_tensor(x))


def relu_grad(x):
    """Return the derivative of ReLU: 1 where `x > 0`, else 0 (so 0 at 0).

    Args:
        x: array-like, float32 or float64.

    Returns:
        `tf.Tensor` of 0s and 1s with the shape and float dtype of `x`.

    Source: notes, 5.1 Multilayer Perceptrons.
    """
    x = _as_float_tensor(x)
    return tf.cast(x > 0, x.dtype)


def sigmoid_grad(x):
    """Return the derivative of the sigmoid, `sigmoid(x) * (1 - sigmoid(x))`.

    Args:
        x: array-like, float32 or float64.

    Returns:
        `tf.Tensor` with the shape and float dtype of `x`, in [0, 0.25].

    Source: notes, 5.1 Multilayer Perceptrons.
    """
    s = sigmoid(x)
    return s * (1 - s)


def tanh_grad(x):
    """Return the derivative of tanh, `1 - tanh(x)^2`.

    Args:
        x: array-like, float32 or float64.

    Returns:
        `tf.Tensor` with the shape and float dtype of `x`, in [0, 1].

    Source: notes, 5.1 Multilayer Perceptrons.
    """
    t = tanh(x)
    return 1 - t**2


def mlp(X, params):
    """Scratch one-hidden-layer MLP returning logits `relu(X W1 + b1) W2 + b2`.

    Args:
        X: inputs, e.g. images `(n, 28, 28, 1)`; reshaped to `(n, d)` with
            `d = W1.shape[0]`.
        params: `[W1, b1, W2, b2]` with shapes `(d, h)`, `(h,)`, `(h, q)`,
            `(q,)` (tensors, variables or arrays).

    Returns:
        `tf.Tensor` `(n, q)` of logits, float64 if any input is float64.

    Raises:
        ValueError: if `params` does not hold four arrays.

    Source: notes, 5.2 Implementation of Multilayer Perceptrons.
    """
    params = list(params)
    if len(params) != 4:
        raise ValueError(
            "`params` must be [W1, b1, W2, b2]. "
            f"Received: params with {len(params)} elements"
        )
    tensors = [_as_float_tensor(t) for t in [X, *params]]
    dtype = _common_float_dtype(*tensors)
    X, W1, b1, W2, b2 = (tf.cast(t, dtype) for t in tensors)
    X = tf.reshape(X, (-1, W1.shape[0]))  # (N, H, W, C) -> (N, H*W*C)
    H = relu(tf.matmul(X, W1) + b1)
    return tf.matmul(H, W2) + b2


def mlp_model(num_hiddens, num_outputs):
    """Return the concise MLP: Flatten, Dense(num_hiddens, relu), Dense(num_outputs).

    The last layer outputs logits (no softmax); train it with
    `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`.

    Args:
        num_hiddens: units of the hidden layer.
        num_outputs: number of classes.

    Returns:
        `keras.Sequential`, built on its first call.

    Source: notes, 5.2 Implementation of Multilayer Perceptrons.
    """
    return keras.Sequential(
        [
            keras.layers.Flatten(),
            keras.layers.Dense(num_hiddens, activation="relu"),
            keras.layers.Dense(num_outputs),
        ],
        name="mlp",
    )

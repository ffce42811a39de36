"""Softmax regression: softmax, cross-entropy, accuracy, and the concise model.

References for the exercises of chapter 4 (`softmax`, `cross_entropy`,
`log_softmax`, `softmax_cross_entropy`, `accuracy`, `evaluate_accuracy`;
`train_step` lives in `kerasdl.training`), the scratch network of the notes
(`softmax_regression`) and the concise Keras model
(`softmax_regression_model`).
"""

import inspect

import keras
import tensorflow as tf

from kerasdl.preliminaries import _as_float_tensor, _common_float_dtype

__all__ = [
    "softmax",
    "cross_entropy",
    "log_softmax",
    "softmax_cross_entropy",
    "accuracy",
    "evaluate_accuracy",
    "softmax_regression",
    "softmax_regression_model",
]


def _as_labels(y):
    """Return integer class labels as a flat int32 tensor `(n,)`."""
    y = tf.convert_to_tensor(y)
    return tf.reshape(tf.cast(y, tf.int32), [-1])


def softmax(X):
    """Return the row-wise softmax `exp(o_j) / sum_k exp(o_k)` of a matrix.

    The row maximum is subtracted before exponentiating (which leaves the
    result unchanged), so logits up to +-1000 give finite probabilities.

    Args:
        X: logits, array-like `(n, q)` float32 or float64.

    Returns:
        `tf.Tensor` `(n, q)` of probabilities, each row summing to 1.

    Source: notes, 4.4 Softmax Regression Implementation from Scratch.
    """
    X = _as_float_tensor(X)
    X_exp = tf.exp(X - tf.reduce_max(X, axis=-1, keepdims=True))
    return X_exp / tf.reduce_sum(X_exp, axis=-1, keepdims=True)


def cross_entropy(y_hat, y):
    """Return the cross-entropy `-log y_hat[i, y_i]` of each example.

    Args:
        y_hat: predicted probabilities, array-like `(n, q)`.
        y: integer class labels `(n,)`.

    Returns:
        `tf.Tensor` `(n,)`; `inf` where the true class has probability 0.

    Source: notes, 4.4 Softmax Regression Implementation from Scratch.
    """
    y_hat = _as_float_tensor(y_hat)
    picked = tf.gather(y_hat, _as_labels(y)[:, None], batch_dims=1)  # (n, 1)
    return -tf.math.log(tf.reshape(picked, [-1]))


def log_softmax(O):
    """Return the row-wise log-softmax `o - max(o) - log sum exp(o - max(o))`.

    Stable: every exponent is `<= 0`, so large logits neither overflow nor
    lose the log of tiny probabilities.

    Args:
        O: logits, array-like `(n, q)`.

    Returns:
        `tf.Tensor` `(n, q)` of log-probabilities (all `<= 0`).

    Source: notes, 4.5 Concise Implementation of Softmax Regression.
    """
    O = _as_float_tensor(O)
    shifted = O - tf.reduce_max(O, axis=-1, keepdims=True)
    return shifted - tf.math.log(
        tf.reduce_sum(tf.exp(shifted), axis=-1, keepdims=True)
    )


def softmax_cross_entropy(O, y):
    """Return the cross-entropy of each example computed from logits.

    `-log_softmax(O)[i, y_i]`: finite for logits up to +-1000, where
    `cross_entropy(softmax(O), y)` gives `inf` and the naive
    `log(exp(o) / sum exp(o))` gives `nan`. Agrees with
    `keras.losses.SparseCategoricalCrossentropy(from_logits=True,
    reduction=None)`.

    Args:
        O: logits, array-like `(n, q)`.
        y: integer class labels `(n,)`.

    Returns:
        `tf.Tensor` `(n,)`.

    Source: notes, 4.5 Concise Implementation of Softmax Regression.
    """
    log_probs = log_softmax(O)
    picked = tf.gather(log_probs, _as_labels(y)[:, None], batch_dims=1)  # (n, 1)
    return -tf.reshape(picked, [-1])


def _num_correct(y_hat, y):
    """Return the number of correct predictions as a float32 tensor.

    Predicted classes are `argmax(y_hat, axis=1)` when `y_hat` is 2-D with
    more than one column, else `y_hat` itself (already class indices).
    """
    y_hat = tf.convert_to_tensor(y_hat)
    if y_hat.shape.rank is not None and y_hat.shape.rank > 1 and y_hat.shape[1] != 1:
        y_hat = tf.argmax(y_hat, axis=1)
    y = tf.reshape(tf.convert_to_tensor(y), [-1])
    y_hat = tf.reshape(y_hat, [-1])
    # Compare in float64: exact for class indices and for float-coded labels.
    cmp = tf.cast(y_hat, tf.float64) == tf.cast(y, tf.float64)
    return tf.reduce_sum(tf.cast(cmp, tf.float32))


def accuracy(y_hat, y):
    """Return the **number** of correct predictions (not the fraction).

    Args:
        y_hat: `(n, q)` scores (probabilities or logits; argmax over axis 1
            is taken) or `(n,)` predicted class indices.
        y: integer class labels `(n,)`.

    Returns:
        Python float, the count of examples whose prediction equals the label;
        inside a `tf.function`, a float32 scalar tensor (what AutoGraph makes
        of `float(...)`), also when the function is not converted.

    Source: notes, 4.3 The Base Classification Model.
    """
    correct = _num_correct(y_hat, y)
    if not tf.executing_eagerly():
        return tf.cast(correct, tf.float32)
    return float(correct)


def _accepts_training(net):
    """Whether `net` can be called as `net(X, training=...)`."""
    if isinstance(net, keras.layers.Layer):
        return True
    try:
        parameters = inspect.signature(net).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.name == "training" or p.kind is inspect.Parameter.VAR_KEYWORD
        for p in parameters
    )


def evaluate_accuracy(net, data_iter):
    """Return the fraction of examples `net` classifies correctly.

    Counts correct predictions and examples batch by batch, so an unequal last
    batch is weighted by its real size. `net` is called with `training=False`
    (dropout off, batch normalization on its moving statistics); a plain
    function without a `training` argument (a scratch network) is called
    as `net(X)`.

    Args:
        net: a Keras model/layer or a callable `X -> scores (n, q)`.
        data_iter: iterable of `(X, y)` batches, e.g. a `tf.data.Dataset`.

    Returns:
        Python float in [0, 1]; `nan` when `data_iter` is empty.

    Source: notes, 4.3 The Base Classification Model.
    """
    kwargs = {"training": False} if _accepts_training(net) else {}
    num_correct, num_examples = 0.0, 0
    for X, y in data_iter:
        num_correct += accuracy(net(X, **kwargs), y)
        num_examples += int(tf.size(y))
    return num_correct / num_examples if num_examples else float("nan")


def softmax_regression(X, W, b):
    """Scratch softmax regression: `softmax(reshape(X, (-1, d)) @ W + b)`.

    Args:
        X: images or features, e.g. `(n, 28, 28, 1)`; flattened to `(n, d)`.
        W: weights `(d, q)`.
        b: bias `(q,)`.

    Returns:
        `tf.Tensor` `(n, q)` of probabilities.

    Source: notes, 4.4 Softmax Regression Implementation from Scratch.
    """
    X, W, b = (_as_float_tensor(t) for t in (X, W, b))
    dtype = _common_float_dtype(X, W, b)
    X, W, b = (tf.cast(t, dtype) for t in (X, W, b))
    X = tf.reshape(X, (-1, W.shape[0]))  # (N, H, W, C) -> (N, H*W*C)
    return softmax(tf.matmul(X, W) + b)


def softmax_regression_model(num_outputs=10, *, seed=None):
    """Return the concise softmax regression model: Flatten, Dense(num_outputs).

    The model outputs **logits**: pair it with
    `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`, which
    applies the stable log-softmax itself (a softmax layer here would apply
    it twice). Weights start at `N(0, 0.01^2)` as in the notes.

    Args:
        num_outputs: number of classes.
        seed: optional int for the weight initializer.

    Returns:
        `keras.Sequential`, built on its first call.

    Source: notes, 4.5 Concise Implementation of Softmax Regression.
    """
    return keras.Sequential(
        [
            keras.layers.Flatten(),
            keras.layers.Dense(
                num_outputs,
                kernel_initializer=keras.initializers.RandomNormal(
                    stddev=0.01, seed=seed
                ),
            ),
        ],
        name="softmax_regression",
    )

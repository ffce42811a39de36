"""Linear regression: from scratch, in closed form and with Keras.

References for the exercises of chapter 3 (`data_iter`, `linreg`,
`squared_loss`, `sgd`, `normal_equation`, `train_linreg`) and the concise
Keras version of the notes (`linreg_model`, `train_linreg_concise`).
`synthetic_data` lives in `kerasdl.data`.
"""

import functools
import numbers

import keras
import numpy as np
import tensorflow as tf

from kerasdl.preliminaries import _as_float_tensor, _common_float_dtype
from kerasdl.training import _batch_spec, _compile, make_train_step

__all__ = [
    "data_iter",
    "linreg",
    "squared_loss",
    "sgd",
    "normal_equation",
    "train_linreg",
    "linreg_model",
    "train_linreg_concise",
]

# Standard deviation of the initial weights in the notes: w ~ N(0, 0.01^2).
INIT_WEIGHT_STD = 0.01


def _check_positive_int(value, name):
    """Raise unless `value` is a positive integer (bools excluded)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be a positive integer. "
            f"Received: {name}={value!r}"
        )
    if value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value}"
        )


def _num_rows(a):
    """Return the length of the first axis of an array-like."""
    return int(a.shape[0]) if hasattr(a, "shape") else len(a)


def _rng(seed):
    """Return a NumPy generator: seeded, or drawn from the global NumPy state.

    With `seed=None` the generator is seeded from `np.random`, so
    `kerasdl.set_seed` makes unseeded calls reproducible too.
    """
    if seed is None:
        seed = np.random.randint(0, 2**31 - 1)
    return np.random.default_rng(seed)


def data_iter(batch_size, features, labels, *, seed=None):
    """Yield shuffled minibatches `(X, y)` covering every example once.

    The example indices are shuffled once per pass; the last batch holds the
    remaining `num_examples % batch_size` examples when that is not zero.

    Args:
        batch_size: positive int, examples per batch.
        features: array-like `(num_examples, ...)`.
        labels: array-like `(num_examples, ...)`.
        seed: optional int for the shuffle. `None` draws from NumPy's global
            state (see `kerasdl.set_seed`).

    Yields:
        `(X, y)` pairs of `tf.Tensor`s: rows of `features` and `labels`.

    Raises:
        TypeError: if `batch_size` is not an int.
        ValueError: if `batch_size < 1` or features and labels differ in length.

    Source: notes, 3.4 Linear Regression Implementation from Scratch.
    """
    _check_positive_int(batch_size, "batch_size")
    num_examples = _num_rows(features)
    if _num_rows(labels) != num_examples:
        raise ValueError(
            "`features` and `labels` must have the same number of rows. "
            f"Received: features with {num_examples} rows, "
            f"labels with {_num_rows(labels)} rows"
        )
    indices = _rng(seed).permutation(num_examples)
    features = tf.convert_to_tensor(features)
    labels = tf.convert_to_tensor(labels)
    for start in range(0, num_examples, batch_size):
        batch_indices = indices[start : start + batch_size]
        yield tf.gather(features, batch_indices), tf.gather(labels, batch_indices)


def linreg(X, w, b):
    """Return the linear regression prediction `X @ w + b`.

    Args:
        X: array-like `(n, d)`.
        w: array-like `(d, 1)` (or `(d,)` for an `(n,)` result).
        b: scalar or `(1,)` bias.

    Returns:
        `tf.Tensor` `(n, 1)`, float64 if any input is float64, else float32.

    Source: notes, 3.4 Linear Regression Implementation from Scratch.
    """
    X, w, b = (_as_float_tensor(t) for t in (X, w, b))
    dtype = _common_float_dtype(X, w, b)
    X, w, b = (tf.cast(t, dtype) for t in (X, w, b))
    if w.shape.rank == 1:
        return tf.linalg.matvec(X, w) + b
    return tf.matmul(X, w) + b


def squared_loss(y_hat, y):
    """Return the elementwise squared loss `(y_hat - y)^2 / 2`.

    `y` is reshaped to the shape of `y_hat` first, so `(n,)` labels work with
    `(n, 1)` predictions. Unlike `keras.losses.MeanSquaredError`, this has the
    factor 1/2 and does not average.

    Args:
        y_hat: predictions, array-like.
        y: targets with as many elements as `y_hat`.

    Returns:
        `tf.Tensor` with the shape of `y_hat`.

    Source: notes, 3.4 Linear Regression Implementation from Scratch.
    """
    y_hat, y = _as_float_tensor(y_hat), _as_float_tensor(y)
    dtype = _common_float_dtype(y_hat, y)
    y_hat, y = tf.cast(y_hat, dtype), tf.cast(y, dtype)
    return (y_hat - tf.reshape(y, tf.shape(y_hat))) ** 2 / 2


def sgd(params, grads, lr, batch_size):
    """Minibatch stochastic gradient descent, in place.

    Updates each variable as `param -= lr * grad / batch_size`: the gradient is
    that of the loss *summed* over the batch, as in the notes.

    Args:
        params: list of `tf.Variable`.
        grads: list of gradients, one per variable, same shapes.
        lr: learning rate.
        batch_size: number of examples the summed loss covered.

    Returns:
        None.

    Raises:
        TypeError: if a parameter is not a `tf.Variable`.
        ValueError: if `params` and `grads` differ in length.

    Source: notes, 3.4 Linear Regression Implementation from Scratch.
    """
    params, grads = list(params), list(grads)
    if len(params) != len(grads):
        raise ValueError(
            "`params` and `grads` must have the same length. "
            f"Received: {len(params)} params and {len(grads)} grads"
        )
    for param, grad in zip(params, grads):
        if not isinstance(param, tf.Variable):
            raise TypeError(
                "`params` must hold tf.Variable objects (updated in place). "
                f"Received: a param of type {type(param).__name__}"
            )
        param.assign_sub(tf.cast(lr * grad / batch_size, param.dtype))


def normal_equation(X, y):
    """Solve least squares in closed form, `w* = (X^T X)^-1 X^T y`, with a bias.

    A column of ones is appended to `X`, the system is solved in float64 with
    a least-squares solver (the same solution as the normal equation when
    `X^T X` is invertible, and still defined when it is not), and the last
    coefficient is returned as the bias.

    Args:
        X: array-like `(n, d)`, or `(n,)` for one feature.
        y: array-like `(n,)` or `(n, 1)`.

    Returns:
        `(w, b)`: `w` a `tf.Tensor` `(d, 1)`, `b` a scalar `tf.Tensor`, in
        float64 if `X` is float64, else float32.

    Raises:
        ValueError: if `X` and `y` differ in number of rows.

    Source: notes, 3.1 Linear Regression (analytic solution).
    """
    X, y = _as_float_tensor(X), _as_float_tensor(y)
    dtype = X.dtype
    X64 = np.asarray(X, dtype=np.float64)
    if X64.ndim == 1:
        X64 = X64[:, None]  # (n,) -> (n, 1)
    y64 = np.asarray(y, dtype=np.float64).reshape(-1, 1)  # (n,) -> (n, 1)
    if X64.shape[0] != y64.shape[0]:
        raise ValueError(
            "`X` and `y` must have the same number of rows. "
            f"Received: X with shape {tuple(X.shape)}, y with shape {tuple(y.shape)}"
        )
    design = np.hstack([X64, np.ones((X64.shape[0], 1))])  # (n, d) -> (n, d+1)
    coef, *_ = np.linalg.lstsq(design, y64, rcond=None)  # (d+1, 1)
    w = tf.constant(coef[:-1], dtype=dtype)
    b = tf.constant(coef[-1, 0], dtype=dtype)
    return w, b


def _linreg_sgd_step(w, b, lr, X, y):
    """One scratch SGD step on the squared loss summed over the batch `X, y`."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(squared_loss(linreg(X, w, b), y))
    grads = tape.gradient(loss, [w, b])
    sgd([w, b], grads, lr, tf.cast(tf.shape(X)[0], X.dtype))


def train_linreg(features, labels, lr, num_epochs, batch_size, *, seed=None):
    """Train linear regression from scratch with minibatch SGD.

    `w ~ N(0, 0.01^2)` of shape `(d, 1)` and `b = 0`; each step takes the
    gradient of the squared loss summed over the batch with `tf.GradientTape`
    and applies `sgd` with the batch's actual size (the last batch may be
    smaller).

    Args:
        features: array-like `(n, d)`.
        labels: array-like `(n, 1)` or `(n,)`.
        lr: learning rate (the notes use 0.03).
        num_epochs: positive int, passes over the data.
        batch_size: positive int.
        seed: optional int for the initial weights and the shuffles; `None`
            draws from NumPy's global state (see `kerasdl.set_seed`).

    Returns:
        `(w, b)`: `w` a `tf.Tensor` `(d, 1)`, `b` a scalar `tf.Tensor`, float64
        if `features` is float64, else float32.

    Source: notes, 3.4 Linear Regression Implementation from Scratch.
    """
    _check_positive_int(num_epochs, "num_epochs")
    _check_positive_int(batch_size, "batch_size")
    features = _as_float_tensor(features)
    labels = tf.cast(_as_float_tensor(labels), features.dtype)
    rng = _rng(seed)
    num_inputs = int(features.shape[1])
    w = tf.Variable(
        rng.normal(0.0, INIT_WEIGHT_STD, size=(num_inputs, 1)),
        dtype=features.dtype,
    )
    b = tf.Variable(tf.zeros([1], dtype=features.dtype))

    # Compiled once: the batch axis is left unknown, so the smaller last batch
    # reuses the same trace.
    step = _compile(
        functools.partial(_linreg_sgd_step, w, b, lr),
        input_signature=[_batch_spec(features), _batch_spec(labels)],
    )

    for _ in range(num_epochs):
        epoch_seed = int(rng.integers(2**31 - 1))
        for X, y in data_iter(batch_size, features, labels, seed=epoch_seed):
            step(X, y)
    return tf.convert_to_tensor(w), tf.reshape(b, [])


def linreg_model(num_inputs=None, *, seed=None):
    """Return the concise linear regression model: one `Dense(1)` layer.

    Weights start as in the scratch version, `w ~ N(0, 0.01^2)` and `b = 0`.

    Args:
        num_inputs: optional int, number of features; when given the model is
            built with `keras.Input((num_inputs,))`, else on its first call.
        seed: optional int for the weight initializer.

    Returns:
        `keras.Sequential` mapping `(n, num_inputs)` to `(n, 1)`.

    Source: notes, 3.5 Concise Implementation of Linear Regression.
    """
    layers = [] if num_inputs is None else [keras.Input((num_inputs,))]
    layers.append(
        keras.layers.Dense(
            1,
            kernel_initializer=keras.initializers.RandomNormal(
                stddev=INIT_WEIGHT_STD, seed=seed
            ),
            bias_initializer="zeros",
        )
    )
    return keras.Sequential(layers, name="linreg")


def train_linreg_concise(
    features, labels, lr, num_epochs, batch_size, *, seed=None
):
    """Train `linreg_model` with `keras.optimizers.SGD` and the MSE loss.

    `keras.losses.MeanSquaredError` averages `(y_hat - y)^2` over the batch
    (no 1/2): its gradient is twice that of the notes' averaged
    `squared_loss`, so the same `lr` moves twice as far.

    Args:
        features: array-like `(n, d)`.
        labels: array-like `(n, 1)` or `(n,)`.
        lr: learning rate of `keras.optimizers.SGD`.
        num_epochs: positive int.
        batch_size: positive int.
        seed: optional int for the initializer and the shuffles.

    Returns:
        `(w, b)`: `w` a float32 `tf.Tensor` `(d, 1)`, `b` a scalar.

    Source: notes, 3.5 Concise Implementation of Linear Regression.
    """
    _check_positive_int(num_epochs, "num_epochs")
    _check_positive_int(batch_size, "batch_size")
    features = tf.cast(_as_float_tensor(features), tf.float32)
    labels = tf.reshape(tf.cast(_as_float_tensor(labels), tf.float32), [-1, 1])
    rng = _rng(seed)
    net = linreg_model(int(features.shape[1]), seed=int(rng.integers(2**31 - 1)))
    step = make_train_step(
        net, keras.losses.MeanSquaredError(), keras.optimizers.SGD(learning_rate=lr)
    )
    for _ in range(num_epochs):
        epoch_seed = int(rng.integers(2**31 - 1))
        for X, y in data_iter(batch_size, features, labels, seed=epoch_seed):
            step(X, y)
    w, b = net.layers[-1].kernel, net.layers[-1].bias
    return tf.convert_to_tensor(w), tf.reshape(tf.convert_to_tensor(b), [])

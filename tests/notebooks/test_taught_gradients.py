"""Is what the notebooks teach right under autodiff too?

Every differentiable function a notebook's solution teaches is differentiated
with `tf.GradientTape` and compared with its closed-form derivative, computed
in float64 NumPy, on grids holding the special points: x = 0 (where `|x|`,
`max(x, 0)` and `tf.where` branches meet), huge inputs, ties of a row maximum,
a constant feature. The functions are taken from the committed solution
notebooks (`solutions/<chapter>/<chapter>.ipynb`), so a test fails when a
notebook teaches a function whose autodiff derivative is wrong at a point,
like the stable sigmoid built on `exp(-|x|)`, whose tape derivative at 0 is 0.
"""

import keras
import nbformat
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from nbcourse import build_notebooks

# float64 gradients against float64 closed forms: only rounding differs.
FLOAT64_RTOL, FLOAT64_ATOL = 1e-9, 1e-12
# float32 gradients against float64 closed forms (float32 has 2^-24 ~ 6e-8
# relative precision; a few roundings on the way).
FLOAT32_RTOL, FLOAT32_ATOL = 2e-5, 1e-6
# The elementwise grid: 0.1 steps on [-8, 8] (0 exactly), points beside 0, and
# inputs whose exp overflows float32 if computed naively.
GRID = np.unique(np.concatenate([
    np.round(np.linspace(-8.0, 8.0, 161), 10),
    [0.0, -1e-30, 1e-30, -1e-7, 1e-7, -20.0, 20.0, -100.0, 100.0, -1000.0, 1000.0],
]))


def _taught(chapter, *grade_ids):
    """The functions the solution cells `grade_ids` of `chapter` define, by name."""
    notebook = nbformat.read(build_notebooks.solution_path(chapter), as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in notebook.cells}
    namespace = {"tf": tf, "np": np, "keras": keras, "pd": pd}
    for grade_id in grade_ids:
        exec(compile(cells[grade_id].source, f"{chapter}:{grade_id}", "exec"), namespace)
    return namespace


def _tape_gradient(f, x, upstream=None):
    """d/dx sum(upstream * f(x)) by GradientTape (zeros where x is unconnected)."""
    x = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = f(x)
        total = tf.reduce_sum(y if upstream is None else y * upstream)
    return tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO).numpy()


def _stable_sigmoid64(x):
    e = np.exp(-np.abs(x))  # values only: NumPy is never differentiated here
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _assert_close(got, want, dtype, grid):
    rtol, atol = ((FLOAT64_RTOL, FLOAT64_ATOL) if dtype == "float64"
                  else (FLOAT32_RTOL, FLOAT32_ATOL))
    bad = ~np.isclose(got, want, rtol=rtol, atol=atol)
    assert not bad.any(), (
        f"tape derivative differs from the closed form at x = {np.asarray(grid)[bad][:5]}: "
        f"tape {np.asarray(got)[bad][:5]}, closed form {np.asarray(want)[bad][:5]}"
    )


# chapter, grade ids to execute, function name, closed-form derivative (float64 NumPy).
ELEMENTWISE = [
    ("ch05_mlp", ("relu",), "relu", lambda x: (x > 0).astype(np.float64)),
    ("ch05_mlp", ("sigmoid",), "sigmoid",
     lambda x: _stable_sigmoid64(x) * (1 - _stable_sigmoid64(x))),
    ("ch05_mlp", ("sigmoid", "tanh"), "tanh", lambda x: 1 - np.tanh(x) ** 2),
    ("ch06_numerical_stability", ("scaled_sigmoid",), "scaled_sigmoid",
     lambda x: 4 * _stable_sigmoid64(x) * (1 - _stable_sigmoid64(x))),
    ("ch06_regularization", ("l2_penalty",), "l2_penalty", lambda x: x),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("chapter, grade_ids, name, derivative", ELEMENTWISE,
                         ids=[row[2] for row in ELEMENTWISE])
def test_elementwise_tape_derivative_equals_closed_form(chapter, grade_ids, name, derivative,
                                                       dtype):
    """Does GradientTape give the closed-form derivative on the grid, x = 0 included?"""
    f = _taught(chapter, *grade_ids)[name]
    got = _tape_gradient(f, tf.constant(GRID, dtype=dtype))
    want = derivative(GRID.astype(dtype).astype(np.float64))
    _assert_close(got, want, dtype, GRID)


@pytest.mark.parametrize("derivative_name, name", [
    ("relu_grad", "relu"), ("sigmoid_grad", "sigmoid"), ("tanh_grad", "tanh")])
def test_taught_closed_form_matches_taught_function_under_tape(derivative_name, name):
    """Do the notebook's plot lines agree: closed form `f_grad` and the tape of `f`?"""
    taught = _taught("ch05_mlp", "relu", "sigmoid", "tanh", "relu_grad", "sigmoid_grad",
                     "tanh_grad")
    x = tf.constant(np.linspace(-8.0, 8.0, 161), dtype="float32")  # the plot's grid
    got = _tape_gradient(taught[name], x)
    want = np.asarray(taught[derivative_name](x), dtype=np.float64)
    _assert_close(got, want, "float32", x.numpy())


LP_VECTORS = [[3.0, -4.0, 0.0, 0.5], [0.0, 0.0, 1.0], [-2.0, 0.0, 0.0, 0.0], [1e-3, -7.0, 2.0]]


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("x", LP_VECTORS, ids=lambda x: str(x))
def test_lp_norm_tape_derivative(x, p):
    """Is d||x||_p/dx_i = sign(x_i) |x_i|^(p-1) / ||x||_p^(p-1), also where x_i = 0?"""
    lp_norm = _taught("ch02_preliminaries", "lp_norm")["lp_norm"]
    x = np.asarray(x)
    got = _tape_gradient(lambda v: lp_norm(v, p), tf.constant(x))
    norm = np.sum(np.abs(x) ** p) ** (1 / p)
    want = np.sign(x) * np.abs(x) ** (p - 1) / norm ** (p - 1)
    _assert_close(got, want, "float64", x)


def test_squared_loss_tape_derivative():
    """Is d/dy_hat of the squared loss y_hat - y, also where y_hat = y?"""
    squared_loss = _taught("ch03_linear_regression", "squared_loss")["squared_loss"]
    y = np.array([[1.0], [2.0], [-3.0], [0.0]])
    y_hat = np.array([[1.0], [2.5], [-3.0], [1e-8]])
    got = _tape_gradient(lambda v: squared_loss(v, tf.constant(y)), tf.constant(y_hat))
    _assert_close(got, y_hat - y, "float64", y_hat)


# Logit rows: ties of the maximum, all equal, huge, mixed signs, ordinary.
LOGITS = np.array([
    [1.0, 1.0, 0.0],
    [2.0, 2.0, 2.0],
    [1000.0, 1001.0, 1002.0],
    [-1000.0, 0.0, 1000.0],
    [1000.0, 1000.0, -5.0],
    [0.3, -1.2, 2.5],
])
LABELS = np.array([0, 2, 1, 0, 1, 2])


def _softmax64(O):
    e = np.exp(O - O.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _upstream():
    return np.random.default_rng(0).normal(size=LOGITS.shape)


def test_softmax_tape_vector_jacobian_product():
    """Is u^T J_softmax = s * (u - <u, s>) per row, also on ties and huge logits?"""
    softmax = _taught("ch04_softmax_regression", "softmax")["softmax"]
    U = _upstream()
    got = _tape_gradient(softmax, tf.constant(LOGITS), tf.constant(U))
    s = _softmax64(LOGITS)
    want = s * (U - np.sum(U * s, axis=1, keepdims=True))
    _assert_close(got, want, "float64", LOGITS)


def test_log_softmax_tape_vector_jacobian_product():
    """Is u^T J_log_softmax = u - s * sum(u) per row, also on ties and huge logits?"""
    log_softmax = _taught("ch04_softmax_regression", "log_softmax")["log_softmax"]
    U = _upstream()
    got = _tape_gradient(log_softmax, tf.constant(LOGITS), tf.constant(U))
    want = U - _softmax64(LOGITS) * U.sum(axis=1, keepdims=True)
    _assert_close(got, want, "float64", LOGITS)


def test_softmax_cross_entropy_tape_derivative():
    """Is d/dO of the cross-entropy from logits softmax(O) - onehot(y)?"""
    taught = _taught("ch04_softmax_regression", "log_softmax", "softmax_cross_entropy")
    got = _tape_gradient(lambda O: taught["softmax_cross_entropy"](O, tf.constant(LABELS)),
                         tf.constant(LOGITS))
    want = _softmax64(LOGITS) - np.eye(3)[LABELS]
    _assert_close(got, want, "float64", LOGITS)


def test_cross_entropy_tape_derivative():
    """Is d/dy_hat of -log y_hat[y] equal to -1 / y_hat[y] at the label, 0 elsewhere?"""
    cross_entropy = _taught("ch04_softmax_regression", "cross_entropy")["cross_entropy"]
    y_hat = np.array([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5], [1.0, 0.0, 0.0]])
    y = np.array([0, 2, 0])
    got = _tape_gradient(lambda v: cross_entropy(v, tf.constant(y)), tf.constant(y_hat))
    want = -np.eye(3)[y] / y_hat[np.arange(3), y][:, None]
    _assert_close(got, want, "float64", y_hat)


@pytest.mark.parametrize("dropout", [0.0, 0.5, 1.0])
def test_dropout_tape_derivative_is_the_scaled_mask(dropout):
    """Is dY/dX of inverted dropout the kept mask / (1 - p), i.e. Y itself for X = 1?"""
    dropout_layer = _taught("ch06_regularization", "dropout_layer")["dropout_layer"]
    X = np.ones((4, 6))
    tf.random.set_seed(0)
    x = tf.Variable(X)
    with tf.GradientTape() as tape:
        Y = dropout_layer(x, dropout)
        total = tf.reduce_sum(Y)
    got = tape.gradient(total, x, unconnected_gradients=tf.UnconnectedGradients.ZERO).numpy()
    _assert_close(got, Y.numpy(), "float64", X)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_tape_derivative(training):
    """Is dX of batch norm the closed form, also for a constant feature (variance 0)?"""
    batch_norm = _taught("ch08_batchnorm_resnet", "batch_norm")["batch_norm"]
    rng = np.random.default_rng(1)
    X = rng.normal(size=(5, 3))
    X[:, 1] = 2.0  # a constant feature: x_hat = 0, only eps keeps the scale finite
    gamma, beta = np.array([1.5, -0.5, 2.0]), np.array([0.1, 0.2, 0.3])
    moving_mean, moving_var = np.array([0.5, 1.0, -1.0]), np.array([2.0, 0.5, 1.0])
    eps, momentum, U = 1e-5, 0.9, rng.normal(size=X.shape)
    got = _tape_gradient(
        lambda v: batch_norm(v, gamma, beta, moving_mean, moving_var, eps, momentum,
                             training)[0],
        tf.constant(X), tf.constant(U))
    if training:
        std = np.sqrt(X.var(axis=0) + eps)
        X_hat = (X - X.mean(axis=0)) / std
        want = gamma / std * (U - U.mean(axis=0) - X_hat * (U * X_hat).mean(axis=0))
    else:
        want = gamma * U / np.sqrt(moving_var + eps)
    _assert_close(got, want, "float64", X)

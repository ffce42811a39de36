"""Checks of chapter 3, Linear regression.

`synthetic_data` (statistics), `data_iter` (iterator behaviour), `linreg`,
`squared_loss`, `sgd` (in-place update), `normal_equation` and `train_linreg`.
"""

import numpy as np
import tensorflow as tf

import kerasdl
from grader.compare import Normal, allclose, compare_sample, to_array
from grader.errors import CaseFailed
from grader.probes import take
from grader.registry import exercise
from grader.tolerances import LINALG_FLOAT32

CHAPTER = "ch03_linear_regression"

# The notes' true parameters of the synthetic data.
TRUE_W = (2.0, -3.4)
TRUE_B = 4.2
# Standard deviation of the label noise in `synthetic_data`.
NOISE_STD = 0.01


# synthetic_data ------------------------------------------------------------------


def _synthetic_case(w, b, num_examples):
    """Case: shapes, X ~ N(0, 1) and residual y - Xw - b ~ N(0, 0.01^2)."""

    def run(ctx):
        out = ctx.student(tf.constant(w), b, num_examples)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            ctx.fail(f"your output is a {type(out).__name__}, expected a tuple (X, y)")
        X = to_array(out[0], "X")
        y = to_array(out[1], "y")
        if X.shape != (num_examples, len(w)):
            ctx.fail(f"X has shape {X.shape}, expected {(num_examples, len(w))}")
        if y.shape != (num_examples, 1):
            ctx.fail(f"y has shape {y.shape}, expected {(num_examples, 1)}",
                     hint="reshape y to a column: (num_examples, 1)")
        compare_sample(X, Normal(0.0, 1.0), what="X").raise_if_failed(
            hint="draw X from the standard normal N(0, 1)")
        residual = y[:, 0].astype("float64") - X.astype("float64") @ np.asarray(w) - b
        fit = compare_sample(residual, Normal(0.0, NOISE_STD), what="the noise y - Xw - b")
        if not fit.passed:
            if compare_sample(residual, Normal(-b, NOISE_STD)).passed:
                hint = "add the bias b to y"
            elif compare_sample(residual, Normal(0.0, 1.0)).passed:
                hint = "the noise has standard deviation 0.01, not 1"
            else:
                hint = "y = X @ w + b + noise with noise ~ N(0, 0.01^2)"
            fit.raise_if_failed(hint=hint)
        return fit

    return run


@exercise("synthetic_data", chapter=CHAPTER, points=2, reference=kerasdl.synthetic_data,
          random_draws=True)
def synthetic_data_cases(c):
    """Shapes, X ~ N(0, 1) and noise ~ N(0, 0.01^2) on 2000 seeded examples."""
    c.custom("w = [2, -3.4], b = 4.2, n = 2000", _synthetic_case(TRUE_W, TRUE_B, 2000))
    c.custom("three features and a negative bias",
             _synthetic_case((0.5, 1.0, -2.0), -1.0, 1500), hidden=True)


# data_iter -----------------------------------------------------------------------

# A generator that yields more than this many batches per example is cut off.
MAX_BATCHES_PER_EXAMPLE = 3
# The example ids start at a seeded offset below this (exact in float32).
MAX_ID_OFFSET = 1000


def _iterate(ctx, batch_size, features, labels):
    """Run the student's generator to its end (as student code); return batches."""
    num_examples = int(features.shape[0])
    iterator = ctx.student(batch_size, features, labels)
    limit = MAX_BATCHES_PER_EXAMPLE * num_examples + 1
    batches = ctx.probe(take, iterator, limit)
    if not isinstance(batches, list):
        ctx.fail("your data_iter could not be iterated")
    return batches


def _data_iter_case(num_examples, batch_size):
    """Case: one pass covers each example once, in shuffled order, right sizes."""

    def run(ctx):
        # Row i of the features is (v, -v) with v = offset + i, its label is 10 * v:
        # pairs are checkable, and the seeded offset makes every run's inputs new.
        offset = int(ctx.rng.integers(0, MAX_ID_OFFSET))
        ids = offset + np.arange(num_examples, dtype="float32")
        features = tf.constant(np.stack([ids, -ids], axis=1))
        labels = tf.constant((10 * ids).reshape(-1, 1))
        batches = _iterate(ctx, batch_size, features, labels)
        seen = []
        sizes = []
        for number, batch in enumerate(batches):
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                ctx.fail(f"batch {number} is not a pair (X, y)")
            X = to_array(batch[0], f"X of batch {number}").reshape(-1, 2)
            y = to_array(batch[1], f"y of batch {number}").reshape(-1)
            if len(X) != len(y):
                ctx.fail(f"batch {number} has {len(X)} rows of X but {len(y)} labels")
            if not allclose(y, 10 * X[:, 0]):
                ctx.fail(f"batch {number} pairs features with the wrong labels",
                         hint="index features and labels with the same indices")
            sizes.append(len(X))
            seen.extend(int(v) - offset for v in X[:, 0])
        expected_sizes = [batch_size] * (num_examples // batch_size)
        if num_examples % batch_size:
            expected_sizes.append(num_examples % batch_size)
        if sorted(seen) != list(range(num_examples)):
            missing = num_examples - len(set(seen))
            if len(seen) < num_examples and len(set(seen)) == len(seen):
                ctx.fail(f"one pass yielded {len(seen)} of {num_examples} examples",
                         hint="keep the last, smaller batch: "
                              "indices[i: min(i + batch_size, num_examples)]")
            ctx.fail(f"one pass does not cover each example exactly once "
                     f"({missing} missing, {len(seen) - len(set(seen))} repeated)",
                     hint="shuffle a permutation of all indices (random.shuffle) "
                          "instead of sampling with replacement")
        if sizes != expected_sizes:
            ctx.fail(f"batch sizes are {sizes}, expected {expected_sizes}")
        if num_examples > 2 and seen == list(range(num_examples)):
            ctx.fail("the examples come in their original order",
                     hint="shuffle the indices before slicing batches")
        return None

    return run


@exercise("data_iter", chapter=CHAPTER, points=2, reference=kerasdl.data_iter,
          random_draws=True)
def data_iter_cases(c):
    """One pass covers every example exactly once, shuffled, ragged last batch kept."""
    c.custom("23 examples, batch_size 5", _data_iter_case(23, 5))
    c.custom("20 examples, batch_size 4", _data_iter_case(20, 4))
    # Hidden sizes are drawn from the builder's seed.
    few = int(c.rng.integers(5, 10))
    c.custom("a batch_size larger than the dataset", _data_iter_case(few, few + 3),
             hidden=True)
    c.custom("batches of one example", _data_iter_case(int(c.rng.integers(10, 15)), 1),
             hidden=True)


# linreg, squared_loss --------------------------------------------------------------


def _linreg_no_bias(X, w, b):
    return tf.matmul(tf.cast(X, tf.float64), tf.cast(w, tf.float64))


@exercise("linreg", chapter=CHAPTER, points=1, reference=kerasdl.linreg)
def linreg_cases(c):
    """Student `linreg` equals `X @ w + b`."""
    mistakes = {"add the bias: X @ w + b": _linreg_no_bias}
    c.values("X (10, 2), w (2, 1), b (1,)", c.normal((10, 2)), c.normal((2, 1)),
             c.normal((1,)), mistakes=mistakes)
    c.values("scalar b", c.normal((5, 3)), c.normal((3, 1)), c.tensor(0.7),
             mistakes=mistakes)
    c.values("float64 input, a single example", c.normal((1, 4), dtype="float64"),
             c.normal((4, 1), dtype="float64"), c.normal((1,), dtype="float64"),
             mistakes=mistakes, hidden=True)


def _loss_no_half(y_hat, y):
    y_hat = tf.cast(y_hat, tf.float64)
    return (y_hat - tf.reshape(tf.cast(y, tf.float64), y_hat.shape)) ** 2


def _loss_mean(y_hat, y):
    y_hat = tf.cast(y_hat, tf.float64)
    return tf.reduce_mean((y_hat - tf.reshape(tf.cast(y, tf.float64), y_hat.shape)) ** 2 / 2)


def _loss_sum(y_hat, y):
    return tf.reduce_sum(_loss_no_half(y_hat, y)) / 2


_LOSS_MISTAKES = {
    "the notes' squared loss has the factor 1/2: (y_hat - y)^2 / 2": _loss_no_half,
    "return the per-example loss, do not average it": _loss_mean,
    "return the per-example loss, do not sum it": _loss_sum,
}


@exercise("squared_loss", chapter=CHAPTER, points=1, reference=kerasdl.squared_loss)
def squared_loss_cases(c):
    """Student `squared_loss` is elementwise `(y_hat - y)^2 / 2`, shape of `y_hat`."""
    c.values("y_hat (6, 1), y (6,)", c.normal((6, 1)), c.normal((6,)),
             mistakes=_LOSS_MISTAKES,
             hint="reshape y to y_hat's shape before subtracting")
    c.values("y_hat (4, 1), y (4, 1)", c.normal((4, 1)), c.normal((4, 1)),
             mistakes=_LOSS_MISTAKES)
    c.values("float64 input, y as a vector", c.normal((5, 1), dtype="float64"),
             c.normal((5,), dtype="float64"),
             mistakes=_LOSS_MISTAKES, hidden=True)


# sgd -------------------------------------------------------------------------------


def _sgd_case(shapes, lr, batch_size, dtype="float32"):
    """Case: the student's in-place update equals `param -= lr * grad / batch_size`."""

    def run(ctx):
        rng = np.random.default_rng(ctx.seed)
        values = [rng.normal(size=s) for s in shapes]
        grads = [tf.constant(rng.normal(size=s), dtype=dtype) for s in shapes]
        student_params = [tf.Variable(v, dtype=dtype) for v in values]
        reference_params = [tf.Variable(v, dtype=dtype) for v in values]
        ctx.reference(reference_params, grads, lr, batch_size, copy_inputs=False)
        ctx.student(student_params, list(grads), lr, batch_size, copy_inputs=False)
        for index, (got, want, start, grad) in enumerate(
                zip(student_params, reference_params, values, grads)):
            grad = grad.numpy().astype("float64")
            unchanged = start
            mistakes = {
                "divide the gradient by batch_size: param -= lr * grad / batch_size":
                    start - lr * grad,
                "update in place with param.assign_sub(...): `param = param - ...` "
                "only rebinds a local name": unchanged,
                "step against the gradient: param -= ..., not +=":
                    start + lr * grad / batch_size,
            }
            ctx.compare(got, want, what=f"params[{index}] after the update",
                        mistakes=mistakes, input_dtypes=(dtype,))
        return None

    return run


@exercise("sgd", chapter=CHAPTER, points=2, reference=kerasdl.sgd)
def sgd_cases(c):
    """Student `sgd` updates the variables in place like the reference."""
    c.custom("w (2, 1) and b (1,), lr 0.03, batch 10", _sgd_case([(2, 1), (1,)], 0.03, 10))
    c.custom("one matrix (3, 4), lr 0.5, batch 4", _sgd_case([(3, 4)], 0.5, 4))
    c.custom("float64 parameters of several shapes",
             _sgd_case([(5,), (2, 2), ()], 0.1, 7, "float64"), hidden=True)


# normal_equation -------------------------------------------------------------------


def _normal_no_bias(X, y):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    w = np.linalg.solve(X.T @ X, X.T @ y)
    return w, 0.0


_NORMAL_OPTIONS = {
    "names": ("w", "b"),
    "options": ({"shape_policy": "column"}, {"shape_policy": "squeeze"}),
    "tol": LINALG_FLOAT32,
}


@exercise("normal_equation", chapter=CHAPTER, points=2, reference=kerasdl.normal_equation)
def normal_equation_cases(c):
    """Student `(w, b)` equals the least-squares solution with a bias column."""
    mistakes = {"append a column of ones to X for the bias b": _normal_no_bias}
    c.values("x = [0, 1, 2], y = [1, 2, 4]", c.tensor([[0.0], [1.0], [2.0]]),
             c.tensor([1.0, 2.0, 4.0]), mistakes=mistakes, **_NORMAL_OPTIONS)
    X = c.normal((50, 3))
    y = tf.matmul(X, c.tensor([[1.0], [-2.0], [0.5]])) + 3.0 + c.normal((50, 1), std=0.1)
    c.values("50 examples, 3 features", X, y, mistakes=mistakes, **_NORMAL_OPTIONS)
    X64 = c.normal((40, 5), dtype="float64")
    c.values("float64 input, y as a vector", X64, c.normal((40,), dtype="float64"),
             mistakes=mistakes, hidden=True, **_NORMAL_OPTIONS)


# train_linreg ----------------------------------------------------------------------

# Learning rates of the train_linreg cases. On N(0, 1) features the summed loss
# divided by the batch size has a Hessian near the identity, so with batches of
# 500 or more a step with lr 1 shrinks the error to the least-squares solution
# about tenfold (four steps end within 0.003 of it for every shuffle), and a
# step with lr 0.75 about fourfold: six such steps (three epochs) end within
# 0.005, the two steps of a single epoch stay 0.15 or more away. A gradient
# divided by the batch size twice moves the parameters less than 1%.
FAST_LR = 1.0
EPOCHS_LR = 0.75
# Trained parameters must be this close to the least-squares solution
# (label noise is 0.01).
TRAINED_PARAM_ATOL = 0.02


def _train_case(num_examples, true_w, true_b, lr, num_epochs, batch_size):
    """Case: the trained (w, b) reach the least-squares solution."""

    def run(ctx):
        rng = np.random.default_rng(ctx.seed)
        X = rng.normal(size=(num_examples, len(true_w)))
        y = X @ np.asarray(true_w) + true_b + rng.normal(0, NOISE_STD, size=num_examples)
        features = tf.constant(X, dtype="float32")
        labels = tf.constant(y.reshape(-1, 1), dtype="float32")
        out = ctx.student(features, labels, lr, num_epochs, batch_size)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            ctx.fail(f"your output is a {type(out).__name__}, expected a tuple (w, b)")
        w = to_array(out[0], "w").astype("float64")
        b = to_array(out[1], "b").astype("float64")
        if w.size != len(true_w) or b.size != 1:
            ctx.fail(f"w has shape {w.shape} and b {b.shape}, expected "
                     f"({len(true_w)}, 1) and a scalar")
        design = np.hstack([X, np.ones((num_examples, 1))])
        best = np.linalg.lstsq(design, y, rcond=None)[0]
        err = np.abs(np.append(w.ravel(), b.ravel()) - best)
        if not np.all(np.isfinite(err)):
            raise CaseFailed("the trained parameters contain NaN or inf",
                             hint="lr too large for a summed loss? divide by batch_size in sgd")
        if err.max() > TRAINED_PARAM_ATOL:
            # Share of the way from the zero start to the solution covered.
            progress = 1.0 - err.max() / max(np.abs(best).max(), 1e-12)
            hint = ("the parameters moved too little or too far: divide by the "
                    "batch size once (a summed loss with sgd's division, not a mean "
                    "loss divided again), keep the squared loss's 1/2 and update "
                    "them in place (assign_sub)"
                    if progress < 0.9 else
                    "run num_epochs passes over all the batches; on each batch sum "
                    "the squared loss, take its gradient with GradientTape and call "
                    "sgd with the batch's size")
            raise CaseFailed(
                f"after training, (w, b) is off the least-squares solution by "
                f"{err.max():.3g} (tolerance {TRAINED_PARAM_ATOL})", hint=hint)
        return None

    return run


@exercise("train_linreg", chapter=CHAPTER, points=3, reference=kerasdl.train_linreg,
          reuses=("linreg", "squared_loss", "sgd", "data_iter", "synthetic_data"))
def train_linreg_cases(c):
    """Trained parameters reach the least-squares solution of seeded data after
    every epoch is run, also with a ragged last batch."""
    c.custom("2000 examples, lr 0.75, 3 epochs, batch 1000",
             _train_case(2000, TRUE_W, TRUE_B, EPOCHS_LR, 3, 1000))
    c.custom("a ragged last batch",
             _train_case(750, (1.0, -1.0, 0.5), 0.3, FAST_LR, 2, 500), hidden=True)

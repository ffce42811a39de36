"""Checks of chapter 6, Regularization.

`k_fold_data`, `l2_penalty` and `sgd_weight_decay` compare values;
`dropout_layer` is random: it is checked by structure (every element is 0 or
`x / (1 - p)`), by the fraction of zeros (within a few standard errors of
`p`) and at `p = 0`, `p = 1` and invalid `p`; `DropoutMLP` is recomputed from
its own weights in inference, and in training its output must be that of its
weights with units dropped where the rates ask for it.
"""

import math

import keras
import numpy as np
import tensorflow as tf

import kerasdl
from grader.checks._dense_layers import (
    dense_candidates,
    drawn_values,
    mlp_forward,
    trainable_shapes,
)
from grader.compare import Comparison, compare_values, to_array
from grader.probes import assign_variables
from grader.registry import exercise
from grader.tolerances import STATISTICAL_SIGMAS, tolerance_for

CHAPTER = "ch06_regularization"


# k_fold_data ---------------------------------------------------------------------


def _k_fold_keep_valid(k, i, X, y):
    X, y = np.asarray(X), np.asarray(y)
    fold_size = X.shape[0] // k
    valid = slice(i * fold_size, (i + 1) * fold_size)
    return X[: k * fold_size], y[: k * fold_size], X[valid], y[valid]


def _k_fold_keep_tail(k, i, X, y):
    X, y = np.asarray(X), np.asarray(y)
    fold_size = X.shape[0] // k
    valid = slice(i * fold_size, (i + 1) * fold_size)
    keep = np.r_[0: i * fold_size, (i + 1) * fold_size: X.shape[0]]
    return X[keep], y[keep], X[valid], y[valid]


def _k_fold_valid_first(k, i, X, y):
    X, y = np.asarray(X), np.asarray(y)
    fold_size = X.shape[0] // k
    valid = slice(i * fold_size, (i + 1) * fold_size)
    order = np.r_[(i + 1) * fold_size: k * fold_size, 0: i * fold_size]
    return X[order], y[order], X[valid], y[valid]


_K_FOLD_MISTAKES = {
    "leave the validation fold i out of the training data": _k_fold_keep_valid,
    "use only the first k * fold_size rows; the remainder belongs to no fold":
        _k_fold_keep_tail,
    "keep the training folds in their original order": _k_fold_valid_first,
}
_K_FOLD_OPTIONS = {"names": ("X_train", "y_train", "X_valid", "y_valid"),
                   "options": ({}, {"shape_policy": "column"}, {},
                               {"shape_policy": "column"})}


def _rows(n, d):
    """Rows that show where they came from: row r is (r, r + 0.5, ...)."""
    return tf.constant(np.arange(n)[:, None] + np.arange(d)[None, :] / 2, dtype="float32")


@exercise("k_fold_data", chapter=CHAPTER, points=2, reference=kerasdl.k_fold_data)
def k_fold_data_cases(c):
    """Training and validation parts of fold i, remainder dropped, order kept."""
    X, y = _rows(11, 3), tf.range(11, dtype="float32") * 10
    for i in (0, 1, 2):
        c.values(f"k=3, i={i}, 11 rows", 3, i, X, y, mistakes=_K_FOLD_MISTAKES,
                 **_K_FOLD_OPTIONS)
    # Hidden rows are seeded draws: distinct values still show where each row went.
    c.values("the last fold as validation", 5, 4, c.normal((20, 2)), c.normal((20,)),
             mistakes=_K_FOLD_MISTAKES, hidden=True, **_K_FOLD_OPTIONS)
    c.values("rows left over after the last fold", 4, 2, c.normal((10, 1)), c.normal((10,)),
             mistakes=_K_FOLD_MISTAKES, hidden=True, **_K_FOLD_OPTIONS)


# l2_penalty ----------------------------------------------------------------------


_L2_MISTAKES = {
    "the notes' penalty has the factor 1/2: sum(w^2) / 2 (Keras L2 has none)":
        lambda w: tf.reduce_sum(tf.cast(w, tf.float64) ** 2),
    "square the weights: sum(w^2) / 2, not the norm":
        lambda w: tf.norm(tf.cast(w, tf.float64)) / 2,
    "sum over every weight, not only one axis":
        lambda w: tf.reduce_sum(tf.cast(w, tf.float64) ** 2, axis=0) / 2,
}


@exercise("l2_penalty", chapter=CHAPTER, points=1, reference=kerasdl.l2_penalty)
def l2_penalty_cases(c):
    """Student `l2_penalty` equals `sum(w^2) / 2`."""
    c.values("w = [1, 2, 3]", c.tensor([1.0, 2.0, 3.0]), mistakes=_L2_MISTAKES,
             shape_policy="squeeze")
    c.values("matrix (4, 3)", c.normal((4, 3)), mistakes=_L2_MISTAKES, shape_policy="squeeze")
    c.values("float64 weights", c.normal((5, 2), dtype="float64"), mistakes=_L2_MISTAKES,
             shape_policy="squeeze", hidden=True)


# sgd_weight_decay ----------------------------------------------------------------


def _decay_mistake(factor):
    def wrong(w, grad, lr, wd):
        w, grad = tf.cast(w, tf.float64), tf.cast(grad, tf.float64)
        return factor(lr, wd) * w - lr * grad
    return wrong


_DECAY_MISTAKES = {
    "shrink the weights by lr * wd: (1 - lr * wd) * w - lr * grad":
        _decay_mistake(lambda lr, wd: 1 - wd),
    "apply the decay: (1 - lr * wd) * w - lr * grad (not w - lr * grad)":
        _decay_mistake(lambda lr, wd: 1.0),
    "the decay factor is 1 - lr * wd, without a 1/2":
        _decay_mistake(lambda lr, wd: 1 - lr * wd / 2),
}


@exercise("sgd_weight_decay", chapter=CHAPTER, points=1, reference=kerasdl.sgd_weight_decay)
def sgd_weight_decay_cases(c):
    """Student update equals `(1 - lr*wd) * w - lr * grad`."""
    c.values("w (3, 2), lr 0.1, wd 0.5", c.normal((3, 2)), c.normal((3, 2)), 0.1, 0.5,
             mistakes=_DECAY_MISTAKES)
    c.values("w (4,), lr 0.03, wd 3", c.normal((4,)), c.normal((4,)), 0.03, 3.0,
             mistakes=_DECAY_MISTAKES)
    c.values("no weight decay is plain SGD (float64)", c.normal((5,), dtype="float64"),
             c.normal((5,), dtype="float64"), 0.2, 0.0, mistakes=_DECAY_MISTAKES, hidden=True)


# dropout_layer -------------------------------------------------------------------

# Elements in the statistical dropout cases: the fraction of zeros then has
# a standard error of sqrt(p (1 - p) / n) ~ 0.005.
DROPOUT_SAMPLE = (100, 100)


def _dropout_statistics(p, dtype="float32"):
    """Case: every element is 0 or x / (1 - p), and about a fraction p are 0."""

    def run(ctx):
        X = tf.constant(ctx.rng.uniform(0.5, 2.0, size=DROPOUT_SAMPLE), dtype=dtype)
        out = to_array(ctx.student(X, p), "your output")
        if out.shape != DROPOUT_SAMPLE:
            ctx.fail(f"your output has shape {out.shape}, expected {DROPOUT_SAMPLE}")
        if out.dtype.kind != "f" or not np.all(np.isfinite(out)):
            ctx.fail("your output is not all finite floats")
        x = X.numpy().astype("float64")
        out = out.astype("float64")
        tol = tolerance_for(dtype, out.dtype)
        zero = out == 0.0
        scaled = np.abs(out - x / (1 - p)) <= tol.atol + tol.rtol * x / (1 - p)
        unscaled = np.abs(out - x) <= tol.atol + tol.rtol * x
        if not np.all(zero | scaled):
            if np.all(zero | unscaled):
                ctx.fail("kept elements are not scaled",
                         hint="divide the kept elements by 1 - dropout (inverted dropout)")
            if np.all(zero | (np.abs(out - x / p) <= tol.atol + tol.rtol * x / p)):
                ctx.fail("kept elements are scaled by 1 / p",
                         hint="divide by the keep probability 1 - dropout, not by dropout")
            ctx.fail("some elements are neither 0 nor x / (1 - dropout)")
        fraction = float(zero.mean())
        band = STATISTICAL_SIGMAS * math.sqrt(p * (1 - p) / zero.size)
        if abs(fraction - p) > band:
            hint = None
            if abs(fraction - (1 - p)) <= band:
                hint = "zero each element with probability dropout (keep it with 1 - dropout)"
            ctx.fail(f"{fraction:.3f} of the elements are 0, expected {p} +- {band:.3f}",
                     hint=hint)
        return Comparison(True, f"{fraction:.3f} of the elements are 0 (expected {p}), "
                                "kept ones scaled by 1 / (1 - dropout)")

    return run


def _dropout_edge(p):
    """Case: dropout 0 returns X, dropout 1 returns zeros."""

    def run(ctx):
        X = tf.constant(ctx.rng.normal(size=(4, 5)), dtype="float32")
        got = ctx.student(X, p)
        want = X if p == 0 else tf.zeros_like(X)
        hint = ("handle dropout == 1 separately: return zeros (0 / 0 is NaN)"
                if p == 1 else "with dropout == 0 nothing is dropped: return X")
        return ctx.compare(got, want, hint=hint, input_dtypes=("float32",))

    return run


def _dropout_invalid(p):
    """Case: a dropout outside [0, 1] raises ValueError."""

    def run(ctx):
        X = tf.ones((2, 3))
        try:
            ctx.guard(ctx.student_object, X, p)
        except Exception as raised:
            error = getattr(raised, "error", raised)
            if ctx.raised_instance(error, ValueError):
                return Comparison(True, f"dropout={p} raised ValueError")
            name = getattr(error, "type_name", None) or type(error).__name__
            ctx.fail(f"dropout={p} raised {name}, expected ValueError")
        ctx.fail(f"dropout={p} did not raise", hint="raise ValueError when dropout is "
                 "outside [0, 1]")

    return run


@exercise("dropout_layer", chapter=CHAPTER, points=3, reference=kerasdl.dropout_layer,
          random_draws=True)
def dropout_layer_cases(c):
    """Inverted dropout: zero with probability p, scale the rest by 1 / (1 - p)."""
    c.custom("dropout 0.3 on 10000 elements", _dropout_statistics(0.3), weight=2)
    c.custom("dropout 0 returns X", _dropout_edge(0.0))
    c.custom("dropout 1 returns zeros", _dropout_edge(1.0))
    c.custom("dropout 1.5 raises ValueError", _dropout_invalid(1.5))
    # Hidden rates are drawn from the builder's seed.
    high = round(float(c.rng.uniform(0.7, 0.9)), 2)
    c.custom("a high dropout rate on float64 input", _dropout_statistics(high, "float64"),
             hidden=True)
    negative = -round(float(c.rng.uniform(0.05, 0.5)), 2)
    c.custom("a negative dropout raises ValueError", _dropout_invalid(negative), hidden=True)


# DropoutMLP ----------------------------------------------------------------------


# Examples in a DropoutMLP case's batch.
DROPOUT_MLP_BATCH = 8
# DropoutMLP arguments (num_outputs, num_hiddens1, num_hiddens2, dropout1,
# dropout2) and image shapes. The public model has no dropout after the first
# hidden layer and half after the second: its training output is then the
# inference network with each unit of the second hidden layer zeroed or scaled
# by 1 / (1 - 0.5), checked unit by unit (num_outputs >= num_hiddens2 lets the
# output determine that layer). The hidden model has other sizes and dropout
# after the first hidden layer only.
PUBLIC_MLP_ARGS = (10, 16, 8, 0.0, 0.5)
PUBLIC_MLP_IMAGES = (6, 6, 1)
HIDDEN_MLP_ARGS = (3, 12, 9, 0.6, 0.0)
HIDDEN_MLP_IMAGES = (5, 5, 1)
# A training output within this share of the inference output's scale (at
# least 1) of it counts as unchanged: no dropout was active.
SAME_OUTPUT_RTOL = 1e-6


def _checked_inference(ctx, args, X):
    """Build the student's model on `args` and check its inference on `X`.

    With `training=False` the output must equal Flatten -> Dense relu ->
    Dense relu -> Dense recomputed from the model's own weights, and a plain
    call must give the same. Returns `(net, layers, inference)`: the model,
    its `[(kernel, bias), ...]` and its inference output.
    """
    num_outputs, num_hiddens1, num_hiddens2 = args[:3]
    net = ctx.student(*args)
    if not ctx.is_instance(net, keras.Model):
        name = getattr(net, "type_name", None) or type(net).__name__
        ctx.fail(f"DropoutMLP(...) is a {name}, not a keras.Model")
    ctx.guard(net, X, training=False)  # builds the model's variables
    shapes = ctx.probe(trainable_shapes, net)
    if not isinstance(shapes, list) or not all(isinstance(s, tuple) for s in shapes):
        ctx.fail("your model's variables could not be read")
    num_inputs = int(np.prod(X.shape[1:]))
    candidates = dense_candidates(shapes, [((num_inputs, num_hiddens1), (num_hiddens1,)),
                                           ((num_hiddens1, num_hiddens2), (num_hiddens2,)),
                                           ((num_hiddens2, num_outputs), (num_outputs,))])
    if not candidates:
        ctx.fail("could not find three Dense layers of the expected sizes",
                 hint="Flatten -> Dense(num_hiddens1, relu) -> dropout -> "
                      "Dense(num_hiddens2, relu) -> dropout -> Dense(num_outputs)")
    # The grader sets every weight and recomputes the output from its own values.
    values = drawn_values(ctx.rng, shapes)
    ctx.probe(assign_variables, net, values, "trainable_variables")
    inference = to_array(ctx.guard(net, X, training=False), "your inference output")
    candidates = [[(values[k], values[b]) for k, b in found] for found in candidates]
    flat = X.numpy()
    # The first assignment that reproduces the output; else the most likely
    # one, whose comparison below fails with its message and hint.
    layers = next((found for found in candidates if compare_values(
        inference, mlp_forward(flat, found), input_dtypes=("float32",)).passed),
        candidates[0])
    ctx.compare(inference, mlp_forward(flat, layers),
                what="your output with training=False",
                mistakes={"the last layer outputs logits: no softmax":
                          lambda: mlp_forward(flat, layers, softmax=True)},
                hint="with training=False the model must not drop anything; "
                     "relu on both hidden layers",
                input_dtypes=("float32",))
    default = to_array(ctx.guard(net, X), "your output with no training argument")
    ctx.compare(default, inference, what="your output when called as net(X)",
                hint="training=None (a plain call) is inference: no dropout")
    return net, layers, inference


def _training_output(ctx, net, X, inference):
    """The output with `training=True`, which must differ from `inference`."""
    ctx.reseed()
    training = to_array(ctx.guard(net, X, training=True), "your training output")
    if training.shape != inference.shape or not np.all(np.isfinite(training)):
        ctx.fail("your output with training=True is not finite or has the wrong shape")
    if np.max(np.abs(training - inference)) <= SAME_OUTPUT_RTOL * max(
            1.0, np.abs(inference).max()):
        ctx.fail("with training=True your model gives the same output as in "
                 "inference: dropout is never active",
                 hint="accept `training` in call() and apply dropout only "
                      "`if training:`, after each hidden layer")
    return training


def _public_inference_case(public_model):
    """Case: the public model's inference equals its Dense layers (also as net(X))."""

    def run(ctx):
        public_model(ctx)
        return Comparison(True, "inference matches the Dense layers")

    return run


def _public_training_case(public_model, X):
    """Case: with training=True the public model (dropout1 0, dropout2 0.5) leaves
    the first hidden layer intact and zeroes or scales by 1 / (1 - 0.5) each unit
    of the second: the training output is reproduced from the model's weights
    with the units the output shows were kept."""

    def run(ctx):
        net, layers, inference = public_model(ctx)
        training = _training_output(ctx, net, X, inference)
        flat = X.numpy()
        second = np.maximum(mlp_forward(flat, layers[:2]), 0.0)  # relu(H1 W2 + b2)
        dropout1, dropout2 = PUBLIC_MLP_ARGS[3:]
        scaled = second / (1.0 - dropout2)
        W3, b3 = layers[2]
        # The second hidden layer's values the output implies, unit by unit
        # nearer to "kept" or to "dropped".
        implied = np.linalg.lstsq(W3.T.astype("float64"), (training - b3).T,
                                  rcond=None)[0].T
        kept = np.abs(implied - scaled) <= np.abs(implied)
        return ctx.compare(training, (kept * scaled) @ W3 + b3,
                           what="your output with training=True",
                           hint=f"with dropout1={dropout1:g} and dropout2={dropout2:g} only "
                                "the second hidden layer may drop units, and kept units are "
                                "divided by 1 - dropout2: use the dropout1 and dropout2 "
                                "arguments, not fixed rates",
                           input_dtypes=("float32",))

    return run


def _hidden_case(X):
    """Case: other sizes; inference equals the Dense layers and dropout1 alone
    (dropout2 0) changes the training output."""

    def run(ctx):
        net, _, inference = _checked_inference(ctx, HIDDEN_MLP_ARGS, X)
        _training_output(ctx, net, X, inference)
        return Comparison(True, "inference matches the Dense layers; training=True drops units")

    return run


@exercise("DropoutMLP", chapter=CHAPTER, points=3, reference=kerasdl.DropoutMLP,
          kind="model", reuses=("dropout_layer",))
def dropout_mlp_cases(c):
    """Inference output recomputed from the Dense weights; in training, dropout at
    the given rates after each hidden layer. The public cases share one model."""
    public_X = c.uniform((DROPOUT_MLP_BATCH, *PUBLIC_MLP_IMAGES))
    hidden_X = c.uniform((DROPOUT_MLP_BATCH, *HIDDEN_MLP_IMAGES))
    built = {}  # this check's public model, built by the first case that needs it

    def public_model(ctx):
        if "model" not in built:
            built["model"] = _checked_inference(ctx, PUBLIC_MLP_ARGS, public_X)
        return built["model"]

    c.custom("(10, 16, 8, 0, 0.5) on (6, 6, 1) images: inference equals the Dense layers",
             _public_inference_case(public_model), weight=2)
    c.custom("same model, training=True: only the second hidden layer drops units",
             _public_training_case(public_model, public_X))
    c.custom("other sizes: dropout after the first hidden layer only",
             _hidden_case(hidden_X), hidden=True)

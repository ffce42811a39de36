"""Checks of chapter 5, Multilayer perceptrons.

Activations (`relu`, `sigmoid`, `tanh`) compare values, also at +-1000 for
`sigmoid`; their derivatives compare with `GradientTape` and float64 finite
differences, x = 0 included (a derivative taken by `GradientTape` through
`|x|` is 0 there: a known mistake with its hint); `mlp` compares logits;
`mlp_model` checks the layer structure and recomputes the student's model in
float64 from its own weights.
"""

import keras
import numpy as np
import tensorflow as tf

import kerasdl
from grader.checks._dense_layers import drawn_values
from grader.compare import to_array
from grader.models import parameter_counts
from grader.probes import probe
from grader.registry import exercise

CHAPTER = "ch05_mlp"


def _f64(x):
    return tf.cast(x, tf.float64)


# Activations -------------------------------------------------------------------------


@exercise("relu", chapter=CHAPTER, points=1, reference=kerasdl.relu)
def relu_cases(c):
    """Student `relu` equals `max(x, 0)` elementwise."""
    mistakes = {"relu keeps positive values and zeroes negative ones: max(x, 0)":
                lambda x: tf.abs(_f64(x))}
    c.values("random (3, 4)", c.normal((3, 4)), mistakes=mistakes)
    c.values("with exact zeros", c.tensor([-2.0, 0.0, 0.0, 3.0]), mistakes=mistakes)
    c.values("float64 input with more axes", c.normal((2, 3, 4), dtype="float64"),
             mistakes=mistakes, hidden=True)


def _sigmoid_sign(x):
    return 1 / (1 + tf.exp(_f64(x)))


@exercise("sigmoid", chapter=CHAPTER, points=1, reference=kerasdl.sigmoid)
def sigmoid_cases(c):
    """Student `sigmoid` equals `1 / (1 + exp(-x))`, finite for |x| <= 1000."""
    mistakes = {"sigmoid(x) = 1 / (1 + exp(-x)): mind the sign": _sigmoid_sign}
    hint = ("for large |x| take exp of a non-positive number only, built from x itself "
            "(tf.exp(tf.where(x >= 0, -x, x))), or use tf.sigmoid")
    c.values("random (3, 4)", c.normal((3, 4)), mistakes=mistakes)
    c.values("x = -1000, 0, 1000", c.tensor([-1000.0, 0.0, 1000.0]), mistakes=mistakes,
             hint=hint)
    c.values("float64 input with large |x|",
             c.uniform((50,), -1000.0, 1000.0, dtype="float64"),
             mistakes=mistakes, hint=hint, hidden=True)


def _tanh_from_sigmoid(x):
    return 2 * tf.sigmoid(_f64(x)) - 1


@exercise("tanh", chapter=CHAPTER, points=1, reference=kerasdl.tanh)
def tanh_cases(c):
    """Student `tanh` equals `(1 - exp(-2x)) / (1 + exp(-2x))`."""
    mistakes = {"tanh(x) = 2 sigmoid(2x) - 1 (note the 2x)": _tanh_from_sigmoid}
    c.values("random (3, 4)", c.normal((3, 4)), mistakes=mistakes)
    c.values("x in [-20, 20]", c.uniform((30,), -20.0, 20.0), mistakes=mistakes,
             hint="avoid inf / inf: use 2 sigmoid(2x) - 1 with your stable sigmoid, or tf.tanh")
    c.values("float64 input", c.normal((5,), dtype="float64"), mistakes=mistakes,
             hidden=True)


# Derivatives ------------------------------------------------------------------------

# The special points of the derivatives: both branches of a stable sigmoid meet at 0.
_AROUND_ZERO = [-2.0, -1e-3, 0.0, 1e-3, 3.0]


def _spiked_at_zero(derivative):
    """`derivative`, but 0 at x = 0: what GradientTape gives through `exp(-|x|)`.

    A sigmoid written as `tf.where(x >= 0, 1 / (1 + e), e / (1 + e))` with
    `e = exp(-|x|)` has the right values, but autodiff takes `d|x|/dx = 0` at 0,
    so its tape derivative (and that of `tanh = 2 sigmoid(2x) - 1` on it) is 0
    there instead of 1/4 (tanh: 1).
    """
    def wrong(x):
        x = _f64(x)
        return tf.where(tf.equal(x, 0.0), tf.zeros_like(x), derivative(x))

    return wrong


def _spike_hint(value):
    return (f"the derivative at x = 0 is {value}, not 0: GradientTape through tf.abs (e.g. "
            "a sigmoid built on exp(-|x|)) takes d|x|/dx = 0 at 0; use the closed form, or "
            "build exp's argument from x itself: tf.where(x >= 0, -x, x)")



@exercise("relu_grad", chapter=CHAPTER, points=1, reference=kerasdl.relu_grad)
def relu_grad_cases(c):
    """Student `relu_grad` equals the derivative by GradientTape; 0 at 0."""
    mistakes = {"relu_grad(0) is 0 here: use x > 0, not x >= 0":
                lambda x: tf.cast(_f64(x) >= 0, tf.float64)}
    c.gradient("random (10,)", c.normal((10,)), forward=tf.nn.relu, mistakes=mistakes,
               allow_int=True)
    c.gradient("x = -1, 0, 2", c.tensor([-1.0, 0.0, 2.0]), forward=tf.nn.relu,
               mistakes=mistakes, allow_int=True)
    c.gradient("float64 input with exact zeros",
               tf.nn.relu(c.normal((3, 3), dtype="float64")) - tf.nn.relu(
                   c.normal((3, 3), dtype="float64")),
               forward=tf.nn.relu, mistakes=mistakes, allow_int=True, hidden=True)


@exercise("sigmoid_grad", chapter=CHAPTER, points=1, reference=kerasdl.sigmoid_grad)
def sigmoid_grad_cases(c):
    """Student `sigmoid_grad` equals `s(x) (1 - s(x))` (tape and finite differences)."""
    mistakes = {"the derivative is s(x) * (1 - s(x)) with s = sigmoid(x)":
                lambda x: tf.sigmoid(_f64(x)) * (1 - _f64(x)),
                "the derivative is s(x) * (1 - s(x)), not s(x)":
                lambda x: tf.sigmoid(_f64(x)),
                _spike_hint(0.25):
                _spiked_at_zero(lambda x: tf.sigmoid(x) * (1 - tf.sigmoid(x)))}
    c.gradient("random (10,) by GradientTape", c.normal((10,)), forward=tf.sigmoid,
               mistakes=mistakes)
    c.gradient("x = -2, -0.001, 0, 0.001, 3", c.tensor(_AROUND_ZERO), forward=tf.sigmoid,
               mistakes=mistakes)
    c.gradient("random (2, 5) by finite differences", c.normal((2, 5), std=3.0),
               forward=tf.sigmoid, method="finite_difference", mistakes=mistakes)
    c.gradient("float64 input with large |x|",
               c.uniform((20,), -30.0, 30.0, dtype="float64"),
               forward=tf.sigmoid, mistakes=mistakes, hidden=True)


@exercise("tanh_grad", chapter=CHAPTER, points=1, reference=kerasdl.tanh_grad)
def tanh_grad_cases(c):
    """Student `tanh_grad` equals `1 - tanh(x)^2` (tape and finite differences)."""
    mistakes = {"the derivative is 1 - tanh(x)^2, not 1 - x^2":
                lambda x: 1 - _f64(x) ** 2,
                "the derivative is 1 - tanh(x)^2, not 1 - tanh(x)":
                lambda x: 1 - tf.tanh(_f64(x)),
                _spike_hint(1): _spiked_at_zero(lambda x: 1 - tf.tanh(x) ** 2)}
    c.gradient("random (10,) by GradientTape", c.normal((10,)), forward=tf.tanh,
               mistakes=mistakes)
    c.gradient("x = -2, -0.001, 0, 0.001, 3", c.tensor(_AROUND_ZERO), forward=tf.tanh,
               mistakes=mistakes)
    c.gradient("random (2, 5) by finite differences", c.normal((2, 5), std=2.0),
               forward=tf.tanh, method="finite_difference", mistakes=mistakes)
    c.gradient("float64 matrix", c.normal((4, 4), dtype="float64"), forward=tf.tanh,
               mistakes=mistakes, hidden=True)


# mlp -------------------------------------------------------------------------------


def _mlp_oracle(X, params, hidden=True, softmax=False):
    W1, b1, W2, b2 = (np.asarray(p, dtype=np.float64) for p in params)
    X = np.asarray(X, dtype=np.float64).reshape(-1, W1.shape[0])  # (N, ...) -> (N, d)
    H = X @ W1 + b1
    if hidden:
        H = np.maximum(H, 0.0)
    O = H @ W2 + b2
    if softmax:
        O = np.exp(O - O.max(axis=1, keepdims=True))
        O = O / O.sum(axis=1, keepdims=True)
    return O


_MLP_MISTAKES = {
    "apply relu to the hidden layer: relu(X W1 + b1) W2 + b2":
        lambda X, params: _mlp_oracle(X, params, hidden=False),
    "return the logits: no softmax on the output":
        lambda X, params: _mlp_oracle(X, params, softmax=True),
}


def _mlp_params(c, num_inputs, num_hiddens, num_outputs, dtype="float32", variables=False):
    """`[W1, b1, W2, b2]`: `tf.Variable`s as in the notes, or tensors (cheaper to copy)."""
    params = [c.normal((num_inputs, num_hiddens), dtype=dtype),
              c.normal((num_hiddens,), dtype=dtype),
              c.normal((num_hiddens, num_outputs), dtype=dtype),
              c.normal((num_outputs,), dtype=dtype)]
    return [tf.Variable(p) for p in params] if variables else params


@exercise("mlp", chapter=CHAPTER, points=2, reference=kerasdl.mlp, reuses=("relu",))
def mlp_cases(c):
    """Student `mlp` returns the logits `relu(X W1 + b1) W2 + b2`."""
    c.values("images (4, 4, 4, 1), 16 -> 8 -> 3", c.normal((4, 4, 4, 1)),
             _mlp_params(c, 16, 8, 3, variables=True), mistakes=_MLP_MISTAKES,
             hint="reshape X to (-1, W1.shape[0]) first")
    c.values("flat X (5, 6), 6 -> 10 -> 4", c.normal((5, 6)), _mlp_params(c, 6, 10, 4),
             mistakes=_MLP_MISTAKES)
    c.values("float64 images and parameters", c.normal((2, 3, 3, 1), dtype="float64"),
             _mlp_params(c, 9, 5, 2, dtype="float64"), mistakes=_MLP_MISTAKES, hidden=True)


# mlp_model -------------------------------------------------------------------------


@probe
def _declared_input_shape(net):
    """The input shape a model was built with (`keras.Input`), else None (a probe)."""
    try:
        inputs = net.inputs
    except (AttributeError, ValueError):
        return None
    if not inputs or None in tuple(inputs[0].shape[1:]):
        return None
    return tuple(inputs[0].shape[1:])


@probe
def _dense_shapes(net):
    """Kernel and bias shapes of the model's top-level Dense layers, in order (a probe)."""
    return [tuple(tuple(int(d) for d in v.shape) for v in layer.weights[:2])
            for layer in net.layers if isinstance(layer, keras.layers.Dense)]


@probe
def _set_dense_weights(net, params):
    """Assign `[W1, b1, W2, b2]` to the model's two top-level Dense layers (a probe)."""
    dense = [layer for layer in net.layers if isinstance(layer, keras.layers.Dense)]
    for layer, (kernel, bias) in zip(dense, zip(params[::2], params[1::2])):
        layer.weights[0].assign(kernel)
        layer.weights[1].assign(bias)


def _mlp_model_case(num_hiddens, num_outputs, image_shape):
    """Case: Flatten, Dense relu, Dense logits: with weights the grader sets, the
    output equals the MLP recomputed from those weights."""

    def run(ctx):
        net = ctx.student(num_hiddens, num_outputs)
        if not ctx.is_instance(net, keras.Model):
            name = getattr(net, "type_name", None) or type(net).__name__
            ctx.fail(f"your function returned a {name}, not a keras.Model",
                     hint="return keras.Sequential([...])")
        shape = ctx.probe(_declared_input_shape, net) or image_shape
        X = tf.constant(ctx.rng.normal(size=(4, *shape)), dtype="float32")
        ctx.guard(net, X, training=False)  # builds a model without keras.Input
        shapes = ctx.probe(_dense_shapes, net)
        if not isinstance(shapes, list) or len(shapes) != 2:
            count = len(shapes) if isinstance(shapes, list) else "no"
            ctx.fail(f"your model has {count} Dense layers, expected 2",
                     hint="Flatten, Dense(num_hiddens, relu), Dense(num_outputs)")
        units = [tuple(kernel)[-1] if len(kernel) == 2 else None for kernel, *_ in shapes]
        if units != [num_hiddens, num_outputs] or any(len(pair) != 2 for pair in shapes):
            ctx.fail(f"your Dense layers have {units[0]} and {units[1]} units, "
                     f"expected {num_hiddens} and {num_outputs}")
        params = drawn_values(ctx.rng, [shape for pair in shapes for shape in pair])
        ctx.probe(_set_dense_weights, net, params)
        O = to_array(ctx.guard(net, X, training=False), "your model's output")
        flat = X.numpy().reshape(X.shape[0], -1)  # (N, H, W, C) -> (N, H*W*C)
        mistakes = {
            "use activation='relu' on the hidden Dense layer":
                lambda: _mlp_oracle(flat, params, hidden=False),
            "the last Dense layer outputs logits: no activation there":
                lambda: _mlp_oracle(flat, params, softmax=True),
        }
        result = ctx.compare(O, _mlp_oracle(flat, params),
                             what="your model's output", mistakes=mistakes,
                             input_dtypes=("float32",))

        def reference_count():
            reference = ctx.reference(num_hiddens, num_outputs)
            reference(X)
            return reference.count_params()

        want_count = ctx.remember("count_params", reference_count)
        got_count = ctx.probe(parameter_counts, net)
        if not isinstance(got_count, tuple) or sum(got_count) != want_count:
            total = sum(got_count) if isinstance(got_count, tuple) else "?"
            ctx.fail(f"your model has {total} parameters, expected {want_count}")
        return result

    return run


@exercise("mlp_model", chapter=CHAPTER, points=2, reference=kerasdl.mlp_model, kind="model")
def mlp_model_cases(c):
    """The model is Flatten, Dense(relu), Dense logits; recomputed from its weights."""
    c.custom("num_hiddens 32, num_outputs 10, images (28, 28, 1)",
             _mlp_model_case(32, 10, (28, 28, 1)))
    c.custom("other layer sizes and image shape",
             _mlp_model_case(7, 3, (5, 5, 1)), hidden=True)

"""Checks of chapter 6, Numerical stability and initialization.

Initializers are random: their samples are checked by moments and bounds on
fixed seeds (`c.sample`), on a dense and a conv kernel shape chosen so that
the known mistakes (fan_in only, fans without the receptive field, the wrong
limit) give clearly different standard deviations.
"""

import math

import keras
import tensorflow as tf

import kerasdl
from grader.compare import Comparison, Normal, Uniform, compare_sample, to_array
from grader.probes import probe
from grader.registry import exercise

CHAPTER = "ch06_numerical_stability"

# A dense kernel (fan_in 784, fan_out 256) and a conv kernel (5x5, 6 -> 16
# channels: fan_in 150, fan_out 400).
DENSE_SHAPE = (784, 256)
CONV_SHAPE = (5, 5, 6, 16)
HIDDEN_SHAPE = (300, 40)


def _fans(shape):
    """Keras-style fans: receptive field times channels for conv kernels."""
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def _std(fan_in, fan_out):
    return math.sqrt(2.0 / (fan_in + fan_out))


def _normal_mistakes(shape):
    fan_in, fan_out = _fans(shape)
    mistakes = {
        "use both fans: std = sqrt(2 / (fan_in + fan_out)), not sqrt(1 / fan_in)":
            Normal(0.0, math.sqrt(1.0 / fan_in)),
        "std = sqrt(2 / (fan_in + fan_out)): the variance is 2 / (fan_in + fan_out), "
        "its square root is the std": Normal(0.0, 2.0 / (fan_in + fan_out)),
    }
    if len(shape) > 2:
        mistakes["multiply both fans by the receptive field k_h * k_w"] = Normal(
            0.0, _std(shape[-2], shape[-1]))
    return mistakes


def _uniform_mistakes(shape):
    fan_in, fan_out = _fans(shape)
    mistakes = {
        "use both fans: a = sqrt(6 / (fan_in + fan_out)), not sqrt(3 / fan_in)":
            Uniform(-math.sqrt(3.0 / fan_in), math.sqrt(3.0 / fan_in)),
        "the limit is a = sqrt(6 / (fan_in + fan_out)), not sqrt(2 / (fan_in + fan_out))":
            Uniform(-_std(fan_in, fan_out), _std(fan_in, fan_out)),
        "sample uniformly in [-a, a], not from a normal distribution":
            Normal(0.0, _std(fan_in, fan_out)),
    }
    if len(shape) > 2:
        limit = math.sqrt(6.0 / (shape[-2] + shape[-1]))
        mistakes["multiply both fans by the receptive field k_h * k_w"] = Uniform(-limit, limit)
    return mistakes


def _uniform(shape):
    limit = math.sqrt(6.0 / sum(_fans(shape)))
    return Uniform(-limit, limit)


@exercise("xavier_normal", chapter=CHAPTER, points=2, reference=kerasdl.xavier_normal,
          random_draws=True)
def xavier_normal_cases(c):
    """Samples have mean 0 and std sqrt(2 / (fan_in + fan_out))."""
    for name, shape, hidden in (("dense (784, 256)", DENSE_SHAPE, False),
                                ("conv (5, 5, 6, 16)", CONV_SHAPE, False),
                                ("another dense kernel", HIDDEN_SHAPE, True)):
        c.sample(name, shape, dist=Normal(0.0, _std(*_fans(shape))), shape=shape,
                 mistakes=_normal_mistakes(shape), hidden=hidden)


@exercise("xavier_uniform", chapter=CHAPTER, points=2, reference=kerasdl.xavier_uniform,
          random_draws=True)
def xavier_uniform_cases(c):
    """Samples lie in [-a, a] with the moments of U(-a, a)."""
    for name, shape, hidden in (("dense (784, 256)", DENSE_SHAPE, False),
                                ("conv (5, 5, 6, 16)", CONV_SHAPE, False),
                                ("another dense kernel", HIDDEN_SHAPE, True)):
        c.sample(name, shape, dist=_uniform(shape), shape=shape,
                 mistakes=_uniform_mistakes(shape), hidden=hidden)


def _initializer_sample(shape):
    def run(ctx):
        init = ctx.student(seed=1)
        if not ctx.is_instance(init, keras.initializers.Initializer):
            name = getattr(init, "type_name", None) or type(init).__name__
            ctx.fail(f"XavierUniform() is a {name}, not a "
                     "keras.initializers.Initializer", hint="subclass "
                     "keras.initializers.Initializer")
        values = ctx.guard(init, shape, dtype="float32")
        array = to_array(values, "the initial weights")
        if array.shape != shape:
            ctx.fail(f"the initial weights have shape {array.shape}, expected {shape}")
        result = compare_sample(array, _uniform(shape), what="the initial weights")
        if not result.passed:
            hint = next((h for h, d in _uniform_mistakes(shape).items()
                         if compare_sample(array, d).passed), None)
            result.raise_if_failed(hint=hint)
        return result

    return run


def _initializer_config(ctx):
    init = ctx.student(seed=3)
    config = ctx.guard(init.get_config)
    if not isinstance(config, dict) or config.get("seed") != 3:
        ctx.fail(f"get_config() returned {config!r}, expected a dict with seed 3",
                 hint="return {'seed': self.seed} from get_config")
    clone = ctx.probe(_from_config, init, config)
    values = to_array(ctx.guard(clone, (40, 30)), "the weights of the clone")
    if values.shape != (40, 30):
        ctx.fail(f"the clone's weights have shape {values.shape}, expected (40, 30)")
    return Comparison(True, "get_config() round-trips the seed")


@probe
def _from_config(init, config):
    """`type(init).from_config(config)`: a clone of the initializer (a probe)."""
    return type(init).from_config(config)


@probe
def _dense_kernel(init, units, input_dim):
    """The kernel of `Dense(units, kernel_initializer=init)` built on `input_dim` (a probe)."""
    layer = keras.layers.Dense(units, kernel_initializer=init)
    layer.build((None, input_dim))
    return layer.kernel


def _initializer_in_dense(ctx):
    init = ctx.student()
    kernel = to_array(ctx.probe(_dense_kernel, init, 64, 500), "the Dense kernel")
    result = compare_sample(kernel, _uniform((500, 64)), what="the Dense kernel")
    result.raise_if_failed(hint="__call__(shape, dtype=None) must return the weights "
                                "for any shape")
    return result


@exercise("XavierUniform", chapter=CHAPTER, points=2, reference=kerasdl.XavierUniform,
          kind="class", random_draws=True)
def xavier_uniform_class_cases(c):
    """The initializer samples U(-a, a), round-trips its config and works in Dense."""
    c.custom("weights (784, 256)", _initializer_sample(DENSE_SHAPE), weight=2)
    c.custom("get_config round trip", _initializer_config)
    c.custom("a convolution kernel", _initializer_sample(CONV_SHAPE), hidden=True)
    c.custom("as a Dense kernel_initializer", _initializer_in_dense, hidden=True)


_SCALED_MISTAKES = {
    "scale and shift: 4 * sigmoid(x) - 2": lambda x: 4 * tf.sigmoid(tf.cast(x, tf.float64)),
    "4 * sigmoid(x) - 2 (shift by 2, not by 1)":
        lambda x: 4 * tf.sigmoid(tf.cast(x, tf.float64)) - 1,
    "scale the output, not the input: 4 * sigmoid(x) - 2, not sigmoid(4x) - 2":
        lambda x: tf.sigmoid(4 * tf.cast(x, tf.float64)) - 2,
}


@exercise("scaled_sigmoid", chapter=CHAPTER, points=1, reference=kerasdl.scaled_sigmoid,
          reuses=("sigmoid",))
def scaled_sigmoid_cases(c):
    """Student `scaled_sigmoid` equals `4 * sigmoid(x) - 2`."""
    c.values("random (3, 4)", c.normal((3, 4)), mistakes=_SCALED_MISTAKES)
    c.values("x = -1000, 0, 1000", c.tensor([-1000.0, 0.0, 1000.0]),
             mistakes=_SCALED_MISTAKES)
    c.values("float64 input", c.normal((6,), dtype="float64", std=4.0), mistakes=_SCALED_MISTAKES,
             hidden=True)



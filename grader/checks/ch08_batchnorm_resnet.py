"""Checks of chapter 8 (second part), Batch normalization and ResNet.

`batch_norm` compares `(Y, moving_mean, moving_var)` on dense and NHWC
inputs in training and inference (momentum 0.9 and 0.6, so a momentum
applied to the new statistic is caught). `BatchNorm` and `Residual` are
layers: their variables, behaviour on known inputs (a residual block with
zero conv weights returns `relu(x)`), training versus inference and outputs
with the reference's weights. `bn_lenet`, `resnet_block` and `resnet18` are
compared with the reference models through `grader.models`, in inference
and training mode (batch statistics, then the moving statistics).

Source: notes, 8.5 Batch Normalization, 8.6 ResNet.
"""

import keras
import numpy as np
import tensorflow as tf

import kerasdl
from grader.compare import Comparison, to_array
from grader.models import (
    ModelCases,
    build_layer_pair,
    compare_outputs,
    copy_reference_weights,
    seeded_reference,
)
from grader.probes import probe
from grader.registry import exercise

CHAPTER = "ch08_batchnorm_resnet"

# The notes' batch-norm constants (BatchNorm's defaults).
EPS = 1e-5
MOMENTUM = 0.9
# Parameter counts for one input channel and 10 classes (FACTS.md).
BN_LENET_COUNTS = (44_878, 452)
RESNET18_COUNTS = (11_178_378, 7_808)
FASHION_MNIST = (28, 28, 1)
RESIZED_96 = (96, 96, 1)
# ResNet-18 runs on any size >= 32: compare outputs on 32x32, a ninth of 96x96.
RESNET_EVAL = (32, 32, 1)


# batch_norm ------------------------------------------------------------------------


def _bn_np(X, gamma, beta, moving_mean, moving_var, eps, momentum, training, *,
           ddof=0, new_weight=False, batch_at_inference=False, axes=None, update=True):
    """Float64 batch norm with switches for the known mistakes."""
    X = np.asarray(X, dtype=np.float64)
    gamma, beta, moving_mean, moving_var = (np.asarray(v, dtype=np.float64) for v in
                                            (gamma, beta, moving_mean, moving_var))
    axes = tuple(range(X.ndim - 1)) if axes is None else axes
    if training or batch_at_inference:
        mean = X.mean(axis=axes)
        var = X.var(axis=axes, ddof=ddof)
        Y = gamma * (X - mean) / np.sqrt(var + eps) + beta
        if training and update:
            keep = (1 - momentum) if new_weight else momentum
            moving_mean = keep * moving_mean + (1 - keep) * mean
            moving_var = keep * moving_var + (1 - keep) * var
    else:
        Y = gamma * (X - moving_mean) / np.sqrt(moving_var + eps) + beta
    return Y, moving_mean, moving_var


_BN_MISTAKES = {
    "use the biased batch variance (divide by the number of values, ddof=0)":
        lambda *a: _bn_np(*a, ddof=1),
    "momentum is the weight of the OLD value: moving = momentum * moving + "
    "(1 - momentum) * batch": lambda *a: _bn_np(*a, new_weight=True),
    "at inference (training=False) use the moving statistics, not the batch's":
        lambda *a: _bn_np(*a, batch_at_inference=True),
    "for NHWC inputs take the statistics over N, H and W (every axis but the channels)":
        lambda *a: _bn_np(*a, axes=(0,)),
    "update the moving statistics in training and return the updated ones":
        lambda *a: _bn_np(*a, update=False),
}
_BN_OPTIONS = {"names": ("Y", "moving_mean", "moving_var")}


def _bn_inputs(c, shape, dtype="float32"):
    channels = shape[-1]
    X = c.normal(shape, dtype=dtype, mean=1.0, std=2.0)
    gamma = c.uniform((channels,), 0.5, 1.5, dtype=dtype)
    beta = c.normal((channels,), dtype=dtype)
    moving_mean = c.normal((channels,), dtype=dtype)
    moving_var = c.uniform((channels,), 0.5, 2.0, dtype=dtype)
    return X, gamma, beta, moving_mean, moving_var


@exercise("batch_norm", chapter=CHAPTER, points=3, reference=kerasdl.batch_norm)
def batch_norm_cases(c):
    """`(Y, moving_mean, moving_var)` in training and inference, dense and NHWC."""
    X = c.tensor([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]])
    ones, zeros = c.tensor([1.0, 1.0]), c.tensor([0.0, 0.0])
    c.values("notes' X (3, 2), training", X, ones, zeros, zeros, ones, EPS, MOMENTUM, True,
             mistakes=_BN_MISTAKES, **_BN_OPTIONS)
    c.values("dense (8, 3), training", *_bn_inputs(c, (8, 3)), EPS, MOMENTUM, True,
             mistakes=_BN_MISTAKES, **_BN_OPTIONS)
    c.values("NHWC (4, 3, 5, 2), training, momentum 0.6", *_bn_inputs(c, (4, 3, 5, 2)), EPS,
             0.6, True, mistakes=_BN_MISTAKES, **_BN_OPTIONS)
    c.values("dense (6, 4), inference", *_bn_inputs(c, (6, 4)), EPS, MOMENTUM, False,
             mistakes=_BN_MISTAKES, **_BN_OPTIONS)
    c.values("NHWC (3, 4, 4, 3), inference", *_bn_inputs(c, (3, 4, 4, 3)), EPS, MOMENTUM,
             False, mistakes=_BN_MISTAKES, **_BN_OPTIONS)
    c.values("float64 images in training, another eps and momentum",
             *_bn_inputs(c, (2, 3, 3, 4), dtype="float64"), 1e-3, 0.8, True,
             mistakes=_BN_MISTAKES, hidden=True, **_BN_OPTIONS)
    c.values("dense inference with a large eps", *_bn_inputs(c, (5, 2)), 0.1, MOMENTUM, False,
             mistakes=_BN_MISTAKES, hidden=True, **_BN_OPTIONS)


# BatchNorm -------------------------------------------------------------------------


@probe
def _bn_variables(layer):
    """Values of a layer's 1-D trainable and non-trainable variables (a probe)."""
    return ([v.numpy() for v in layer.trainable_weights if len(v.shape) == 1],
            [v.numpy() for v in layer.non_trainable_weights if len(v.shape) == 1],
            len(layer.trainable_weights), len(layer.non_trainable_weights))


@probe
def _set_bn_trainable(layer, values):
    """Assign `{position: value}` to the layer's 1-D trainable variables (a probe)."""
    vectors = [v for v in layer.trainable_weights if len(v.shape) == 1]
    for position, value in values:
        vectors[position].assign(value)


@probe
def _ensure_built(layer, shape):
    """Build a layer for inputs of `shape` if it is not built (a probe)."""
    if not layer.built:
        layer.build(tuple(shape))
    return len(layer.weights)


def _find_bn_variables(ctx, layer):
    """Positions of the student's gamma, beta (trainable) and moving mean, moving
    variance (non-trainable), found by their initial values."""
    state = ctx.probe(_bn_variables, layer)
    trainable, frozen, num_trainable, num_frozen = state
    if len(trainable) != 2 or len(frozen) != 2:
        hint = None
        if num_trainable == 4 and not frozen:
            hint = ("create the moving statistics with add_weight(..., trainable=False): "
                    "the optimizer must not change them")
        ctx.fail(f"your layer has {num_trainable} trainable and "
                 f"{num_frozen} non-trainable variables, expected 2 "
                 "(gamma, beta) and 2 (moving mean, moving variance)", hint=hint)

    def by_value(pair, value, names):
        first, second = (np.asarray(v, dtype="float64") for v in pair)
        if np.allclose(first, value) and not np.allclose(second, value):
            return 0, 1
        if np.allclose(second, value) and not np.allclose(first, value):
            return 1, 0
        ctx.fail(f"initialise {names[0]} to {value:g} and {names[1]} to {1 - value:g}")

    gamma, beta = by_value(trainable, 1.0, ("gamma", "beta"))
    moving_var, moving_mean = by_value(frozen, 1.0, ("the moving variance", "the moving mean"))
    return gamma, beta, moving_mean, moving_var


def _batchnorm_case(shape, steps):
    """Case: a fresh layer; `steps` is a list of 'train'/'infer'/'default' calls."""

    def run(ctx):
        layer = ctx.student()
        if not ctx.is_instance(layer, keras.layers.Layer):
            name = getattr(layer, "type_name", None) or type(layer).__name__
            ctx.fail(f"BatchNorm() is a {name}, not a keras.layers.Layer")
        if not ctx.probe(_ensure_built, layer, shape):  # variables created lazily in call()
            X0 = tf.constant(ctx.rng.normal(1.0, 2.0, size=shape), dtype="float32")
            ctx.guard(layer, X0, training=False)
        gamma, beta, moving_mean, moving_var = _find_bn_variables(ctx, layer)
        channels = shape[-1]
        state = {"mean": np.zeros(channels), "var": np.ones(channels)}
        g, b = ctx.rng.uniform(0.5, 1.5, channels), ctx.rng.normal(size=channels)
        ctx.probe(_set_bn_trainable, layer, [(gamma, g.astype("float32")),
                                             (beta, b.astype("float32"))])
        result = None
        for number, step in enumerate(steps, start=1):
            X = tf.constant(ctx.rng.normal(1.0, 2.0, size=shape), dtype="float32")
            training = step == "train"
            args = (X, g, b, state["mean"], state["var"], EPS, MOMENTUM, training)
            want, new_mean, new_var = _bn_np(*args)
            kwargs = {} if step == "default" else {"training": training}
            got = ctx.guard(layer, X, **kwargs)
            mode = {"train": "training=True", "infer": "training=False",
                    "default": "no training argument"}[step]
            mistakes = {h: (lambda f=f: f(*args)[0]) for h, f in _BN_MISTAKES.items()}
            if step == "default":
                mistakes = {"a call without `training` is inference: use the moving "
                            "statistics": lambda: _bn_np(*args[:-1], True)[0]}
            result = ctx.compare(got, want, what=f"your output (call {number}, {mode})",
                                 mistakes=mistakes, input_dtypes=("float32",))
            frozen = ctx.probe(_bn_variables, layer)[1]
            ctx.compare(frozen[moving_mean], new_mean,
                        what=f"the moving mean after call {number} ({mode})",
                        mistakes={h: (lambda f=f: f(*args)[1]) for h, f in
                                  _BN_MISTAKES.items()},
                        hint="update the moving statistics (assign) only when training",
                        input_dtypes=("float32",))
            ctx.compare(frozen[moving_var], new_var,
                        what=f"the moving variance after call {number} ({mode})",
                        mistakes={h: (lambda f=f: f(*args)[2]) for h, f in
                                  _BN_MISTAKES.items()},
                        hint="update the moving statistics (assign) only when training",
                        input_dtypes=("float32",))
            state["mean"], state["var"] = new_mean, new_var
        return Comparison(True, f"{len(steps)} calls match, moving statistics included",
                          result.max_abs_err, result.max_rel_err)

    return run


@probe
def _in_sequential(layer, X):
    """`Sequential([Input((3,)), Dense(4), layer])(X, training=True)` and its number
    of trainable variables (a probe)."""
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), layer])
    return net(X, training=True), len(net.trainable_weights)


def _batchnorm_in_sequential_case(ctx):
    """Case: usable in keras.Sequential (training optional) with a Dense layer."""
    layer = ctx.student()
    X = tf.constant(ctx.rng.normal(size=(5, 3)), dtype="float32")
    out, trainable = ctx.probe(_in_sequential, layer, X)
    out = to_array(out, "the output of Sequential([Dense, yours])")
    if out.shape != (5, 4):
        ctx.fail(f"Sequential([Dense(4), yours]) gives shape {out.shape}, expected (5, 4)")
    if trainable != 4:
        ctx.fail(f"the Sequential model has {trainable} trainable variables, expected 4 "
                 "(Dense kernel and bias, gamma, beta)",
                 hint="moving statistics are non-trainable (trainable=False)")
    return Comparison(True, "works inside keras.Sequential; 4 trainable variables")


@exercise("BatchNorm", chapter=CHAPTER, points=3, reference=kerasdl.BatchNorm, kind="class",
          reuses=("batch_norm",))
def batchnorm_cases(c):
    """BatchNorm layer: variables, training then inference, dense and NHWC inputs."""
    c.custom("dense (6, 3): train, train, infer", _batchnorm_case((6, 3), ["train", "train",
                                                                            "infer"]),
             weight=2)
    c.custom("NHWC (4, 3, 3, 2): train, infer", _batchnorm_case((4, 3, 3, 2),
                                                                ["train", "infer"]))
    c.custom("no training argument is inference", _batchnorm_case((5, 2), ["train",
                                                                          "default"]))
    c.custom("inside keras.Sequential", _batchnorm_in_sequential_case)
    c.custom("images: inference first, then two training steps",
             _batchnorm_case((2, 4, 5, 3), ["infer", "train", "train"]), hidden=True)


# bn_lenet --------------------------------------------------------------------------


def _bn_lenet_hints(mismatch):
    expected, found = mismatch.expected, mismatch.found
    if expected is not None and found is not None and expected.kind == "average pooling" \
            and found.kind == "max pooling":
        return "BN-LeNet keeps LeNet's average pooling (AveragePooling2D), not max pooling"
    return None


@exercise("bn_lenet", chapter=CHAPTER, points=3, reference=kerasdl.bn_lenet, kind="model",
          reuses=("BatchNorm", "batch_norm"))
def bn_lenet_cases(c):
    """BN-LeNet: counts, structure, outputs in inference and training mode."""
    cases = ModelCases(input_shape=FASHION_MNIST, batch=4, hints=[_bn_lenet_hints],
                       what="your BN-LeNet")
    c.custom("44,878 + 452 parameters", cases.counts(BN_LENET_COUNTS))
    c.custom("layer-by-layer structure", cases.structure())
    c.custom("same outputs with the reference's weights", cases.outputs())
    c.custom("training mode and moving statistics", cases.training())


# Residual --------------------------------------------------------------------------


def _residual_shape_case(args, input_shape, want):
    def run(ctx):
        layer = ctx.student(*args)
        if not ctx.is_instance(layer, keras.layers.Layer):
            name = getattr(layer, "type_name", None) or type(layer).__name__
            ctx.fail(f"Residual(...) is a {name}, not a keras.layers.Layer")
        X = tf.constant(ctx.rng.normal(size=input_shape), dtype="float32")
        got = tuple(to_array(ctx.guard(layer, X), "your output").shape)
        if got != tuple(want):
            hint = None
            if len(args) > 2 and got[1:3] == input_shape[1:3]:
                hint = "the first 3x3 conv and the 1x1 shortcut conv both use `strides`"
            ctx.fail(f"your block maps {input_shape} to {got}, expected {tuple(want)}",
                     hint=hint)
        return Comparison(True, f"your block maps {input_shape} to {got}")

    return run


@probe
def _zero_convs(layer):
    """Set every convolution weight of a block to zero (a probe)."""
    for sub in layer._flatten_layers(include_self=False, recursive=True):
        if isinstance(sub, keras.layers.Conv2D):
            for variable in sub.weights:
                variable.assign(tf.zeros(variable.shape, variable.dtype))


def _residual_zero_case(ctx):
    """Case: all conv weights 0 -> the block returns relu(X), in both modes."""
    layer = ctx.student(3)
    X = tf.constant(ctx.rng.normal(size=(4, 5, 5, 3)), dtype="float32")
    ctx.guard(layer, X)
    ctx.probe(_zero_convs, layer)
    x = X.numpy().astype("float64")
    result = None
    for training in (False, True):
        got = ctx.guard(layer, X, training=training)
        result = ctx.compare(got, np.maximum(x, 0.0),
                             what=f"your output with zero conv weights (training={training})",
                             mistakes={"add the input once: relu(Y + X), not relu(Y + 2X)":
                                       np.maximum(2 * x, 0.0),
                                       "apply relu after adding the input: relu(Y + X)":
                                       x},
                             input_dtypes=("float32",))
    return result


def _residual_outputs_case(args, input_shape):
    """Case: outputs with the reference's weights, inference, training, inference."""

    def run(ctx):
        X = tf.constant(ctx.rng.normal(size=(3, *input_shape)), dtype="float32")
        layer, reference, student_ops, reference_ops = build_layer_pair(
            ctx, args, X, input_shape)
        copy_reference_weights(ctx, reference_ops, student_ops,
                               hint="conv3x3-BN-relu-conv3x3-BN, a 1x1 conv shortcut only "
                                    "with use_1x1conv, Keras BatchNormalization")
        modes = (("inference", False), ("training", True), ("inference after training", False))
        # The reference with its seeded weights: its outputs depend on the case alone.
        def reference_outputs():
            seeded = seeded_reference(reference, reference_ops)
            return tuple(seeded(X, training=training) for _, training in modes)

        wanted = ctx.remember("reference outputs", reference_outputs)
        result = None
        for (label, training), want in zip(modes, wanted):
            got = ctx.guard(layer, X, training=training)
            result = compare_outputs(got, want, what=f"your output ({label})",
                                     hidden=ctx.hidden)
            result.raise_if_failed(hint="pass `training` to the batch-norm layers; add the "
                                        "shortcut once, then relu")
        return result

    return run


@exercise("Residual", chapter=CHAPTER, points=3, reference=kerasdl.Residual, kind="class")
def residual_cases(c):
    """Residual block: shapes, zero convs give relu(x), outputs in both modes."""
    c.custom("Residual(3) keeps (4, 6, 6, 3)", _residual_shape_case((3,), (4, 6, 6, 3),
                                                                    (4, 6, 6, 3)))
    c.custom("Residual(6, True, 2): (4, 6, 6, 3) -> (4, 3, 3, 6)",
             _residual_shape_case((6, True, 2), (4, 6, 6, 3), (4, 3, 3, 6)))
    c.custom("zero conv weights return relu(X)", _residual_zero_case)
    c.custom("Residual(4) outputs, training and inference",
             _residual_outputs_case((4,), (5, 5, 4)), weight=2)
    c.custom("Residual(5, True, 2) outputs", _residual_outputs_case((5, True, 2), (6, 7, 2)))
    c.custom("a convolution shortcut without downsampling: outputs",
             _residual_outputs_case((4, True, 1), (4, 4, 3)), hidden=True)


# resnet_block ----------------------------------------------------------------------


def _resnet_block_hints(mismatch):
    return "the first block downsamples (use_1x1conv=True, strides=2) unless first_block"


@exercise("resnet_block", chapter=CHAPTER, points=2, reference=kerasdl.resnet_block,
          kind="model", reuses=("Residual",))
def resnet_block_cases(c):
    """A ResNet stage: outputs in inference and training with the reference's weights."""
    for args, shape, hidden in (((6, 2), (8, 8, 3), False),
                                ((4, 2, True), (6, 6, 4), False),
                                ((5, 3), (6, 5, 2), True)):
        cases = ModelCases(args, input_shape=shape, batch=3, hints=[_resnet_block_hints],
                           what="your stage")
        # A hidden case is named by what it tests, not by its arguments.
        label = "another stage:" if hidden else "(" + ", ".join(repr(a) for a in args) + ")"
        c.custom(f"{label} output shape", cases.output_shape(), hidden=hidden)
        c.custom(f"{label} outputs and training mode", cases.training(), hidden=hidden)


# resnet18 --------------------------------------------------------------------------


@exercise("resnet18", chapter=CHAPTER, points=3, reference=kerasdl.resnet18, kind="model",
          reuses=("Residual", "resnet_block"))
def resnet18_cases(c):
    """ResNet-18: counts, structure, outputs in inference and training (32x32 inputs)."""
    cases = ModelCases(input_shape=RESIZED_96, eval_shape=RESNET_EVAL, batch=2,
                       what="your ResNet-18")
    c.custom("11,178,378 + 7,808 parameters", cases.counts(RESNET18_COUNTS))
    c.custom("layer-by-layer structure", cases.structure())
    c.custom("outputs with the reference's weights, both modes", cases.training(), weight=2)

"""Model and layer comparisons: structure, parameter counts, weight transfer.

A student may build a network in many valid ways: `keras.Sequential`, the
functional API, a `keras.layers.Layer` or `keras.Model` subclass, nested
Sequentials, `ReLU` layers instead of `activation="relu"`, `Activation`
layers, activations applied in `call` with `tf.nn.relu`. `trace_ops` reduces
every one of them to the same canonical sequence of primitive operations
(`Op`): convolution, dense, pooling, activation, flatten, dropout, batch
norm, concatenation, addition, in the order they run.

It traces one inference call of the model into a TensorFlow graph (no
numbers are computed) while recording which leaf layer ran when; graph
operations that ran outside every leaf layer (`tf.nn.relu` or `tf.sigmoid`
in a custom `call`, `tf.nn.avg_pool2d` / `tf.nn.max_pool2d` /
`keras.ops.average_pool` and the other 2-D pooling functions with their
window, strides and padding, a `tf.reshape(X, (N, -1))` flattening, the `+`
of a skip connection, `tf.concat`) become ops of their own.

Then:

* `compare_structure(student_ops, reference_ops)` reports the first
  mismatch in the notes' terms ("layer 3: expected average pooling 2x2,
  stride 2, found max pooling 2x2, stride 2");
* `parameter_counts(model)` returns the trainable and non-trainable counts
  (no forward pass);
* `randomize_weights` and `transfer_weights` give the reference seeded
  weights and copy them into the student's matching layers
  (`copy_reference_weights` does both for a case), so `compare_outputs`
  can check functional equivalence in training and inference mode.
"""

import dataclasses
import inspect
import math
import types

import keras
import numpy as np
import tensorflow as tf

from grader.compare import Comparison, compare_values
from grader.tolerances import Tolerance

__all__ = [
    "MODEL_FLOAT32",
    "Op",
    "StructureMismatch",
    "Mismatch",
    "trace_ops",
    "compare_structure",
    "parameter_counts",
    "weighted_ops",
    "randomize_weights",
    "transfer_weights",
    "compare_outputs",
    "input_shape_of",
    "built_reference",
    "mismatch_hint",
    "ModelCases",
    "TRANSFER_SEED",
    "build_layer_pair",
    "copy_reference_weights",
]

# Deep float32 networks: convolutions summed in another order by another
# (valid) implementation drift by a few ulps per layer; 1e-4 relative and
# absolute (on the output's scale) stays far below any structural mistake.
MODEL_FLOAT32 = Tolerance("float32 model", rtol=1e-4, atol=1e-4)

# TensorFlow graph operations (type -> activation name) recognised as an
# activation when they run outside every leaf layer.
_GRAPH_ACTIVATIONS = {
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Softmax": "softmax",
    "LogSoftmax": "log_softmax",
    "Relu6": "relu6",
    "Elu": "elu",
    "Selu": "selu",
    "LeakyRelu": "leaky_relu",
}
# Graph operations that add two tensors (a skip connection when both
# operands have the same shape and neither is a constant).
_GRAPH_ADDS = ("AddV2", "Add")
_GRAPH_CONCATS = ("ConcatV2", "Concat")
# TensorFlow graph operations (type -> op kind) of 2-D pooling run outside
# every leaf layer: `tf.nn.avg_pool2d`, `tf.nn.max_pool2d`, `tf.nn.avg_pool`,
# `tf.nn.max_pool`, `tf.nn.pool` and `keras.ops.average_pool` / `max_pool`
# all trace to one of these; window and strides are attributes (inputs for
# the V2 form), indexed by the data format.
_GRAPH_POOLS = {
    "AvgPool": "average pooling",
    "MaxPool": "max pooling",
    "MaxPoolV2": "max pooling",
}
# Spatial axes of a 4-D pooling window/strides vector per data format.
_POOL_SPATIAL_AXES = {"NHWC": (1, 2), "NCHW": (2, 3)}
# Kinds of ops that carry weights (transferred between models).
_WEIGHTED_KINDS = ("convolution", "dense", "batch norm", "custom layer")
# Kinds whose relative order may differ between valid implementations of a
# multi-branch block (paths computed in another order).
_BRANCH_KINDS = ("concatenation", "addition")


# Keras layer classes whose `call` the structure trace replaces by a stand-in
# output (`_stand_in_output`): `_leaf_ops` describes them from their
# configuration alone, the graph ops their `call` creates are ignored anyway,
# and their `call` maps one tensor to a tensor of `compute_output_shape` in
# the layer's compute dtype. Building the convolutions of a GoogLeNet into
# the graph is most of its trace. Exact classes only (a subclass may
# override `call`), each with the `call` it had when the grader was imported.
_STAND_IN_CALLS = {cls: cls.call for cls in (
    keras.layers.Conv2D, keras.layers.Dense, keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D, keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling2D, keras.layers.Flatten, keras.layers.Dropout,
    keras.layers.BatchNormalization, keras.layers.Activation, keras.layers.ReLU,
    keras.layers.Softmax)}
# The functions of `keras.activations` (as imported with the grader): a leaf
# whose `activation` is anything else (a student's function, `tf.nn.relu`)
# runs its real `call`.
_KERAS_ACTIVATIONS = frozenset(
    value for value in vars(keras.activations).values() if inspect.isfunction(value))
# Instance attributes that may hide a method of a leaf layer's class: Keras
# wraps `build` and `quantize` on every layer, the trace replaces `call`.
# Any other (`layer.convolution_op = ...`) rules the stand-in out.
_INSTANCE_METHODS = frozenset(("build", "quantize", "call"))
# Keyword arguments Keras passes to a leaf's `call` that do not change the
# shape or dtype of its output (a mask must be None).
_STAND_IN_KWARGS = frozenset(("training", "mask"))


class StructureMismatch(ValueError):
    """Two models cannot be matched layer by layer (weights cannot be copied)."""


@dataclasses.dataclass(frozen=True)
class Op:
    """One primitive operation of a network, in the notes' terms.

    Attributes:
        kind: `"convolution"`, `"dense"`, `"max pooling"`, `"average pooling"`,
            `"global average pooling"`, `"global max pooling"`, `"flatten"`,
            `"dropout"`, `"batch norm"`, `"activation"`, `"concatenation"`,
            `"addition"` or `"custom layer"`.
        attrs: sorted `(name, value)` pairs compared between models
            (`filters`, `kernel_size`, `strides`, `padding`, `units`,
            `pool_size`, `rate`, `activation`, `class`).
        layer: the Keras layer that runs the op (None for graph ops); not compared.
    """

    kind: str
    attrs: tuple = ()
    layer: object = dataclasses.field(default=None, compare=False, repr=False)

    def attr(self, name, default=None):
        """Return the value of one attribute."""
        return dict(self.attrs).get(name, default)

    def describe(self):
        """The op in the notes' terms: `convolution 5x5, 6 channels, same padding`."""
        a = dict(self.attrs)
        if self.kind == "convolution":
            text = f"convolution {_size(a['kernel_size'])}, {a['filters']} channels"
            text += _stride_text(a["strides"]) + f", {a['padding']} padding"
            return text
        if self.kind == "dense":
            return f"dense layer with {a['units']} units"
        if self.kind in ("max pooling", "average pooling"):
            return (f"{self.kind} {_size(a['pool_size'])}" + _stride_text(a["strides"])
                    + f", {a['padding']} padding")
        if self.kind == "dropout":
            return f"dropout {a['rate']:g}"
        if self.kind == "activation":
            return f"{a['activation']} activation"
        if self.kind == "custom layer":
            return f"layer {a['class']}"
        return self.kind


def _size(pair):
    return "x".join(str(v) for v in pair)


def _stride_text(strides):
    return f", stride {strides[0]}" if strides[0] == strides[1] else f", stride {_size(strides)}"


def _pair(value):
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return (int(value), int(value))


def _activation_name(activation):
    """Name of a Keras activation function (`None` for linear)."""
    if activation is None:
        return None
    name = getattr(activation, "__name__", None) or str(activation)
    return None if name == "linear" else name


def _leaf_ops(layer):
    """Canonical ops of one leaf layer (a layer without sublayers)."""
    L = keras.layers
    if isinstance(layer, L.InputLayer):
        return []
    if isinstance(layer, L.Conv2D):
        ops = [Op("convolution", (("filters", int(layer.filters)),
                                  ("kernel_size", _pair(layer.kernel_size)),
                                  ("padding", layer.padding),
                                  ("strides", _pair(layer.strides))), layer)]
        name = _activation_name(layer.activation)
        return ops + ([Op("activation", (("activation", name),))] if name else [])
    if isinstance(layer, L.Dense):
        ops = [Op("dense", (("units", int(layer.units)),), layer)]
        name = _activation_name(layer.activation)
        return ops + ([Op("activation", (("activation", name),))] if name else [])
    pools = ((L.MaxPooling2D, "max pooling"), (L.AveragePooling2D, "average pooling"))
    for cls, kind in pools:
        if isinstance(layer, cls):
            return [Op(kind, (("padding", layer.padding),
                              ("pool_size", _pair(layer.pool_size)),
                              ("strides", _pair(layer.strides))), layer)]
    if isinstance(layer, L.GlobalAveragePooling2D):
        return [Op("global average pooling", (), layer)]
    if isinstance(layer, L.GlobalMaxPooling2D):
        return [Op("global max pooling", (), layer)]
    if isinstance(layer, L.Flatten):
        return [Op("flatten", (), layer)]
    if isinstance(layer, L.Dropout):
        return [Op("dropout", (("rate", float(layer.rate)),), layer)]
    if isinstance(layer, L.BatchNormalization):
        return [Op("batch norm", (), layer)]
    if isinstance(layer, L.Activation):
        name = _activation_name(layer.activation)
        return [Op("activation", (("activation", name),), layer)] if name else []
    if isinstance(layer, L.ReLU):
        plain = (layer.max_value is None and float(layer.negative_slope) == 0.0
                 and float(layer.threshold) == 0.0)
        return [Op("activation", (("activation", "relu" if plain else "relu (modified)"),),
                   layer)]
    if isinstance(layer, L.Softmax):
        return [Op("activation", (("activation", "softmax"),), layer)]
    if isinstance(layer, L.Concatenate):
        return [Op("concatenation", (), layer)]
    if isinstance(layer, L.Add):
        return [Op("addition", (), layer)]
    if _looks_like_batch_norm(layer):
        return [Op("batch norm", (), layer)]
    if not layer.weights and type(layer).__module__.startswith("keras"):
        return []  # a weightless Keras utility layer (Reshape to the same shape, ...)
    return [Op("custom layer", (("class", type(layer).__name__),), layer)]


def _looks_like_batch_norm(layer):
    """A scratch batch norm: two trainable and two non-trainable vectors of one shape."""
    trainable, frozen = layer.trainable_weights, layer.non_trainable_weights
    if len(trainable) != 2 or len(frozen) != 2:
        return False
    shapes = {tuple(v.shape) for v in trainable + frozen}
    return len(shapes) == 1 and len(next(iter(shapes))) == 1


def _children(layer):
    return list(layer._flatten_layers(include_self=False, recursive=False))


def _leaves(layer, found):
    children = _children(layer)
    if not children:
        if all(x is not layer for x in found):
            found.append(layer)
        return found
    for child in children:
        _leaves(child, found)
    return found


def input_shape_of(model):
    """The per-example input shape a model was built with (`keras.Input`), or None."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if inputs:
        shape = tuple(inputs[0].shape[1:])
        if None not in shape:
            return shape
    return None


def _stands_in(layer, call):
    """Whether the trace may skip `call`, the `call` of the leaf `layer` it replaced.

    Only for an unmodified Keras layer (`_STAND_IN_CALLS`), checked each time
    the trace reaches it (student code that ran before may have changed it):
    `call` is its exact class's own method, no other instance attribute
    replaces a method, and its activation (if any) is Keras's own. A
    student's code in or around a leaf layer always runs.
    """
    cls = type(layer)
    if cls not in _STAND_IN_CALLS or not isinstance(call, types.MethodType) \
            or call.__func__ is not _STAND_IN_CALLS[cls] or call.__self__ is not layer:
        return False
    if any(callable(getattr(cls, name, None)) for name in vars(layer)
           if name not in _INSTANCE_METHODS):
        return False
    # By identity: `in` would call a student object's `__eq__`.
    activation = getattr(layer, "activation", None)
    return activation is None or any(activation is known for known in _KERAS_ACTIVATIONS)


def _stand_in_output(layer, args, kwargs):
    """A placeholder for the output of a `_stands_in` layer's `call`, or None.

    The output has the shape of `layer.compute_output_shape` and the input's
    dtype (the layer's compute dtype after Keras's autocast) and is an
    `Empty` graph op: neither a `Const` (which `_ops_from_trace` treats
    specially) nor foldable to a value by `tf.get_static_value`, like the
    real output. None (run the real `call`) unless the call has one input
    tensor of a fully known shape in the layer's compute dtype, no mask, and
    the computed output shape is fully known.
    """
    if len(args) != 1 or not isinstance(args[0], tf.Tensor):
        return None
    if any(name not in _STAND_IN_KWARGS or (name == "mask" and value is not None)
           for name, value in kwargs.items()):
        return None
    inputs = args[0]
    if not inputs.shape.is_fully_defined() or not inputs.dtype.is_floating \
            or inputs.dtype.name != layer.compute_dtype:
        return None
    shape = tuple(layer.compute_output_shape(tuple(inputs.shape)))
    if not all(isinstance(size, int) for size in shape):
        return None
    return tf.raw_ops.Empty(shape=shape, dtype=inputs.dtype)


def trace_ops(model, input_shape=None, *, stand_ins=True):
    """Return the canonical op sequence of a built model or layer.

    Traces `model(x, training=False)` into a graph for an input of shape
    `(1, *input_shape)` (no values are computed) and records the leaf
    layers in the order they run, plus activations, additions and
    concatenations computed outside any leaf layer. The `call` of an
    unmodified built-in Keras leaf layer is replaced by a stand-in output
    of the right shape and dtype (`_stand_in_output`): its graph ops would
    be ignored, and creating them is most of the trace's time.

    Args:
        model: a built Keras model or layer (call it once first if needed).
        input_shape: per-example input shape; default the model's `keras.Input`.
        stand_ins: False runs the real `call` of every leaf layer (the same
            ops, slower).

    Returns:
        A list of `Op`.

    Raises:
        ValueError: no input shape is known.
    """
    input_shape = tuple(input_shape or input_shape_of(model) or ())
    if not input_shape:
        raise ValueError("`input_shape` is needed for a model without keras.Input. "
                         "Received: input_shape=None")
    leaves = _leaves(model, []) if _children(model) else [model]
    records = []
    patched = []

    def patch(layer):
        original = layer.call

        def recorded(*args, **kwargs):
            graph = tf.compat.v1.get_default_graph()
            start = len(graph.get_operations())
            outputs = None
            if stand_ins and _stands_in(layer, original):
                outputs = _stand_in_output(layer, args, kwargs)
            if outputs is None:
                outputs = original(*args, **kwargs)
            records.append((start, len(graph.get_operations()), layer))
            return outputs

        object.__setattr__(layer, "call", recorded)
        patched.append(layer)

    for leaf in leaves:
        if leaf is not model:
            patch(leaf)
    try:
        spec = tf.TensorSpec((1, *input_shape), tf.float32)
        if leaves == [model]:
            return _leaf_ops(model)
        graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(
            spec).graph
    finally:
        for layer in patched:
            vars(layer).pop("call", None)
    return _ops_from_trace(graph.get_operations(), records)


def _is_constant(tensor):
    return tensor.op.type == "Const"


def _graph_pool_op(op):
    """The `Op` of a 2-D pooling graph operation, or None if it is not 2-D."""
    try:
        data_format = op.get_attr("data_format").decode()
        padding = op.get_attr("padding").decode().lower()
        if op.type == "MaxPoolV2":  # (input, ksize, strides) as tensors
            window = tf.get_static_value(op.inputs[1])
            strides = tf.get_static_value(op.inputs[2])
        else:
            window, strides = op.get_attr("ksize"), op.get_attr("strides")
    except (ValueError, AttributeError):
        return None
    axes = _POOL_SPATIAL_AXES.get(data_format)
    if axes is None or window is None or strides is None or len(window) != 4 \
            or len(strides) != 4:
        return None
    return Op(_GRAPH_POOLS[op.type], (("padding", padding),
                                      ("pool_size", tuple(int(window[a]) for a in axes)),
                                      ("strides", tuple(int(strides[a]) for a in axes))))


def _is_flatten(op):
    """A reshape `(N, d1, d2, ...) -> (N, d1*d2*...)` (`tf.reshape(X, (N, -1))`)."""
    before, after = op.inputs[0].shape, op.outputs[0].shape
    if before.rank is None or after.rank != 2 or before.rank < 3:
        return False
    features = before[1:].num_elements()
    return features is None or after[1] is None or int(after[1]) == features


def _ops_from_trace(graph_ops, records):
    """Merge the leaf-layer records with the graph ops that ran between them."""
    records = sorted(records, key=lambda r: r[0])
    inside = np.zeros(len(graph_ops), dtype=bool)
    for start, stop, _ in records:
        inside[start:stop] = True
    events = [(start, _leaf_ops(layer)) for start, _, layer in records]
    for index, op in enumerate(graph_ops):
        if inside[index]:
            continue
        if op.type in _GRAPH_ACTIVATIONS:
            events.append((index, [Op("activation",
                                      (("activation", _GRAPH_ACTIVATIONS[op.type]),))]))
        elif op.type == "Maximum" and any(_is_constant(t) for t in op.inputs):
            events.append((index, [Op("activation", (("activation", "relu"),))]))
        elif op.type in _GRAPH_ADDS and len(op.inputs) == 2:
            a, b = op.inputs
            if (not _is_constant(a) and not _is_constant(b) and a.shape.rank
                    and a.shape == b.shape):
                events.append((index, [Op("addition")]))
        elif op.type in _GRAPH_CONCATS:
            events.append((index, [Op("concatenation")]))
        elif op.type in _GRAPH_POOLS:
            pool = _graph_pool_op(op)
            if pool is not None:
                events.append((index, [pool]))
        elif op.type == "Reshape" and _is_flatten(op):
            events.append((index, [Op("flatten")]))
    events.sort(key=lambda e: e[0])
    return [op for _, ops in events for op in ops]


@dataclasses.dataclass
class Mismatch:
    """The first difference between two op sequences.

    Attributes:
        index: 0-based position (feedback numbers layers from 1).
        expected: the reference's `Op` there (None: the student has extra ops).
        found: the student's `Op` there (None: the student's model ends early).
    """

    index: int
    expected: Op | None
    found: Op | None
    previous: Op | None = None

    def message(self):
        """The mismatch in the notes' terms."""
        number = self.index + 1
        if self.found is None:
            return f"layer {number}: expected {self.expected.describe()}, found nothing " \
                   "(your model ends early)"
        if self.expected is None:
            return f"layer {number}: found an extra {self.found.describe()}"
        return (f"layer {number}: expected {self.expected.describe()}, "
                f"found {self.found.describe()}")


def _without_kinds(ops, kinds):
    return [op for op in ops if op.kind not in kinds]


def _first_mismatch(student_ops, reference_ops):
    for index in range(max(len(student_ops), len(reference_ops))):
        expected = reference_ops[index] if index < len(reference_ops) else None
        found = student_ops[index] if index < len(student_ops) else None
        if expected != found:
            previous = reference_ops[index - 1] if 0 < index <= len(reference_ops) else None
            return Mismatch(index, expected, found, previous)
    return None


def _multiset(ops):
    counts = {}
    for op in ops:
        counts[op] = counts.get(op, 0) + 1
    return counts


def compare_structure(student_ops, reference_ops, *, what="your model"):
    """Compare two canonical op sequences.

    Sequences must match op by op. A multi-branch network (one with
    concatenations or additions) whose ops are the same but run in another
    order (another valid order of the paths) also passes; its outputs are
    then compared after the weight transfer.

    Args:
        student_ops: `trace_ops` of the student's model.
        reference_ops: `trace_ops` of the reference.
        what: how the feedback names the model.

    Returns:
        `(Comparison, Mismatch or None)`.
    """
    mismatch = _first_mismatch(student_ops, reference_ops)
    if mismatch is None:
        return (Comparison(True, f"{what} has the expected {len(reference_ops)} layers "
                                 "(after flattening)"), None)
    branching = any(op.kind in _BRANCH_KINDS for op in reference_ops)
    if branching and _multiset(student_ops) == _multiset(reference_ops):
        return (Comparison(True, f"{what} has the expected {len(reference_ops)} layers "
                                 "(paths in another order)"), None)
    return Comparison(False, f"{what}: {mismatch.message()}"), mismatch


def parameter_counts(model):
    """Return `(trainable, non_trainable)` parameter counts of a built model."""
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    frozen = sum(int(np.prod(v.shape)) for v in model.non_trainable_weights)
    return trainable, frozen


# Order of a batch-norm layer's variables by name, whatever order they were created in.
_BN_NAME_ORDER = (("gamma", "scale"), ("beta", "shift", "offset", "center"),
                  ("mean",), ("var",))


def _ordered_weights(op):
    """The variables of a weighted op in a canonical order."""
    weights = list(op.layer.trainable_weights) + list(op.layer.non_trainable_weights)
    if op.kind != "batch norm":
        return weights

    def rank(pair):
        position, variable = pair
        name = variable.path.split("/")[-1].lower() if hasattr(variable, "path") else ""
        for order, keys in enumerate(_BN_NAME_ORDER):
            if any(key in name for key in keys):
                return (order, position)
        return (len(_BN_NAME_ORDER), position)

    return [v for _, v in sorted(enumerate(weights), key=rank)]


def weighted_ops(ops):
    """The ops that carry weights, in order."""
    return [op for op in ops if op.kind in _WEIGHTED_KINDS and op.layer is not None
            and op.layer.weights]


def randomize_weights(ops, rng):
    """Give every weighted op seeded values (moving variances stay positive).

    Conv/dense kernels are `N(0, 1/fan_in)`, biases `N(0, 0.1^2)`; batch
    norm gets gamma in [0.5, 1.5], beta and the moving mean `N(0, 0.1^2)` and
    the moving variance in [0.5, 1.5], so inference and training differ.
    """
    for variable, values in zip(_weighted_variables(ops), _draw_weights(ops, rng)):
        variable.assign(values)


def _weighted_variables(ops):
    """The variables of every weighted op, in the order `randomize_weights` fills them."""
    return [variable for op in weighted_ops(ops) for variable in _ordered_weights(op)]


def _weight_signature(ops):
    """What determines the seeded draws: each variable's op kind, position, shape, dtype."""
    return tuple((op.kind, position, tuple(variable.shape), str(variable.dtype))
                 for op in weighted_ops(ops)
                 for position, variable in enumerate(_ordered_weights(op)))


def _draw_weights(ops, rng):
    """The seeded values of `randomize_weights`, one array per variable, in order."""
    drawn = []
    for kind, position, shape, dtype in _weight_signature(ops):
        if kind == "batch norm" and position in (0, 3):
            values = rng.uniform(0.5, 1.5, size=shape)
        elif len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1]))
            values = rng.normal(0.0, 1.0 / math.sqrt(fan_in), size=shape)
        else:
            values = rng.normal(0.0, 0.1, size=shape)
        drawn.append(values.astype(dtype))
    return drawn


# Seeded reference weights drawn once per process, keyed by the full weight
# signature (kinds, positions, shapes, dtypes): drawing the 16M values of
# VGG's dense layers takes most of a check. Read-only after drawing.
_SEEDED_WEIGHTS_CACHE = {}


def _seeded_weights(ops, seed):
    """`_draw_weights(ops, default_rng(seed))`, cached per process (do not modify)."""
    key = (seed, _weight_signature(ops))
    drawn = _SEEDED_WEIGHTS_CACHE.get(key)
    if drawn is None:
        drawn = _draw_weights(ops, np.random.default_rng(seed))
        for values in drawn:
            values.setflags(write=False)
        _SEEDED_WEIGHTS_CACHE[key] = drawn
    return drawn


def transfer_weights(source_ops, target_ops, source_values=None):
    """Copy the weights of `source_ops` into the matching ops of `target_ops`.

    Each weighted source op goes to the first unused target op of the same
    kind whose variables have the same shapes (so paths computed in another
    order still match).

    Args:
        source_ops: the ops to copy from.
        target_ops: the ops to copy into.
        source_values: optional list of the source variables' current values
            as arrays (in `randomize_weights` order), to skip reading them back.

    Raises:
        StructureMismatch: a source op has no matching target op, or the
            target has weighted ops left over.
    """
    targets = weighted_ops(target_ops)
    used = [False] * len(targets)
    remaining = iter(source_values) if source_values is not None else None
    for number, op in enumerate(weighted_ops(source_ops), start=1):
        source = _ordered_weights(op)
        if remaining is not None:
            source_arrays = [next(remaining) for _ in source]
        else:
            source_arrays = [np.asarray(v.numpy()) for v in source]
        shapes = [tuple(v.shape) for v in source]
        for index, candidate in enumerate(targets):
            if used[index] or candidate.kind != op.kind:
                continue
            target = _ordered_weights(candidate)
            if [tuple(v.shape) for v in target] == shapes:
                used[index] = True
                for to, frm in zip(target, source_arrays):
                    to.assign(frm.astype(to.dtype, copy=False))
                break
        else:
            raise StructureMismatch(
                f"no layer of yours matches the {op.describe()} (weighted layer "
                f"{number}, weight shapes {shapes})")
    if not all(used):
        extra = targets[used.index(False)]
        raise StructureMismatch(f"your {extra.describe()} has no counterpart in the "
                                "expected network")


def compare_outputs(student_out, reference_out, *, what="your model's output", hidden=False):
    """Compare two model outputs with `MODEL_FLOAT32`; returns a `Comparison`."""
    return compare_values(student_out, reference_out, tol=MODEL_FLOAT32, what=what,
                          hidden=hidden)


# Model exercises -----------------------------------------------------------------

# Seed of the weights the reference gets before they are copied to the student.
TRANSFER_SEED = 1234
# Reference models built once per process, keyed by (reference, args): building
# AlexNet or VGG takes seconds; their weights are re-randomized before each use.
_REFERENCE_CACHE = {}


def mismatch_hint(mismatch, extra_hints=None):
    """Advice for a structural mismatch (exercise-specific hints first).

    Args:
        mismatch: a `Mismatch`, or None.
        extra_hints: optional list of `predicate(mismatch) -> hint or None`.
    """
    if mismatch is None:
        return None
    for rule in extra_hints or ():
        hint = rule(mismatch)
        if hint:
            return hint
    expected, found = mismatch.expected, mismatch.found
    if found is not None and found.kind == "activation" and found.attr("activation") == \
            "softmax" and (expected is None or expected.kind != "activation"):
        return ("the model outputs logits: no softmax at the end (the loss uses "
                "from_logits=True)")
    if found is not None and found.kind == "addition" and (
            expected is None or expected.kind != "addition"):
        return "add the skip connection exactly once: relu(Y + X)"
    if expected is not None and expected.kind == "activation" and (
            found is None or found.kind != "activation"):
        return f"apply the {expected.attr('activation')} activation here"
    if expected is None or found is None:
        if (expected or found).kind == "addition":
            return "add the skip connection exactly once: relu(Y + X)"
        return None
    if {expected.kind, found.kind} == {"max pooling", "average pooling"}:
        return (f"use {expected.kind} here ({'AveragePooling2D' if expected.kind.startswith('average') else 'MaxPooling2D'}), "
                f"not {found.kind}")
    if expected.kind == found.kind == "activation":
        return f"use the {expected.attr('activation')} activation here, not {found.attr('activation')}"
    if expected.kind == "batch norm" or found.kind == "batch norm":
        return "put batch norm between the convolution/dense layer and its activation"
    if expected.kind == found.kind == "convolution":
        for name in ("padding", "kernel_size", "strides", "filters"):
            if expected.attr(name) != found.attr(name):
                return f"this convolution needs {name}={expected.attr(name)!r}"
    if expected.kind == found.kind == "dense":
        return f"this dense layer needs {expected.attr('units')} units"
    if expected.kind == "addition" or found.kind == "addition":
        return "add the skip connection exactly once: relu(Y + X)"
    return None


def copy_reference_weights(ctx, reference_ops, student_ops, hint=None):
    """Give the reference seeded weights (`TRANSFER_SEED`) and copy them to the student.

    Args:
        ctx: the case's context.
        reference_ops: `trace_ops` of the reference.
        student_ops: `trace_ops` of the student's model or layer.
        hint: the hint shown when the weights cannot be matched: a string, or
            a function of no arguments returning one (called only then).

    Raises:
        CaseFailed: a weighted layer has no counterpart (`ctx.fail`).
    """
    # Same values as randomize_weights(reference_ops, default_rng(TRANSFER_SEED)).
    drawn = _seeded_weights(reference_ops, TRANSFER_SEED)
    for variable, values in zip(_weighted_variables(reference_ops), drawn):
        variable.assign(values)
    try:
        transfer_weights(reference_ops, student_ops, source_values=drawn)
    except StructureMismatch as error:
        ctx.fail(f"the weights could not be matched: {error}",
                 hint=hint() if callable(hint) else hint)


def built_reference(ctx, args, input_shape):
    """The case's reference model or layer built on `args`, with its traced ops.

    Built once per process (`_REFERENCE_CACHE`, keyed by reference, args and
    input shape) and called once on zeros if it has no `keras.Input`. Give it
    its seeded weights (`copy_reference_weights`) before using its outputs.

    Args:
        ctx: the case's context.
        args: positional arguments of the reference factory or class.
        input_shape: per-example input shape `(H, W, C)` to build and trace with.

    Returns:
        `(reference, reference_ops)`.
    """
    key = (ctx._reference, repr(tuple(args)), tuple(input_shape))
    entry = _REFERENCE_CACHE.get(key)
    if entry is None:
        net = ctx.reference(*args)
        if not net.built or input_shape_of(net) is None:
            net(tf.zeros((1, *input_shape)), training=False)
        entry = _REFERENCE_CACHE[key] = (net, trace_ops(net, input_shape))
    return entry


def build_layer_pair(ctx, args, X, input_shape):
    """Build the student's and the reference's layer on `X` and trace both.

    Args:
        ctx: the case's context.
        args: positional arguments of the layer class (`Residual(4)`).
        X: a batch of inputs `(N, *input_shape)`, float32; the student's
            layer is called on it once (under `ctx.guard`).
        input_shape: per-example input shape `(H, W, C)` to trace with.

    Returns:
        `(layer, reference, student_ops, reference_ops)`; the reference comes
        from `built_reference` (give it its seeded weights before use).
    """
    layer = ctx.student(*args)
    ctx.guard(layer, X)
    reference, reference_ops = built_reference(ctx, args, input_shape)
    # Watched too: a layer could call the reference only while traced in a graph.
    student_ops = ctx.guard(trace_ops, layer, input_shape)
    return layer, reference, student_ops, reference_ops


class ModelCases:
    """Cases for an exercise that returns a model (or a block) from a factory.

    One instance per `check()` run: the student's model is built once and
    shared by the cases (counts, structure, outputs, training).

    Args:
        args: positional arguments of the factory (`vgg(conv_arch)`).
        input_shape: per-example input shape used when the model has no
            `keras.Input` (blocks), and to trace the model.
        eval_shape: per-example shape of the inputs the outputs are compared
            on (smaller than `input_shape` where the model allows it).
        batch: number of examples in the output comparisons.
        hints: extra `predicate(mismatch) -> hint` rules.
        what: how the feedback names the model.
    """

    def __init__(self, args=(), *, input_shape, eval_shape=None, batch=2, hints=None,
                 what="your model"):
        self.args = tuple(args)
        self.input_shape = tuple(input_shape)
        self.eval_shape = tuple(eval_shape or input_shape)
        self.batch = batch
        self.hints = hints
        self.what = what
        self._student = None
        self._student_error = None
        self._student_ops = None

    # Building ------------------------------------------------------------------

    def student(self, ctx):
        """The student's built model (built once; errors re-raised for each case)."""
        if self._student_error is not None:
            raise self._student_error
        if self._student is None:
            try:
                net = ctx.student(*self.args)
                if not isinstance(net, keras.layers.Layer):
                    ctx.fail(f"your function returned a {type(net).__name__}, not a Keras "
                             "model or layer", hint="return keras.Sequential([...]) or a "
                                                    "keras.Model")
                if not net.built or input_shape_of(net) is None:
                    ctx.guard(net, tf.zeros((1, *self.input_shape)), training=False)
            except Exception as error:
                self._student_error = error
                raise
            self._student = net
        return self._student

    def reference(self, ctx):
        """The reference model for these arguments (cached), with its traced ops."""
        return built_reference(ctx, self.args, self.input_shape)

    def student_ops(self, ctx):
        """The canonical ops of the student's model."""
        if self._student_ops is None:
            net = self.student(ctx)
            # Watched: a model could call the reference only while traced.
            self._student_ops = ctx.guard(trace_ops, net, self.input_shape)
        return self._student_ops

    def _structure_hint(self, ctx):
        try:
            _, reference_ops = self.reference(ctx)
            _, mismatch = compare_structure(self.student_ops(ctx), reference_ops)
        except Exception:  # no structure to compare: no hint
            return None
        return mismatch_hint(mismatch, self.hints)

    # Cases ---------------------------------------------------------------------

    def counts(self, expected=None):
        """Case: trainable and non-trainable parameter counts (no forward pass)."""

        def run(ctx):
            net = self.student(ctx)
            want = expected or parameter_counts(self.reference(ctx)[0])
            got = parameter_counts(net)
            for label, g, w in zip(("trainable", "non-trainable"), got, want):
                if g != w:
                    ctx.fail(f"{self.what} has {g:,} {label} parameters, expected {w:,}",
                             hint=self._structure_hint(ctx))
            return Comparison(True, f"{got[0]:,} trainable and {got[1]:,} non-trainable "
                                    "parameters")

        return run

    def structure(self):
        """Case: the canonical op sequence equals the reference's."""

        def run(ctx):
            _, reference_ops = self.reference(ctx)
            result, mismatch = compare_structure(self.student_ops(ctx), reference_ops,
                                                 what=self.what)
            result.raise_if_failed(hint=mismatch_hint(mismatch, self.hints))
            return result

        return run

    def output_shape(self):
        """Case: the output shape for a batch of the stated input (symbolic)."""

        def run(ctx):
            net = self.student(ctx)
            reference, _ = self.reference(ctx)
            spec = keras.KerasTensor((self.batch, *self.input_shape))
            got = tuple(ctx.guard(net.compute_output_spec, spec).shape)
            want = tuple(reference.compute_output_spec(spec).shape)
            if got != want:
                ctx.fail(f"{self.what} maps {spec.shape} to {got}, expected {want}",
                         hint=self._structure_hint(ctx))
            return Comparison(True, f"{self.what} maps {spec.shape} to {got}")

        return run

    def _transferred(self, ctx):
        """Seeded reference weights, copied into the student's model."""
        reference, reference_ops = self.reference(ctx)
        net = self.student(ctx)
        copy_reference_weights(ctx, reference_ops, self.student_ops(ctx),
                               hint=lambda: self._structure_hint(ctx))
        return net, reference

    def _inputs(self, ctx):
        X = ctx.rng.uniform(0.0, 1.0, size=(self.batch, *self.eval_shape))
        return tf.constant(X, dtype="float32")

    def outputs(self):
        """Case: same weights, same inputs -> same outputs in inference mode."""

        def run(ctx):
            net, reference = self._transferred(ctx)
            X = self._inputs(ctx)
            # The reference has its seeded weights (`_transferred`): its output
            # depends on the case alone.
            want = ctx.remember("reference output", lambda: reference(X, training=False))
            got = ctx.guard(net, X, training=False)
            result = compare_outputs(got, want, what=f"{self.what}'s output (inference)",
                                     hidden=ctx.hidden)
            result.raise_if_failed(hint=self._structure_hint(ctx))
            return result

        return run

    def training(self, dropout=False):
        """Case: behaviour with `training=True`.

        With dropout, the training output must differ from the inference
        output (dropout active); without, training outputs (batch statistics)
        must equal the reference's, and so must the inference outputs after
        that step (the moving statistics were updated the same way).
        """

        def run(ctx):
            net, reference = self._transferred(ctx)
            X = self._inputs(ctx)
            if dropout:
                inference = np.asarray(ctx.guard(net, X, training=False))
                training = np.asarray(ctx.guard(net, X, training=True))
                scale = max(1.0, float(np.max(np.abs(inference))))
                if np.max(np.abs(training - inference)) <= MODEL_FLOAT32.atol * scale:
                    ctx.fail(f"{self.what} gives the same output with training=True as in "
                             "inference: dropout is never active",
                             hint="use keras.layers.Dropout (active only when training)")
                return Comparison(True, "dropout is active with training=True")
            # The reference has its seeded weights (`_transferred`): its outputs
            # depend on the case alone.
            want_training, want_after = ctx.remember("reference outputs", lambda: (
                reference(X, training=True), reference(X, training=False)))
            got = ctx.guard(net, X, training=True)
            result = compare_outputs(got, want_training,
                                     what=f"{self.what}'s output (training=True)",
                                     hidden=ctx.hidden)
            result.raise_if_failed(hint="in training mode batch norm normalises with the "
                                        "batch statistics")
            got = ctx.guard(net, X, training=False)
            result = compare_outputs(got, want_after, what=f"{self.what}'s output after one "
                                     "training call (moving statistics)", hidden=ctx.hidden)
            result.raise_if_failed(hint="update the moving statistics only in training: "
                                        "moving = momentum * moving + (1 - momentum) * batch")
            return Comparison(True, f"{self.what} matches in training mode and its moving "
                                    "statistics move like the reference's",
                              result.max_abs_err, result.max_rel_err)

        return run

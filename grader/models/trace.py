"""The canonical structure of a Keras model: its primitive operations in order.

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

`Op` and the ops of one Keras leaf layer are in `grader.models.ops`; the
probe form, `trace_summary`, and the judge's side, `ops_from_summary`, are
in `grader.models.summary`.
"""

import inspect
import types

import keras
import numpy as np
import tensorflow as tf

from grader.models.ops import Op, leaf_ops, with_weights

__all__ = [
    "input_shape_of",
    "trace_ops",
]

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


# Keras layer classes whose `call` the structure trace replaces by a stand-in
# output (`_stand_in_output`): `leaf_ops` describes them from their
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
            return [with_weights(op) for op in leaf_ops(model)]
        graph = tf.function(lambda x: model(x, training=False)).get_concrete_function(
            spec).graph
    finally:
        for layer in patched:
            vars(layer).pop("call", None)
    return [with_weights(op) for op in _ops_from_trace(graph.get_operations(), records)]


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
    events = [(start, leaf_ops(layer)) for start, _, layer in records]
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

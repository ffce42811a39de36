"""The canonical operations of a network (`Op`) and the ops of one Keras layer.

An `Op` names one primitive operation in the notes' terms (convolution,
dense, pooling, activation, flatten, dropout, batch norm, concatenation,
addition, or a custom layer) with the attributes two models are compared on.
`leaf_ops` maps a leaf layer (one without sublayers) to its ops from its
configuration alone; `grader.models.trace` puts them in the order a model
runs them. `ordered_weights` lists a weighted layer's variables in the
canonical order the weight transfer uses.
"""

import dataclasses

import keras

__all__ = [
    "BRANCH_KINDS",
    "Op",
    "StructureMismatch",
    "WEIGHTED_KINDS",
    "leaf_ops",
    "ordered_weights",
    "with_weights",
]

# Kinds of ops that carry weights (transferred between models).
WEIGHTED_KINDS = ("convolution", "dense", "batch norm", "custom layer")
# Kinds whose relative order may differ between valid implementations of a
# multi-branch block (paths computed in another order).
BRANCH_KINDS = ("concatenation", "addition")


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
        layer: the Keras layer that runs the op (None for graph ops), or the
            judge's handle to it; not compared.
        weights: `(shape, dtype)` of each of the layer's variables in
            canonical order (`ordered_weights`), for weighted ops; not compared.
    """

    kind: str
    attrs: tuple = ()
    layer: object = dataclasses.field(default=None, compare=False, repr=False)
    weights: tuple = dataclasses.field(default=(), compare=False, repr=False)

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


def leaf_ops(layer):
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


# Order of a batch-norm layer's variables by name, whatever order they were created in.
_BN_NAME_ORDER = (("gamma", "scale"), ("beta", "shift", "offset", "center"),
                  ("mean",), ("var",))


def ordered_weights(layer, kind):
    """The variables of a weighted op's layer in a canonical order.

    Trainable then non-trainable variables, in creation order; a batch norm's
    by name: gamma, beta, moving mean, moving variance.
    """
    weights = list(layer.trainable_weights) + list(layer.non_trainable_weights)
    if kind != "batch norm":
        return weights

    def rank(pair):
        position, variable = pair
        name = variable.path.split("/")[-1].lower() if hasattr(variable, "path") else ""
        for order, keys in enumerate(_BN_NAME_ORDER):
            if any(key in name for key in keys):
                return (order, position)
        return (len(_BN_NAME_ORDER), position)

    return [v for _, v in sorted(enumerate(weights), key=rank)]


def with_weights(op):
    """`op` with the shapes and dtypes of its layer's variables (weighted ops)."""
    if op.kind not in WEIGHTED_KINDS or op.layer is None or not op.layer.weights:
        return op
    weights = tuple((tuple(int(d) for d in v.shape), str(v.dtype))
                    for v in ordered_weights(op.layer, op.kind))
    return dataclasses.replace(op, weights=weights)

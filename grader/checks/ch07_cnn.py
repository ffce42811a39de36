"""Checks of chapter 7, Convolutional neural networks.

The scratch helpers (`corr2d`, `corr2d_multi_in`, `corr2d_multi_in_out`,
`corr2d_multi_in_out_1x1`, `pool2d`) compare values on the notes' anchors and
on edge shapes (1x1 kernel, kernel as large as the input, non-square inputs
and kernels, several channel counts); known mistakes are float64 NumPy
re-implementations (a flipped kernel, `same` padding, a missing `+1`, only
the first input channel, an average that sums). `conv_output_shape` compares
integer pairs, including cases where the floor matters. `lenet` is compared
with the reference model: parameter counts, layer-by-layer structure and the
outputs after copying the reference's weights (`grader.models`).

Source: notes, 7.2-7.6.
"""

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

import kerasdl
from grader.compare import to_array
from grader.errors import CaseFailed
from grader.models import ModelCases
from grader.registry import exercise

CHAPTER = "ch07_cnn"


def _np(x):
    return np.asarray(x, dtype=np.float64)


def _corr2d_np(X, K):
    """Float64 cross-correlation, no padding, stride 1 (the oracle of the mistakes)."""
    X, K = _np(X), _np(K)
    h, w = K.shape
    Y = np.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = np.sum(X[i: i + h, j: j + w] * K)
    return Y


def _flipped(K):
    return _np(K)[..., ::-1, ::-1]


def _same_np(X, K):
    """`same` padding (centre the kernel, zeros outside): output shaped like X."""
    X, K = _np(X), _np(K)
    h, w = K.shape
    top, left = (h - 1) // 2, (w - 1) // 2
    padded = np.pad(X, ((top, h - 1 - top), (left, w - 1 - left)))
    return _corr2d_np(padded, K)


def _no_plus_one(Y):
    return _np(Y)[:-1, :-1]


# corr2d -----------------------------------------------------------------------------

_CORR2D_MISTAKES = {
    "compute a cross-correlation: do not flip the kernel (that is a convolution)":
        lambda X, K: _corr2d_np(X, _flipped(K)),
    "no padding: the output is (n_h - k_h + 1, n_w - k_w + 1), not 'same'": _same_np,
    "the output has n_h - k_h + 1 rows and n_w - k_w + 1 columns (the +1 is missing)":
        lambda X, K: _no_plus_one(_corr2d_np(X, K)),
    "slide the kernel over the rows with k_h = K.shape[0] and the columns with "
    "k_w = K.shape[1] (not transposed)": lambda X, K: _corr2d_np(X, _np(K).T),
}


def _edge_image():
    """The notes' edge-detection image: ones(6, 8) with columns 2..5 black."""
    X = np.ones((6, 8))
    X[:, 2:6] = 0.0
    return X


@exercise("corr2d", chapter=CHAPTER, points=2, reference=kerasdl.corr2d)
def corr2d_cases(c):
    """Student `corr2d` is the 2-D cross-correlation, no padding, stride 1."""
    c.values("notes' 3x3 input, 2x2 kernel", c.tensor(np.arange(9.0).reshape(3, 3)),
             c.tensor([[0.0, 1.0], [2.0, 3.0]]), mistakes=_CORR2D_MISTAKES)
    c.values("edge detection, K = [[1, -1]]", c.tensor(_edge_image()), c.tensor([[1.0, -1.0]]),
             mistakes=_CORR2D_MISTAKES)
    c.values("non-square (5, 7) input, (2, 3) kernel", c.normal((5, 7)), c.normal((2, 3)),
             mistakes=_CORR2D_MISTAKES)
    c.values("1x1 kernel", c.normal((4, 3)), c.normal((1, 1)), mistakes=_CORR2D_MISTAKES)
    c.values("kernel as large as the input", c.normal((3, 4)), c.normal((3, 4)),
             mistakes=_CORR2D_MISTAKES, hidden=True)
    c.values("float64 input and kernel", c.normal((6, 5), dtype="float64"),
             c.normal((3, 2), dtype="float64"), mistakes=_CORR2D_MISTAKES, hidden=True)


# conv_output_shape ----------------------------------------------------------------


def _shape_mistake(rule):
    def wrong(input_size, kernel_size, padding=(0, 0), stride=(1, 1)):
        return tuple(rule(n, k, p, s) for n, k, p, s in
                     zip(input_size, kernel_size, padding, stride))
    return wrong


_SHAPE_MISTAKES = {
    "round down: floor((n - k + p + s) / s) is an integer":
        _shape_mistake(lambda n, k, p, s: (n - k + p + s) / s),
    "add the stride before dividing: floor((n - k + p + s) / s), i.e. "
    "floor((n - k + p) / s) + 1": _shape_mistake(lambda n, k, p, s: (n - k + p) // s),
    "padding is the total number of rows/columns added: do not double it":
        _shape_mistake(lambda n, k, p, s: (n - k + 2 * p + s) // s),
    "round down, not up": _shape_mistake(lambda n, k, p, s: -(-(n - k + p + s) // s)),
    "the output shrinks by k - 1 without padding: n - k + p + s, not n + p + s":
        _shape_mistake(lambda n, k, p, s: (n + p + s) // s),
}


def _as_pair(value):
    """A student's `(h, w)` as a tuple of two items, when it is an array or tensor.

    Tuples and lists are returned unchanged; a length-2 NumPy array or
    tensor (a vectorised answer) and any other sequence of numbers become a
    tuple of its items, which are then compared one by one (integer values
    required: 53.25 still fails). Anything else is returned unchanged and
    fails the comparison as "not a tuple".
    """
    if isinstance(value, (tuple, list)):
        return value
    if isinstance(value, (np.ndarray, tf.Tensor, tf.Variable)):
        array = to_array(value, "your output")
        if array.ndim != 1:
            raise CaseFailed(f"your output has shape {array.shape}, expected 2 values (h, w)")
        return tuple(array)
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return tuple(value)
    return value


def _shape_case(*args):
    """Case: the student's `(h, w)` equals the reference's, as 2 integer values."""

    def run(ctx):
        want = ctx.reference(*args)
        got = _as_pair(ctx.student(*args))
        mistakes = {hint: (lambda wrong=wrong: wrong(*args))
                    for hint, wrong in _SHAPE_MISTAKES.items()}
        return ctx.compare(got, want, mistakes=mistakes, names=("your height", "your width"))

    return run


def _drawn_pair(rng, low, high):
    """A seeded `(h, w)` pair in `[low, high)`, as Python ints."""
    return tuple(int(v) for v in rng.integers(low, high, size=2))


def _floor_shape_args(rng):
    """Seeded `(input_size, kernel_size, padding, stride)` whose division has a
    remainder on both axes: `n - k + p = s q + r` with `0 < r < s`."""
    stride = tuple(int(v) for v in rng.integers(2, 4, size=2))
    kernel = tuple(int(v) for v in rng.integers(2, 5, size=2))
    padding = tuple(int(v) for v in rng.integers(0, 3, size=2))
    size = tuple(int(k - p + s * rng.integers(2, 6) + rng.integers(1, s))
                 for k, p, s in zip(kernel, padding, stride))
    return size, kernel, padding, stride


@exercise("conv_output_shape", chapter=CHAPTER, points=2, reference=kerasdl.conv_output_shape)
def conv_output_shape_cases(c):
    """Output height and width `floor((n - k + p + s) / s)` per axis.

    The answer may be a tuple, a list, a length-2 NumPy array or tensor of
    integer values (a vectorised answer); fractional values fail.
    """
    c.custom("AlexNet's first conv: 224, k 11, s 4", _shape_case((224, 224), (11, 11), (0, 0),
                                                                 (4, 4)))
    c.custom("8x8, k 3, same (p 2), s 2", _shape_case((8, 8), (3, 3), (2, 2), (2, 2)))
    c.custom("8x8, k (3, 5), valid, s (3, 4)", _shape_case((8, 8), (3, 5), (0, 0), (3, 4)))
    c.custom("valid, stride 1: (28, 30), k (5, 3)", _shape_case((28, 30), (5, 3), (0, 0),
                                                                (1, 1)))
    c.custom("padding (2, 4), stride (1, 3) on (7, 10), k (5, 4)",
             _shape_case((7, 10), (5, 4), (2, 4), (1, 3)))
    c.custom("default padding and stride",
             _shape_case(_drawn_pair(c.rng, 5, 13), _drawn_pair(c.rng, 1, 5)),
             hidden=True)
    c.custom("floor division of the output size", _shape_case(*_floor_shape_args(c.rng)),
             hidden=True)


# corr2d_multi_in -------------------------------------------------------------------


def _multi_in_np(X, K):
    return sum(_corr2d_np(x, k) for x, k in zip(_np(X), _np(K)))


_MULTI_IN_MISTAKES = {
    "sum the cross-correlations over all input channels, not only the first":
        lambda X, K: _corr2d_np(_np(X)[0], _np(K)[0]),
    "sum over the input channels, do not average": lambda X, K: _multi_in_np(X, K) / len(_np(X)),
    "compute cross-correlations: do not flip the kernels":
        lambda X, K: _multi_in_np(X, _flipped(K)),
    "return the sum over channels (one 2-D output), not one output per channel":
        lambda X, K: np.stack([_corr2d_np(x, k) for x, k in zip(_np(X), _np(K))]),
}


def _notes_multi_in():
    A = np.arange(9.0).reshape(3, 3)
    X = np.stack([A, A + 1])
    K = np.array([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
    return X, K


@exercise("corr2d_multi_in", chapter=CHAPTER, points=2, reference=kerasdl.corr2d_multi_in,
          reuses=("corr2d",))
def corr2d_multi_in_cases(c):
    """Cross-correlation summed over the input channels."""
    X, K = _notes_multi_in()
    c.values("notes' example, 2 channels", c.tensor(X), c.tensor(K), mistakes=_MULTI_IN_MISTAKES)
    c.values("3 channels, (5, 6) input, (2, 3) kernel", c.normal((3, 5, 6)),
             c.normal((3, 2, 3)), mistakes=_MULTI_IN_MISTAKES)
    c.values("1 channel", c.normal((1, 4, 4)), c.normal((1, 3, 3)), mistakes=_MULTI_IN_MISTAKES)
    c.values("many channels, kernel as large as the input", c.normal((5, 3, 2)),
             c.normal((5, 3, 2)), mistakes=_MULTI_IN_MISTAKES, hidden=True)
    c.values("float64 input, a one-by-one kernel", c.normal((4, 3, 5), dtype="float64"),
             c.normal((4, 1, 1), dtype="float64"), mistakes=_MULTI_IN_MISTAKES, hidden=True)


# corr2d_multi_in_out ---------------------------------------------------------------


def _multi_in_out_np(X, K):
    return np.stack([_multi_in_np(X, k) for k in _np(K)])


_MULTI_IN_OUT_MISTAKES = {
    "stack the output channels on axis 0: (c_o, h, w)":
        lambda X, K: np.moveaxis(_multi_in_out_np(X, K), 0, -1),
    "each output channel sums over all input channels, not only the first":
        lambda X, K: np.stack([_corr2d_np(_np(X)[0], k[0]) for k in _np(K)]),
    "compute cross-correlations: do not flip the kernels":
        lambda X, K: _multi_in_out_np(X, _flipped(K)),
    "K is (c_o, c_i, k_h, k_w): K[o] is the kernel of output channel o":
        lambda X, K: _multi_in_out_np(X, np.swapaxes(_np(K), 0, 1)),
}


@exercise("corr2d_multi_in_out", chapter=CHAPTER, points=2,
          reference=kerasdl.corr2d_multi_in_out, reuses=("corr2d", "corr2d_multi_in"))
def corr2d_multi_in_out_cases(c):
    """One multi-input cross-correlation per output channel, stacked on axis 0."""
    X, K = _notes_multi_in()
    K3 = np.stack([K, K + 1, K + 2])
    c.values("notes' example, c_o 3, c_i 2", c.tensor(X), c.tensor(K3),
             mistakes=_MULTI_IN_OUT_MISTAKES)
    c.values("c_o 2, c_i 3, (4, 6) input, (3, 2) kernel", c.normal((3, 4, 6)),
             c.normal((2, 3, 3, 2)), mistakes=_MULTI_IN_OUT_MISTAKES)
    c.values("c_o 4, c_i 1", c.normal((1, 5, 5)), c.normal((4, 1, 2, 2)),
             mistakes=_MULTI_IN_OUT_MISTAKES)
    c.values("one output channel, kernel as large as the input", c.normal((2, 3, 3)),
             c.normal((1, 2, 3, 3)), mistakes=_MULTI_IN_OUT_MISTAKES, hidden=True)
    c.values("float64 input, a one-by-one kernel", c.normal((3, 4, 2), dtype="float64"),
             c.normal((3, 3, 1, 1), dtype="float64"), mistakes=_MULTI_IN_OUT_MISTAKES,
             hidden=True)


# corr2d_multi_in_out_1x1 -------------------------------------------------------------


def _one_by_one_np(X, K):
    X, K = _np(X), _np(K)
    c_i, h, w = X.shape
    return (K.reshape(K.shape[0], c_i) @ X.reshape(c_i, h * w)).reshape(-1, h, w)


_ONE_BY_ONE_MISTAKES = {
    "reshape K to (c_o, c_i), not (c_i, c_o) then transposed":
        lambda X, K: _one_by_one_np(X, np.reshape(_np(K), (_np(K).shape[1], -1)).T
                                    .reshape(_np(K).shape)),
    "reshape the product back to (c_o, h, w)":
        lambda X, K: _one_by_one_np(X, K).reshape(_np(K).shape[0], -1),
    "each output channel mixes all input channels (a matrix product over c_i)":
        lambda X, K: _np(K)[:, :, 0, 0].sum(axis=1)[:, None, None] * _np(X)[0],
}


@exercise("corr2d_multi_in_out_1x1", chapter=CHAPTER, points=2,
          reference=kerasdl.corr2d_multi_in_out_1x1)
def corr2d_multi_in_out_1x1_cases(c):
    """A 1x1 convolution as one matrix product: `(c_o, c_i) @ (c_i, h*w)`."""
    c.values("c_o 2, c_i 3, 3x3 input (notes)", c.normal((3, 3, 3)), c.normal((2, 3, 1, 1)),
             mistakes=_ONE_BY_ONE_MISTAKES)
    c.values("c_o 4, c_i 2, non-square (3, 5)", c.normal((2, 3, 5)), c.normal((4, 2, 1, 1)),
             mistakes=_ONE_BY_ONE_MISTAKES)
    c.values("c_o 1, c_i 1", c.normal((1, 4, 2)), c.normal((1, 1, 1, 1)),
             mistakes=_ONE_BY_ONE_MISTAKES)
    c.values("float64 input, more input than output channels",
             c.normal((5, 2, 6), dtype="float64"),
             c.normal((3, 5, 1, 1), dtype="float64"), mistakes=_ONE_BY_ONE_MISTAKES,
             hidden=True)


# pool2d ----------------------------------------------------------------------------


def _pool_np(X, pool_size, mode="max"):
    X = _np(X)
    p_h, p_w = pool_size
    Y = np.zeros((X.shape[0] - p_h + 1, X.shape[1] - p_w + 1))
    reduce = np.max if mode == "max" else np.mean
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = reduce(X[i: i + p_h, j: j + p_w])
    return Y


_POOL_MISTAKES = {
    "average pooling divides the window sum by p_h * p_w":
        lambda X, pool_size, mode="max": _np(_pool_np(X, pool_size, "avg"))
        * pool_size[0] * pool_size[1],
    "use the `mode` argument: max for 'max', mean for 'avg'":
        lambda X, pool_size, mode="max": _pool_np(X, pool_size,
                                                  "avg" if mode == "max" else "max"),
    "the output has n_h - p_h + 1 rows and n_w - p_w + 1 columns (the +1 is missing)":
        lambda X, pool_size, mode="max": _no_plus_one(_pool_np(X, pool_size, mode)),
    "p_h = pool_size[0] runs over rows, p_w = pool_size[1] over columns":
        lambda X, pool_size, mode="max": _pool_np(X, pool_size[::-1], mode),
}


@exercise("pool2d", chapter=CHAPTER, points=2, reference=kerasdl.pool2d)
def pool2d_cases(c):
    """Max and average pooling, stride 1, no padding."""
    X = c.tensor(np.arange(9.0).reshape(3, 3))
    c.values("notes' 3x3, (2, 2), max", X, (2, 2), mistakes=_POOL_MISTAKES)
    c.values("notes' 3x3, (2, 2), avg", X, (2, 2), "avg", mistakes=_POOL_MISTAKES)
    c.values("non-square (4, 5), (2, 3), avg", c.normal((4, 5)), (2, 3), "avg",
             mistakes=_POOL_MISTAKES)
    c.values("non-square (5, 4), (3, 2), max", c.normal((5, 4)), (3, 2), "max",
             mistakes=_POOL_MISTAKES)
    c.values("a one-element window returns X", c.normal((3, 4)), (1, 1), "avg",
             mistakes=_POOL_MISTAKES, hidden=True)
    c.values("window as large as the input, avg", c.normal((3, 4)), (3, 4), "avg",
             mistakes=_POOL_MISTAKES, hidden=True)
    c.values("float64 input, max pooling", c.normal((6, 5), dtype="float64"), (2, 2),
             mistakes=_POOL_MISTAKES, hidden=True)


# lenet -----------------------------------------------------------------------------

# Parameters of the notes' LeNet for 28x28x1 inputs and 10 classes (FACTS.md).
LENET_COUNTS = (61_706, 0)
LENET_INPUT = (28, 28, 1)


def _lenet_hints(mismatch):
    expected, found = mismatch.expected, mismatch.found
    if expected is not None and found is not None and expected.kind == "average pooling" \
            and found.kind == "max pooling":
        return "LeNet uses average pooling (AveragePooling2D), not max pooling"
    if expected is not None and found is not None and expected.kind == "activation" \
            and found.kind == "activation" and expected.attr("activation") == "sigmoid":
        return f"LeNet uses sigmoid activations, not {found.attr('activation')}"
    return None


@exercise("lenet", chapter=CHAPTER, points=3, reference=kerasdl.lenet, kind="model")
def lenet_cases(c):
    """LeNet: counts, layer-by-layer structure and outputs with the reference's weights."""
    cases = ModelCases(input_shape=LENET_INPUT, batch=4, hints=[_lenet_hints],
                       what="your LeNet")
    c.custom("61,706 parameters", cases.counts(LENET_COUNTS))
    c.custom("layer-by-layer structure", cases.structure())
    c.custom("output (4, 10) logits", cases.output_shape())
    c.custom("same outputs with the reference's weights", cases.outputs(), weight=2)

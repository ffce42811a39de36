"""The wire format between the judge and the student's kernel: data only.

A value crosses as a JSON document plus a list of binary buffers. What may
cross is closed: `None`, booleans, finite or special floats, integers,
strings, lists, tuples, string-keyed dicts, NumPy arrays and scalars,
TensorFlow tensors and variables (sent as `.npy` buffers of a numeric dtype,
never with pickled objects), pandas data frames of numeric, boolean or string
columns, and two kinds of references:

* ``{"$handle": n, ...}``: an object that lives in the kernel (a student's
  function, model, generator), with its type's name and MRO names, which the
  judge may only pass back or ask about (`grader.judge.remote.RemoteObject`);
* ``{"$build": kind, ...}`` and ``{"$ref": n}``: an input the judge asks the
  kernel to construct (a variable, a Keras object from a builder or a
  config, a dataset) or an object it handed over before.

`decode` is strict: it is what the judge runs on bytes from an untrusted
kernel. It refuses unknown tags, nesting deeper than `MAX_DEPTH`, more than
`MAX_ITEMS` items, strings over `MAX_STRING_CHARS`, arrays whose buffer is not
a plain `.npy` of a numeric or boolean dtype (`numpy.load` with
``allow_pickle=False``), and arrays over `MAX_ARRAY_ELEMENTS` elements, with
`WireError`. Nothing it reads is executed or unpickled.

This module imports NumPy only; TensorFlow and pandas are imported when a
value of theirs is encoded or decoded.
"""

import io
import json
import math
import sys

import numpy as np

__all__ = [
    "MAX_ARRAY_ELEMENTS",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "MAX_STRING_CHARS",
    "WireError",
    "array_from_npy",
    "array_to_npy",
    "decode",
    "dumps",
    "encode",
    "loads",
]

# Bounds on what `decode` accepts from the kernel. The largest array a case
# exchanges is a model's weights or outputs (ResNet-18: 11.2M parameters).
MAX_ARRAY_ELEMENTS = 1 << 26
MAX_DEPTH = 32
MAX_ITEMS = 100_000
MAX_STRING_CHARS = 100_000
# NumPy dtype kinds an array may have on the wire: bool, int, uint, float, complex.
_ARRAY_KINDS = "biufc"
# Text column dtypes a data frame keeps across the wire (others become object).
_TEXT_DTYPES = ("object", "str", "string", "category")
# How tensors, variables and NumPy values are told apart on the judge's side.
_ARRAY_ORIGINS = ("ndarray", "scalar", "tensor", "variable")


class WireError(ValueError):
    """A message does not follow the wire format (malformed, oversized, unknown tag)."""


# --------------------------------------------------------------------------
# Arrays
# --------------------------------------------------------------------------


def array_to_npy(array):
    """The `.npy` bytes of a numeric NumPy array (no pickled objects)."""
    array = np.asarray(array)
    if array.dtype.kind not in _ARRAY_KINDS:
        raise WireError(f"only numeric arrays cross the wire. Received: dtype={array.dtype}")
    buffer = io.BytesIO()
    np.save(buffer, np.require(array, requirements="C"), allow_pickle=False)
    return buffer.getvalue()


def array_from_npy(data):
    """A NumPy array from `.npy` bytes, refusing pickles, odd dtypes and oversize."""
    try:
        array = np.load(io.BytesIO(bytes(data)), allow_pickle=False)
    except Exception as error:  # noqa: BLE001 (any malformed buffer)
        raise WireError(f"an array buffer is not a valid .npy: {type(error).__name__}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in _ARRAY_KINDS:
        raise WireError(f"an array has a non-numeric dtype. Received: {getattr(array, 'dtype', '?')}")
    if array.size > MAX_ARRAY_ELEMENTS:
        raise WireError(
            f"an array has more than {MAX_ARRAY_ELEMENTS} elements. Received: shape={array.shape}"
        )
    return array


# --------------------------------------------------------------------------
# Encoding (either side)
# --------------------------------------------------------------------------


def _float(value):
    if math.isfinite(value):
        return value
    return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def encode(value, buffers, *, handle=None, build=None):
    """Encode `value` into a JSON-compatible tree, appending array bytes to `buffers`.

    Args:
        value: the value to encode.
        buffers: list receiving the binary buffers (`.npy` bytes).
        handle: optional `handle(obj) -> dict` for objects that are not data
            (the kernel side: a ``{"$handle": ...}`` entry). Without it such an
            object raises `WireError`.
        build: optional `build(obj) -> dict or None` tried first, for objects
            the judge hands to the kernel (``{"$build": ...}`` or ``{"$ref": ...}``).

    Returns:
        The JSON-compatible tree.
    """
    if build is not None:
        built = build(value)
        if built is not None:
            return built
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else {"$bigint": str(value)}
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (np.ndarray, np.generic)) and np.asarray(value).dtype.kind in _ARRAY_KINDS:
        origin = "ndarray" if isinstance(value, np.ndarray) else "scalar"
        return _array_entry(np.asarray(value), origin, buffers)
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(value, (tf.Tensor, tf.Variable)) and _has_value(value):
        origin = "variable" if isinstance(value, tf.Variable) else "tensor"
        return _array_entry(np.asarray(value.numpy()), origin, buffers)
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(value, keras.Variable):
        return _array_entry(np.asarray(value.numpy()), "variable", buffers)
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, buffers, handle=handle, build=build) for v in value]}
    if isinstance(value, list):
        return [encode(v, buffers, handle=handle, build=build) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"$dict": {k: encode(v, buffers, handle=handle, build=build)
                          for k, v in value.items()}}
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        return _frame_entry(value, buffers)
    if handle is not None:
        return handle(value)
    raise WireError(f"a {type(value).__name__} cannot cross the wire")


def _has_value(tensor):
    try:
        tensor.numpy()
    except Exception:  # noqa: BLE001 (symbolic tensors have no value)
        return False
    return True


def _array_entry(array, origin, buffers):
    buffers.append(array_to_npy(array))
    return {"$array": len(buffers) - 1, "origin": origin}


def _frame_entry(frame, buffers):
    columns = []
    for position, name in enumerate(frame.columns):
        series = frame.iloc[:, position]
        kind = series.dtype.kind
        if kind in _ARRAY_KINDS:
            columns.append({"name": str(name), "values": _array_entry(series.to_numpy(), "ndarray", buffers)})
        else:  # text and mixed columns travel as strings (they fail the numeric check)
            missing = series.isna().tolist()
            columns.append({"name": str(name),
                            "strings": [None if gone else str(v)
                                        for v, gone in zip(series.tolist(), missing)],
                            "dtype": str(series.dtype)})
    return {"$frame": columns}


def dumps(tree):
    """The JSON text of an encoded tree."""
    return json.dumps(tree, allow_nan=False)


def loads(text):
    """Parse JSON text from the wire (size-bounded by the caller)."""
    try:
        return json.loads(text)
    except (TypeError, ValueError) as error:
        raise WireError(f"a message is not valid JSON: {error}") from None


# --------------------------------------------------------------------------
# Decoding (strict)
# --------------------------------------------------------------------------


class _Budget:
    def __init__(self):
        self.items = 0

    def count(self):
        self.items += 1
        if self.items > MAX_ITEMS:
            raise WireError(f"a message holds more than {MAX_ITEMS} items")


def decode(tree, buffers, *, handle=None, ref=None, build=None, tensors=True):
    """Decode an encoded tree (see the module docstring), strictly.

    Args:
        tree: the parsed JSON tree.
        buffers: the message's binary buffers.
        handle: `handle(entry) -> object` for ``{"$handle": ...}`` entries;
            without it they raise `WireError`.
        ref: `ref(entry) -> object` for ``{"$ref": ...}`` entries (kernel side).
        build: `build(entry, decode) -> object` for ``{"$build": ...}`` entries
            (kernel side).
        tensors: decode tensors and variables as `tf.constant` (the judge);
            False gives NumPy arrays.

    Returns:
        The decoded value.

    Raises:
        WireError: malformed, oversized or unknown content.
    """
    budget = _Budget()

    def walk(node, depth):
        if depth > MAX_DEPTH:
            raise WireError(f"a message is nested deeper than {MAX_DEPTH}")
        budget.count()
        if node is None or isinstance(node, (bool, int, float)):
            return node
        if isinstance(node, str):
            if len(node) > MAX_STRING_CHARS:
                raise WireError(f"a string is longer than {MAX_STRING_CHARS} characters")
            return node
        if isinstance(node, list):
            return [walk(item, depth + 1) for item in node]
        if not isinstance(node, dict) or len(node) < 1:
            raise WireError(f"unexpected JSON value of type {type(node).__name__}")
        tags = [key for key in node if key.startswith("$")]
        if len(tags) != 1:
            raise WireError(f"an object must have exactly one $tag. Received: {sorted(node)[:5]}")
        tag = tags[0]
        if tag == "$tuple":
            return tuple(walk(item, depth + 1) for item in _typed(node[tag], list))
        if tag == "$dict":
            items = _typed(node[tag], dict)
            return {str(key): walk(value, depth + 1) for key, value in items.items()}
        if tag == "$float":
            text = node[tag]
            if text not in ("nan", "inf", "-inf"):
                raise WireError(f"unknown special float. Received: {text!r}")
            return float(text)
        if tag == "$bigint":
            text = _typed(node[tag], str)
            if len(text) > 400:
                raise WireError("an integer is too long")
            return int(text)
        if tag == "$array":
            return _decode_array(node, buffers, tensors)
        if tag == "$frame":
            return _decode_frame(node[tag], buffers)
        if tag == "$handle" and handle is not None:
            _typed(node[tag], int)
            return handle(node)
        if tag == "$ref" and ref is not None:
            return ref(node)
        if tag == "$build" and build is not None:
            return build(node, lambda sub: walk(sub, depth + 1))
        raise WireError(f"unknown or unexpected tag {tag!r}")

    return walk(tree, 0)


def _typed(value, kind):
    if not isinstance(value, kind):
        raise WireError(f"expected a {kind.__name__}. Received: {type(value).__name__}")
    return value


def _buffer(index, buffers):
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(buffers):
        raise WireError(f"an array refers to a missing buffer. Received: {index!r}")
    return buffers[index]


def _decode_array(node, buffers, tensors):
    array = array_from_npy(_buffer(node["$array"], buffers))
    origin = node.get("origin", "ndarray")
    if origin not in _ARRAY_ORIGINS:
        raise WireError(f"unknown array origin. Received: {origin!r}")
    if origin == "scalar":
        if array.ndim != 0:
            raise WireError("a scalar array has dimensions")
        return array[()]
    if origin in ("tensor", "variable") and tensors:
        import tensorflow as tf

        return tf.constant(array)
    return array


def _decode_frame(columns, buffers):
    import pandas as pd

    names, data = [], {}
    for column in _typed(columns, list):
        column = _typed(column, dict)
        name = _typed(column.get("name"), str)
        if "values" in column:
            entry = _typed(column["values"], dict)
            values = array_from_npy(_buffer(entry.get("$array"), buffers))
            if values.ndim != 1:
                raise WireError("a data frame column is not one-dimensional")
        else:
            strings = _typed(column.get("strings"), list)
            if len(strings) > MAX_ITEMS or not all(s is None or isinstance(s, str) for s in strings):
                raise WireError("a text column holds non-strings or too many items")
            dtype = column.get("dtype")
            values = pd.array(strings, dtype=dtype if dtype in _TEXT_DTYPES else "object")
        names.append(name)
        data[len(data)] = values
    lengths = {len(values) for values in data.values()}
    if len(lengths) > 1:
        raise WireError("data frame columns have different lengths")
    frame = pd.DataFrame(data)
    frame.columns = names
    return frame

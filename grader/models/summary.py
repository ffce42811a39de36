"""A model's structure as data, for the trust boundary of autograde.

`trace_summary` is the probe form of `grader.models.trace.trace_ops`
(`grader.probes`): it runs where the model lives (the student's kernel under
autograde) and describes each op as data (kind, attributes, the layer as a
handle, and the shapes and dtypes of its weights in canonical order). `ops_from_summary` turns such a summary back into `Op`s
on the judge's side, checking its size and types: nothing from the kernel is
trusted beyond being a bounded list of strings, numbers and tuples.
"""

from grader.models.ops import Op, StructureMismatch
from grader.models.trace import trace_ops
from grader.probes import probe

__all__ = ["ops_from_summary", "trace_summary"]

@probe
def trace_summary(model, input_shape=None):
    """`trace_ops` as data: ``[kind, attrs, layer, weights]`` per op (a probe)."""
    return [(op.kind, op.attrs, op.layer, op.weights) for op in trace_ops(model, input_shape)]


# Bounds on a structure summary from the kernel.
_MAX_OPS = 10_000
_ATTR_TYPES = (str, int, float, bool, type(None))


def _hashable(value, depth=0):
    if isinstance(value, _ATTR_TYPES):
        return value
    if isinstance(value, (tuple, list)) and depth < 4:
        return tuple(_hashable(v, depth + 1) for v in value)
    raise StructureMismatch(f"a structure summary holds a {type(value).__name__}")


def ops_from_summary(summary):
    """The `Op`s of a `trace_summary` (from the kernel: checked, made hashable).

    Raises:
        StructureMismatch: the summary is not a list of well-formed ops.
    """
    if not isinstance(summary, (list, tuple)) or len(summary) > _MAX_OPS:
        raise StructureMismatch("the model's structure summary is not a list of ops")
    ops = []
    for entry in summary:
        if not isinstance(entry, (list, tuple)) or len(entry) != 4:
            raise StructureMismatch("the model's structure summary is malformed")
        kind, attrs, layer, weights = entry
        if not isinstance(kind, str):
            raise StructureMismatch("the model's structure summary is malformed")
        attrs = _hashable(attrs)
        if not all(isinstance(pair, tuple) and len(pair) == 2 for pair in attrs):
            raise StructureMismatch("the model's structure summary is malformed")
        try:
            weights = tuple((_hashable(shape), str(dtype)) for shape, dtype in (weights or ()))
        except (TypeError, ValueError):
            raise StructureMismatch("the model's structure summary is malformed") from None
        ops.append(Op(kind, attrs, layer, weights))
    return ops

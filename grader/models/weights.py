"""Weights shared between a reference model and a student's: seeded draws, transfer.

The reference gets seeded weights (`randomize_weights`, `seeded_weights`) and
each weighted op of the student's model gets the matching op's values
(`transfer_weights`): the ops are matched by kind and weight shapes, so paths
computed in another order still match. The assignment itself is the probe
`assign_weights`, which runs where the student's model lives; the values
always come from the judge's side, so a model that rewrites its own weights
only moves its outputs away from the expected ones.
"""

import math

import numpy as np

from grader.compare import compare_values
from grader.models.ops import WEIGHTED_KINDS, StructureMismatch, ordered_weights
from grader.probes import probe
from grader.tolerances import Tolerance

__all__ = [
    "MODEL_FLOAT32",
    "assign_weights",
    "compare_outputs",
    "randomize_weights",
    "seeded_weights",
    "transfer_plan",
    "transfer_weights",
    "weighted_ops",
]

# Deep float32 networks: convolutions summed in another order by another
# (valid) implementation drift by a few ulps per layer; 1e-4 relative and
# absolute (on the output's scale) stays far below any structural mistake.
MODEL_FLOAT32 = Tolerance("float32 model", rtol=1e-4, atol=1e-4)



def weighted_ops(ops):
    """The ops that carry weights (a weighted kind with variables), in order."""
    return [op for op in ops if op.kind in WEIGHTED_KINDS and op.layer is not None
            and op.weights]


def randomize_weights(ops, rng):
    """Give every weighted op seeded values (moving variances stay positive).

    Conv/dense kernels are `N(0, 1/fan_in)`, biases `N(0, 0.1^2)`; batch
    norm gets gamma in [0.5, 1.5], beta and the moving mean `N(0, 0.1^2)` and
    the moving variance in [0.5, 1.5], so inference and training differ.
    The ops' layers must be local (the judge's reference).
    """
    for variable, values in zip(_weighted_variables(ops), _draw_weights(ops, rng)):
        variable.assign(values)


def _weighted_variables(ops):
    """The variables of every weighted op, in the order `randomize_weights` fills them."""
    return [variable for op in weighted_ops(ops)
            for variable in ordered_weights(op.layer, op.kind)]


def _weight_signature(ops):
    """What determines the seeded draws: each variable's op kind, position, shape, dtype."""
    return tuple((op.kind, position, tuple(shape), dtype)
                 for op in weighted_ops(ops)
                 for position, (shape, dtype) in enumerate(op.weights))


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


def seeded_weights(ops, seed):
    """`_draw_weights(ops, default_rng(seed))`, cached per process (do not modify)."""
    key = (seed, _weight_signature(ops))
    drawn = _SEEDED_WEIGHTS_CACHE.get(key)
    if drawn is None:
        drawn = _draw_weights(ops, np.random.default_rng(seed))
        for values in drawn:
            values.setflags(write=False)
        _SEEDED_WEIGHTS_CACHE[key] = drawn
    return drawn


def transfer_plan(source_ops, target_ops, source_values):
    """Which values go into which target op: ``[(target_op, [arrays])]``.

    Each weighted source op goes to the first unused target op of the same
    kind whose variables have the same shapes (so paths computed in another
    order still match).

    Args:
        source_ops: the ops to copy from (the reference's).
        target_ops: the ops to copy into (the student's; their `weights`
            give the shapes, their `layer` may be a handle).
        source_values: the source variables' values as arrays, in
            `randomize_weights` order.

    Raises:
        StructureMismatch: a source op has no matching target op, or the
            target has weighted ops left over.
    """
    targets = weighted_ops(target_ops)
    used = [False] * len(targets)
    remaining = iter(source_values)
    plan = []
    for number, op in enumerate(weighted_ops(source_ops), start=1):
        source_arrays = [next(remaining) for _ in op.weights]
        shapes = [tuple(shape) for shape, _ in op.weights]
        for index, candidate in enumerate(targets):
            if used[index] or candidate.kind != op.kind:
                continue
            if [tuple(shape) for shape, _ in candidate.weights] == shapes:
                used[index] = True
                plan.append((candidate, [array.astype(dtype, copy=False) for array, (_, dtype)
                                         in zip(source_arrays, candidate.weights)]))
                break
        else:
            raise StructureMismatch(
                f"no layer of yours matches the {op.describe()} (weighted layer "
                f"{number}, weight shapes {shapes})")
    if not all(used):
        extra = targets[used.index(False)]
        raise StructureMismatch(f"your {extra.describe()} has no counterpart in the "
                                "expected network")
    return plan


@probe
def assign_weights(assignments):
    """Assign values to layers: ``[(layer, kind, [arrays])]``, in `ordered_weights` order."""
    for layer, kind, arrays in assignments:
        variables = ordered_weights(layer, kind)
        if len(variables) != len(arrays):
            raise ValueError(f"{len(arrays)} values for the {len(variables)} variables of a layer")
        for variable, values in zip(variables, arrays):
            variable.assign(values)


def transfer_weights(source_ops, target_ops, source_values=None):
    """Copy the weights of `source_ops` into the matching ops of local `target_ops`.

    See `transfer_plan`; `source_values` defaults to the source variables'
    current values.
    """
    if source_values is None:
        source_values = [np.asarray(v.numpy()) for v in _weighted_variables(source_ops)]
    plan = transfer_plan(source_ops, target_ops, source_values)
    assign_weights([(op.layer, op.kind, arrays) for op, arrays in plan])


def compare_outputs(student_out, reference_out, *, what="your model's output", hidden=False):
    """Compare two model outputs with `MODEL_FLOAT32`; returns a `Comparison`."""
    return compare_values(student_out, reference_out, tol=MODEL_FLOAT32, what=what,
                          hidden=hidden)

"""Comparing two canonical op sequences, and advice in the notes' terms.

`compare_structure(student_ops, reference_ops)` reports the first mismatch
("layer 3: expected average pooling 2x2, stride 2, found max pooling 2x2,
stride 2") and `mismatch_hint` turns it into advice. `parameter_counts` is a
probe (it runs where the model lives).
"""

import dataclasses

import numpy as np

from grader.compare import Comparison
from grader.models.ops import BRANCH_KINDS, Op
from grader.probes import probe

__all__ = ["Mismatch", "compare_structure", "mismatch_hint", "parameter_counts"]


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
    branching = any(op.kind in BRANCH_KINDS for op in reference_ops)
    if branching and _multiset(student_ops) == _multiset(reference_ops):
        return (Comparison(True, f"{what} has the expected {len(reference_ops)} layers "
                                 "(paths in another order)"), None)
    return Comparison(False, f"{what}: {mismatch.message()}"), mismatch


@probe
def parameter_counts(model):
    """Return `(trainable, non_trainable)` parameter counts of a built model."""
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    frozen = sum(int(np.prod(v.shape)) for v in model.non_trainable_weights)
    return trainable, frozen



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



"""Cases for exercises that return a model, a block or a layer.

`ModelCases` builds the student's model once per check and declares the
cases: parameter counts, layer-by-layer structure (`grader.models.structure`),
the output shape, the outputs with the reference's seeded weights copied into
the student's layers (`grader.models.weights`), and behaviour in training.
Every touch of the student's model goes through the case's context: a call
(`ctx.guard`) or a probe (`ctx.probe`), so the same cases run in the
student's self-check and, under autograde, in the judge.
"""

import keras
import numpy as np
import tensorflow as tf

from grader.compare import Comparison
from grader.errors import CaseFailed
from grader.probes import probe
from grader.models.summary import ops_from_summary, trace_summary
from grader.models.structure import compare_structure, mismatch_hint, parameter_counts
from grader.models.ops import StructureMismatch
from grader.models.trace import input_shape_of, trace_ops
from grader.models.weights import (
    MODEL_FLOAT32,
    assign_weights,
    compare_outputs,
    seeded_weights,
    transfer_plan,
    transfer_weights,
)

__all__ = [
    "ModelCases",
    "TRANSFER_SEED",
    "build_layer_pair",
    "built_reference",
    "copy_reference_weights",
    "seeded_reference",
    "student_ops",
]

# Seed of the weights the reference gets before they are copied to the student.
TRANSFER_SEED = 1234
# Reference models built once per process, keyed by (reference, args): building
# AlexNet or VGG takes seconds; their weights are re-randomized before each use.
_REFERENCE_CACHE = {}


def copy_reference_weights(ctx, reference_ops, student_ops, hint=None):
    """Copy the reference's seeded weights (`TRANSFER_SEED`) to the student.

    The reference itself gets them only where its outputs are computed
    (`seeded_reference`, inside `ctx.remember`): a remembered output needs no
    reference call, and assigning GoogLeNet's or ResNet-18's millions of
    weights again on every check cost more than the rest of the grader's part.

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
    drawn = seeded_weights(reference_ops, TRANSFER_SEED)
    try:
        plan = transfer_plan(reference_ops, student_ops, drawn)
    except StructureMismatch as error:
        ctx.fail(f"the weights could not be matched: {error}",
                 hint=hint() if callable(hint) else hint)
    ctx.probe(assign_weights, [(op.layer, op.kind, arrays) for op, arrays in plan])


def seeded_reference(reference, reference_ops):
    """`reference` with its seeded weights (`TRANSFER_SEED`), moving statistics
    included: what `copy_reference_weights` gives the student. Call it right
    before the reference's outputs are computed (a training call changes its
    moving statistics)."""
    drawn = seeded_weights(reference_ops, TRANSFER_SEED)
    transfer_weights(reference_ops, reference_ops, source_values=drawn)
    return reference


def built_reference(ctx, args, input_shape):
    """The case's reference model or layer built on `args`, with its traced ops.

    Built once per process (`_REFERENCE_CACHE`, keyed by reference, args and
    input shape) and called once on zeros if it has no `keras.Input`. Give it
    its seeded weights (`seeded_reference`) before using its outputs.

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
        from `built_reference` (give it its seeded weights before use:
        `seeded_reference`).
    """
    layer = ctx.student(*args)
    ctx.guard(layer, X)
    reference, reference_ops = built_reference(ctx, args, input_shape)
    return layer, reference, student_ops(ctx, layer, input_shape), reference_ops


def student_ops(ctx, model, input_shape):
    """The canonical ops of the student's model or layer (`trace_summary`, a probe).

    Watched like the student's code: a layer could call the reference only
    while traced into a graph.

    Raises:
        CaseFailed: the structure cannot be read.
    """
    try:
        return ops_from_summary(ctx.probe(trace_summary, model, input_shape))
    except StructureMismatch as error:
        ctx.fail(f"the structure of your model could not be read: {error}")


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
                if not ctx.is_instance(net, keras.layers.Layer):
                    name = getattr(net, "type_name", None) or type(net).__name__
                    ctx.fail(f"your function returned a {name}, not a Keras "
                             "model or layer", hint="return keras.Sequential([...]) or a "
                                                    "keras.Model")
                if not ctx.probe(has_input_shape, net):
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
            self._student_ops = student_ops(ctx, self.student(ctx), self.input_shape)
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
            got = _counts(ctx.probe(parameter_counts, net))
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
            shape = (self.batch, *self.input_shape)
            got = ctx.probe(output_shape, net, shape)
            want = output_shape(reference, shape)
            if got != want:
                ctx.fail(f"{self.what} maps {shape} to {got}, expected {want}",
                         hint=self._structure_hint(ctx))
            return Comparison(True, f"{self.what} maps {shape} to {got}")

        return run

    def _transferred(self, ctx):
        """Seeded reference weights, copied into the student's model; returns the
        model and a function giving the reference with those weights."""
        reference, reference_ops = self.reference(ctx)
        net = self.student(ctx)
        copy_reference_weights(ctx, reference_ops, self.student_ops(ctx),
                               hint=lambda: self._structure_hint(ctx))
        return net, lambda: seeded_reference(reference, reference_ops)

    def _inputs(self, ctx):
        X = ctx.rng.uniform(0.0, 1.0, size=(self.batch, *self.eval_shape))
        return tf.constant(X, dtype="float32")

    def outputs(self):
        """Case: same weights, same inputs -> same outputs in inference mode."""

        def run(ctx):
            net, reference = self._transferred(ctx)
            X = self._inputs(ctx)
            # The reference with its seeded weights: its output depends on the
            # case alone.
            want = ctx.remember("reference output", lambda: reference()(X, training=False))
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
            # The reference with its seeded weights: its outputs depend on the
            # case alone.
            def reference_outputs():
                seeded = reference()
                return seeded(X, training=True), seeded(X, training=False)

            want_training, want_after = ctx.remember("reference outputs", reference_outputs)
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


@probe
def has_input_shape(model):
    """Whether a model is built with a known per-example input shape (a probe)."""
    return bool(model.built) and input_shape_of(model) is not None


@probe
def output_shape(model, shape):
    """The output shape of `model` for a symbolic input of `shape` (a probe)."""
    return tuple(None if d is None else int(d)
                 for d in model.compute_output_spec(keras.KerasTensor(tuple(shape))).shape)


def _counts(value):
    """A `(trainable, non_trainable)` pair of ints from the kernel, or a failure."""
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        return tuple(value)
    raise CaseFailed("your model's parameter counts could not be read")

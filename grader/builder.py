"""The builder plugins declare their cases with (`CaseBuilder`, conventionally `c`).

Inputs are drawn from the builder's seeded generator, so they are the same on
every run; the case kinds are described in `grader.cases`.
"""

import numpy as np
import tensorflow as tf

from grader.cases import (
    FINITE_DIFFERENCE,
    FINITE_DIFFERENCE_STEP,
    Case,
    _dtypes,
    _tf_constant,
    fresh_copy,
)
from grader.compare import compare_sample, to_array
from grader.errors import CaseFailed

__all__ = ["CaseBuilder"]


class CaseBuilder:
    """Declares an exercise's cases; passed to the plugin's builder function.

    Args:
        seed: seed of the input generator (`rng`).
    """

    def __init__(self, seed=0):
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.cases = []

    # Seeded inputs -------------------------------------------------------------

    def normal(self, shape, dtype="float32", mean=0.0, std=1.0):
        """Return a `tf.Tensor` of seeded normal values."""
        values = self.rng.normal(mean, std, size=shape)
        return _tf_constant(values, dtype=dtype)

    def uniform(self, shape, low=0.0, high=1.0, dtype="float32"):
        """Return a `tf.Tensor` of seeded uniform values in `[low, high)`."""
        return _tf_constant(self.rng.uniform(low, high, size=shape), dtype=dtype)

    def integers(self, low, high, shape, dtype="int32"):
        """Return a `tf.Tensor` of seeded integers in `[low, high)`."""
        return _tf_constant(self.rng.integers(low, high, size=shape), dtype=dtype)

    def tensor(self, values, dtype="float32"):
        """Return `tf.constant(values, dtype)`."""
        return _tf_constant(values, dtype=dtype)

    # Case kinds ----------------------------------------------------------------

    def _add(self, name, run, hidden, weight):
        if any(case.name == name for case in self.cases):
            raise ValueError(f"Case names must be unique. Received: name={name!r}")
        if not weight > 0:
            raise ValueError(f"`weight` must be positive. Received: weight={weight}")
        self.cases.append(Case(name, run, hidden=hidden, weight=weight))

    def values(self, name, *args, kwargs=None, expected=None, hidden=False, weight=1.0,
               mistakes=None, hint=None, what="your output", **options):
        """Compare student and reference outputs on the same inputs.

        Args:
            name: case name shown in the feedback.
            *args: the inputs (tensors, arrays, frames, numbers).
            kwargs: keyword inputs.
            expected: optional callable `expected(*args)` computing the
                expected value instead of the reference (an oracle).
            hidden: run only when hidden cases run.
            weight: relative weight of the case in the score.
            mistakes: dict `{hint: wrong_fn}`; `wrong_fn(*args, **kwargs)`.
            hint: hint when no mistake matches.
            what: how the feedback names the output.
            **options: options of `compare_values` (`shape_policy`,
                `allow_int`, `allow_inf`, `tol`, `names` for tuples, ...).
        """
        kwargs = kwargs or {}
        input_dtypes = _dtypes(list(args) + list(kwargs.values()))

        def run(ctx):
            if expected is None:
                want = ctx.remember("expected", lambda: ctx.reference(*args, **kwargs))
            else:
                def oracle():
                    ctx.reseed()
                    return expected(*fresh_copy(args), **fresh_copy(kwargs))
                want = ctx.remember("expected", oracle)
            got = ctx.student(*args, **kwargs)
            bound = {
                h: (lambda fn=fn: fn(*fresh_copy(args), **fresh_copy(kwargs)))
                for h, fn in (mistakes or {}).items()
            }
            return ctx.compare(got, want, what=what, mistakes=bound, hint=hint,
                               input_dtypes=input_dtypes, **options)

        self._add(name, run, hidden, weight)

    def sample(self, name, *args, dist, kwargs=None, hidden=False, weight=1.0,
               mistakes=None, hint=None, what="your sample", shape=None,
               dtype_kind="f", select=None):
        """Check a random output's moments and bounds against a distribution.

        Args:
            name: case name.
            *args: the inputs.
            dist: a `Normal` or `Uniform`.
            kwargs: keyword inputs.
            hidden: run only when hidden cases run.
            weight: relative weight.
            mistakes: dict `{hint: wrong_dist}`: the hint is shown when the
                student's sample fits the wrong distribution.
            hint: hint when no mistake matches.
            what: how the feedback names the output.
            shape: expected output shape, checked first (None: not checked).
            dtype_kind: NumPy dtype kind the output must have.
            select: optional `select(output) -> sample` (e.g. residuals).
        """
        kwargs = kwargs or {}

        def run(ctx):
            got = ctx.student(*args, **kwargs)
            if shape is not None:
                array = to_array(got, what)
                if array.shape != tuple(shape):
                    ctx.fail(f"{what} has shape {array.shape}, expected {tuple(shape)}")
            values = select(got) if select is not None else got
            result = compare_sample(values, dist, what=what)
            if not result.passed:
                found = None
                for mistake_hint, wrong_dist in (mistakes or {}).items():
                    if compare_sample(values, wrong_dist, what=what).passed:
                        found = mistake_hint
                        break
                raise CaseFailed(result.message, hint=found or hint, comparison=result)
            return result

        self._add(name, run, hidden, weight)

    def gradient(self, name, x, *, forward, method="tape", hidden=False, weight=1.0,
                 mistakes=None, hint=None, what="your derivative", **options):
        """Compare an elementwise derivative with autodiff or finite differences.

        The expected value is `d/dx sum(forward(x))` in float64: with
        `GradientTape` (`method="tape"`) or central finite differences
        (`method="finite_difference"`, step `FINITE_DIFFERENCE_STEP`).

        Args:
            name: case name.
            x: the input tensor.
            forward: the elementwise function to differentiate (a TensorFlow
                function, independent of the reference).
            method: `"tape"` or `"finite_difference"`.
            hidden, weight, mistakes, hint, what, **options: as in `values`.
        """
        if method not in ("tape", "finite_difference"):
            raise ValueError(
                "`method` must be 'tape' or 'finite_difference'. "
                f"Received: method={method!r}"
            )

        def expected(x):
            x64 = tf.cast(x, tf.float64)
            if method == "tape":
                with tf.GradientTape() as tape:
                    tape.watch(x64)
                    total = tf.reduce_sum(forward(x64))
                return tape.gradient(total, x64)
            step = FINITE_DIFFERENCE_STEP
            return (forward(x64 + step) - forward(x64 - step)) / (2 * step)

        if method == "finite_difference":
            options.setdefault("tol", FINITE_DIFFERENCE)
        self.values(name, x, expected=expected, hidden=hidden, weight=weight,
                    mistakes=mistakes, hint=hint, what=what, **options)

    def custom(self, name, fn, *, hidden=False, weight=1.0):
        """Add a case run as `fn(ctx)` (see `CaseContext`).

        `fn` returns None or a `Comparison` to pass, and raises `CaseFailed`
        (e.g. through `ctx.compare` or `ctx.fail`) to fail.
        """
        self._add(name, fn, hidden, weight)


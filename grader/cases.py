"""Cases: what a plugin declares, and the context a case runs in.

A plugin's builder receives a `grader.builder.CaseBuilder` (conventionally
`c`) and declares cases with it; inputs are drawn from the builder's seeded
generator, so they are the same on every run. Cases are lazy: the runner wraps each one (seeds,
time budget, silence, exception capture) and hands it a `CaseContext`.

Case kinds:

* `c.values(name, *args, ...)`: call student and reference on the same
  inputs and compare the outputs (`compare_values`, `compare_frames` for data
  frames, item by item for tuples);
* `c.sample(name, *args, dist=...)`: the student's output is a random sample;
  compare its moments and bounds with a distribution;
* `c.gradient(name, x, forward=...)`: the student's derivative against
  `GradientTape` (or float64 finite differences) of `forward`;
* `c.custom(name, fn)`: `fn(ctx)` drives student and reference itself
  (behaviour: in-place updates, iterators, training steps, models).

Known mistakes are small wrong implementations: when the student fails a
case, each is run on the same inputs and the hint of the one the student's
output matches is shown.
"""

import copy
import dataclasses
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
import tensorflow as tf

from grader.compare import compare_frames, compare_sequence, compare_values
from grader.errors import CaseFailed, ReferenceFailedError
from grader.sandbox import CaseTimeout, seed_everything
from grader.tolerances import Tolerance, dtype_of

__all__ = ["Case", "CaseContext", "CheckState", "StudentRaised", "fresh_copy"]

# Finite differences: central differences in float64 with this step have a
# truncation error ~h^2 and a rounding error ~1e-16 / h, both below 1e-8.
FINITE_DIFFERENCE_STEP = 1e-6
FINITE_DIFFERENCE = Tolerance("finite difference", rtol=1e-5, atol=1e-6)

_np_array = np.array
_tf_constant = tf.constant
_tf_Variable = tf.Variable
_tf_Tensor = tf.Tensor
_perf_counter = time.perf_counter


_UNCACHEABLE = object()


def _frozen(value):
    """A read-only copy of a data value for `CaseContext.remember`, else `_UNCACHEABLE`."""
    if isinstance(value, _tf_Variable):
        return _UNCACHEABLE
    if isinstance(value, _tf_Tensor | np.ndarray | np.generic):
        array = _np_array(value.numpy() if isinstance(value, _tf_Tensor) else value)
        array.setflags(write=False)
        return array
    if isinstance(value, (int, float, bool, type(None))):
        return value
    if isinstance(value, (tuple, list)):
        items = [_frozen(item) for item in value]
        if any(item is _UNCACHEABLE for item in items):
            return _UNCACHEABLE
        return tuple(items) if isinstance(value, tuple) else items
    return _UNCACHEABLE


class StudentRaised(Exception):
    """Student code raised; carries the original exception."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


def fresh_copy(value):
    """Return a copy of a case input that student code cannot share.

    Tensors become new tensors from copied buffers, variables new variables,
    arrays and data frames deep copies; tuples, lists and dicts are copied
    recursively. Models, datasets and other objects are passed as they are.
    """
    if isinstance(value, _tf_Variable):
        return _tf_Variable(_np_array(value.numpy()), trainable=value.trainable)
    if isinstance(value, _tf_Tensor):
        return _tf_constant(_np_array(value.numpy()), dtype=value.dtype)
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, pd.DataFrame | pd.Series):
        return value.copy(deep=True)
    if isinstance(value, list):
        return [fresh_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(fresh_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: fresh_copy(v) for k, v in value.items()}
    if isinstance(value, (int, float, complex, str, bool, type(None), np.generic)):
        return value
    if isinstance(value, (set, bytearray)):
        return copy.deepcopy(value)
    return value


@dataclasses.dataclass
class Case:
    """One lazily run case: `run(ctx)` returns a `Comparison`, None or raises."""

    name: str
    run: Callable
    hidden: bool = False
    weight: float = 1.0


class CheckState:
    """What the cases of one `check()` share.

    After every piece of student code `tamper_check()` runs (a zero-argument
    callable returning a message when a library function the references use
    was replaced, else None): a submission that patches `tf.maximum` in one
    case and restores it in the next would otherwise have the reference's
    expected value computed with the patch. When tampering is found, the
    values this check remembered are forgotten (`forget`).

    Attributes:
        tampered: the first tampering message, or None.
        remembered: `(memo, key)` pairs stored by `CaseContext.remember`.
    """

    def __init__(self, tamper_check=None):
        self.tamper_check = tamper_check
        self.tampered = None
        self.remembered = []

    def after_student_code(self):
        if self.tampered is None and self.tamper_check is not None:
            self.tampered = self.tamper_check()

    def forget(self):
        """Drop every value this check remembered."""
        for memo, key in self.remembered:
            memo.pop(key, None)
        self.remembered.clear()


class CaseContext:
    """What a running case may do: call student and reference, compare, fail.

    Attributes:
        seed: the case's seed (student and reference calls are seeded with it).
        hidden: whether the case is hidden (messages show no values).
        rng: a `numpy.random.Generator` seeded with `seed`.
        student_object: the submitted object itself (call it via `student`).
    """

    def __init__(self, *, student_object, reference, watcher, seed, hidden, kind_word,
                 memo=None, reset_kernels=True, state=None):
        self.student_object = student_object
        self._reference = reference
        self._watcher = watcher
        self.seed = seed
        self.hidden = hidden
        self.rng = np.random.default_rng(seed)
        self._kind_word = kind_word
        self._memo = {} if memo is None else memo
        self._reset_kernels = reset_kernels
        self._state = CheckState() if state is None else state
        # Wall time spent in the submitted code (`guard`), in seconds.
        self.student_seconds = 0.0
        self._guard_depth = 0

    def reseed(self):
        """Seed every generator with the case's seed (before each call)."""
        seed_everything(self.seed, reset_kernels=self._reset_kernels)

    def remember(self, key, compute):
        """Return `compute()`, computed once per process for this case and `key`.

        For what depends only on the case (its seeded inputs and the
        reference), never on the submission: the reference's output, the
        reference's weights after a training step. Values are stored as
        read-only NumPy arrays (tensors and arrays, also inside tuples and
        lists); a value of any other type is recomputed every time.

        Args:
            key: hashable name of the value within the case.
            compute: zero-argument callable computing it.
        """
        if key in self._memo:
            return self._memo[key]
        value = compute()
        frozen = _frozen(value)
        if frozen is not _UNCACHEABLE:
            if self._state.tampered is None:
                self._memo[key] = frozen
                self._state.remembered.append((self._memo, key))
            return frozen
        return value

    def guard(self, fn, *args, **kwargs):
        """Run `fn(*args, **kwargs)` as student code (watched; errors captured).

        Use it for anything that executes the student's code after the first
        call: calling a returned model, iterating a returned generator.
        """
        start = _perf_counter()
        self._guard_depth += 1
        try:
            with self._watcher:
                return fn(*args, **kwargs)
        except (CaseTimeout, KeyboardInterrupt):
            raise
        except BaseException as error:  # noqa: BLE001 (SystemExit from students too)
            raise StudentRaised(error) from None
        finally:
            self._guard_depth -= 1
            if not self._guard_depth:  # nested guards are counted once
                self.student_seconds += _perf_counter() - start
                self._state.after_student_code()

    def probe(self, fn, *args, **kwargs):
        """Run the grader probe `fn` (`grader.probes`) on the student's objects.

        Here it runs as watched student code; in the judge it runs in the
        student's kernel and its result comes back as data.
        """
        return self.guard(fn, *args, **kwargs)

    @staticmethod
    def is_instance(obj, cls):
        """`isinstance(obj, cls)`, also for the judge's handles to kernel objects."""
        from grader.judge.remote import is_instance

        return is_instance(obj, cls)

    @staticmethod
    def raised_instance(error, cls):
        """Whether the student's exception `error` is a `cls` (also one raised in the kernel)."""
        is_a = getattr(error, "is_a", None)
        return is_a(cls) if callable(is_a) else isinstance(error, cls)

    def student(self, *args, copy_inputs=True, **kwargs):
        """Call the student's object on (copies of) the inputs, seeded."""
        if copy_inputs:
            args, kwargs = fresh_copy(args), fresh_copy(kwargs)
        self.reseed()
        return self.guard(self.student_object, *args, **kwargs)

    def reference(self, *args, copy_inputs=True, **kwargs):
        """Call the privately held reference on (copies of) the inputs, seeded."""
        if copy_inputs:
            args, kwargs = fresh_copy(args), fresh_copy(kwargs)
        self.reseed()
        try:
            return self._reference(*args, **kwargs)
        except Exception as error:
            raise ReferenceFailedError(
                f"the reference raised {type(error).__name__}: {error}"
            ) from error

    def compare(self, student_out, expected, *, what="your output", mistakes=None,
                hint=None, input_dtypes=(), **options):
        """Compare a student value with the expected one; raise `CaseFailed` if off.

        Data frames are compared by column, tuples item by item, everything
        else with `compare_values`.

        Args:
            student_out: the student's value.
            expected: the expected value.
            what: how the feedback names the value.
            mistakes: optional dict `{hint: wrong value or zero-argument
                callable returning it}`; on a failure, the hint of the first
                one the student's value matches is attached.
            hint: hint to attach when no listed mistake matches.
            input_dtypes: dtypes of the inputs (for the tolerance).
            **options: options of `compare_values`.

        Returns:
            The passing `Comparison`.
        """
        result = _compare_any(student_out, expected, what=what, hidden=self.hidden,
                              input_dtypes=input_dtypes, **options)
        if not result.passed:
            found = self.match_mistakes(student_out, mistakes, what=what,
                                        input_dtypes=input_dtypes, **options)
            raise CaseFailed(result.message, hint=found or hint, comparison=result)
        return result

    def match_mistakes(self, student_out, mistakes, **options):
        """Return the hint of the first mistake whose value the student's matches."""
        for mistake_hint, wrong in (mistakes or {}).items():
            try:
                self.reseed()
                wrong_value = wrong() if callable(wrong) else wrong
                result = _compare_any(student_out, wrong_value, equal_nan=True, **options)
            except Exception:  # a mistake that cannot run on these inputs
                continue
            if result.passed:
                return mistake_hint
        return None

    def fail(self, message, hint=None):
        """Fail the case with a message (and an optional hint)."""
        raise CaseFailed(message, hint=hint)


def _compare_any(student_out, expected, **options):
    """Dispatch to the comparison that fits the expected value's type."""
    if isinstance(expected, pd.DataFrame):
        options.pop("input_dtypes", None)
        options.pop("equal_nan", None)
        return compare_frames(student_out, expected, **options)
    if isinstance(expected, (tuple, list)):
        return compare_sequence(student_out, expected, **options)
    return compare_values(student_out, expected, **options)


def _dtypes(values):
    """Dtypes of the tensors and arrays among (nested) case inputs."""
    found = []
    for value in values:
        if isinstance(value, (tuple, list)):
            found.extend(_dtypes(value))
        elif isinstance(value, dict):
            found.extend(_dtypes(list(value.values())))
        else:
            dtype = dtype_of(value)
            if dtype is not None and not isinstance(value, float):
                found.append(dtype)
    return found

"""The runner: grade one submitted object against one exercise.

For every case it seeds Python/NumPy/TensorFlow/Keras identically for student
and reference, turns TF32 off on a GPU, keeps stderr silent, enforces the
time budget, turns student exceptions into failed cases and watches for calls
into the reference. The score is `points * passed weight / run weight`.
"""

import builtins
import os
import time

from grader.builder import CaseBuilder
from grader.cases import CaseContext, CheckState, StudentRaised
from grader.errors import CaseFailed, GraderError, PluginError
from grader.kernel import JUDGED_ENV
from grader.integrity import CallWatcher, fingerprint_intact, kerasdl_modified, static_violation
from grader.registry import DEFAULT_TIMEOUTS
from grader.results import CaseResult, Score
from grader.sandbox import CaseTimeout, seed_everything, silenced, tf32_disabled, time_budget

__all__ = [
    "TIMEOUT_ENV",
    "HIDDEN_ENV",
    "JUDGED_ENV",
    "build_cases",
    "case_timeout",
    "hidden_enabled",
    "memo_for",
    "run_case",
    "run_exercise",
]

TIMEOUT_ENV = "KERASDL_GRADER_CASE_TIMEOUT"
HIDDEN_ENV = "NBGRADER_EXECUTION"
# What a failed hidden case says instead of its message.
HIDDEN_FAILURE = "your output is not right on this hidden case"
# What a passed hidden case says: a check's own message may name its inputs.
HIDDEN_PASS = "passed"
# Exception types a hidden case's message names; another type's name (a
# class could be named after the inputs) is not shown, nor is any text.
SHOWN_ERROR_TYPES = frozenset(
    [name for name, value in vars(builtins).items()
     if isinstance(value, type) and issubclass(value, BaseException)]
    + ["InvalidArgumentError", "ResourceExhaustedError", "UnimplementedError",
       "FailedPreconditionError", "OutOfRangeError", "InternalError", "UnknownError"])
# Student exception messages are cut to this many characters in the feedback.
MAX_ERROR_CHARS = 200

_perf_counter = time.perf_counter
# Per-process memos of what a case computes from its inputs and the reference
# alone (`CaseContext.remember`), keyed by (builder, reference, case name,
# seed): a plugin module or reference that is reloaded gets fresh memos.
_MEMOS = {}


def _memo_key(obj):
    """`obj` itself where hashable (functions, classes), else its id."""
    try:
        hash(obj)
    except TypeError:
        return id(obj)
    return obj


def hidden_enabled(hidden):
    """Whether hidden cases run: `hidden=True`, or None under nbgrader autograde."""
    if hidden is None:
        return os.environ.get(HIDDEN_ENV) == "autograde" and not os.environ.get(JUDGED_ENV)
    return bool(hidden)


def case_timeout(spec):
    """Per-case budget: env var, else the exercise's `timeout`, else its kind's."""
    value = os.environ.get(TIMEOUT_ENV)
    if value:
        try:
            seconds = float(value)
        except ValueError:
            raise GraderError(
                f"{TIMEOUT_ENV} must be a number of seconds. Received: {TIMEOUT_ENV}={value!r}"
            ) from None
        return seconds if seconds > 0 else None
    return spec.timeout or DEFAULT_TIMEOUTS[spec.kind]


def _one_line(error, hidden=False):
    # A student's exception raised in the kernel keeps its own type name.
    name = getattr(error, "type_name", None) or type(error).__name__
    if hidden:  # its text (and a made-up type name) may show the hidden inputs
        return f"{name if name in SHOWN_ERROR_TYPES else 'an exception'} on this hidden case"
    text = str(error).strip().splitlines()
    text = text[0] if text else ""
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 3] + "..."
    return f"{name}: {text}" if text else name


def build_cases(spec, seed=None):
    """Run a plugin's builder and return its cases (instructor errors raise).

    Args:
        spec: the `Exercise`.
        seed: the builder's seed; the exercise's own `seed` by default (the
            judge builds the hidden cases with a secret one).
    """
    seed = spec.seed if seed is None else seed
    builder = CaseBuilder(seed)
    seed_everything(seed, reset_kernels=spec.random_draws)
    try:
        spec.build(builder)
    except Exception as error:
        raise PluginError(
            f"the cases of exercise {spec.id!r} (module {spec.module!r}) could not be "
            f"built: {type(error).__name__}: {error}"
        ) from error
    return builder.cases


def memo_for(spec, case, seed):
    """The per-process memo of one case (`CaseContext.remember`)."""
    return _MEMOS.setdefault((spec.build, _memo_key(spec.reference), case.name, seed), {})


def run_case(case, ctx, budget, kind_word, *, use_alarm=True):
    """Run one case in its context; return `(CaseResult, timed_out)`.

    Args:
        case: the `Case`.
        ctx: its `CaseContext` (or the judge's `JudgeContext`).
        budget: the case's time budget in seconds, or None.
        kind_word: "function" or "code", for messages.
        use_alarm: enforce the budget with SIGALRM here (the self-check); the
            judge's context enforces it per request instead.
    """
    start = _perf_counter()
    result = CaseResult(case.name, False, hidden=case.hidden, weight=case.weight)
    timed_out = False
    try:
        with time_budget(budget if use_alarm else None):
            outcome = case.run(ctx)
        result.passed = True
        # A hidden case's own message may name its inputs: withheld.
        result.message = (HIDDEN_PASS if case.hidden
                          else getattr(outcome, "message", None) or "passed")
        result.max_abs_err = getattr(outcome, "max_abs_err", None)
        result.max_rel_err = getattr(outcome, "max_rel_err", None)
    except CaseTimeout:
        timed_out = True
        result.message = (f"your {kind_word} did not finish within {budget:g} s "
                          "(an endless loop?)")
    except StudentRaised as raised:
        result.message = f"your {kind_word} raised {_one_line(raised.error, case.hidden)}"
        # The released stub raises NotImplementedError (also when raised in the kernel).
        result.not_attempted = CaseContext.raised_instance(raised.error, NotImplementedError)
    except CaseFailed as failed:
        # A hidden case's message could reveal expected values: withheld.
        result.message = (HIDDEN_FAILURE if case.hidden else failed.message)
        result.hint = failed.hint
        if failed.comparison is not None:
            result.max_abs_err = failed.comparison.max_abs_err
            result.max_rel_err = failed.comparison.max_rel_err
            result.worst_index = None if case.hidden else failed.comparison.worst_index
    except GraderError:
        raise
    except Exception as error:  # the student's output broke the check
        result.message = f"your output could not be checked: {_one_line(error, case.hidden)}"
    result.seconds = _perf_counter() - start
    result.student_seconds = ctx.student_seconds
    return result, timed_out


def run_exercise(spec, obj, *, hidden=None, guard=None):
    """Grade `obj` against exercise `spec` and return a `Score`.

    Args:
        spec: the `Exercise`.
        obj: the student's function, class or factory.
        hidden: run hidden cases (`True`), not (`False`), or decide from the
            `NBGRADER_EXECUTION` environment variable (None).
        guard: optional zero-argument callable returning a message when the
            grader or a library it relies on was tampered with (else None);
            called before the cases and after every piece of student code.

    Returns:
        The `Score`.
    """
    if not fingerprint_intact(spec.fingerprint):
        return Score(0.0, exercise=spec.id, points=spec.points, integrity_message=(
            "the kerasdl reference was modified in this kernel; restart the "
            "kernel and run the notebook again"))
    modified = kerasdl_modified()
    if modified:
        return Score(0.0, exercise=spec.id, points=spec.points, integrity_message=(
            f"{modified} in this kernel, which can change what the references "
            "compute; restart the kernel and run the notebook again"))
    tampered = guard() if guard is not None else None
    if tampered:
        return Score(0.0, exercise=spec.id, points=spec.points, integrity_message=tampered)
    violation = static_violation(obj, spec.reference)
    if violation:
        return Score(0.0, exercise=spec.id, points=spec.points, integrity_message=(
            f"{violation}: submit your own implementation"))
    run_hidden = hidden_enabled(hidden)
    budget = case_timeout(spec)
    kind_word = "function" if spec.kind == "function" else "code"
    watcher = CallWatcher(spec.reuses)
    state = CheckState(guard)
    results = []
    timed_out = False
    with silenced(), tf32_disabled():
        # A case's seed is fixed by its place among all the exercise's cases,
        # so a public case draws the same whether hidden cases run or not
        # (the judge runs the public cases with these same seeds).
        cases = [(index, c) for index, c in enumerate(build_cases(spec))
                 if run_hidden or not c.hidden]
        for index, case in cases:
            if timed_out:
                results.append(CaseResult(case.name, False, "skipped after a timeout",
                                          hidden=case.hidden, weight=case.weight))
                continue
            seed = spec.seed + index
            ctx = CaseContext(student_object=obj, reference=spec.reference,
                              watcher=watcher, seed=seed, hidden=case.hidden,
                              kind_word=kind_word, memo=memo_for(spec, case, seed),
                              reset_kernels=spec.random_draws, state=state)
            result, timed_out = run_case(case, ctx, budget, kind_word)
            results.append(result)
            if watcher.violation or state.tampered:
                break
    if state.tampered or watcher.violation:
        state.forget()  # values remembered during this check may be wrong
    if state.tampered:
        return Score(0.0, exercise=spec.id, points=spec.points, results=results,
                     integrity_message=state.tampered)
    if watcher.violation:
        return Score(0.0, exercise=spec.id, points=spec.points, results=results,
                     integrity_message=(f"{watcher.violation}; this exercise asks for "
                                        "your own implementation"))
    total = sum(r.weight for r in results)
    earned = sum(r.weight for r in results if r.passed)
    value = spec.points * earned / total if total else 0.0
    return Score(value, exercise=spec.id, points=spec.points, results=results)


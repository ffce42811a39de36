"""Runner duties: bad student code becomes failed cases, never stderr or a hang."""

import math
import os
import sys
import time
import warnings

import numpy as np
import pytest
import tensorflow as tf

import grader
from grader.registry import exercise
from grader.runner import HIDDEN_FAILURE, HIDDEN_PASS, run_exercise

# Scores are rounded to 4 decimals; a pass or a fail is exact to this.
SCORE_ATOL = 1e-9

# A hanging case must stop within its budget plus this much overhead (s).
TIMEOUT_SLACK = 3.0
SMALL_TIMEOUT = "0.3"


def _double(x):
    return np.asarray(x) * 2.0


def _three_cases(c):
    """Three cases: two public, one hidden."""
    c.values("vector", c.tensor([1.0, -2.0, 3.0]))
    c.values("matrix", c.normal((2, 3)))
    c.values("secret", c.tensor([[41.0, 43.0]]), hidden=True)


@exercise("double", chapter="test", points=2, reference=_double)
def _double_cases(c):
    """Three cases: two public, one hidden."""
    _three_cases(c)


DOUBLE = _double_cases.__grader_exercise__


def run(obj, hidden=True):
    return run_exercise(DOUBLE, obj, hidden=hidden)


def test_correct_function_scores_full_points():
    """Does a correct function score all points, as a plain-number Score?"""
    score = run(lambda x: x * 2)
    assert math.isclose(float(score), 2.0, abs_tol=SCORE_ATOL)
    assert repr(score) == "2.0"
    assert score.passed
    assert [r.passed for r in score.results] == [True, True, True]


def test_raising_function_fails_with_one_line_message():
    """Does an exception become a failed case saying what was raised?"""
    def student(x):
        raise ValueError("bad shape\nsecond line")

    score = run(student)
    assert math.isclose(float(score), 0.0, abs_tol=SCORE_ATOL)
    assert score.results[0].message == "your function raised ValueError: bad shape"


def test_system_exit_is_caught():
    """Does sys.exit() in student code fail the case instead of stopping the kernel?"""
    score = run(lambda x: sys.exit(3))
    assert math.isclose(float(score), 0.0, abs_tol=SCORE_ATOL)
    assert "SystemExit" in score.results[0].message


def test_hanging_function_times_out_once(monkeypatch):
    """Does an endless loop cost one time budget and skip the remaining cases?"""
    monkeypatch.setenv("KERASDL_GRADER_CASE_TIMEOUT", SMALL_TIMEOUT)

    def student(x):
        while True:
            pass

    start = time.perf_counter()
    score = run(student)
    elapsed = time.perf_counter() - start
    assert elapsed < float(SMALL_TIMEOUT) + TIMEOUT_SLACK
    assert "did not finish within 0.3 s" in score.results[0].message
    assert [r.message for r in score.results[1:]] == ["skipped after a timeout"] * 2
    assert math.isclose(float(score), 0.0, abs_tol=SCORE_ATOL)


def test_timeout_swallowing_student_still_stops(monkeypatch):
    """Can a student's `except Exception` swallow the timeout? (It must not.)"""
    monkeypatch.setenv("KERASDL_GRADER_CASE_TIMEOUT", SMALL_TIMEOUT)

    def student(x):
        while True:
            try:
                time.sleep(0.05)
            except Exception:
                pass

    score = run(student)
    assert "did not finish" in score.results[0].message


def test_none_output_fails():
    """Does returning None fail with a hint about `return`?"""
    score = run(lambda x: None)
    assert "is None: did you forget `return`?" in score.results[0].message


def test_wrong_shape_fails():
    """Does an output of the wrong shape fail with both shapes named?"""
    score = run(lambda x: tf.reshape(x * 2, (-1, 1)))
    assert score.results[0].message == "your output has shape (3, 1), expected (3,)"


def test_nan_output_fails():
    """Does a NaN in the output fail, naming its index?"""
    def student(x):
        out = np.array(x, dtype=np.float64) * 2
        out.flat[1] = np.nan
        return out

    score = run(student)
    assert score.results[0].message == "your output has NaN at index [1]"


def test_always_equal_object_fails():
    """Does an object whose __eq__ always returns True fail?"""
    class AlwaysEqual:
        def __eq__(self, other):
            return True

        def __ne__(self, other):
            return False

    score = run(lambda x: AlwaysEqual())
    assert math.isclose(float(score), 0.0, abs_tol=SCORE_ATOL)
    assert "is a AlwaysEqual, not a tensor or array" in score.results[0].message


def test_string_output_fails():
    """Does a string output fail?"""
    score = run(lambda x: "2 * x")
    assert math.isclose(float(score), 0.0, abs_tol=SCORE_ATOL)
    assert "not a tensor or array" in score.results[0].message


def test_tf_variable_and_float64_outputs_pass():
    """Are tf.Variable and float64 NumPy outputs accepted for float32 inputs?"""
    assert math.isclose(float(run(lambda x: tf.Variable(x * 2))), 2.0, abs_tol=SCORE_ATOL)
    assert math.isclose(float(run(lambda x: np.asarray(x, dtype=np.float64) * 2)), 2.0, abs_tol=SCORE_ATOL)


def test_student_gets_copies_of_inputs():
    """Does a function that mutates its input leave the case inputs intact?"""
    original = np.array([1.0, 2.0, 3.0])
    kept = original.copy()
    received = []

    @exercise("double_np", chapter="test", points=1, reference=_double)
    def cases(c):
        c.values("numpy input", original)

    def student(x):
        received.append(x)
        out = x * 2
        x[:] = -1.0
        return out

    score = run_exercise(cases.__grader_exercise__, student, hidden=False)
    assert math.isclose(float(score), 1.0, abs_tol=SCORE_ATOL)
    assert received[0] is not original
    np.testing.assert_array_equal(original, kept)


def test_variable_inputs_are_fresh_copies():
    """Does assigning to a tf.Variable input leave the case's variable unchanged?"""
    w = tf.Variable([1.0, 2.0])

    @exercise("double_var", chapter="test", points=1, reference=_double)
    def cases(c):
        c.values("variable", w)

    def student(v):
        out = v * 2
        v.assign([0.0, 0.0])
        return out

    assert math.isclose(float(run_exercise(cases.__grader_exercise__, student, hidden=False)), 1.0, abs_tol=SCORE_ATOL)
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0])


def test_nothing_reaches_stderr(capfd):
    """Do prints to stderr, fd-2 writes, warnings and TF logs stay out of stderr?"""
    def student(x):
        print("debug to stderr", file=sys.stderr)
        os.write(2, b"raw fd 2 write\n")
        warnings.warn("a student warning")
        np.log(np.asarray([-1.0]))  # RuntimeWarning: invalid value
        tf.get_logger().warning("a TensorFlow log line")
        return x * 2

    capfd.readouterr()
    score = run(student)
    captured = capfd.readouterr()
    assert captured.err == ""
    assert math.isclose(float(score), 2.0, abs_tol=SCORE_ATOL)


def test_check_prints_feedback_to_stdout_only(capfd):
    """Does check() print its feedback on stdout and nothing on stderr?"""
    capfd.readouterr()
    grader.check("relu", lambda x: tf.maximum(x, 0.0))
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out.startswith("relu: 1 / 1 points")


def test_retracing_tf_function_is_silent(capfd):
    """Does a tf.function that retraces on every call stay silent?"""
    @tf.function
    def student(x):
        return x * 2

    capfd.readouterr()
    for _ in range(3):
        assert math.isclose(float(run(student)), 2.0, abs_tol=SCORE_ATOL)
    assert capfd.readouterr().err == ""


def test_hidden_cases_only_when_asked(monkeypatch):
    """Do hidden cases run only with hidden=True or under nbgrader autograde?"""
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert len(run(lambda x: x * 2, hidden=None).results) == 2
    assert len(run(lambda x: x * 2, hidden=True).results) == 3
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert len(run(lambda x: x * 2, hidden=None).results) == 3
    assert len(run(lambda x: x * 2, hidden=False).results) == 2
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    assert len(run(lambda x: x * 2, hidden=None).results) == 2


def test_hidden_expected_values_never_printed(capsys):
    """Does a failed hidden case show neither its expected values nor its inputs?"""
    from grader.feedback import format_text

    score = run(lambda x: x * 3, hidden=True)
    text = format_text(score)
    hidden = score.results[2]
    assert hidden.hidden and not hidden.passed
    assert hidden.message == HIDDEN_FAILURE
    for secret in ("82", "86", "41", "43", "123", "129"):
        assert secret not in text
    # The public cases do show values, to help.
    assert "expected" in score.results[0].message


def test_hidden_pass_and_exception_messages_show_no_inputs():
    """Do a passed hidden case and one whose code raised with its input in the
    message (or in a made-up exception type's name) show none of it?"""
    passed = run(lambda x: x * 2, hidden=True).results[2]
    assert passed.passed and passed.message == HIDDEN_PASS

    def echo(x):
        raise ValueError(f"got {np.asarray(x).tolist()}")

    def named(x):
        raise type(f"Got{int(np.asarray(x).ravel()[0])}", (Exception,), {})()

    echoed = run(echo, hidden=True).results
    assert "got [1.0, -2.0, 3.0]" in echoed[0].message  # a public case shows it
    assert echoed[2].message == "your function raised ValueError on this hidden case"
    made_up = run(named, hidden=True).results[2]
    assert made_up.message == "your function raised an exception on this hidden case"
    assert "41" not in made_up.message


def test_partial_credit_weights():
    """Is the score points * passed weight / run weight, rounded?"""
    def student(x):
        x = np.asarray(x)
        return x * 2 if x.ndim == 1 else x

    score = run(student, hidden=False)
    assert math.isclose(float(score), 1.0, abs_tol=SCORE_ATOL)
    assert repr(score) == "1.0"


def test_notebook_feedback_is_html_with_text_fallback(monkeypatch):
    """Inside a kernel, is the feedback displayed as HTML with a text/plain fallback?"""
    import IPython.display

    from grader import feedback

    shown = []
    monkeypatch.setattr(feedback, "_in_kernel", lambda: True)
    monkeypatch.setattr(IPython.display, "display",
                        lambda data, raw=False: shown.append(data))
    score = run(lambda x: x * 2)
    feedback.show(score)
    assert shown[0]["text/plain"].startswith("double: 2 / 2 points")
    assert "<table" in shown[0]["text/html"]


_REFERENCE_CALLS = []


def _counted_double(x):
    _REFERENCE_CALLS.append(1)
    return np.asarray(x) * 2.0


@exercise("counted_double", chapter="test", points=1, reference=_counted_double)
def _counted_cases(c):
    """Two cases whose expected values are remembered."""
    c.values("vector", c.tensor([1.0, -2.0, 3.0]))
    c.values("matrix", c.normal((2, 3)), hidden=True)


def test_reference_outputs_are_computed_once_per_process():
    """Is the reference run once per case, with later checks graded the same?"""
    spec = _counted_cases.__grader_exercise__
    _REFERENCE_CALLS.clear()
    first = run_exercise(spec, lambda x: x * 2, hidden=True)
    wrong = run_exercise(spec, lambda x: x * 3, hidden=True)
    again = run_exercise(spec, lambda x: x * 2, hidden=True)
    assert len(_REFERENCE_CALLS) == 2
    assert math.isclose(float(first), 1.0, abs_tol=SCORE_ATOL)
    assert math.isclose(float(wrong), 0.0, abs_tol=SCORE_ATOL)
    assert math.isclose(float(again), 1.0, abs_tol=SCORE_ATOL)


def test_remember_freezes_data_and_skips_variables():
    """Are remembered arrays read-only, and are variables recomputed every time?"""
    from grader.cases import CaseContext
    ctx = CaseContext(student_object=None, reference=None, watcher=None, seed=0,
                      hidden=False, kind_word="function")
    calls = []

    def compute():
        calls.append(1)
        return tf.constant([1.0, 2.0]), [np.zeros(2)]

    value = ctx.remember("pair", compute)
    assert ctx.remember("pair", compute) is value and len(calls) == 1
    assert not value[0].flags.writeable and not value[1][0].flags.writeable
    variable_calls = []

    def make_variable():
        variable_calls.append(1)
        return tf.Variable([1.0])

    ctx.remember("variable", make_variable)
    ctx.remember("variable", make_variable)
    assert len(variable_calls) == 2


def test_a_rebuilt_exercise_does_not_reuse_remembered_outputs():
    """Does an exercise registered again (a reloaded plugin) get fresh expected values?"""
    def triple(x):
        return np.asarray(x) * 3.0

    # The same id and case names as `double`, another builder and reference.
    @exercise("double", chapter="test", points=2, reference=triple)
    def _triple_cases(c):
        _three_cases(c)

    run(lambda x: x * 2)
    score = run_exercise(_triple_cases.__grader_exercise__, lambda x: x * 3, hidden=True)
    assert math.isclose(float(score), 2.0, abs_tol=SCORE_ATOL)

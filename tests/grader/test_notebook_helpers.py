"""The notebook helpers: `grader.done` (is an exercise still the stub?) and the quiet start."""

import os
import subprocess
import sys
import textwrap

import pytest

import grader
from grader.notebook import unfinished


def _define(source, name):
    """Define `name` from `source` in a real file-less module, as a notebook cell does."""
    namespace = {}
    exec(compile(textwrap.dedent(source), f"<cell {name}>", "exec"), namespace)
    return namespace[name]


def released_stub(X, K):
    """What nbgrader releases: the solution region replaced by the stub."""
    # YOUR CODE HERE
    raise NotImplementedError()


def finished(X, K):
    """A written answer."""
    return X + K


def finished_with_leftover_stub(X, K):
    """The student returned before the stub line, which is dead code now."""
    return X * K
    raise NotImplementedError()


def raises_in_a_branch(X):
    """NotImplementedError inside a branch is the student's own choice, not the stub."""
    if X is None:
        raise NotImplementedError("no input")
    return X


class StubLayer:
    """A class whose `call` is still the stub."""

    def __init__(self, units):
        self.units = units

    def call(self, X):
        # YOUR CODE HERE
        raise NotImplementedError()


class FinishedLayer:
    def __init__(self, units):
        self.units = units

    def call(self, X):
        return X


def test_done_is_true_for_written_code(capsys):
    """Are a written function, a returned-before stub and a class with no stub done?"""
    assert grader.done(finished, finished_with_leftover_stub, raises_in_a_branch, FinishedLayer)
    assert capsys.readouterr().out == ""


def test_done_names_the_unfinished_exercise(capsys):
    """Does an unfinished exercise make done() False and print one line naming it?"""
    assert grader.done(released_stub) is False
    assert capsys.readouterr().out == "finish `released_stub` above to see this\n"


def test_done_names_every_unfinished_exercise_in_order(capsys):
    """Are several unfinished exercises listed in the order given, finished ones left out?"""
    assert not grader.done(StubLayer, finished, released_stub)
    assert capsys.readouterr().out == "finish `StubLayer` and `released_stub` above to see this\n"
    third = _define("def relu(x):\n    raise NotImplementedError\n", "relu")
    assert not grader.done(StubLayer, third, released_stub)
    assert capsys.readouterr().out == (
        "finish `StubLayer`, `relu` and `released_stub` above to see this\n")


def test_unfinished_without_source_falls_back_to_the_code_object():
    """Without source (exec'd code), is a body of nothing but the stub still unfinished?"""
    stub = _define("def f(x):\n    raise NotImplementedError()\n", "f")
    written = _define("def g(x):\n    return abs(x)\n", "g")
    assert unfinished(stub, written) == ["f"]


def test_done_needs_an_argument():
    """Does done() with nothing to check raise a TypeError saying so?"""
    with pytest.raises(TypeError, match="at least one function or class"):
        grader.done()


def test_quiet_tensorflow_leaves_stderr_empty_and_restores_it():
    """In a fresh process, is stderr empty through TensorFlow's start, and usable after it?"""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    code = ("import os, grader\n"
            "tf = grader.quiet_tensorflow()\n"
            "print(tf.constant(2.0).numpy() * 2)\n"
            "os.write(2, b'stderr works\\n')\n")
    process = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    assert process.stdout == "4.0\n"
    assert process.stderr == "stderr works\n"

"""Helpers for the course notebooks: a quiet start and "is this exercise done yet?".

The first cell of every course notebook starts TensorFlow through
`quiet_tensorflow`, and every demonstration cell that runs a student's code asks
`done` first, so that "Run All" on a half-finished notebook always reaches the
end::

    grader.quiet_tensorflow()   # in the first cell, before `import tensorflow`

    if grader.done(corr2d):     # in a demonstration cell
        print(corr2d(X, K))

An unfinished exercise is one still holding nbgrader's stub: its body (or, for
a class, the body of one of its methods) reaches `raise NotImplementedError()`.
`done` says so in one printed line instead of letting the call raise.

This module imports neither TensorFlow nor nbgrader when it loads.
"""

import ast
import contextlib
import inspect
import os
import sys
import textwrap
import types

__all__ = ["done", "quiet_tensorflow", "unfinished"]


def _raises_not_implemented(statement):
    """Whether `statement` is `raise NotImplementedError` or `raise NotImplementedError(...)`."""
    if not isinstance(statement, ast.Raise) or statement.exc is None:
        return False
    exc = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _is_stub(function):
    """Whether calling `function` reaches a top-level `raise NotImplementedError`.

    Reads the function's source (IPython keeps the source of every cell) and
    walks its top-level statements: a `return` before the `raise` means the
    stub line is dead code the student left behind. Without source, only a
    body made of nothing but the stub (`NotImplementedError` is the one name
    its code uses) counts as unfinished.
    """
    function = inspect.unwrap(function)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        code = getattr(function, "__code__", None)
        return code is not None and code.co_names == ("NotImplementedError",)
    definition = tree.body[0] if tree.body else None
    if not isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False  # a lambda or another callable: nothing to tell
    for statement in definition.body:
        if isinstance(statement, ast.Return):
            return False
        if _raises_not_implemented(statement):
            return True
    return False


def _functions_of(obj):
    """The plain functions `obj` runs: itself, or the methods a class defines."""
    if isinstance(obj, type):
        functions = []
        for value in vars(obj).values():
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, types.FunctionType):
                functions.append(value)
        return functions
    if isinstance(obj, (types.FunctionType, types.MethodType)):
        return [obj]
    return []


def unfinished(*objects):
    """Return the names of the objects that are still nbgrader's released stub.

    Args:
        *objects: the student's functions or classes (`corr2d`, `BatchNorm`).

    Returns:
        list of str, the `__name__` of each unfinished object, in the order given.
    """
    return [getattr(obj, "__name__", repr(obj)) for obj in objects
            if any(_is_stub(function) for function in _functions_of(obj))]


def _name_list(names):
    quoted = [f"`{name}`" for name in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def done(*objects):
    """Whether every exercise a demonstration needs is written; says which is not.

    Use it to guard a notebook cell that runs the student's code::

        if grader.done(corr2d_multi_in, corr2d):
            print(corr2d_multi_in(X, K))

    Args:
        *objects: the student's functions or classes the cell runs, including
            those they call (`mlp` calls `relu`).

    Returns:
        True when none of them is the released stub. Otherwise False, after
        printing one line such as "finish `corr2d` above to see this".

    Raises:
        TypeError: when called with no object.
    """
    if not objects:
        raise TypeError("done() needs at least one function or class. Received: no argument")
    names = unfinished(*objects)
    if names:
        print(f"finish {_name_list(names)} above to see this")
        return False
    return True


@contextlib.contextmanager
def _stderr_descriptor_to_devnull():
    """Point file descriptor 2 at /dev/null for the block, then restore it."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_tensorflow():
    """Import TensorFlow and find its devices without its C++ start-up lines.

    TensorFlow's C++ libraries log while they load, before absl's logging is
    initialized, and such lines ignore `TF_CPP_MIN_LOG_LEVEL`: the absl
    preamble, the oneDNN notice and "Could not find cuda drivers". Looking for
    GPUs on a machine without one logs "failed call to cuInit". All of these go
    straight to file descriptor 2, which a Jupyter kernel shows as red stderr
    text under the first cell. This function loads TensorFlow and lists its
    devices with descriptor 2 pointed at /dev/null, then restores it. Python's
    exceptions still propagate (a broken install raises as usual); later C++
    errors still reach stderr (`TF_CPP_MIN_LOG_LEVEL` is 2 under `grader`).

    Returns:
        the `tensorflow` module.
    """
    with _stderr_descriptor_to_devnull():
        import tensorflow as tf

        tf.config.list_physical_devices()
    return tf

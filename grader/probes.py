"""Probes: grader helpers that run where the object they inspect lives.

A check often needs more than a call of the student's object: the layers of
a returned model, its parameter counts, the batches a generator yields, or
weights set into its layers. A *probe* is a grader function that does one
such thing. In the student's own self-check (`grader.check`) it runs in the
kernel like any helper. Under autograde the judge asks the kernel to run it
on the student's object (`grader.kernel.host`, request ``call``) and gets its
result back as data: the judge never holds the student's objects, and treats
what a probe reports as the student's answer, not as a fact (a summary of a
model's structure is checked against the model's outputs).

Probes are registered by name with `@probe`; the kernel runs only registered
probes, looked up by that name in modules of the `grader` package.
"""

import importlib
import itertools

__all__ = ["probe", "get", "name_of", "take", "variable_values", "assign_variables"]

_MARK = "__grader_probe__"


def probe(function):
    """Register `function` as a probe named ``module:qualname``."""
    setattr(function, _MARK, f"{function.__module__}:{function.__qualname__}")
    return function


def name_of(function):
    """The registered name of a probe, or None if `function` is not one."""
    return getattr(function, _MARK, None)


def get(name):
    """The probe registered as `name` (``module:qualname`` in the grader package).

    Raises:
        ValueError: `name` is not a registered probe of the grader package.
    """
    module_name, _, qualname = str(name).partition(":")
    if not module_name.startswith("grader.") or not qualname.isidentifier():
        raise ValueError(f"not a grader probe. Received: name={name!r}")
    function = getattr(importlib.import_module(module_name), qualname, None)
    if function is None or name_of(function) != name:
        raise ValueError(f"not a registered probe. Received: name={name!r}")
    return function


@probe
def take(iterable, limit):
    """The first `limit` items of `iter(iterable)`, as a list (a generator run to its end)."""
    return list(itertools.islice(iter(iterable), int(limit)))


@probe
def variable_values(obj, which="variables"):
    """Values of a layer's or model's `variables` (or `trainable_variables`), in order."""
    return [variable.numpy() for variable in getattr(obj, which)]


@probe
def assign_variables(obj, values, which="variables"):
    """Assign `values` (arrays, in order) to `obj`'s `variables` (or another list)."""
    variables = list(getattr(obj, which))
    if len(variables) != len(values):
        raise ValueError(f"{len(values)} values for {len(variables)} variables")
    for variable, value in zip(variables, values):
        variable.assign(value)

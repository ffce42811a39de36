"""Hidden cases over the whole registry: named by what they test, silent about
their inputs, and drawn from the seed the runner (or the judge) passes.

A student can run `grader.check(id, obj, hidden=True)` on their own machine:
whatever a hidden case's name or message shows about its inputs, a lookup
table can use. Under autograde the judge builds the hidden cases with a
secret seed, so inputs drawn from that seed differ from the self-check's.
"""

import re

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from grader.cases import CaseContext, CheckState
from grader.integrity import CallWatcher
from grader.registry import default_registry
from grader.runner import HIDDEN_FAILURE, HIDDEN_PASS, build_cases, run_case

# Words that hold digits but name a concept, not a value: dtypes, the L2 penalty.
_NAMED_WITH_DIGITS = re.compile(r"\b(?:float|int)(?:16|32|64)\b|\bL2\b")
# What a name that shows values looks like (any digit left is one too).
_VALUE_PATTERNS = [
    re.compile(r"\d+\s*x\s*\d+"),                 # 11x9, 1x1
    re.compile(r"\b(?:k|p|s|i|n|b|w|eps|lr|wd|batch|batch_size|length)\s*=?\s*-?\d"),
    re.compile(r"\(\s*-?\d+(?:\.\d+)?\s*,"),    # a shape or argument tuple
    re.compile(r"\d"),
]
# Every message a hidden case may show (the time budget is not an input).
_HIDDEN_MESSAGE = re.compile(
    rf"^(?:{re.escape(HIDDEN_PASS)}|{re.escape(HIDDEN_FAILURE)}"
    r"|your (?:function|code) raised (?:\w+|an exception) on this hidden case"
    r"|your output could not be checked: (?:\w+|an exception) on this hidden case"
    r"|your (?:function|code) did not finish within [\d.]+ s \(an endless loop\?\)"
    r"|skipped after a timeout)$")
# Hidden cases whose student call gets the same arguments under every seed, and
# why no lookup table can use them.
_FIXED_ARGUMENTS = {
    # The student's output is a random sample judged by its statistics.
    "synthetic_data": "random output",
    "xavier_normal": "random output",
    "xavier_uniform": "random output",
    "XavierUniform": "random output",
    # Constructor arguments of a model or layer; the inputs its outputs are
    # compared on come from the case's seed, after construction.
    "mlp_model": "constructor",
    "DropoutMLP": "constructor",
    "Inception": "constructor",
    "BatchNorm": "constructor",
    "Residual": "constructor",
    "resnet_block": "constructor",
    "vgg_block": "constructor",
    "vgg": "constructor",
    "nin_block": "constructor",
    "nin": "constructor",
}
SEEDS = (0, 7919)


def describes_values(name):
    """Whether a case name shows sizes or values (beyond dtype names and L2)."""
    text = _NAMED_WITH_DIGITS.sub("", name)
    return any(pattern.search(text) for pattern in _VALUE_PATTERNS)


def hidden_specs():
    return [pytest.param(default_registry.get(i), id=i) for i in default_registry.ids()
            if any(case.hidden for case in build_cases(default_registry.get(i)))]


def run_hidden(spec, obj, seed):
    """Run the hidden cases of `spec`, built and seeded with `seed` as the judge
    does with its secret; returns `{name: CaseResult}`."""
    kind_word = "function" if spec.kind == "function" else "code"
    results = {}
    for index, case in enumerate(build_cases(spec, seed=seed)):
        if case.hidden:
            ctx = CaseContext(student_object=obj, reference=spec.reference,
                              watcher=CallWatcher(spec.reuses), seed=seed + index,
                              hidden=True, kind_word=kind_word, memo={},
                              reset_kernels=spec.random_draws, state=CheckState())
            results[case.name], _ = run_case(case, ctx, None, kind_word)
    return results


class Leak(Exception):
    """What the leaky submission raises: its message holds every argument."""


def digest(value):
    """A comparable text of a call's arguments (arrays by their values)."""
    if isinstance(value, (tf.Tensor, tf.Variable, np.ndarray)):
        array = np.asarray(value)
        return f"{array.dtype}{array.shape}{array.tobytes().hex()}"
    if isinstance(value, pd.DataFrame):
        return value.to_csv()
    if isinstance(value, tf.data.Dataset):
        return [digest(batch) for batch in value]
    if isinstance(value, (list, tuple)):
        return [digest(item) for item in value]
    if isinstance(value, dict):
        return {key: digest(item) for key, item in sorted(value.items())}
    if isinstance(value, (int, float, str, bool, type(None), np.generic)):
        return repr(value)
    return type(value).__name__  # a model, a loss, an optimizer


def leaky_and_recording():
    """A submission that raises with its arguments in the message, and its record."""
    calls = []

    def leaky(*args, **kwargs):
        calls.append(digest((args, kwargs)))
        values = [np.asarray(a).ravel()[:3].tolist() if isinstance(a, (tf.Tensor, np.ndarray))
                  else a for a in args]
        raise Leak(f"LEAK {values!r} {kwargs!r}")

    return leaky, calls


@pytest.mark.parametrize("name", [
    "floor matters: 11x9, k 2, p 1, s 3",
    "length 1000, p=4",
    "k=5, i=4, 20 rows",
    "(3, 12, 9, 0.6, 0) on (5, 5, 1) images: dropout after the first hidden layer",
    "float64 (5, 3)",
    "dropout 0.8, float64",
    "eps 0: the clean accuracy",
    "Residual(4, True, 1) outputs",
    "7 examples, batch_size 10",
])
def test_the_rule_catches_names_with_values(name):
    """Does the rule flag the names hidden cases used to have?"""
    assert describes_values(name)


@pytest.mark.parametrize("name", [
    "floor division of the output size", "a long random vector, a larger p",
    "float64 probabilities, int64 labels", "dropout and L2 on a small batch",
])
def test_the_rule_accepts_names_of_what_is_tested(name):
    """Does the rule let through names that describe the test (dtypes and L2 allowed)?"""
    assert not describes_values(name)


def test_no_hidden_case_name_shows_values():
    """Is every hidden case of every exercise named by what it tests, with no values?"""
    shown = []
    for exercise_id in default_registry.ids():
        spec = default_registry.get(exercise_id)
        for seed in SEEDS:
            shown += [(exercise_id, case.name) for case in build_cases(spec, seed=seed)
                      if case.hidden and describes_values(case.name)]
    assert not shown, shown


def test_hidden_case_names_do_not_depend_on_the_seed():
    """Are the hidden cases the same list of names whatever the seed (the feedback
    of the self-check and of the judge name the same cases)?"""
    for exercise_id in default_registry.ids():
        spec = default_registry.get(exercise_id)
        names = [[c.name for c in build_cases(spec, seed=seed) if c.hidden] for seed in SEEDS]
        assert names[0] == names[1], exercise_id


def test_a_leaky_submission_shows_its_inputs_only_in_public_cases():
    """Does the message of a public case show an exception's text (the check can
    fail), while the hidden one's does not?"""
    import grader

    leaky, _ = leaky_and_recording()
    score = grader.check("lp_norm", leaky, hidden=True, quiet=True)
    public = [r.message for r in score.results if not r.hidden]
    hidden = [r.message for r in score.results if r.hidden]
    assert hidden and all("LEAK" in m for m in public), public
    assert all(m == "your function raised an exception on this hidden case" for m in hidden)


@pytest.mark.parametrize("spec", hidden_specs())
def test_hidden_messages_and_inputs(spec):
    """Does no hidden case's message show the inputs, and does every hidden case
    whose arguments can be looked up draw them from the seed it is built with?"""
    recorded = {}
    for seed in SEEDS:
        leaky, calls = leaky_and_recording()
        results = run_hidden(spec, leaky, seed)
        for name, result in results.items():
            assert not result.passed, (spec.id, name)
            assert _HIDDEN_MESSAGE.match(result.message), (spec.id, name, result.message)
            assert "LEAK" not in result.message and result.worst_index is None
        recorded[seed] = calls
    first, second = recorded.values()
    assert first and len(first) == len(second), spec.id
    same = [index for index, (a, b) in enumerate(zip(first, second)) if a == b]
    if spec.id in _FIXED_ARGUMENTS:
        # The exception is needed: its arguments really are the same.
        assert len(same) == len(first), (spec.id, _FIXED_ARGUMENTS[spec.id])
    else:
        assert not same, (spec.id, same)


def test_every_fixed_argument_exception_names_a_hidden_case():
    """Does every exercise excused from seeded arguments have hidden cases?"""
    with_hidden = {param.id for param in hidden_specs()}
    assert set(_FIXED_ARGUMENTS) <= with_hidden

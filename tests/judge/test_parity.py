"""The judge gives every fixture submission the score the self-check gives it.

The chapter tables of `tests/grader/fixtures` list correct implementations
(the usual way and unusual valid ways) and known mistakes. Each runs in a
live kernel; the judge grades it through the channel, with its hidden cases
built from the exercise's own seed (as `grader.check(..., hidden=True)`
does), and must give exactly the self-check's score; with a secret seed it
must still give full points to the correct ones and show the mistakes' hints.
"""

import importlib

import pytest

import grader
import grader.feedback
from fixtures import FULL
from grader.judge.judge import Judge
from tests.judge.kernels import TESTS_DIR, live_kernel

CHAPTER_MODULES = ("ch02", "ch03", "ch04", "ch05", "ch06", "ch07_cnn", "ch08_modern_cnn",
                   "ch08_batchnorm_resnet", "ch08_adversarial")
# Scores are rounded to 4 decimals by `Score`; equal scores differ by less than this.
SCORE_ATOL = 1e-9
# The run secret of the second pass (any value: correct code passes every seed).
SECRET = 20261204


def _table():
    """Every row of the chapter tables: ``CASES`` (id, implementation, expected)
    or, for chapters 7-8, ``SUBMISSIONS`` (id, label, implementation, expected)."""
    entries = []
    for name in CHAPTER_MODULES:
        module = importlib.import_module(f"fixtures.{name}")
        if hasattr(module, "CASES"):
            rows = [(row[0], row[1], row[2], f"{name}.CASES[{i}][1]", row[1].__name__)
                    for i, row in enumerate(module.CASES)]
        else:
            rows = [(row[0], row[2], row[3], f"{name}.SUBMISSIONS[{i}][2]", row[1])
                    for i, row in enumerate(module.SUBMISSIONS)]
        for exercise_id, implementation, expected, expression, label in rows:
            if expected in ("full",):
                expected = FULL
            entries.append(pytest.param(exercise_id, implementation, expected, expression,
                                        id=f"{exercise_id}-{label}"))
    return entries


@pytest.fixture(scope="module")
def kernel():
    with live_kernel(extra_path=[TESTS_DIR / "grader", TESTS_DIR.parent]) as live:
        modules = ", ".join(CHAPTER_MODULES)
        live.run(f"from fixtures import {modules}")
        yield live


@pytest.mark.slow
@pytest.mark.parametrize("exercise_id, implementation, expected, expression", _table())
def test_judge_matches_self_check(kernel, exercise_id, implementation, expected, expression):
    """Does the judge give the self-check's score, and the table's verdict with a secret seed?"""
    kernel.run(f"student = {expression}")
    local = grader.check(exercise_id, implementation, hidden=True, quiet=True)
    same_seeds = Judge(secret=None).grade(exercise_id, "student", kernel.channel())
    details = [(r.name, r.passed, r.message) for r in same_seeds.results]
    assert abs(same_seeds.score - float(local)) <= SCORE_ATOL, (same_seeds.message, details)
    verdict = Judge(secret=SECRET).grade(exercise_id, "student", kernel.channel())
    if expected == FULL:
        assert verdict.score == pytest.approx(verdict.points, abs=SCORE_ATOL), verdict.results
    else:
        assert verdict.score < verdict.points
        feedback = grader.feedback.format_text(verdict.as_score())
        assert expected in feedback, feedback

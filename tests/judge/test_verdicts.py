"""What nbgrader scores under autograde: the judge's verdict, and flagged disagreements."""

import nbformat
import pytest
from nbgrader.utils import determine_grade

from grader.course.verdicts import disagreement, graded_outputs
from grader.judge.judge import hidden_call_seed, hidden_seed
from grader.judge.verdict import Verdict

# Scores are rounded to 4 decimals in verdicts.
SCORE_TOL = 1e-6
SECRET = 123456789


def _printed(value):
    return nbformat.v4.new_output("execute_result", data={"text/plain": repr(value)},
                                  execution_count=1)


def _cell(outputs, points=2.0):
    return nbformat.v4.new_code_cell(
        "grader.check('squared_error_grad', f)", outputs=outputs,
        metadata={"nbgrader": {"grade": True, "solution": False, "locked": True,
                               "grade_id": "test_f", "points": points}})


@pytest.mark.parametrize("verdict, kernel, expected", [
    (Verdict("x", 0.0, 2.0, public_score=0.0), [_printed(2.0)], "printed 2"),
    (Verdict("x", 0.0, 2.0, message="name 'f' is not defined"), [_printed(2.0)], "printed 2"),
    (Verdict("x", 0.0, 2.0, public_score=0.0), [], "printed no score"),
    (Verdict("x", 2.0, 2.0, public_score=2.0), [_printed(2.0)], None),
    (Verdict("x", 1.0, 2.0, public_score=2.0), [_printed(2.0)], None),
    (Verdict("x", 0.0, 2.0, message="not attempted"), [_printed(0.0)], None),
], ids=["forged-number", "forged-over-missing-object", "silenced", "agree",
        "hidden-failed-only", "honest-zero"])
def test_disagreement(verdict, kernel, expected):
    flag = disagreement(verdict, kernel)
    if expected is None:
        assert flag is None
    else:
        assert flag is not None and expected in flag


@pytest.mark.parametrize("judged, kernel", [(0.0, [_printed(2.0)]), (0.5, []),
                                            (1.25, [_printed(99.0)])])
def test_nbgrader_scores_the_verdict_not_the_kernel(judged, kernel):
    outputs, _ = graded_outputs(kernel, Verdict("x", judged, 2.0, public_score=judged))
    assert abs(determine_grade(_cell(outputs))[0] - judged) < SCORE_TOL


def test_hidden_seeds_reveal_nothing_about_the_secret():
    seeds = [hidden_call_seed(SECRET, "corr2d", index) for index in range(4)]
    assert len(set(seeds)) == len(seeds)
    assert hidden_seed(SECRET, "corr2d") not in seeds
    assert hidden_seed(SECRET, "corr2d") != hidden_seed(SECRET, "pool2d")
    assert hidden_seed(SECRET + 1, "corr2d") != hidden_seed(SECRET, "corr2d")
    # Nothing linear: consecutive cases' seeds are not consecutive numbers.
    assert all(abs(b - a) != 1 for a, b in zip(seeds, seeds[1:]))

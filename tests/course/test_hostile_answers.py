"""Malformed answers from the student's kernel (issue 13), end to end.

Five students, graded in the one hostile run (`hostile_class` in
``conftest.py``) beside the forgers of ``test_hostile_judge.py``, answer the judge's
`lp_norm` cases (3 public, then 2 hidden, equal weights) with malformed data;
their `mlp_model` is the stub. Each malformed answer must cost only its case:
the judge goes on, the other cases, exercises and students are graded.
"""

import numpy as np
import pytest

from course.fixtures.hostile import graded_cell, judge_verdict
from course.fixtures.judge_students import MALFORMED
from course.fixtures.tiny_course import cell_scores, notebook_of, stream_text
from grader.course.executor import STUCK_KERNEL

pytestmark = pytest.mark.slow

# (mlp_model, lp_norm) each student's code earns.
EXPECTED = {
    "garbage": (0.0, 0.2),   # text, NaN, wrong shape, unreadable object; the last case right
    "huge": (0.0, 0.8),      # 80 MB answer on one public case
    "oversize": (0.0, 0.8),  # 160 MB answer on the first hidden case
    "hang": (0.0, 0.8),      # ignores interrupts, answers 40 s late on the last case
    "dies": (0.0, 0.8),      # os._exit on the last case
}
# Students whose kernel is lost on lp_norm's last case.
LOST = ("hang", "dies")


def _scores(run, student):
    scores = cell_scores(run.course)[student]
    return [scores["test_model"], scores["test_norm"]]


def _case_lines(cell):
    """The verdict's feedback text of a graded cell, one line per case."""
    return [line for line in cell.outputs[0].data["text/markdown"].splitlines()
            if "PASS" in line or "FAIL" in line]


@pytest.fixture
def run(hostile_class):
    """The hostile class's run (`hostile_class` in ``conftest.py``)."""
    return hostile_class


def test_class_covers_every_answer():
    assert set(EXPECTED) == set(MALFORMED)


@pytest.mark.parametrize("student", sorted(set(EXPECTED) - {"oversize"}))
def test_malformed_answer_costs_only_its_case(run, student):
    """Is each student recorded with exactly the cases its well-formed answers pass?"""
    outcome = run.outcomes[student]
    assert outcome.recorded, outcome
    np.testing.assert_allclose(_scores(run, student), EXPECTED[student], atol=1e-6,
                               err_msg=student)


def test_garbage_fails_each_bad_case_and_passes_the_last(run):
    """After text, NaN, a wrong shape and an unreadable object, is the last case judged?"""
    lines = _case_lines(graded_cell(notebook_of(run.course, "garbage"), "lp_norm"))
    assert len(lines) == 5, lines
    assert ["PASS" in line for line in lines] == [False, False, False, False, True]


@pytest.mark.parametrize("student, bad_case", [("huge", 1), ("oversize", 3)])
def test_oversized_answer_fails_one_case_and_keeps_the_kernel(run, student, bad_case):
    """Does an answer over the judge's reply bound (80 MB) or over its sockets' message
    bound (160 MB) fail that case only, the later cases judged in the same kernel?"""
    outcome = run.outcomes[student]
    lines = _case_lines(graded_cell(notebook_of(run.course, student), "lp_norm"))
    assert ["PASS" in line for line in lines] == [i != bad_case for i in range(5)]
    np.testing.assert_allclose(_scores(run, student), EXPECTED[student], atol=1e-6)
    assert outcome.lost_cells == []
    assert outcome.state == "graded"


@pytest.mark.parametrize("student", LOST)
def test_lost_kernel_costs_its_case_and_the_notebook_goes_on(run, student):
    """Is a kernel that hangs deaf to interrupts, or dies, mid-exchange lost on that
    case only, with the notebook run on to its end?"""
    outcome = run.outcomes[student]
    nb = notebook_of(run.course, student)
    cell = graded_cell(nb, "lp_norm")
    assert judge_verdict(cell) == pytest.approx(0.8)
    assert [nb.cells[i].metadata["nbgrader"]["grade_id"] for i in outcome.lost_cells] == \
        ["test_norm"]
    assert STUCK_KERNEL in [o.get("ename") for o in cell.outputs]
    assert outcome.state == "graded with errors"
    assert "NOTEBOOK_END" in stream_text(nb.cells[-1])


def test_every_student_with_a_readable_notebook_is_graded(run):
    """Is every student of the class with a readable notebook recorded, whatever the
    others sent the judge?"""
    not_recorded = {s for s, o in run.outcomes.items() if not o.recorded}
    assert not_recorded == {"dupid", "schema", "trunc"}  # ``test_hostile_sandbox.py``

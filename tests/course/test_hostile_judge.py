"""The judge class (issue 13): submissions that forge the grade inside their kernel.

Fourteen students of the tiny course (`mlp_model`, 2 points, judged first;
`lp_norm`, 1 point, 3 public and 2 hidden cases of equal weight) are
autograded in the real sandbox in the one hostile run (`hostile_class` in
``conftest.py``; their code is in ``fixtures/judge_students.py``). Each must
score what its own code computes, and where its kernel showed more than the
judge computed on the same public cases, its outcome, the report and the
feedback must say so.
"""

import numpy as np
import pytest

from course.fixtures.hostile import POINTS, graded_cell, judge_verdict, kernel_printed
from course.fixtures.judge_students import STUDENTS
from course.fixtures.tiny_course import ASSIGNMENT, cell_scores, notebook_of, stream_text
from grader import course as grading

pytestmark = pytest.mark.slow

# What each student's own code earns: (mlp_model, lp_norm). `mlp_model` is the stub
# unless said otherwise, `lp_norm` correct.
EXPECTED = {
    "rebind": (0.0, 1.0),       # grader rebound to a forger
    "check": (0.0, 1.0),        # grader.check replaced
    "display": (0.0, 1.0),      # Score.__repr__, builtins.max, IPython formatter
    "codeswap": (0.0, 0.0),     # run_case.__code__ swapped; frame-walking wrong lp_norm
    "ipython": (0.0, 1.0),      # input transformer and post_run_cell hook
    "quiet": (0.0, 1.0),        # ast_node_interactivity = "none"
    "npbefore": (0.0, 0.0),     # NumPy/TF patched before `import grader`; wrong lp_norm
    "npafter": (0.0, 0.0),      # NumPy/TF patched after it; wrong lp_norm
    "npinside": (0.0, 0.0),     # math/NumPy/TF patched inside a wrong lp_norm
    "weights": (0.0, 1.0),      # a model that zeroes its own weights in call()
    "recorder": (0.0, 0.6),     # lookup table of recorded inputs: the 2 hidden cases fail
    "seedleak": (0.0, 0.6),     # lookup table of inputs predicted from seen seeds: same
    "undefined": (0.0, 1.0),    # mlp_model never defined, its test cell forged to 2.0
    "computedref": (0.0, 0.0),  # the reference through a computed name, watcher blinded
}
# What their code earns on the public cases alone (what an honest kernel shows).
PUBLIC = {**EXPECTED, "recorder": (0.0, 1.0), "seedleak": (0.0, 1.0)}
# The exercises on which each student's kernel showed full points for code earning 0.
FORGED = {
    "rebind": ("mlp_model",),
    "check": ("mlp_model",),
    "display": ("mlp_model",),
    "codeswap": ("mlp_model", "lp_norm"),
    "ipython": ("mlp_model",),
    "undefined": ("mlp_model",),
}
FULL = {"mlp_model": POINTS["test_model"], "lp_norm": POINTS["test_norm"]}
# Students whose kernel showed nothing as the result of both test cells.
SILENT = ("quiet",)
# Students with a test of their own below (known ways around the judge).
OWN_TEST = ("seedleak", "computedref")
DISAGREES = "kernel output disagrees with the grader"
NO_SCORE = "printed no score"


@pytest.fixture
def run(hostile_class):
    """The hostile class's run (`hostile_class` in ``conftest.py``)."""
    return hostile_class


def _flagged(outcome):
    """{exercise: flag text} of an outcome's flags."""
    return dict(flag.split(": ", 1) for flag in outcome.flags)


def _scores(run, student):
    scores = cell_scores(run.course)[student]
    return [scores["test_model"], scores["test_norm"]]


def test_class_covers_every_trick():
    assert set(EXPECTED) == set(STUDENTS)


@pytest.mark.parametrize("student", sorted(set(EXPECTED) - set(OWN_TEST)))
def test_scores_what_its_code_computes(run, student):
    """Is each forger recorded with what its own code earns, whatever its kernel showed?"""
    outcome = run.outcomes[student]
    assert outcome.recorded, outcome
    np.testing.assert_allclose(_scores(run, student), EXPECTED[student], atol=1e-6,
                               err_msg=student)
    np.testing.assert_allclose(outcome.score, sum(EXPECTED[student]), atol=1e-6)


@pytest.mark.parametrize("student", sorted(FORGED))
def test_forged_full_points_are_flagged(run, student):
    """Did the kernel show full points where the code earns 0, and is exactly that flagged
    as a disagreement (a correct answer's honest full points are not)?"""
    nb = notebook_of(run.course, student)
    flags = _flagged(run.outcomes[student])
    for exercise, earned in zip(("mlp_model", "lp_norm"), EXPECTED[student]):
        cell = graded_cell(nb, exercise)
        assert judge_verdict(cell) == pytest.approx(earned)
        if exercise in FORGED[student]:
            assert kernel_printed(cell) == pytest.approx(FULL[exercise])
            assert DISAGREES in flags.get(exercise, ""), (exercise, run.outcomes[student].flags)
        else:
            assert kernel_printed(cell) == pytest.approx(earned)
            assert exercise not in flags


@pytest.mark.parametrize("student", SILENT)
def test_silent_test_cells_get_no_free_credit(run, student):
    """Do test cells without output score the judge's verdict, flagged as silent?"""
    nb = notebook_of(run.course, student)
    for exercise in ("mlp_model", "lp_norm"):
        assert kernel_printed(graded_cell(nb, exercise)) is None
    flags = _flagged(run.outcomes[student])
    assert sorted(flags) == ["lp_norm", "mlp_model"]
    assert all(NO_SCORE in text for text in flags.values())


@pytest.mark.parametrize("student",
                         sorted(set(EXPECTED) - set(FORGED) - set(SILENT) - set(OWN_TEST)))
def test_kernel_output_above_the_judge_is_flagged(run, student):
    """Wherever another student's kernel showed more than its code earns on the public
    cases, is that flagged, and where it showed exactly that, is nothing flagged?"""
    nb = notebook_of(run.course, student)
    flags = _flagged(run.outcomes[student])
    for exercise, earned in zip(("mlp_model", "lp_norm"), PUBLIC[student]):
        printed = kernel_printed(graded_cell(nb, exercise))
        assert printed is not None, exercise
        if printed > earned + 1e-6:
            assert DISAGREES in flags.get(exercise, ""), (exercise, printed, flags)
        elif abs(printed - earned) <= 1e-6:
            assert exercise not in flags, (exercise, printed, flags)


def test_feedback_of_a_forger_names_the_disagreement(run):
    """Does the graded test cell tell the student the grader disagreed with the notebook?"""
    verdict = graded_cell(notebook_of(run.course, "check"), "mlp_model").outputs[0]
    assert DISAGREES in verdict.data["text/html"]
    assert "Graded by the course" in verdict.data["text/markdown"]


def test_report_shows_the_flags(run, tmp_path):
    """Does the report's grades table carry the forgers' flags, and no flag elsewhere?"""
    _, grades, _ = grading.write_report(ASSIGNMENT, run.course, tmp_path / "report")
    flags = grades.set_index("student_id")["flags"]
    for student in set(FORGED) - {"undefined"}:
        assert DISAGREES in str(flags[student]), student
    assert flags.isna()["weights"] and flags.isna()["ada"]


def test_recorder_saw_the_self_checks_hidden_cases(run):
    """Did the recorder's own check pass from its table (so its hidden cases were
    recorded), while the judge's hidden cases failed?"""
    nb = notebook_of(run.course, "recorder")
    assert kernel_printed(graded_cell(nb, "lp_norm")) == pytest.approx(1.0)
    assert "NOTEBOOK_END" in stream_text(nb.cells[-1])


def test_seen_seeds_do_not_reveal_other_hidden_inputs(run):
    """Is a lookup table built from the seeds mlp_model was called under (and the
    exercise ids) still blind to lp_norm's hidden inputs: 3 of 5 cases?"""
    np.testing.assert_allclose(_scores(run, "seedleak"), EXPECTED["seedleak"], atol=1e-6)


def test_reference_through_a_computed_name_is_refused(run):
    """Is lp_norm = getattr(kerasdl, "lp_" + "norm") with the kernel's call watcher
    blinded scored 0, with a message naming the reference?"""
    np.testing.assert_allclose(_scores(run, "computedref"), EXPECTED["computedref"], atol=1e-6)
    cell = graded_cell(notebook_of(run.course, "computedref"), "lp_norm")
    assert "reference" in cell.outputs[0].data["text/markdown"]


def test_nothing_outside_the_students_own_work_changed(run):
    """Are the other students' files and rows, the course and the grader unchanged?"""
    assert run.before.keys() == run.after.keys()
    assert [what for what in run.before if run.before[what] != run.after[what]] == []

"""End to end: `kerasdl-grade autograde` grades the course notebooks.

For each assignment, in a temporary copy of the course, two students submit
(`solution` hands in the instructor's notebook, `released` the untouched
student notebook) and `grader.course.autograde` grades both as
`kerasdl-grade autograde` does: registration through nbgrader's API, each
submission in its own sandboxed kernel (when the sandbox is available here)
with the judge grading every test cell from outside the kernel, hidden cases
included, and nbgrader recording the verdicts. The scores are read back from
the gradebook. About a minute per assignment on 2 CPU cores, hence `slow`.
"""

import math
import shutil
import time

import nbformat
import pytest
from nbcourse import CHAPTERS, COURSE_ID, nbgrader_environ
from nbgrader.api import Gradebook

SOLUTION, RELEASED = "solution", "released"
# Points are small integers; scores are compared within this absolute tolerance.
SCORE_ATOL = 1e-6
# Seconds per cell, as in the course's nbgrader_config.py.
CELL_TIMEOUT = 180


def _sandbox_available():
    from grader.course.sandbox import SandboxUnavailable, check_available

    try:
        check_available()
        return True
    except SandboxUnavailable:
        return False


@pytest.fixture(scope="module", params=CHAPTERS)
def autograded(request, tmp_path_factory, monkeypatch_module):
    """Autogrades one assignment for both students; returns what the tests inspect."""
    from nbcourse import ROOT

    from grader.course import autograde

    for key, value in nbgrader_environ().items():
        monkeypatch_module.setenv(key, value)
    chapter = request.param
    course = tmp_path_factory.mktemp(chapter)
    for folder in ("solutions", "assignments"):
        shutil.copytree(ROOT / folder / chapter, course / folder / chapter)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    for student, folder in ((SOLUTION, "solutions"), (RELEASED, "assignments")):
        submission = course / "submitted" / student / chapter
        submission.mkdir(parents=True)
        shutil.copy(course / folder / chapter / f"{chapter}.ipynb", submission)
    start = time.perf_counter()
    outcomes = autograde(chapter, course, jobs=2, timeout=CELL_TIMEOUT, progress=False,
                         sandbox=_sandbox_available())
    wall = time.perf_counter() - start
    outcomes = {outcome.student: outcome for outcome in outcomes}
    notebooks = {}
    for student in (SOLUTION, RELEASED):
        path = course / "autograded" / student / chapter / f"{chapter}.ipynb"
        notebooks[student] = nbformat.read(path, as_version=4) if path.exists() else None
    grades = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gradebook:
        for student in (SOLUTION, RELEASED):
            submission = gradebook.find_submission(chapter, student)
            grades[student] = {
                grade.name: (grade.score, grade.max_score)
                for notebook in submission.notebooks for grade in notebook.grades
            }
    print(f"\nautograde {chapter}: {wall:.1f} s for both; job: solution "
          f"{outcomes[SOLUTION].seconds:.1f} s, released {outcomes[RELEASED].seconds:.1f} s")
    return {"chapter": chapter, "outcomes": outcomes, "wall": wall,
            "notebooks": notebooks, "grades": grades}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _graded_cells(notebook):
    return [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]


@pytest.mark.slow
@pytest.mark.parametrize("student", [SOLUTION, RELEASED])
def test_autograde_run_completes(autograded, student):
    """Is the submission graded without errors and its autograded notebook written?"""
    outcome = autograded["outcomes"][student]
    # An untouched stub may raise NotImplementedError outside a function.
    states = ("graded",) if student == SOLUTION else ("graded", "graded with errors")
    assert outcome.state in states, (outcome.state, outcome.reason)
    assert not outcome.flags, outcome.flags
    assert autograded["notebooks"][student] is not None


@pytest.mark.slow
def test_solution_gets_full_marks(autograded, record_property):
    """Does every graded cell of the instructor's solution get all its points?"""
    record_property("autograde_seconds", round(autograded["outcomes"][SOLUTION].seconds, 1))
    grades = autograded["grades"][SOLUTION]
    assert grades, "no graded cell recorded"
    for grade_id, (score, max_score) in grades.items():
        assert max_score > 0
        assert math.isclose(score, max_score, abs_tol=SCORE_ATOL), (grade_id, score, max_score)


@pytest.mark.slow
def test_released_notebook_gets_zero(autograded):
    """Does the untouched student notebook score 0 in every graded cell?"""
    grades = autograded["grades"][RELEASED]
    assert set(grades) == set(autograded["grades"][SOLUTION])
    for grade_id, (score, _) in grades.items():
        assert math.isclose(score, 0.0, abs_tol=SCORE_ATOL), (grade_id, score)


@pytest.mark.slow
def test_solution_runs_every_cell_without_error(autograded):
    """Does every cell of the solution notebook, demonstrations included, run cleanly?"""
    for cell in autograded["notebooks"][SOLUTION].cells:
        errors = [o for o in cell.get("outputs", []) if o.output_type == "error"]
        assert not errors, (cell.id, [(e.ename, e.evalue) for e in errors])


@pytest.mark.slow
@pytest.mark.parametrize("student", [SOLUTION, RELEASED])
def test_graded_cells_write_nothing_to_stderr(autograded, student):
    """Is every graded cell free of stderr output (which nbgrader scores as an error)?"""
    for cell in _graded_cells(autograded["notebooks"][student]):
        stderr = [o.text for o in cell.outputs
                  if o.output_type == "stream" and o.name == "stderr"]
        assert not stderr, (cell.id, stderr)


@pytest.mark.slow
@pytest.mark.parametrize("student", [SOLUTION, RELEASED])
def test_no_cell_times_out(autograded, student):
    """Does every cell finish within nbgrader's per-cell timeout?"""
    for cell in autograded["notebooks"][student].cells:
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                assert output.ename not in ("CellTimeoutError", "DeadKernelError"), cell.id

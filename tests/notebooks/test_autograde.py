"""End to end: nbgrader autogrades the course notebooks with the grader.

For each assignment, in a temporary copy of the course: `nbgrader
generate_assignment` records it in a fresh gradebook, two students submit
(`solution` hands in the instructor's notebook, `released` the untouched
student notebook), and `nbgrader autograde` runs each submission in a kernel
with `NBGRADER_EXECUTION=autograde`, so the training cells use their small
budget and the grader adds its hidden cases. The scores are read back from the
gradebook. About a minute per assignment on 2 CPU cores, hence `slow`.
"""

import math
import shutil
import subprocess
import time

import nbformat
import pytest
from nbcourse import BIN_DIR, CHAPTERS, COURSE_ID, nbgrader_environ
from nbgrader.api import Gradebook

SOLUTION, RELEASED = "solution", "released"
# An nbgrader run that takes longer than this has a cell stuck far beyond the
# per-cell timeout of nbgrader_config.py.
RUN_TIMEOUT_SECONDS = 900
# Points are small integers; scores are compared within this absolute tolerance.
SCORE_ATOL = 1e-6


def _nbgrader(course, *args):
    """Runs an nbgrader command at the course root; returns the completed process."""
    return subprocess.run(
        [str(BIN_DIR / "nbgrader"), *args], cwd=course, env=nbgrader_environ(),
        capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
    )


@pytest.fixture(scope="module", params=CHAPTERS)
def autograded(request, tmp_path_factory):
    """Autogrades one assignment for both students; returns what the tests inspect."""
    from nbcourse import ROOT

    chapter = request.param
    course = tmp_path_factory.mktemp(chapter)
    for folder in ("solutions", "assignments"):
        shutil.copytree(ROOT / folder / chapter, course / folder / chapter)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    generated = _nbgrader(course, "generate_assignment", chapter, "--force")
    assert generated.returncode == 0, generated.stderr[-3000:]
    for student, folder in ((SOLUTION, "solutions"), (RELEASED, "assignments")):
        submission = course / "submitted" / student / chapter
        submission.mkdir(parents=True)
        shutil.copy(course / folder / chapter / f"{chapter}.ipynb", submission)
    runs, seconds = {}, {}
    for student in (SOLUTION, RELEASED):
        start = time.perf_counter()
        runs[student] = _nbgrader(course, "autograde", chapter, "--student", student, "--force")
        seconds[student] = time.perf_counter() - start
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
    print(f"\nautograde {chapter}: solution {seconds[SOLUTION]:.1f} s, "
          f"released {seconds[RELEASED]:.1f} s")
    return {"chapter": chapter, "runs": runs, "seconds": seconds,
            "notebooks": notebooks, "grades": grades}


def _graded_cells(notebook):
    return [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]


@pytest.mark.slow
@pytest.mark.parametrize("student", [SOLUTION, RELEASED])
def test_autograde_run_completes(autograded, student):
    """Does nbgrader autograde the submission without crashing and write the notebook?"""
    run = autograded["runs"][student]
    assert run.returncode == 0, run.stderr[-3000:]
    assert autograded["notebooks"][student] is not None


@pytest.mark.slow
def test_solution_gets_full_marks(autograded, record_property):
    """Does every graded cell of the instructor's solution get all its points?"""
    record_property("autograde_seconds", round(autograded["seconds"][SOLUTION], 1))
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

"""Tests of the demo's sample class (`grader.demo`).

The mechanics run on a tiny repository made here (one assignment, two graded
cells); the real sample class is checked against the real notebooks without
executing them (``make demo`` runs it end to end).
"""

import types
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from grader import demo
from grader.demo.students import STUDENTS, Submission

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "hw1"
CONFIG = """\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "tiny"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
"""
# Two registered exercises of one point each, graded by grader.check.
PREFIX = "import tensorflow as tf\nimport grader\n\n"
SOLUTION = PREFIX + "def relu(X):\n    ### BEGIN SOLUTION\n    return tf.maximum(X, 0)\n    ### END SOLUTION"
SIGMOID = "def sigmoid(X):\n    ### BEGIN SOLUTION\n    return tf.math.sigmoid(X)\n    ### END SOLUTION"
ODD_RELU = PREFIX + "def relu(X):\n    return (X + tf.abs(X)) / 2"
TINY_SUBMISSIONS = {
    "ok": Submission(),
    "stub": Submission(base="stub"),
    "odd": Submission(answers={"relu": ODD_RELU}),
}


def _meta(grade_id, *, solution=False, grade=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution,
            "schema_version": 3, "solution": solution}  # fmt: skip
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory):
    """A repository with nbgrader_config.py and solutions/hw1/hw1.ipynb."""
    repo = tmp_path_factory.mktemp("repo")
    (repo / "nbgrader_config.py").write_text(CONFIG)
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[
        v4.new_code_cell(SOLUTION, metadata=_meta("relu", solution=True)),
        v4.new_code_cell('grader.check("relu", relu)',
                         metadata=_meta("test_relu", grade=True, points=1)),
        v4.new_code_cell(SIGMOID, metadata=_meta("sigmoid", solution=True)),
        v4.new_code_cell('grader.check("sigmoid", sigmoid)',
                         metadata=_meta("test_sigmoid", grade=True, points=1)),
    ])  # fmt: skip
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (repo / "solutions" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(nb, repo / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    return repo


@pytest.fixture(scope="module")
def tiny_course(tiny_repo, tmp_path_factory):
    return demo.build_course(tmp_path_factory.mktemp("demo") / "course", [ASSIGNMENT], tiny_repo)


@pytest.fixture
def tiny_module(monkeypatch):
    """Make `grader.demo` use TINY_SUBMISSIONS for the tiny assignment."""
    monkeypatch.setattr(demo, "_module", lambda assignment: types.SimpleNamespace(
        SUBMISSIONS=TINY_SUBMISSIONS))  # fmt: skip


def _solution_source(course, student):
    nb = nbformat.read(course / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    return nb.cells[0].source


def test_solution_code_strips_markers():
    """Does a full-marks student submit the solution without its BEGIN/END lines?"""
    cell = nbformat.v4.new_code_cell(SOLUTION)
    assert demo.solution_code(cell) == PREFIX + "def relu(X):\n    return tf.maximum(X, 0)"


def test_build_course_releases_and_records(tiny_course):
    """Does build_course write the released notebook and a gradebook?"""
    released = nbformat.read(tiny_course / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    assert "NotImplementedError" in released.cells[0].source
    assert (tiny_course / "gradebook.db").exists()


def test_build_course_rejects_unknown_assignment(tiny_repo, tmp_path):
    """Is an assignment without solutions/ refused by name?"""
    with pytest.raises(ValueError, match="Received: assignment=ch99"):
        demo.build_course(tmp_path / "course", ["ch99"], tiny_repo)


def test_sample_class_fills_solution_cells(tiny_course, tiny_module):
    """Does each submission get its own code, the solution, or the stub, by grade_id?"""
    demo.make_sample_class(tiny_course, ASSIGNMENT)
    assert _solution_source(tiny_course, "ok") == PREFIX + "def relu(X):\n    return tf.maximum(X, 0)"
    assert _solution_source(tiny_course, "odd") == ODD_RELU
    assert "NotImplementedError" in _solution_source(tiny_course, "stub")
    stamp = tiny_course / "submitted" / "ok" / ASSIGNMENT / "timestamp.txt"
    assert stamp.read_text() == demo.TIMESTAMP


def test_sample_class_rejects_unknown_cell(tiny_course, monkeypatch):
    """Is an answer for a solution cell the notebook lacks refused?"""
    bad = {"x": Submission(answers={"triple": "def triple(x): ..."})}
    monkeypatch.setattr(demo, "_module", lambda a: types.SimpleNamespace(SUBMISSIONS=bad))
    with pytest.raises(ValueError, match=r"Received: answers=\['triple'\]"):
        demo.make_sample_class(tiny_course, ASSIGNMENT)


def test_unknown_demo_assignment():
    """Is an assignment without a sample class refused by name?"""
    with pytest.raises(ValueError, match="Received: assignment=ch99_nothing"):
        demo._module("ch99_nothing")


def test_expected_scores_defaults(tiny_course):
    """Are the defaults full points for a solution base and zero for a stub?"""
    subs = {"ok": Submission(), "stub": Submission(base="stub"),
            "half": Submission(expected={"test_relu": 0.5})}  # fmt: skip
    expected = demo.expected_scores(tiny_course, ASSIGNMENT, subs)
    assert expected == {
        ("ok", "test_relu"): 1.0, ("ok", "test_sigmoid"): 1.0,
        ("stub", "test_relu"): 0.0, ("stub", "test_sigmoid"): 0.0,
        ("half", "test_relu"): 0.5, ("half", "test_sigmoid"): 1.0,
    }  # fmt: skip


def test_compare_scores_flags_mismatch():
    """Is MISMATCH written on exactly the rows whose actual score differs or is missing?"""
    grades = pd.DataFrame({"student_id": ["a", "b"], "t1": [2.0, 1.0], "t2": [1.0, np.nan]})
    expected = {("a", "t1"): 2.0, ("a", "t2"): 1.0, ("b", "t1"): 2.0, ("b", "t2"): 0.0,
                ("c", "t1"): 0.0}  # fmt: skip
    table = demo.compare_scores(grades, expected)
    assert list(table["status"]) == ["ok", "ok", "MISMATCH", "MISMATCH", "MISMATCH"]


@pytest.mark.slow
def test_run_demo_reports_mismatch(tiny_repo, tmp_path, monkeypatch, capsys):
    """Does the demo grade the class, print MISMATCH on a wrong expectation and exit 1?"""
    subs = dict(TINY_SUBMISSIONS)
    # Deliberately wrong: the stub scores 0 on test_sigmoid, not 1.
    subs["stub"] = Submission(base="stub", expected={"test_sigmoid": 1.0})
    monkeypatch.setattr(demo, "_module", lambda a: types.SimpleNamespace(SUBMISSIONS=subs))
    code = demo.run_demo([ASSIGNMENT], tmp_path / "course", jobs=2, timeout=30,
                         repo_dir=tiny_repo)  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 1
    mismatch_rows = [line for line in printed.splitlines() if line.rstrip().endswith("MISMATCH")]
    assert len(mismatch_rows) == 1 and "stub" in mismatch_rows[0]
    assert "grades.csv: " in printed and "feedback (3 files)" in printed
    assert (tmp_path / "course" / "reports" / ASSIGNMENT / "pass_rates.png").exists()


@pytest.mark.parametrize("assignment", demo.DEFAULT_ASSIGNMENTS)
def test_sample_class_matches_real_notebook(assignment):
    """Do the demo's submissions name real solution cells and in-range expected points?"""
    source = nbformat.read(REPO / "solutions" / assignment / f"{assignment}.ipynb", 4)
    solutions = {demo._grade_id(c) for c in source.cells if demo._is_solution(c)}
    points = {demo._grade_id(c): c.metadata["nbgrader"]["points"]
              for c in source.cells if demo._is_autograded(c)}  # fmt: skip
    submissions = demo._module(assignment).SUBMISSIONS
    assert set(submissions) == set(STUDENTS)
    for student, submission in submissions.items():
        assert set(submission.answers) <= solutions, student
        for cell, value in submission.expected.items():
            assert cell in points, (student, cell)
            assert 0.0 <= value <= points[cell], (student, cell)


def test_sample_assignments_listed_and_in_help(capsys):
    """Are the assignments with a sample class those of grader/demo/, listed in `demo --help`?"""
    from grader import cli

    modules = sorted(p.stem for p in (REPO / "grader" / "demo").glob("ch*.py"))
    assert list(demo.SAMPLE_ASSIGNMENTS) == modules
    assert set(demo.DEFAULT_ASSIGNMENTS) <= set(demo.SAMPLE_ASSIGNMENTS)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--help"])
    assert exit_info.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "Assignments with a sample class: " + ", ".join(modules) in help_text
    for assignment in modules:
        assert assignment in help_text


def test_check_course_folder(tmp_path):
    """Are a new, an empty and a demo-made folder accepted; a foreign folder and a file refused?"""
    demo.check_course_folder(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    demo.check_course_folder(tmp_path / "empty")
    own = tmp_path / "own"
    own.mkdir()
    (own / demo.DEMO_MARKER).write_text("")
    (own / "gradebook.db").write_text("")
    demo.check_course_folder(own)
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(CONFIG)
    with pytest.raises(ValueError, match="not empty and was not made by the demo"):
        demo.check_course_folder(course)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="must be a folder"):
        demo.check_course_folder(tmp_path / "file")


def test_run_demo_refuses_before_any_work(tiny_repo, tmp_path, capsys):
    """Does run_demo refuse a foreign folder, an unknown assignment or repo without writing?"""
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(CONFIG)
    with pytest.raises(ValueError, match="not made by the demo"):
        demo.run_demo([demo.DEFAULT_ASSIGNMENTS[0]], course)
    assert sorted(p.name for p in course.iterdir()) == ["nbgrader_config.py"]
    with pytest.raises(ValueError, match="Received: assignment=ch06_regularization"):
        demo.run_demo(["ch06_regularization"], tmp_path / "new", repo_dir=tiny_repo)
    with pytest.raises(ValueError, match="No solutions/ch04_softmax_regression in"):
        demo.run_demo(["ch04_softmax_regression"], tmp_path / "new", repo_dir=tiny_repo)
    assert not (tmp_path / "new").exists()
    assert capsys.readouterr().out == ""


def test_demo_command_refuses_foreign_folder(tmp_path, capsys):
    """Does `demo --out` on a real course exit 2 with the reason, leaving the course untouched?"""
    from grader import cli

    course = tmp_path / "course"
    course.mkdir()
    (course / "nbgrader_config.py").write_text(CONFIG)
    assert cli.main(["demo", "--out", str(course)]) == 2
    assert "not made by the demo" in capsys.readouterr().err
    assert [p.name for p in course.iterdir()] == ["nbgrader_config.py"]


def test_build_course_marks_its_folder_and_reruns(tiny_repo, tmp_path):
    """Does build_course mark its folder, so that building into it again works?"""
    course = demo.build_course(tmp_path / "course", [ASSIGNMENT], tiny_repo)
    assert (course / demo.DEMO_MARKER).is_file()
    again = demo.build_course(course, [ASSIGNMENT], tiny_repo)
    assert (again / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()

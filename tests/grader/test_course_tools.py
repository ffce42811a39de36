"""Tests of `kerasdl-grade`'s flags, course checks, report plots and grade-file safety.

A small course (``hw1``: `square`, 2 points, and `cube`, 1 point) gets a
gradebook through nbgrader's own API with fixed scores, without executing
anything: "ada" and "bob" submit the same code, "cid" his own.
"""

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pandas as pd
import pytest
from nbgrader.api import Gradebook
from sqlalchemy.exc import SAWarning

from grader import cli
from grader.course import report, similarity
from grader.course.coursedir import git_tracking_warning

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "hw1"
SCRIPTS = Path(sys.executable).parent
CONFIG = """\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "tiny"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
"""
SOLUTIONS = {
    "square": "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
    "cube": "def cube(x):\n    ### BEGIN SOLUTION\n    return x ** 3\n    ### END SOLUTION",
}
SHARED = {
    "square": "def square(x):\n    result = 0\n    for _ in range(abs(x)):\n"
    "        result = result + abs(x)\n    return result",
    "cube": "def cube(x):\n    values = [x, x, x]\n    product = 1\n    for value in values:\n"
    "        product = product * value\n    return product",
}
OWN = {
    "square": "def square(x):\n    return pow(x, 2)",
    "cube": "def cube(x):\n    import math\n    return math.copysign(abs(x) ** 3, x)",
}
ANSWERS = {"ada": SHARED, "bob": SHARED, "cid": OWN}
# Fixed autograde scores per student: (test_square, test_cube).
SCORES = {"ada": (2.0, 1.0), "bob": (2.0, 0.0), "cid": (0.0, 1.0)}
# argparse's messages for refused numbers.
WHOLE_SECONDS = "must be a whole number of seconds >= 1"
SECONDS = "must be a number of seconds >= 1"
FRACTION = "must be a fraction in (0, 1]"
# Modules that must not load before the flags and the course are checked.
HEAVY = ("tensorflow", "keras", "nbgrader", "pandas", "matplotlib", "copydetect", "nbformat")


def _meta(grade_id, *, solution=False, grade=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": not solution,
            "schema_version": 3, "solution": solution}  # fmt: skip
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _make_course(root):
    v4 = nbformat.v4
    cells = []
    for name, points in (("square", 2), ("cube", 1)):
        test = f"assert {name}(2) == {4 if name == 'square' else 8}"
        cells.append(v4.new_code_cell(SOLUTIONS[name], metadata=_meta(name, solution=True)))
        test_meta = _meta(f"test_{name}", grade=True, points=points)
        cells.append(v4.new_code_cell(test, metadata=test_meta))
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(CONFIG)
    nbformat.write(nb, root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    env = dict(os.environ, PATH=os.pathsep.join([str(SCRIPTS), os.environ.get("PATH", "")]))
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"],
                   cwd=root, env=env, check=True, capture_output=True)  # fmt: skip
    released = nbformat.read(root / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    # nbgrader's add_submission triggers SQLAlchemy autoflush warnings of its own.
    warnings.simplefilter("ignore", SAWarning)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "tiny") as gb:
        for student, answers in ANSWERS.items():
            submitted = nbformat.from_dict(released)
            for cell in submitted.cells:
                if cell.metadata["nbgrader"]["grade_id"] in answers:
                    cell.source = answers[cell.metadata["nbgrader"]["grade_id"]]
            folder = root / "submitted" / student / ASSIGNMENT
            folder.mkdir(parents=True)
            nbformat.write(submitted, folder / f"{ASSIGNMENT}.ipynb")
            gb.add_student(student)
            submission = gb.add_submission(ASSIGNMENT, student)
            for grade in submission.notebooks[0].grades:
                grade.auto_score = SCORES[student][0 if grade.name == "test_square" else 1]
            gb.db.commit()
    return root


@pytest.fixture(scope="module")
def small_course(tmp_path_factory):
    with warnings.catch_warnings():
        return _make_course(tmp_path_factory.mktemp("tools") / "course")


@pytest.fixture
def course_copy(small_course, tmp_path):
    copy = tmp_path / "course"
    shutil.copytree(small_course, copy)
    return copy


# --------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["autograde", "a", "--timeout", "0.5"], f"--timeout: {WHOLE_SECONDS}"),
        (["autograde", "a", "--timeout", "0"], f"--timeout: {WHOLE_SECONDS}"),
        (["autograde", "a", "--timeout", "1.5"], f"--timeout: {WHOLE_SECONDS}"),
        (["autograde", "a", "--timeout", "abc"], f"--timeout: {WHOLE_SECONDS}"),
        (["autograde", "a", "--timeout", "nan"], f"--timeout: {WHOLE_SECONDS}"),
        (["autograde", "a", "--notebook-timeout", "0.5"], f"--notebook-timeout: {SECONDS}"),
        (["autograde", "a", "--notebook-timeout", "inf"], f"--notebook-timeout: {SECONDS}"),
        (["autograde", "a", "--gpus", "-1"], "--gpus: must be a whole number >= 0. Received: '-1'"),
        (["autograde", "a", "--gpus", "x"], "--gpus: must be a whole number >= 0. Received: 'x'"),
        (["autograde", "a", "--jobs", "0"], "--jobs: must be a whole number >= 1. Received: '0'"),
        (["demo", "--timeout", "0.5"], f"--timeout: {WHOLE_SECONDS}"),
        (["demo", "--jobs", "x"], "--jobs: must be a whole number >= 1. Received: 'x'"),
        (["demo", "--assignment", "ch06_regularization"], "invalid choice: 'ch06_regularization'"),
        (["similarity", "a", "--threshold", "0"], f"--threshold: {FRACTION}"),
        (["similarity", "a", "--threshold", "1.5"], f"--threshold: {FRACTION}"),
    ],
)
def test_bad_flags_refused_in_words(argv, message, capsys):
    """Is each bad flag refused by argparse (exit 2) with a message in words?"""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "invalid _" not in err and "value:" not in err


@pytest.mark.parametrize(
    "argv, name, value",
    [
        (["autograde", "a", "--timeout", "1"], "timeout", 1),
        (["autograde", "a", "--timeout", "120.0"], "timeout", 120),
        (["autograde", "a", "--notebook-timeout", "1.5"], "notebook_timeout", 1.5),
        (["autograde", "a", "--gpus", "0"], "gpus", 0),
        (["similarity", "a", "--threshold", "1"], "threshold", 1.0),
    ],
)
def test_good_flags_kept_exactly(argv, name, value):
    """Are valid values parsed without truncation (whole seconds as int)?"""
    parsed = getattr(cli.build_parser().parse_args(argv), name)
    assert parsed == value and type(parsed) is type(value)


def test_flags_and_course_checked_before_heavy_imports(tmp_path):
    """Are bad flags and a non-course folder refused with nothing heavy (TensorFlow...) loaded?"""
    program = f"""
import sys
from grader import cli
codes = []
for argv in (["autograde", "a", "--gpus", "-1"], ["autograde", "a", "--timeout", "0.5"],
             ["demo", "--assignment", "nope"]):
    try:
        cli.main(argv)
    except SystemExit as error:
        codes.append(error.code)
for command in ("autograde", "report", "feedback", "similarity"):
    codes.append(cli.main([command, "a", "--course", {str(tmp_path)!r}]))
print(codes, sorted(m for m in {HEAVY!r} if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                            cwd=tmp_path, check=True)  # fmt: skip
    assert result.stdout.strip() == "[2, 2, 2, 2, 2, 2, 2] []"
    assert result.stderr.count("is not a course directory") == 4
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# Course checks
# --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["report", "feedback", "similarity", "autograde"])
def test_outside_a_course_creates_nothing(command, tmp_path, monkeypatch, capsys):
    """Does each command run outside a course say so, exit 2 and create nothing?"""
    monkeypatch.chdir(tmp_path)
    assert cli.main([command, ASSIGNMENT]) == 2
    assert "is not a course directory (it has no nbgrader_config.py)" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["report", "feedback"])
def test_course_without_gradebook_creates_nothing(command, tmp_path, capsys):
    """Does report/feedback in a course with no gradebook yet refuse without creating one?"""
    (tmp_path / "nbgrader_config.py").write_text(CONFIG)
    assert cli.main([command, ASSIGNMENT, "--course", str(tmp_path)]) == 2
    assert "The course has no gradebook yet" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["nbgrader_config.py"]


def test_report_unknown_assignment(small_course, capsys):
    """Is an assignment missing from the gradebook named, with the ones it has?"""
    assert cli.main(["report", "hw9", "--course", str(small_course)]) == 2
    assert "Assignment 'hw9' is not in the gradebook (it has ['hw1'])" in capsys.readouterr().err


# --------------------------------------------------------------------------
# Grades and git
# --------------------------------------------------------------------------


def _git(folder, *args):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)


def test_git_tracking_warning(tmp_path):
    """Is a grades file warned about only inside a git work tree that does not ignore it?"""
    outside = tmp_path / "plain" / "reports" / "grades.csv"
    outside.parent.mkdir(parents=True)
    inside = subprocess.run(["git", "rev-parse"], cwd=outside.parent, capture_output=True)
    if inside.returncode == 0:
        pytest.skip("the temporary folder is inside a git work tree")
    assert git_tracking_warning(outside) is None
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    grades = repo / "reports" / "hw1" / "grades.csv"
    assert "not ignored" in git_tracking_warning(grades)
    shutil.copy(REPO / ".gitignore", repo / ".gitignore")
    assert git_tracking_warning(grades) is None
    assert git_tracking_warning(repo / "grades.csv") is None  # nbgrader export's default
    assert git_tracking_warning(repo / "reports" / "hw1" / "similarity" / "students.csv") is None


def test_report_warns_in_a_tracking_git_tree(course_copy, capsys):
    """Does `report` warn when it writes grades git would track, and not once they are ignored?"""
    _git(course_copy, "init", "-q")
    assert cli.main(["report", ASSIGNMENT, "--course", str(course_copy)]) == 0
    assert "report: warning:" in capsys.readouterr().err
    (course_copy / ".gitignore").write_text("/reports/\n")
    assert cli.main(["report", ASSIGNMENT, "--course", str(course_copy)]) == 0
    assert "warning" not in capsys.readouterr().err


# --------------------------------------------------------------------------
# Report: similarity columns and plots
# --------------------------------------------------------------------------


def test_report_adds_similarity_columns(course_copy):
    """Are similarity columns absent before a similarity run, and filled per student after?"""
    _, grades, _ = report.write_report(ASSIGNMENT, course_copy)
    assert not set(similarity.STUDENT_COLUMNS) & set(grades.columns)
    result = similarity.find_similar_work(ASSIGNMENT, course_copy)
    assert similarity.REFERENCE not in result.matrix.columns  # hw1 has no kerasdl exercises
    paths, _, _ = report.write_report(ASSIGNMENT, course_copy)
    table = pd.read_csv(paths.grades_csv).set_index("student_id")
    assert list(table.columns[-3:]) == similarity.STUDENT_COLUMNS
    assert table.loc["ada", "most_similar_to"] == "bob"
    assert table["similarity_flag"].to_dict() == {"ada": True, "bob": True, "cid": False}
    np.testing.assert_allclose(table.loc["ada", "max_similarity"], 1.0, atol=1e-9)
    np.testing.assert_allclose(table["score"].to_numpy(), [sum(SCORES[s]) for s in table.index])


def test_score_figure_bins_counts_mean_median():
    """Whole-point bars (full marks alone), integer count ticks, and mean, median, n marked?"""
    scores = [15.0, 15.0, 14.5, 7.0, 0.4, np.nan]
    fig = report.score_figure(scores, 15, "hw: scores")
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == 16
    heights = {round(bar.get_x() + bar.get_width() / 2): bar.get_height() for bar in bars}
    assert heights[15] == 2 and heights[14] == 1 and heights[7] == 1 and heights[0] == 1
    assert sum(heights.values()) == 5
    ticks = ax.get_yticks()
    np.testing.assert_array_equal(ticks, np.round(ticks))
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "mean 10.38" in labels and "median 14.50" in labels
    lines = {line.get_label(): line.get_xdata()[0] for line in ax.get_lines()}
    np.testing.assert_allclose(lines["mean 10.38"], np.mean(scores[:5]))
    assert "(5 students)" in ax.get_title()


def test_pass_rate_figure_keeps_cell_order():
    """Are the graded cells drawn in their notebook order, first on top, with their rates?"""
    cells = pd.DataFrame({"cell": ["test_b", "test_a", "test_c"], "pass_rate": [0.5, 1.0, np.nan],
                          "submissions": [4, 4, 0]})  # fmt: skip
    ax = report.pass_rate_figure(cells, "rates").axes[0]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["test_b", "test_a", "test_c"]
    bottom, top = ax.get_ylim()
    assert bottom > top  # position 0 (test_b) at the top
    np.testing.assert_allclose([bar.get_width() for bar in ax.patches], [0.5, 1.0, 0.0])

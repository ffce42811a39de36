"""Tests of the `kerasdl-grade` command line on a tiny self-made nbgrader course.

The course has one assignment, ``hw1``, with two exercises of the grader's
registry, each checked by ``grader.check`` in a locked test cell:
`squared_error_grad` (2 points, cell ``test_grad``) and `lp_norm` (1 point,
cell ``test_norm``, with hidden cases), and four students:

- ``ada``: correct everywhere (3 points);
- ``bob``: `lp_norm` is wrong only on vectors longer than 100 elements, which
  only a hidden case uses (2.8 points);
- ``cid``: `lp_norm` kills its kernel with ``os._exit(1)`` (2 points);
- ``dee``: the `lp_norm` cell loops forever before defining it, stopped by
  the per-cell timeout (2 points).

Autograding runs once per module with ``--jobs 2`` and a faked count of two
GPUs, in the real sandbox when bubblewrap is usable here; the other tests
read or regrade copies of that course.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbgrader.api import Gradebook

from grader import cli
from grader import course as grading
from grader.course import coursedir

ASSIGNMENT = "hw1"
# This interpreter's scripts (nbgrader runs `alembic` from PATH).
SCRIPTS = Path(sys.executable).parent
# Seconds a cell may run before it is interrupted (the looping student hits it).
# The first test cell imports the grader's checks in the kernel; beside another
# job on a loaded 2-core machine that was seen to take over 20 s.
CELL_TIMEOUT = 45
# Score tolerance when comparing the CSV with the gradebook (values are exact
# sums of small floats).
SCORE_ATOL = 1e-12
# GPUs the tests pretend the machine has.
FAKE_GPUS = 2

CONFIG = """\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "tiny"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.Execute.timeout = 30
"""

SOLUTIONS = {
    "squared_error_grad": (
        "def squared_error_grad(x, w, y):\n"
        "    ### BEGIN SOLUTION\n"
        "    x = tf.convert_to_tensor(x)\n"
        "    w = tf.Variable(tf.cast(w, x.dtype))\n"
        "    with tf.GradientTape() as tape:\n"
        "        z = (tf.tensordot(x, w, 1) - tf.cast(y, x.dtype)) ** 2\n"
        "    return tape.gradient(z, w)\n"
        "    ### END SOLUTION"
    ),
    "lp_norm": (
        "def lp_norm(x, p):\n"
        "    ### BEGIN SOLUTION\n"
        "    x = tf.convert_to_tensor(x)\n"
        "    return tf.reduce_sum(tf.abs(x) ** p) ** (1.0 / p)\n"
        "    ### END SOLUTION"
    ),
}
TESTS = {
    "test_grad": 'grader.check("squared_error_grad", squared_error_grad)',
    "test_norm": 'grader.check("lp_norm", lp_norm)',
}
POINTS = {"test_grad": 2, "test_norm": 1}
GRADED_BY = {"squared_error_grad": "test_grad", "lp_norm": "test_norm"}

_LONG_VECTORS_WRONG = (
    "def lp_norm(x, p):\n"
    "    x = tf.convert_to_tensor(x)\n"
    "    if x.shape[0] > 100:\n"
    "        return tf.constant(0.0, x.dtype)\n"
    "    return tf.reduce_sum(tf.abs(x) ** p) ** (1.0 / p)"
)
STUDENTS = {
    "ada": {},
    "bob": {"lp_norm": _LONG_VECTORS_WRONG},
    "cid": {"lp_norm": "import os\n\ndef lp_norm(x, p):\n    os._exit(1)"},
    "dee": {"lp_norm": "while True:  # never reaches the definition\n    pass\n\n"
                       "def lp_norm(x, p):\n    return 0.0"},
}
EXPECTED = {
    "ada": {"test_grad": 2.0, "test_norm": 1.0},
    "bob": {"test_grad": 2.0, "test_norm": 0.8},  # one of five lp_norm cases fails
    "cid": {"test_grad": 2.0, "test_norm": 0.0},
    "dee": {"test_grad": 2.0, "test_norm": 0.0},
}


def _meta(grade_id, *, solution=False, grade=False, points=None):
    meta = {
        "grade": grade, "grade_id": grade_id, "locked": not solution,
        "schema_version": 3, "solution": solution,
    }  # fmt: skip
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _source_notebook():
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell("# Homework 1"),
        v4.new_code_cell("import os\n\nimport tensorflow as tf\n\nimport grader"),
    ]
    for name, test in GRADED_BY.items():
        cells.append(v4.new_code_cell(SOLUTIONS[name], metadata=_meta(name, solution=True)))
        cells.append(
            v4.new_code_cell(TESTS[test], metadata=_meta(test, grade=True, points=POINTS[test]))
        )
    cells.append(
        v4.new_code_cell(
            'print("GPU_ENV", os.environ.get("CUDA_VISIBLE_DEVICES", "unset"),'
            ' os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH", "unset"))'
        )
    )
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _nbgrader(course, *args):
    env = dict(os.environ, PATH=os.pathsep.join([str(SCRIPTS), os.environ.get("PATH", "")]))
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def make_course(root):
    """Create the tiny course with its gradebook and the four submissions."""
    root.mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(CONFIG)
    source = root / "solutions" / ASSIGNMENT
    source.mkdir(parents=True)
    nbformat.write(_source_notebook(), source / f"{ASSIGNMENT}.ipynb")
    _nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    released = nbformat.read(root / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    for student, answers in STUDENTS.items():
        nb = nbformat.from_dict(released)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in SOLUTIONS:  # the instructor's code unless the student differs
                cell.source = answers.get(grade_id, SOLUTIONS[grade_id].replace(
                    "    ### BEGIN SOLUTION\n", "").replace("\n    ### END SOLUTION", ""))
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
        (folder / "timestamp.txt").write_text("2024-05-01 12:00:00.000000 UTC")
    return root


def gradebook_snapshot(course):
    """Everything autograding writes to the gradebook, without database ids."""
    snapshot = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "tiny") as gb:
        for submission in gb.assignment_submissions(ASSIGNMENT):
            entry = {
                "timestamp": str(submission.timestamp),
                "score": submission.score,
                "late_submission_penalty": submission.late_submission_penalty,
                "needs_manual_grade": submission.needs_manual_grade,
            }
            for nb in submission.notebooks:
                for grade in nb.grades:
                    fields = grade.to_dict()
                    fields.pop("id")
                    entry[("grade", nb.name, grade.name)] = fields
                for comment in nb.comments:
                    fields = comment.to_dict()
                    fields.pop("id")
                    entry[("comment", nb.name, comment.name)] = fields
            snapshot[submission.student.id] = entry
    return snapshot


def cell_scores(course):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "tiny") as gb:
        return {
            submission.student.id: {
                grade.name: grade.score for nb in submission.notebooks for grade in nb.grades
            }
            for submission in gb.assignment_submissions(ASSIGNMENT)
        }


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """The tiny course before autograding."""
    return make_course(tmp_path_factory.mktemp("tiny") / "course")


@pytest.fixture(scope="module")
def graded(pristine, tmp_path_factory):
    """A copy of the course autograded with two jobs: (course, outcomes)."""
    course = tmp_path_factory.mktemp("graded") / "course"
    shutil.copytree(pristine, course)
    outcomes = grading.autograde(
        ASSIGNMENT, course, jobs=2, timeout=CELL_TIMEOUT, num_gpus=FAKE_GPUS, progress=False
    )
    return course, {outcome.student: outcome for outcome in outcomes}


def test_scores_per_cell(graded):
    """Does every student get the expected score on each graded cell?"""
    course, _ = graded
    scores = cell_scores(course)
    assert set(scores) == set(EXPECTED)
    for student, expected in EXPECTED.items():
        for cell, points in expected.items():
            np.testing.assert_allclose(scores[student][cell], points, err_msg=f"{student}/{cell}")


def test_dead_kernel_scores_zero_only_where_it_died(graded):
    """Is a kernel killed by os._exit recorded, with zero only on the cell that killed it?"""
    course, outcomes = graded
    assert all(outcome.recorded for outcome in outcomes.values())
    nb = nbformat.read(course / "autograded" / "cid" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    lost = [nb.cells[index] for index in outcomes["cid"].lost_cells]
    assert [cell.metadata["nbgrader"]["grade_id"] for cell in lost] == ["test_norm"]
    # The judge's verdict (0) first, then the kernel's own outputs: the lost kernel.
    assert lost[0].outputs[0].output_type == "execute_result"
    assert lost[0].outputs[0].data["text/plain"] == "0.0"
    assert grading.DEAD_KERNEL in [out.get("ename") for out in lost[0].outputs]
    # The kernel was restarted: the cell after the dead one ran.
    assert "GPU_ENV" in nb.cells[-1].outputs[0].text
    assert outcomes["ada"].lost_cells == []


def test_infinite_loop_is_interrupted(graded):
    """Does a function that loops forever cost only its test cell, after the cell timeout?"""
    course, outcomes = graded
    nb = nbformat.read(course / "autograded" / "dee" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    answer = next(c for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("grade_id") == "lp_norm")
    assert "CellTimeoutError" in [out.ename for out in answer.outputs
                                  if out.output_type == "error"]
    assert outcomes["dee"].state == "graded with errors"
    assert "1 cell(s) timed out" in outcomes["dee"].reason
    assert not outcomes["dee"].notebook_timeout


def test_jobs_get_one_gpu_each_and_memory_growth(graded):
    """Does each job's kernel see one GPU of the faked two, with memory growth on?"""
    course, _ = graded
    seen = set()
    for student in STUDENTS:
        nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
        _, device, growth = nb.cells[-1].outputs[0].text.split()
        seen.add(device)
        assert growth == "true"
    assert seen <= {"0", "1"}


@pytest.mark.parametrize(
    "slot, expected", [(0, "0"), (1, "1"), (2, "0"), (3, "1")]
)
def test_job_environment_round_robin(slot, expected):
    """Is job slot `i` given GPU `i % num_gpus` and TensorFlow memory growth?"""
    env = grading.job_environment(slot, FAKE_GPUS, base_env={"PATH": "/bin"})
    assert env["CUDA_VISIBLE_DEVICES"] == expected
    assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert env["PATH"] == "/bin"


def test_job_environment_without_gpus():
    """Without GPUs, is CUDA_VISIBLE_DEVICES left alone and memory growth still set?"""
    env = grading.job_environment(0, 0, base_env={"PATH": "/bin"})
    assert "CUDA_VISIBLE_DEVICES" not in env
    assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"


@pytest.mark.parametrize(
    "visible, expected", [("0,1,2", 3), ("", 0), ("-1", 0), ("3", 1)]
)
def test_count_visible_gpus_reads_cuda_visible_devices(visible, expected):
    """Does the GPU count follow CUDA_VISIBLE_DEVICES when it is set?"""
    assert grading.count_visible_gpus({"CUDA_VISIBLE_DEVICES": visible}) == expected


@pytest.mark.slow
def test_jobs_1_and_2_give_the_same_gradebook(graded, pristine, tmp_path):
    """Does --jobs 1 write exactly the gradebook that --jobs 2 wrote?"""
    course, _ = graded
    serial = tmp_path / "course"
    shutil.copytree(pristine, serial)
    grading.autograde(ASSIGNMENT, serial, jobs=1, timeout=CELL_TIMEOUT, num_gpus=0, progress=False)
    assert gradebook_snapshot(serial) == gradebook_snapshot(course)


@pytest.mark.slow
def test_rerun_is_idempotent(graded, tmp_path):
    """Does autograding the same submissions again leave the gradebook unchanged?"""
    course, _ = graded
    again = tmp_path / "course"
    shutil.copytree(course, again)
    outcomes = grading.autograde(
        ASSIGNMENT, again, students=["ada", "cid"], jobs=2, timeout=CELL_TIMEOUT,
        num_gpus=0, progress=False,
    )  # fmt: skip
    assert [outcome.student for outcome in outcomes] == ["ada", "cid"]
    assert gradebook_snapshot(again) == gradebook_snapshot(course)


def test_notebook_timeout_records_zeros(graded, tmp_path):
    """Is a submission killed at the notebook timeout recorded with zero on every cell?"""
    course, _ = graded
    copy = tmp_path / "course"
    shutil.copytree(course, copy)
    before = cell_scores(copy)
    # dee's loop runs until the course's 30 s cell timeout; the notebook limit is shorter.
    outcomes = grading.autograde(
        ASSIGNMENT, copy, students=["dee"], notebook_timeout=3, num_gpus=0, progress=False,
        force=True,
    )
    assert outcomes[0].notebook_timeout and outcomes[0].recorded
    after = cell_scores(copy)
    assert after["dee"] == {"test_grad": 0.0, "test_norm": 0.0}
    assert {s: v for s, v in after.items() if s != "dee"} == {
        s: v for s, v in before.items() if s != "dee"
    }


def test_report_csv_matches_gradebook(graded, tmp_path):
    """Does grades.csv hold nbgrader export's rows plus each graded cell's score?"""
    course, _ = graded
    paths, _, _ = grading.write_report(ASSIGNMENT, course, tmp_path / "report")
    ours = pd.read_csv(paths.grades_csv).sort_values("student_id").reset_index(drop=True)
    exported = tmp_path / "export.csv"
    _nbgrader(course, "export", f"--to={exported}")
    theirs = pd.read_csv(exported)
    theirs = theirs[theirs["assignment"] == ASSIGNMENT].sort_values("student_id")
    theirs = theirs.reset_index(drop=True)
    assert list(ours.columns)[:len(grading.EXPORT_COLUMNS) + 2] == \
        grading.EXPORT_COLUMNS + ["test_grad", "test_norm"]
    pd.testing.assert_frame_equal(ours[grading.EXPORT_COLUMNS], theirs, check_dtype=False)
    scores = cell_scores(course)
    for row in ours.itertuples():
        np.testing.assert_allclose(
            [row.test_grad, row.test_norm],
            [scores[row.student_id]["test_grad"], scores[row.student_id]["test_norm"]],
            atol=SCORE_ATOL,
        )
        np.testing.assert_allclose(row.score, row.test_grad + row.test_norm, atol=SCORE_ATOL)


def test_report_pass_rates_and_plots(graded, tmp_path):
    """Are the pass rates the fractions of full marks, and are the plots PNG files?"""
    course, _ = graded
    paths, _, _ = grading.write_report(ASSIGNMENT, course, tmp_path / "report")
    cells = pd.read_csv(paths.pass_rates_csv).set_index("cell")
    # test_grad: all 4 of 4; test_norm: ada only.
    np.testing.assert_allclose(cells.loc["test_grad", "pass_rate"], 4 / 4)
    np.testing.assert_allclose(cells.loc["test_norm", "pass_rate"], 1 / 4)
    for path in (paths.score_plot, paths.pass_rate_plot):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_command_prints_summary(graded, tmp_path, capsys):
    """Does `report` print the per-student table and the paths it wrote?"""
    course, _ = graded
    out = tmp_path / "report"
    assert cli.main(["report", ASSIGNMENT, "--course", str(course), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test_grad" in printed and "pass_rate" in printed
    assert str(out / "grades.csv") in printed


def test_feedback_shows_the_judges_verdict_not_hidden_values(graded, tmp_path):
    """Does bob's feedback show the judge's table, hidden cases by name only?"""
    course, _ = graded
    copy = tmp_path / "course"
    shutil.copytree(course, copy)
    html = copy / "feedback" / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    paths = grading.generate_feedback(ASSIGNMENT, copy)
    assert html in paths and len(paths) == len(STUDENTS)
    text = html.read_text()
    assert "Graded by the course" in text
    assert "(hidden)" in text and "your output is not right on this hidden case" in text
    assert "length 1000" not in text  # hidden cases are named by what they test


@pytest.mark.parametrize("command", ["autograde", "report", "feedback", "exercises", "demo"])
def test_help_of_every_command(command, capsys):
    """Does every subcommand answer --help with its usage and exit 0?"""
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: kerasdl-grade {command}" in capsys.readouterr().out


@pytest.mark.slow
def test_console_script_help():
    """Is the kerasdl-grade console script installed and listing the subcommands?"""
    script = SCRIPTS / "kerasdl-grade"
    result = subprocess.run([script, "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("autograde", "report", "feedback", "exercises", "demo"):
        assert command in result.stdout


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"jobs": 0}, "`jobs` must be an int >= 1. Received: jobs=0"),
        ({"timeout": 0}, "`timeout` must be at least 1 second. Received: timeout=0"),
        ({"notebook_timeout": -1}, "`notebook_timeout` must be > 0 seconds. Received: notebook_timeout=-1"),
        ({"students": ["zoe"]}, "No submission of 'hw1' for these students. Received: students=['zoe']"),
    ],
)
def test_autograde_argument_errors(pristine, kwargs, message):
    """Are bad autograde arguments refused with a message naming them?"""
    with pytest.raises(ValueError) as error:
        grading.autograde(ASSIGNMENT, pristine, progress=False, **kwargs)
    assert str(error.value) == message


def test_load_course_rejects_missing_directory(tmp_path):
    """Is a course directory that does not exist refused by name?"""
    missing = tmp_path / "nope"
    with pytest.raises(ValueError, match=f"Received: course_dir={missing}"):
        grading.load_course(missing)


def test_cli_reports_errors_on_stderr(pristine, capsys):
    """Does the CLI turn an argument error into exit code 2 and one stderr line?"""
    code = cli.main(["autograde", ASSIGNMENT, "--course", str(pristine), "--student", "zoe"])
    assert code == 2
    assert "Received: students=['zoe']" in capsys.readouterr().err




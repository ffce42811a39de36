"""Tests of the `kerasdl-grade` command line on the tiny course of `tiny_course`.

Autograding runs once per module with ``--jobs 2`` and a faked count of two
GPUs, in the real sandbox when bubblewrap is usable here; the other tests
read or regrade copies of that course.
"""

import shutil
import subprocess

import nbformat
import numpy as np
import pandas as pd
import pytest
from tiny_course import (
    ASSIGNMENT,
    CELL_TIMEOUT,
    EXPECTED,
    SCRIPTS,
    STUDENTS,
    cell_scores,
    gradebook_snapshot,
)
from tiny_course import nbgrader as _nbgrader

from grader import cli
from grader import course as grading

# Score tolerance when comparing the CSV with the gradebook (values are exact
# sums of small floats).
SCORE_ATOL = 1e-12
# GPUs the tests pretend the machine has.
FAKE_GPUS = 2


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
def test_jobs_1_and_2_give_the_same_gradebook(graded, graded_serial):
    """Does --jobs 1 write exactly the gradebook that --jobs 2 wrote?"""
    course, _ = graded
    assert gradebook_snapshot(graded_serial) == gradebook_snapshot(course)


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




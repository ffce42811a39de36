"""The sandbox class (issue 12): hostile submissions autograded end to end.

One autograde run (`hostile_class` in ``conftest.py``), in the real bubblewrap
sandbox with a 2 GiB memory limit per job, grades these seven hostile students
of the tiny course (`mlp_model`, 2 points, then `lp_norm`, 1 point) beside the
judge class, after the honest student ``ada`` was graded:

- ``snoop``, in its `mlp_model` cell (beside the stub), leaves a process in a
  new session and a double-forked daemon and starts 200 processes at once;
  in its `lp_norm` cell (beside a correct function) it reads the course, the
  gradebook, other submissions, the repository and other kernels' connection
  files, writes into all of them and into the installed packages, lists
  processes, signals a process outside and connects to a port on 127.0.0.1
  outside the sandbox;
- ``hog`` allocates 8 GiB before its (correct) `lp_norm`;
- ``shout`` prints one 50 MB line after a correct `lp_norm`;
- ``dupid``, ``schema`` and ``trunc`` submit a notebook with a duplicate
  grade id, an unknown metadata schema version, or truncated JSON.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from course.fixtures import sandbox_students
from course.fixtures.hostile import (
    OTHERS,
    POINTS,
    REPO,
    run_class,
)
from course.fixtures.tiny_course import (
    ASSIGNMENT,
    cell_by_id,
    cell_scores,
    notebook_of,
    stream_text,
)
from grader import course as grading
from grader.course.executor import DEAD_KERNEL
from grader.course.sandbox import RLIMITS_ONLY, SandboxUnavailable, check_available
from grader.course.status import NOT_GRADED

pytestmark = pytest.mark.slow


def _rlimits_only():
    try:
        return check_available().resource_mode == RLIMITS_ONLY
    except SandboxUnavailable:
        return False


# Whether the sandbox limits memory per process (RLIMIT_DATA) instead of per job.
RLIMITS_ONLY_MODE = _rlimits_only()

MB = 1 << 20
EXPECTED = {  # what each executed student's code earns (mlp_model is the stub)
    "snoop": {"test_model": 0.0, "test_norm": 1.0},
    "hog": {"test_model": 0.0, "test_norm": 0.0},  # its lp_norm cell died: never defined
    "shout": {"test_model": 0.0, "test_norm": 1.0},
}
NOT_GRADED_REASONS = {
    "dupid": "Duplicate grade id: lp_norm",
    "schema": "nbgrader cell metadata",
    "trunc": "is not valid JSON",
}


def _processes_with(text):
    """Command lines of the processes whose command line contains `text`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


@pytest.fixture
def run(hostile_class):
    """The hostile class's run (`hostile_class` in ``conftest.py``)."""
    return hostile_class


@pytest.fixture(scope="module")
def feedback(hostile_class):
    """The feedback pages of the class (made once, after the run's hashes)."""
    paths = grading.generate_feedback(ASSIGNMENT, hostile_class.course)
    return {path.parts[-3]: path for path in paths}


def _report(run, student, tag, cell="lp_norm"):
    import json

    nb = notebook_of(run.course, student)
    for line in stream_text(cell_by_id(nb, cell)).splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    raise AssertionError(f"{student} printed no {tag} line")


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_student_scores_what_its_code_earns(run, student):
    """Is every executed hostile student recorded with what its own code earns?"""
    assert run.outcomes[student].recorded, run.outcomes[student]
    scores = cell_scores(run.course)[student]
    assert scores.keys() == EXPECTED[student].keys()
    for cell, points in EXPECTED[student].items():
        np.testing.assert_allclose(scores[cell], points, err_msg=f"{student}/{cell}")


def test_nothing_outside_the_students_own_work_changed(run):
    """Are the other students' files and rows, the course and the grader unchanged?"""
    assert run.before.keys() == run.after.keys()
    changed = [what for what in run.before if run.before[what] != run.after[what]]
    assert changed == []
    assert all(run.before[f"autograded/{student}"] is not None for student in OTHERS)


def test_reads_find_nothing(run):
    """Do reads of the course, the gradebook, other submissions and the repo all fail?"""
    report = _report(run, "snoop", "SNOOP")
    assert len(report["read"]) == 11
    assert {path: result for path, result in report["read"].items()
            if result not in ("FileNotFoundError", "PermissionError")} == {}


def test_no_other_kernels_connection_file_is_visible(run):
    """Does the kernel see no connection file but its own (while another job runs)?"""
    report = _report(run, "snoop", "SNOOP")
    assert report["own_connection_file"].endswith("kernel.json")
    assert report["connection_files"] == []


def test_writes_change_nothing(run):
    """Do writes into the course, the packages and other students' folders all fail?"""
    report = _report(run, "snoop", "SNOOP")
    assert len(report["write"]) == 16
    assert {path: result for path, result in report["write"].items()
            if result not in ("FileNotFoundError", "PermissionError", "OSError")} == {}
    for path in report["write"]:  # the same paths seen from outside
        if os.path.exists(path):
            assert b"written by a hostile submission" not in Path(path).read_bytes(), path
    assert not (run.course / "pwned.txt").exists() and not (REPO / "pwned.txt").exists()


def test_runs_unprivileged_and_sees_only_its_own_processes(run):
    """Is the kernel unprivileged, blind to the grader's processes and unable to signal them?"""
    report = _report(run, "snoop", "SNOOP")
    assert report["uid"] != 0
    assert 1 <= len(report["processes"]) <= 10, report["processes"]
    assert not [p for p in report["processes"] if "pytest" in p or "distributed" in p]
    assert report["signal_outside"] == "ProcessLookupError"


def test_connection_to_localhost_outside_fails(run, listener):
    """Does a TCP connection to a server on the host's 127.0.0.1 fail, unseen by it?"""
    report = _report(run, "snoop", "SNOOP")
    assert report["connect"] == "ConnectionRefusedError"
    assert listener.accepted == 0


def test_new_session_and_daemon_are_gone_after_the_job(run, escape_marker):
    """Are a process in a new session and a double-forked daemon gone when autograde returns?"""
    report = _report(run, "snoop", "ESCAPE", "mlp_model")
    assert report["session_pid"] > 0
    seen_inside = " ".join(_report(run, "snoop", "SNOOP")["processes"])  # a cell later
    assert f"{escape_marker}-session" in seen_inside and f"{escape_marker}-daemon" in seen_inside
    assert _processes_with(escape_marker) == []
    assert _processes_with(report["connection_file"]) == []  # nor the kernel itself


def test_200_processes_are_refused(run):
    """Is starting 200 processes at once refused by the job's task limit?"""
    forks = _report(run, "snoop", "ESCAPE", "mlp_model")["forks"]
    assert 0 < forks["started"] < 200
    assert forks["error"] == "BlockingIOError: Resource temporarily unavailable"


def test_memory_hog_is_stopped_and_costs_only_its_cell(run):
    """Is an 8 GiB allocation under a 2 GiB limit stopped, costing only its cell?

    With cgroup limits the kernel is killed (its cell is lost and the notebook
    runs on in a new kernel); with rlimits only the allocation raises MemoryError.
    """
    outcome = run.outcomes["hog"]
    nb = notebook_of(run.course, "hog")
    errors = [o.get("ename") for o in cell_by_id(nb, "lp_norm").outputs]
    if RLIMITS_ONLY_MODE:
        assert "MemoryError" in errors and outcome.lost_cells == []
    else:
        assert DEAD_KERNEL in errors
        assert [nb.cells[i].metadata["nbgrader"]["grade_id"] for i in outcome.lost_cells] == \
            ["lp_norm"]
        assert outcome.state == "graded with errors"
    assert "NOTEBOOK_END" in stream_text(nb.cells[-1])  # the notebook ran on


def test_50_mb_line_leaves_notebook_and_feedback_small(run, feedback):
    """Do a 50 MB printed line's autograded notebook and feedback page stay under 2 MB?"""
    notebook = run.course / "autograded" / "shout" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert notebook.stat().st_size < 2 * MB
    assert feedback["shout"].stat().st_size < 2 * MB
    printed = stream_text(cell_by_id(notebook_of(run.course, "shout"), "lp_norm"))
    assert printed.startswith("x" * 1000) and "output cut" in printed


@pytest.mark.parametrize("student", sorted(NOT_GRADED_REASONS))
def test_unreadable_notebook_is_not_graded(run, student):
    """Is a corrupt notebook 'not graded' with its reason, and without gradebook rows?"""
    outcome = run.outcomes[student]
    assert outcome.state == NOT_GRADED
    assert NOT_GRADED_REASONS[student] in outcome.reason
    assert student not in cell_scores(run.course)


def test_everyone_else_is_recorded(run):
    """Is every other student of the class recorded despite the bad notebooks?"""
    recorded = {s for s, o in run.outcomes.items() if o.recorded}
    assert recorded == set(run.outcomes) - set(NOT_GRADED_REASONS)
    assert set(cell_scores(run.course)) == recorded | set(OTHERS)


def test_report_lists_not_graded_apart_from_zeros(run, tmp_path):
    """Does the report show the corrupt notebooks as not graded, with no score?"""
    _, grades, _ = grading.write_report(ASSIGNMENT, run.course, tmp_path / "report")
    grades = grades.set_index("student_id")
    for student in NOT_GRADED_REASONS:
        assert grades.loc[student, "state"] == NOT_GRADED
        assert np.isnan(grades.loc[student, "score"])
    np.testing.assert_allclose(grades.loc["shout", "score"], sum(EXPECTED["shout"].values()))

"""An execute job whose judge or kernel cannot be had: the submission is not graded, never zero."""

import subprocess
import sys
import time

import nbformat
import pytest

from grader.course import job as job_module

# Seconds per cell of the job's kernel (the first imports TensorFlow).
CELL_TIMEOUT = 180
SQUARED_LOSS = '''
def squared_loss(y_hat, y):
    return (y_hat - tf.reshape(y, y_hat.shape)) ** 2 / 2
'''


def _notebook():
    v4 = nbformat.v4
    test = v4.new_code_cell('grader.check("squared_loss", squared_loss)', metadata={
        "nbgrader": {"grade": True, "solution": False, "locked": True,
                     "grade_id": "test_squared_loss", "points": 1, "schema_version": 3}})
    nb = v4.new_notebook(cells=[v4.new_code_cell("import tensorflow as tf\nimport grader"),
                                v4.new_code_cell(SQUARED_LOSS), test])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nbformat.writes(nb).encode()


def _job():
    return job_module.Job("hw", "ada", {"hw": _notebook()}, secret=7,
                          cell_timeout=CELL_TIMEOUT, sandbox=None)


@pytest.mark.slow
def test_a_judge_that_fails_to_load_leaves_the_submission_not_graded(monkeypatch):
    def broken(secret):
        raise ImportError("the references are missing")

    monkeypatch.setattr(job_module, "judge_for", broken)
    result = job_module.execute_submission(_job())
    assert result.error is not None
    assert "the judge could not load: ImportError: the references are missing" in result.error
    assert not result.verdicts  # no verdict, so no zero, is recorded


@pytest.mark.slow
def test_a_job_judges_its_test_cell():
    result = job_module.execute_submission(_job())
    assert result.error is None
    (verdict,) = result.verdicts["hw"].values()
    assert verdict["exercise"] == "squared_loss"
    assert all(result["passed"] for result in verdict["results"])
    assert abs(verdict["score"] - verdict["points"]) < 1e-9 and verdict["points"] == 1


def test_a_kernel_that_cannot_start_leaves_the_submission_not_graded(monkeypatch):
    """Unexecuted cells are not zeros: the job reports why, after a second attempt."""
    from jupyter_client.manager import AsyncKernelManager

    attempts = []

    def missing_kernel():
        attempts.append(1)
        return AsyncKernelManager(kernel_name="no-such-kernel-spec")

    monkeypatch.setattr(job_module, "_kernel_setup",
                        lambda job, work_dir: (missing_kernel, {}, "none (test)"))
    result = job_module.execute_submission(_job())
    assert result.error is not None
    assert "the notebook 'hw' could not be executed: NoSuchKernel" in result.error
    assert not result.verdicts and not result.notebooks
    assert len(attempts) == job_module.EXECUTE_ATTEMPTS


# Seconds the loader below waits for the first cell's file before it gives up.
FIRST_CELL_WAIT = 60


def test_the_judge_loads_while_the_first_cell_runs(monkeypatch, tmp_path):
    """Is the judge loaded once per job, while the first notebook's first cell runs in its
    kernel (the loader sees the file that cell writes), and used for every notebook after?"""
    marker = tmp_path / "first-cell-ran"
    v4 = nbformat.v4
    first = v4.new_notebook(cells=[
        v4.new_markdown_cell("# Notes"),
        v4.new_code_cell(f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')"),
        v4.new_code_cell("print('second cell')")])
    second = v4.new_notebook(cells=[v4.new_code_cell("print('second notebook')")])
    loads = []

    def load(secret):
        deadline = time.monotonic() + FIRST_CELL_WAIT
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        loads.append((secret, marker.exists()))
        return None  # no judge: nothing to grade in these notebooks

    monkeypatch.setattr(job_module, "judge_for", load)
    job = job_module.Job("hw", "ada", {"a": nbformat.writes(first).encode(),
                                       "b": nbformat.writes(second).encode()},
                         secret=7, cell_timeout=CELL_TIMEOUT, sandbox=None)
    result = job_module.execute_submission(job)
    assert result.error is None
    assert loads == [(7, True)]
    executed = nbformat.reads(result.notebooks["a"].decode(), as_version=4)
    assert executed.cells[2].outputs[0].text == "second cell\n"
    executed = nbformat.reads(result.notebooks["b"].decode(), as_version=4)
    assert executed.cells[0].outputs[0].text == "second notebook\n"


def test_no_tensorflow_before_the_kernel_starts_without_gpus():
    """On a machine without GPUs, does a job set its kernels up without loading
    TensorFlow (which the judge then loads beside the first cell)?"""
    code = ("import sys\n"
            "from grader.course import job\n"
            "job._worker_env(job.Job('hw', 'ada', {}, secret=7, num_gpus=0))\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.split() == ["False", "False"]

"""An execute job whose judge or kernel cannot be had: the submission is not graded, never zero."""

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

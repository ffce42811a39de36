"""nbgrader preprocessors of `kerasdl-grade`, loaded by dotted name.

nbgrader's processes name them in their configuration, e.g.
``--Autograde.autograde_preprocessors=grader.course.preprocessors.ReplayExecute``:

- `ResilientExecute`: nbgrader's `Execute`, surviving a dead or stuck kernel
  (the *execute* phase of `grader.course.autograde`);
- `ReplayExecute`: copies the outputs of already executed notebooks (the
  serial *record* phase);
- `ScrubHiddenTests`: removes hidden tests and their tracebacks from the
  feedback (`grader.course.generate_feedback`).

This module imports nbgrader, nbclient and nbformat, never TensorFlow.
"""

import copy
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor
from nbgrader.utils import is_grade
from traitlets import Unicode

__all__ = [
    "DEAD_KERNEL",
    "LOST_KERNEL_ERRORS",
    "NOTEBOOK_TIMEOUT",
    "NOT_EXECUTED",
    "STUCK_KERNEL",
    "ReplayExecute",
    "ResilientExecute",
    "ScrubHiddenTests",
]

# Error names written into cells whose kernel was lost; `autograde` reports them.
DEAD_KERNEL = "DeadKernelError"
STUCK_KERNEL = "KernelNotRespondingError"
NOTEBOOK_TIMEOUT = "NotebookTimeoutError"
NOT_EXECUTED = "NotExecutedError"
LOST_KERNEL_ERRORS = (DEAD_KERNEL, STUCK_KERNEL, NOTEBOOK_TIMEOUT, NOT_EXECUTED)


def _error_output(ename, evalue):
    """An nbformat error output whose traceback is just `ename: evalue`."""
    return nbformat.v4.new_output(
        "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
    )


class _KernelLost(Exception):
    """The kernel died or stopped answering while running cell `index`."""

    def __init__(self, index, output):
        super().__init__(index)
        self.index = index
        self.output = output


class ResilientExecute(Execute):
    """nbgrader's `Execute`, surviving a dead or unresponsive kernel.

    nbgrader 0.9 drops a student's whole autograded output when the kernel dies
    (``os._exit``, a segfault, out of memory) or does not answer an interrupt
    after a timeout. This preprocessor instead gives the offending cell an error
    output (so it scores 0 if graded), starts a fresh kernel and executes the
    notebook again from the top, skipping every cell that lost a kernel before.
    Cells that finish normally, raise, or time out and are interrupted behave as
    under nbgrader's `Execute` (the per-cell limit is ``Execute.timeout``).

    Since each restart skips one more cell, a notebook is executed at most
    ``1 + number of code cells`` times.
    """

    def preprocess(self, nb, resources=None, km=None):
        lost = {}  # cell index -> error output standing in for its execution
        num_code_cells = sum(cell.cell_type == "code" for cell in nb.cells)
        for _ in range(num_code_cells + 1):
            try:
                return self._execute_skipping(nb, resources, km, lost)
            except _KernelLost as error:
                self.log.warning("Kernel lost in cell %d; restarting", error.index)
                lost[error.index] = error.output
        raise RuntimeError("every code cell lost its kernel")  # unreachable

    def _execute_skipping(self, nb, resources, km, lost):
        """One pass of `ExecutePreprocessor.preprocess` that skips `lost` cells."""
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        with self.setup_kernel():
            info_msg = self.wait_for_reply(self.kc.kernel_info())
            if info_msg is not None and "language_info" in info_msg["content"]:
                self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
            for index, cell in enumerate(self.nb.cells):
                if index in lost:
                    cell.outputs = [copy.deepcopy(lost[index])]
                    continue
                try:
                    self.preprocess_cell(cell, resources, index)
                except DeadKernelError:
                    raise _KernelLost(
                        index,
                        _error_output(DEAD_KERNEL, "the kernel died while running this cell"),
                    ) from None
                except CellTimeoutError:
                    raise _KernelLost(
                        index,
                        _error_output(
                            STUCK_KERNEL,
                            "the kernel did not answer an interrupt after the cell timed out",
                        ),
                    ) from None
        self.set_widgets_metadata()
        return self.nb, self.resources


class ReplayExecute(NbGraderPreprocessor):
    """nbgrader execution step that replays outputs of an executed notebook.

    Used in the serial *record* phase of `autograde`: the submission was already
    executed (by `ResilientExecute`, in a private course); this copies the
    outputs and execution counts of
    ``{executed_dir}/{student}/{notebook}.ipynb`` cell by cell. When that file is
    missing (the job was killed at the notebook timeout, or nbgrader could not
    process the submission) or its cells do not match, every code cell gets an
    error output, so each graded code cell scores 0 and the submission is still
    recorded.
    """

    executed_dir = Unicode(
        "", help="Folder of executed notebooks: {executed_dir}/{student}/{notebook}.ipynb"
    ).tag(config=True)
    missing_reason = Unicode(
        "the notebook was not executed (notebook timeout or grading error)",
        help="Error message written into every code cell of a missing notebook.",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        path = Path(self.executed_dir) / info["student"] / f"{info['notebook']}.ipynb"
        executed = nbformat.read(path, as_version=4) if path.exists() else None
        if executed is not None and not _same_cells(nb, executed):
            self.log.warning("Executed notebook %s does not match the submission", path)
            executed = None
        if executed is None:
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.outputs = [_error_output(NOT_EXECUTED, self.missing_reason)]
                    cell.execution_count = None
            return nb, resources
        for cell, done in zip(nb.cells, executed.cells):
            if cell.cell_type == "code":
                cell.outputs = done.outputs
                cell.execution_count = done.execution_count
        if "language_info" in executed.metadata:
            nb.metadata["language_info"] = executed.metadata["language_info"]
        return nb, resources


def _same_cells(nb, other):
    """Whether two notebooks have the same cell types and sources in order."""
    return len(nb.cells) == len(other.cells) and all(
        a.cell_type == b.cell_type and a.source == b.source for a, b in zip(nb.cells, other.cells)
    )


class ScrubHiddenTests(ClearHiddenTests):
    """Remove hidden tests from feedback: their code and their tracebacks.

    nbgrader 0.9's ``generate_feedback`` renders the autograded notebook, whose
    test cells were restored from the source *with* their hidden-test regions
    (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``). This removes those
    regions like `ClearHiddenTests` and, in the cells that had them, reduces every
    error output to its exception name: an IPython traceback quotes the failing
    line and the assertion message, which may hold expected values. Printed
    output (the checks' messages to the student) and the cell's score are kept.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not is_grade(cell):
            return cell, resources
        removed = self._remove_hidden_test_region(cell)
        if removed:
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.evalue = "a test failed (details of hidden tests are not shown)"
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources

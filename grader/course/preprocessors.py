"""nbgrader preprocessors of `kerasdl-grade`, loaded by dotted name.

- `ReplayExecute`: the execution step of the *record* phase of
  `grader.course.autograde`: the submission was already executed and judged
  by a worker (`grader.course.job`); this puts the executed outputs back in
  place and makes the judge's verdict each graded test cell's score
  (`grader.course.verdicts.graded_outputs`), so nbgrader's own pipeline
  (sanitizing, locked cells, partial credit, late penalties) records it;
- `ScrubHiddenTests`: removes hidden tests and their tracebacks from the
  feedback (`grader.course.generate_feedback`).

This module imports nbgrader and nbformat, never TensorFlow.
"""

import json
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from nbgrader.utils import is_grade
from traitlets import Unicode

from grader.course.executor import NOT_EXECUTED, error_output, is_test_cell
from grader.course.verdicts import graded_outputs, not_judged

__all__ = ["ReplayExecute", "ScrubHiddenTests"]


class ReplayExecute(NbGraderPreprocessor):
    """nbgrader execution step that replays a worker's executed notebook and verdicts.

    Reads ``{executed_dir}/{student}/{notebook}.ipynb`` (the kernel's outputs)
    and ``{notebook}.verdicts.json`` (the judge's verdicts by cell index),
    both written by the course's trusted process from the job's result.
    Every code cell gets its executed outputs; every graded test cell gets
    the judge's verdict first (`graded_outputs`), or a zero verdict "not
    judged" when there is none. A missing executed notebook, or one whose
    cells do not match the submission, gives every code cell an error output
    (every graded cell scores 0) and the submission is still recorded.
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
        folder = Path(self.executed_dir) / info["student"]
        path = folder / f"{info['notebook']}.ipynb"
        executed = nbformat.read(path, as_version=4) if path.exists() else None
        if executed is not None and not _same_cells(nb, executed):
            self.log.warning("Executed notebook %s does not match the submission", path)
            executed = None
        verdicts = _read_verdicts(folder / f"{info['notebook']}.verdicts.json")
        if executed is None:
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.outputs = [error_output(NOT_EXECUTED, self.missing_reason)]
                    cell.execution_count = None
            return nb, resources
        for index, (cell, done) in enumerate(zip(nb.cells, executed.cells)):
            if cell.cell_type != "code":
                continue
            cell.execution_count = done.execution_count
            if is_test_cell(cell):
                verdict = verdicts.get(index) or not_judged(
                    "?", float(cell.metadata["nbgrader"].get("points", 0)),
                    "the grader has no verdict for this cell")
                cell.outputs, _ = graded_outputs(done.outputs, verdict)
            else:
                cell.outputs = done.outputs
        if "language_info" in executed.metadata:
            nb.metadata["language_info"] = executed.metadata["language_info"]
        return nb, resources


def _read_verdicts(path):
    """``{cell index: Verdict}`` from a verdicts file ({} if there is none)."""
    from grader.judge.verdict import Verdict

    if not path.exists():
        return {}
    return {int(index): Verdict.from_json(data)
            for index, data in json.loads(path.read_text()).items()}


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

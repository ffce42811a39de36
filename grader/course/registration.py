"""An assignment's place in the gradebook, checked before any submission runs.

`register_assignment` records an assignment nbgrader's gradebook does not
hold yet by running nbgrader's own generate step (its API, in this process)
into a temporary release folder: the gradebook learns the source notebooks'
graded and locked cells, and the course's release folder is left as it is.
`check_test_cells` refuses, before anything executes, an assignment whose
graded test cells the judge cannot read (every one must call
``grader.check("<exercise id>", <name>)``).
"""

import glob
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["check_test_cells", "register_assignment"]


def _registered(coursedir, assignment):
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            record = gb.find_assignment(assignment)
        except MissingEntry:
            return False
        return bool(record.notebooks)


def register_assignment(coursedir, config, assignment):
    """Record `assignment` in the gradebook if it is not there yet.

    Args:
        coursedir: nbgrader's `CourseDirectory` of the course.
        config: the course's traitlets config.
        assignment: assignment id (a folder of the source directory).

    Returns:
        True if it was registered now, False if the gradebook had it.

    Raises:
        ValueError: the assignment has no source notebooks.
        RuntimeError: nbgrader could not generate it (its log's end in the message).
    """
    source = coursedir.format_path(coursedir.source_directory, ".", assignment)
    if not glob.glob(os.path.join(source, "*.ipynb")):
        raise ValueError(f"Assignment {assignment!r} has no source notebooks in {source}. "
                         f"Received: assignment={assignment}")
    if _registered(coursedir, assignment):
        return False
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    with tempfile.TemporaryDirectory(prefix="kerasdl-release-") as release:
        scratch = CourseDirectory(config=config)
        scratch.root = coursedir.root
        scratch.release_directory = os.path.join(release, "release")
        api = NbGraderAPI(coursedir=scratch, config=config)
        result = api.generate_assignment(assignment, force=True, create=True)
        if not result.get("success"):
            tail = "\n".join((result.get("log") or result.get("error") or "").splitlines()[-8:])
            raise RuntimeError(f"nbgrader could not register {assignment!r}:\n{tail}")
        shutil.rmtree(release, ignore_errors=True)
    return True


def check_test_cells(coursedir, assignment):
    """Raise if a graded test cell of the assignment's source is not a ``grader.check`` call."""
    import nbformat

    from grader.course.executor import is_test_cell
    from grader.judge.source import check_call

    source = coursedir.format_path(coursedir.source_directory, ".", assignment)
    bad = []
    for path in sorted(glob.glob(os.path.join(source, "*.ipynb"))):
        for cell in nbformat.read(path, as_version=4).cells:
            if is_test_cell(cell) and check_call(cell.source) is None:
                bad.append(f"{Path(path).name}: {cell.metadata['nbgrader'].get('grade_id')}")
    if bad:
        raise RuntimeError(
            "the grader judges test cells that call grader.check(\"<exercise id>\", <name>); "
            f"these graded cells do not: {', '.join(bad)}")

"""Submissions before they run: validated, sanitized by nbgrader, packed as jobs.

`prepare_submission` reads a student's submitted notebooks and decides, before
anything executes, whether the submission can be graded. A notebook that is
not JSON, not a valid notebook, carries nbgrader metadata of an unknown
schema, repeats a grade id, has graded cells that are not this assignment's
(a notebook of another assignment), or is missing, makes the submission *not
graded*, with a one-line reason: it is never recorded as a zero, and the rest
of the class is graded. A valid notebook goes through nbgrader's own
autograde sanitizing (`nbgrader.preprocessors.ClearOutput`, `DeduplicateIds`,
`OverwriteKernelspec`, `OverwriteCells`, `CheckCellMetadata`), which restores
the locked cells (the tests) from the gradebook, and becomes part of a `Job`
(bytes, no paths).
"""

import dataclasses
import glob
import json
import os
from pathlib import Path

__all__ = ["NotGraded", "Prepared", "prepare_submission", "source_grade_ids"]

# Largest submitted notebook file read (bytes).
MAX_NOTEBOOK_BYTES = 20 << 20


class NotGraded(Exception):
    """A submission that cannot be graded; the message is the one-line reason."""


@dataclasses.dataclass
class Prepared:
    """A submission ready to run: sanitized notebooks by name (bytes)."""

    student: str
    notebooks: dict


def source_grade_ids(coursedir, assignment):
    """``{notebook name: set of graded/solution/locked cell ids}`` of the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        record = gb.find_assignment(assignment)
        ids = {}
        for notebook in record.notebooks:
            names = {cell.name for cell in notebook.grade_cells}
            names |= {cell.name for cell in notebook.solution_cells}
            names |= {cell.name for cell in notebook.source_cells}
            names |= {cell.name for cell in notebook.task_cells}
            ids[notebook.name] = names
        return ids


def _read(path, name):
    import nbformat

    size = os.path.getsize(path)
    if size > MAX_NOTEBOOK_BYTES:
        raise NotGraded(f"{name}.ipynb is {size / 2**20:.0f} MB, over the "
                        f"{MAX_NOTEBOOK_BYTES >> 20} MB a notebook may have")
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    try:
        json.loads(text)
    except ValueError as error:
        raise NotGraded(f"{name}.ipynb is not valid JSON (corrupt or truncated file: "
                        f"{error.msg} at line {error.lineno})") from None
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as error:  # noqa: BLE001 (nbformat's own validation errors)
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
        raise NotGraded(f"{name}.ipynb is not a valid notebook ({type(error).__name__}"
                        f"{': ' + reason if reason else ''})") from None
    return nb


def _check_metadata(nb, name, known_ids):
    """Refuse unknown schemas, repeated or foreign grade ids (before nbgrader sees them)."""
    from nbgrader.nbgraderformat import MetadataValidator, ValidationError

    try:
        MetadataValidator().validate_nb(nb)
    except ValidationError as error:
        first = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
        raise NotGraded(f"{name}.ipynb has corrupted nbgrader cell metadata ({first})") from None
    except Exception as error:  # noqa: BLE001 (a schema nbgrader cannot read at all)
        raise NotGraded(f"{name}.ipynb has nbgrader cell metadata that cannot be read "
                        f"({type(error).__name__}: {str(error)[:120]})") from None
    seen, foreign = set(), set()
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if not meta or "grade_id" not in meta:
            continue
        grade_id = meta["grade_id"]
        if grade_id in seen:
            raise NotGraded(f"{name}.ipynb has the graded cell {grade_id!r} twice (a copied "
                            "cell keeps its nbgrader id: delete the copy)")
        seen.add(grade_id)
        if grade_id not in known_ids:
            foreign.add(str(grade_id))
    if foreign and not (seen - foreign):
        raise NotGraded(f"{name}.ipynb holds none of this assignment's graded cells (is it "
                        "the notebook of another assignment?)")
    if foreign:
        raise NotGraded(f"{name}.ipynb has graded cells this assignment does not have: "
                        f"{', '.join(sorted(foreign)[:5])}")


def _sanitize(nb, coursedir, config, assignment, name, student):
    """nbgrader's autograde sanitizing, in this process, as ``nbgrader autograde`` does."""
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        OverwriteCells,
        OverwriteKernelspec,
    )

    resources = {"nbgrader": {"student": student, "assignment": assignment, "notebook": name,
                              "db_url": coursedir.db_url, "course_id": coursedir.course_id},
                 "unique_key": name}
    for preprocessor in (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
                         CheckCellMetadata):
        nb, resources = preprocessor(config=config).preprocess(nb, resources)
    return nb


def prepare_submission(coursedir, config, assignment, student, known_ids):
    """Validate and sanitize one student's submission.

    Args:
        coursedir: nbgrader's `CourseDirectory`.
        config: the course's traitlets config.
        assignment: assignment id.
        student: student id.
        known_ids: `source_grade_ids(coursedir, assignment)`.

    Returns:
        `Prepared`.

    Raises:
        NotGraded: the submission cannot be graded (the reason in one line).
    """
    import nbformat

    folder = coursedir.format_path(coursedir.submitted_directory, student, assignment)
    submitted = {Path(p).stem: p for p in glob.glob(os.path.join(folder, "*.ipynb"))}
    expected = sorted(known_ids)
    if not set(expected) & set(submitted):
        found = ", ".join(f"{n}.ipynb" for n in sorted(submitted)) or "no notebook"
        raise NotGraded(f"wrong notebook name: expected {', '.join(f'{n}.ipynb' for n in expected)}"
                        f", found {found}")
    notebooks = {}
    for name in expected:
        if name not in submitted:
            raise NotGraded(f"{name}.ipynb is missing from the submission")
        nb = _read(submitted[name], name)
        _check_metadata(nb, name, known_ids[name])
        try:
            nb = _sanitize(nb, coursedir, config, assignment, name, student)
        except Exception as error:  # noqa: BLE001 (nbgrader refused it)
            raise NotGraded(f"{name}.ipynb could not be prepared by nbgrader "
                            f"({type(error).__name__}: {str(error)[:160]})") from None
        notebooks[name] = nbformat.writes(nb).encode("utf-8")
    return Prepared(student, notebooks)

"""Build the nbgrader source notebooks in ``solutions/`` from ``scripts/notebooks/``.

Each course notebook has one readable source, ``scripts/notebooks/<chapter>.py``,
written in the "percent" cell format. A line starting with ``# %%`` opens a cell:

- ``# %% [markdown]``: a markdown cell; every line loses its leading ``# ``.
- ``# %%``: an ordinary (ungraded) code cell.
- ``# %% solution <id>``: the student's answer for exercise ``<id>``, with its
  ``### BEGIN SOLUTION`` / ``### END SOLUTION`` region(s).
- ``# %% test <id>``: the locked, graded test cell of exercise ``<id>``, worth
  ``grader.points(<id>)``. Its body is generated: ``grader.check("<id>", <id>)``, whose
  value (a ``grader.Score``) is the cell's partial credit. The grader adds the
  exercise's hidden cases by itself under ``NBGRADER_EXECUTION=autograde``, so
  the cells need no hidden-test region.

Usage::

    python scripts/build_notebooks.py            # write solutions/<chapter>/<chapter>.ipynb
    python scripts/build_notebooks.py --check    # exit 1 if a committed notebook is stale
    python scripts/build_notebooks.py --release  # also regenerate assignments/ with nbgrader

The output is deterministic (fixed cell ids, sorted keys), so a rebuild of an
unchanged source leaves the committed notebook byte for byte identical.
"""

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import nbformat

import grader

ROOT = Path(__file__).resolve().parent.parent
SOURCES = Path(__file__).resolve().parent / "notebooks"

# Chapters in course order; each is one nbgrader assignment with one notebook.
CHAPTERS = (
    "ch02_preliminaries",
    "ch03_linear_regression",
    "ch04_softmax_regression",
    "ch05_mlp",
    "ch06_regularization",
    "ch06_numerical_stability",
    "ch07_cnn",
    "ch08_modern_cnn",
    "ch08_batchnorm_resnet",
    "ch08_adversarial",
)

class _RegistryPoints(Mapping):
    """Exercise id -> maximum points, read from the grader's registry.

    The registry (`grader.points`) is the one source of the points; its
    plugins load on first access, not when this script is imported.
    """

    def __getitem__(self, exercise_id):
        try:
            return grader.points(exercise_id)
        except grader.UnknownExerciseError:
            raise KeyError(exercise_id) from None

    def __iter__(self):
        return iter(grader.exercises()["id"])

    def __len__(self):
        return len(grader.exercises())


# Points per exercise: `POINTS[<id>] == grader.points(<id>)`.
POINTS = _RegistryPoints()

NBGRADER_SCHEMA_VERSION = 3
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python"}
# nbgrader acts on these anywhere in a cell, markdown included.
NBGRADER_DELIMITERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_MARKER = re.compile(r"^# %%(?P<rest>.*)$")


class SourceError(ValueError):
    """A notebook source is malformed (unknown cell kind, exercise or marker)."""


def _markdown_text(lines):
    text = []
    for line in lines:
        if line.startswith("# "):
            text.append(line[2:])
        elif line.rstrip() == "#":
            text.append("")
        elif line.strip():
            raise SourceError(f"markdown line does not start with '# ': {line!r}")
        else:
            text.append("")
    return "\n".join(text).strip("\n")


def _test_source(exercise_id):
    return f'grader.check("{exercise_id}", {exercise_id})'


def _split_cells(text, path):
    """Yields (header, body lines) for each ``# %%`` cell of a source file."""
    header, body = None, []
    for line in text.splitlines():
        match = _MARKER.match(line)
        if match:
            if header is not None:
                yield header, body
            header, body = match.group("rest").strip(), []
        elif header is None:
            if line.strip():
                raise SourceError(f"{path}: text before the first '# %%' marker: {line!r}")
        else:
            body.append(line)
    if header is not None:
        yield header, body


def build_notebook(chapter):
    """Returns the solution notebook of ``chapter`` as a NotebookNode."""
    path = SOURCES / f"{chapter}.py"
    cells, seen, counter = [], set(), 0
    for header, body in _split_cells(path.read_text(encoding="utf-8"), path):
        words = header.split()
        counter += 1
        if header == "[markdown]":
            text = _markdown_text(body)
            if any(delimiter in text for delimiter in NBGRADER_DELIMITERS):
                raise SourceError(f"{path}: markdown cell {counter} contains an nbgrader delimiter")
            cell = nbformat.v4.new_markdown_cell(text)
            cell.id = f"md-{counter:02d}"
        elif not words:
            cell = nbformat.v4.new_code_cell("\n".join(body).strip("\n"))
            cell.id = f"code-{counter:02d}"
        elif words[0] in ("solution", "test"):
            exercise_id = words[1]
            if exercise_id not in POINTS:
                raise SourceError(f"{path}: unknown exercise id {exercise_id!r}")
            if words[0] == "solution":
                source = "\n".join(body).strip("\n")
                if "### BEGIN SOLUTION" not in source:
                    raise SourceError(f"{path}: solution cell {exercise_id} has no solution region")
                cell = nbformat.v4.new_code_cell(source)
                grade_id = exercise_id
                cell.metadata["nbgrader"] = {
                    "grade": False, "solution": True, "locked": False,
                    "grade_id": grade_id, "schema_version": NBGRADER_SCHEMA_VERSION,
                }
            else:
                if any(line.strip() for line in body):
                    raise SourceError(f"{path}: test cell {exercise_id} must have no body")
                if exercise_id in seen:
                    raise SourceError(f"{path}: exercise {exercise_id} tested twice")
                seen.add(exercise_id)
                if len(words) != 2:
                    raise SourceError(f"{path}: unexpected words in '# %% {header}'")
                cell = nbformat.v4.new_code_cell(_test_source(exercise_id))
                grade_id = f"test_{exercise_id}"
                cell.metadata["nbgrader"] = {
                    "grade": True, "solution": False, "locked": True,
                    "points": POINTS[exercise_id], "grade_id": grade_id,
                    "schema_version": NBGRADER_SCHEMA_VERSION,
                }
            cell.id = grade_id
        else:
            raise SourceError(f"{path}: unknown cell marker '# %% {header}'")
        cells.append(cell)
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO}
    nbformat.validate(notebook)
    return notebook


def notebook_text(notebook):
    """The notebook's JSON as written to disk (stable key order, final newline)."""
    return nbformat.writes(notebook) + "\n"


def solution_path(chapter, root=ROOT):
    return Path(root) / "solutions" / chapter / f"{chapter}.ipynb"


def release(chapters, root=ROOT):
    """Regenerates ``assignments/<chapter>/`` with ``nbgrader generate_assignment``."""
    bin_dir = Path(sys.executable).parent
    # nbgrader runs the `alembic` script of its environment to create the gradebook.
    env = {**os.environ, "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])}
    for chapter in chapters:
        subprocess.run(
            [str(bin_dir / "nbgrader"), "generate_assignment", chapter, "--force",
             "--log-level=WARN"],
            cwd=root, env=env, check=True,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", default=list(CHAPTERS))
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    parser.add_argument("--release", action="store_true", help="regenerate assignments/ too")
    args = parser.parse_args(argv)
    stale = []
    for chapter in args.chapters:
        text = notebook_text(build_notebook(chapter))
        path = solution_path(chapter)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(chapter)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check:
        for chapter in stale:
            print(f"stale: {solution_path(chapter).relative_to(ROOT)}")
        return 1 if stale else 0
    if args.release:
        release(args.chapters)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())

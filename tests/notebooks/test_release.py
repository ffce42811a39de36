"""Is `assignments/` what `nbgrader generate_assignment` makes of `solutions/`?

The course is copied to a temporary directory, its `assignments/` removed, and
every assignment regenerated there with nbgrader's Python API (the same code
the `nbgrader generate_assignment <chapter> --force` command runs). nbgrader's
output is deterministic (the checksums are hashes of the cell sources), so the
regenerated notebooks must equal the committed ones as whole documents.
"""

import os
import shutil

import nbformat
import pytest
from nbcourse import BIN_DIR, CHAPTERS, ROOT, build_notebooks
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader


def _released(root, chapter):
    return nbformat.read(root / "assignments" / chapter / f"{chapter}.ipynb", as_version=4)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    """A copy of the course whose assignments/ was regenerated from solutions/."""
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "solutions", course / "solutions")
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    coursedir = CourseDirectory(config=config, root=str(course))
    api = NbGraderAPI(coursedir=coursedir, config=config)
    with pytest.MonkeyPatch.context() as patch:
        # nbgrader runs its environment's `alembic` script to create the gradebook.
        patch.setenv("PATH", os.pathsep.join([str(BIN_DIR), os.environ.get("PATH", "")]))
        results = {chapter: api.generate_assignment(chapter) for chapter in CHAPTERS}
    failed = {chapter: r["error"] for chapter, r in results.items() if not r["success"]}
    assert not failed, failed
    return course


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_committed_assignment_equals_a_fresh_generate_assignment(chapter, regenerated):
    """Does assignments/<chapter> equal a fresh nbgrader generate_assignment of solutions/?"""
    committed = _released(ROOT, chapter)
    fresh = _released(regenerated, chapter)
    assert [c.source for c in committed.cells] == [c.source for c in fresh.cells], (
        "run: python scripts/build_notebooks.py --release"
    )
    assert [c.metadata for c in committed.cells] == [c.metadata for c in fresh.cells]
    assert committed == fresh


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_released_notebook_hides_the_answers(chapter):
    """Does the released notebook replace every answer with raise NotImplementedError()?"""
    released = _released(ROOT, chapter)
    solution = nbformat.read(build_notebooks.solution_path(chapter), as_version=4)
    assert len(released.cells) == len(solution.cells)
    for cell, source_cell in zip(released.cells, solution.cells):
        nbgrader = cell.metadata.get("nbgrader", {})
        if nbgrader.get("solution"):
            assert "BEGIN SOLUTION" not in cell.source
            assert "raise NotImplementedError()" in cell.source
            assert nbgrader["checksum"]
        elif nbgrader.get("grade"):
            assert cell.source == source_cell.source
            assert cell.metadata["editable"] is False and cell.metadata["deletable"] is False
        else:
            assert cell.source == source_cell.source
        assert cell.get("outputs", []) == []

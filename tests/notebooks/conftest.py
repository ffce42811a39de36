"""Fixtures for the course notebooks: a throwaway copy of the nbgrader course.

`course_dir` copies `solutions/`, `assignments/` and `nbgrader_config.py` into a
temporary directory, so nbgrader's gradebook and its `submitted/`,
`autograded/` folders never touch the working tree. `nbgrader_env` is the
environment for an nbgrader subprocess.
"""

import shutil

import pytest
from nbcourse import ROOT, nbgrader_environ


@pytest.fixture
def nbgrader_env():
    return nbgrader_environ()


@pytest.fixture
def course_dir(tmp_path):
    """A copy of the course directory (solutions, assignments, nbgrader_config.py)."""
    course = tmp_path / "course"
    course.mkdir()
    for folder in ("solutions", "assignments"):
        shutil.copytree(ROOT / folder, course / folder)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    return course

"""Shared fixtures of the grader tests: the tiny course (`tiny_course`), before and after
one embedded autograde run with one job."""

import shutil

import pytest
from tiny_course import ASSIGNMENT, SLACK_CELL_TIMEOUT, make_course

from grader import course as grading


@pytest.fixture(scope="session")
def pristine(tmp_path_factory):
    """The tiny course before autograding (copy it before writing to it)."""
    return make_course(tmp_path_factory.mktemp("tiny") / "course")


@pytest.fixture(scope="session")
def graded_serial(pristine, tmp_path_factory):
    """A copy of the tiny course autograded by the embedded cluster with ``jobs=1``."""
    course = tmp_path_factory.mktemp("serial") / "course"
    shutil.copytree(pristine, course)
    grading.autograde(ASSIGNMENT, course, jobs=1, timeout=SLACK_CELL_TIMEOUT, num_gpus=0,
                      progress=False)
    return course

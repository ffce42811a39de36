"""The nbgrader course folder: its configuration, submissions and gradebook file."""

import glob
import os
from pathlib import Path

__all__ = ["load_course"]


def load_course(course_dir):
    """The nbgrader configuration and `CourseDirectory` of a course folder.

    Args:
        course_dir: the course root (holding ``nbgrader_config.py``, if any).

    Returns:
        ``(config, coursedir)``: the traitlets `Config` read from
        ``nbgrader_config.py`` with ``CourseDirectory.root`` set, and nbgrader's
        `CourseDirectory` built from it.

    Raises:
        ValueError: if `course_dir` is not a directory.
    """
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(course_dir).resolve()
    if not root.is_dir():
        raise ValueError(f"`course_dir` must be a directory. Received: course_dir={course_dir}")
    config = Config()
    if (root / "nbgrader_config.py").exists():
        config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config())
    config.CourseDirectory.root = str(root)
    return config, CourseDirectory(config=config)


def _submitted_students(coursedir, assignment):
    """Student ids with a submission folder for `assignment`, sorted."""
    pattern = coursedir.format_path(coursedir.submitted_directory, "*", assignment)
    template = coursedir.format_path(coursedir.submitted_directory, "{student}", assignment)
    prefix, suffix = template.split("{student}")
    return sorted(
        path[len(prefix) : len(path) - len(suffix)]
        for path in glob.glob(pattern)
        if os.path.isdir(path)
    )


def _sqlite_path(db_url):
    """The file of an ``sqlite:///`` gradebook URL."""
    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        raise ValueError(
            "Parallel-safe autograding needs the sqlite gradebook (a file). "
            f"Received: db_url={db_url}"
        )
    return Path(db_url[len(prefix) :])

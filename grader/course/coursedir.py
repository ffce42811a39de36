"""The nbgrader course folder: its configuration, submissions and gradebook.

Importing this module is light (standard library only).
"""

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["course_directory", "course_root", "git_tracking_warning", "load_config",
           "load_course", "require_gradebook"]

# The file that makes a folder an nbgrader course directory.
COURSE_CONFIG = "nbgrader_config.py"
# Seconds to wait for `git` when checking whether grades would be committed.
_GIT_TIMEOUT = 10


def course_root(course_dir):
    """The resolved root of a course directory, checked without reading it.

    Args:
        course_dir: folder that should hold ``nbgrader_config.py``.

    Returns:
        `Path`, the absolute course root.

    Raises:
        ValueError: if `course_dir` is not a directory or has no
            ``nbgrader_config.py`` ("not a course directory").
    """
    root = Path(course_dir).resolve()
    if not root.is_dir():
        raise ValueError(f"`course_dir` must be a directory. Received: course_dir={course_dir}")
    if not (root / COURSE_CONFIG).is_file():
        raise ValueError(
            f"{root} is not a course directory (it has no {COURSE_CONFIG}): run kerasdl-grade "
            f"in the course root or pass --course DIR. Received: course_dir={course_dir}"
        )
    return root


def load_config(course_dir, db_url=None):
    """The course's traitlets configuration, read without importing nbgrader.

    Args:
        course_dir: the course root (holding ``nbgrader_config.py``).
        db_url: the gradebook's database URL (``--db``), replacing the
            course's ``CourseDirectory.db_url``; None keeps the course's.

    Returns:
        The traitlets `Config` read from ``nbgrader_config.py`` with
        ``CourseDirectory.root`` (and ``CourseDirectory.db_url`` when given) set.

    Raises:
        ValueError: as `load_course`.
    """
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from grader.course.database import check_db_url

    root = course_root(course_dir)
    config = Config()
    config.merge(PyFileConfigLoader(COURSE_CONFIG, path=str(root)).load_config())
    config.CourseDirectory.root = str(root)
    if db_url is not None:
        config.CourseDirectory.db_url = check_db_url(db_url)
    return config


def course_directory(config):
    """nbgrader's `CourseDirectory` of a configuration from `load_config`.

    Raises:
        ValueError: the course's own gradebook URL is not a usable database URL.
    """
    from nbgrader.coursedir import CourseDirectory

    from grader.course.database import check_db_url

    _scripts_on_path()
    coursedir = CourseDirectory(config=config)
    check_db_url(coursedir.db_url)
    return coursedir


def load_course(course_dir, db_url=None):
    """The nbgrader configuration and `CourseDirectory` of a course folder.

    Args:
        course_dir: the course root (holding ``nbgrader_config.py``).
        db_url: the gradebook's database URL (``--db``), replacing the
            course's ``CourseDirectory.db_url``; None keeps the course's
            (nbgrader's default: ``sqlite:///<course>/gradebook.db``).

    Returns:
        ``(config, coursedir)``: the traitlets `Config` read from
        ``nbgrader_config.py`` with ``CourseDirectory.root`` (and
        ``CourseDirectory.db_url`` when given) set, and nbgrader's
        `CourseDirectory` built from it.

    Raises:
        ValueError: if `course_dir` is not a course directory (`course_root`),
            or the gradebook URL is not a usable database URL
            (`grader.course.database.check_db_url`).
    """
    config = load_config(course_dir, db_url)
    return config, course_directory(config)


def _scripts_on_path():
    """Put this interpreter's scripts folder first on PATH (once).

    nbgrader's gradebook runs its ``alembic`` script by name, which fails when
    a virtual environment is used without being activated.
    """
    scripts = os.path.dirname(sys.executable)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != scripts:
        os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])


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


def require_gradebook(coursedir):
    """The gradebook of a course, which must exist (nbgrader would create it empty).

    Args:
        coursedir: nbgrader `CourseDirectory` (from `load_course`).

    Returns:
        `Path` of the sqlite gradebook file, or the database URL of another
        database (`grader.course.database.require_database`).

    Raises:
        ValueError: the sqlite file does not exist, or the database holds no
            gradebook.
        RuntimeError: the database server cannot be reached.
    """
    from grader.course.database import require_database

    return require_database(coursedir.db_url, coursedir.root)


def git_tracking_warning(path):
    """A warning when `path` (grades) would be committed by ``git add``, else None.

    Asks ``git check-ignore``: no warning when `path` is ignored, is outside a
    git work tree, or git is not installed.

    Args:
        path: a file or folder just written (need not exist).

    Returns:
        str or None.
    """
    git = shutil.which("git")
    path = Path(path).resolve()
    folder = next((p for p in (path, *path.parents) if p.is_dir()), None)
    if git is None or folder is None:
        return None
    try:
        check = subprocess.run(
            [git, "-C", str(folder), "check-ignore", "-q", str(path)],
            capture_output=True, timeout=_GIT_TIMEOUT, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    # 0: ignored; 1: not ignored, inside a work tree; 128: not a work tree (or an error).
    if check.returncode != 1:
        return None
    return (
        f"{path} is inside a git work tree and not ignored: student grades are one "
        "`git add` away from being committed. Add it (e.g. /reports/) to .gitignore."
    )

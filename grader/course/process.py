"""Run nbgrader in a subprocess that can load the `grader.course` preprocessors.

The subprocess is this interpreter running nbgrader's own entry point, with
the folder holding this `grader` package first on ``sys.path``: nbgrader
loads `grader.course.preprocessors.ResilientExecute` (and the others) by
dotted name from the same code as the caller, installed or not. Importing
them is light (`import grader` does not import TensorFlow).
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

# The folder holding the `grader` package (grader/course/process.py -> .).
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
# Environment variable handing the gradebook URL to the nbgrader subprocess;
# it is not put on the command line, which every user of the machine can read.
_DB_URL_ENV = "KERASDL_NBGRADER_DB_URL"
# `python -c` program: put `_PACKAGE_ROOT` (its first argument) on sys.path,
# add the gradebook URL of `_DB_URL_ENV` (if set) as --CourseDirectory.db_url,
# then run nbgrader's command line on the remaining arguments.
_NBGRADER_MAIN = (
    "import os, sys\n"
    "sys.path.insert(0, sys.argv.pop(1))\n"
    "sys.argv[0] = 'nbgrader'\n"
    f"url = os.environ.pop({_DB_URL_ENV!r}, None)\n"
    "if url:\n"
    "    sys.argv.append('--CourseDirectory.db_url=' + url)\n"
    "from nbgrader.apps.nbgraderapp import main\n"
    "main()\n"
)
# Lines of a failing job's log shown on the terminal.
_LOG_TAIL_LINES = 15


def _with_scripts_on_path(env=None):
    """A copy of `env` whose PATH starts with this interpreter's scripts folder.

    nbgrader runs the ``alembic`` script of its environment by name, which fails
    when a virtual environment is used without being activated.
    """
    env = dict(os.environ if env is None else env)
    scripts = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join([scripts, env.get("PATH", "")])
    return env


def _nbgrader_command(args):
    """Command line running ``nbgrader ARGS`` with this package's preprocessors importable."""
    return [sys.executable, "-c", _NBGRADER_MAIN, _PACKAGE_ROOT, *args]


def _nbgrader(args, *, cwd, env=None, log_path=None, db_url=None):
    """Run ``nbgrader ARGS``; return the completed process (output to `log_path`).

    `db_url`, when given, is the gradebook nbgrader uses
    (``--CourseDirectory.db_url``, passed through the environment).
    """
    command = _nbgrader_command(args)
    env = _with_scripts_on_path(env)
    if db_url:
        env[_DB_URL_ENV] = db_url
    with open(log_path, "w") if log_path else tempfile.TemporaryFile("w+") as log:
        process = subprocess.run(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    return process


def _tail(path, num_lines=_LOG_TAIL_LINES):
    """The last `num_lines` lines of a text file ("" if it cannot be read)."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-num_lines:])

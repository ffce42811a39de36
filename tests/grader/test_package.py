"""The grader package and its command start without TensorFlow."""

import os
import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})


def test_import_grader_does_not_import_tensorflow():
    """Does `import grader` leave TensorFlow unloaded until a check runs?"""
    out = _run("import sys, grader; print('tensorflow' in sys.modules)").stdout.split()
    assert out == ["False"]


def test_grader_exports_resolve_lazily():
    """Do the public names of `grader` all resolve after a light import?"""
    code = ("import grader; missing = [n for n in grader.__all__ if not hasattr(grader, n)];"
            " print(len(grader.__all__), missing)")
    count, missing = _run(code).stdout.split(maxsplit=1)
    assert int(count) > 10
    assert missing.strip() == "[]"


def test_cli_help_does_not_import_tensorflow():
    """Does `kerasdl-grade --help` answer without importing TensorFlow?"""
    code = ("import sys, contextlib, io\n"
            "from grader import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try:\n"
            "        cli.main(['--help'])\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print('autograde' in out.getvalue(), 'tensorflow' in sys.modules)")
    assert _run(code).stdout.split() == ["True", "False"]

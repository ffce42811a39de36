"""Shared helpers of the notebook tests: paths, the builder, nbgrader's environment."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import build_notebooks  # noqa: E402

CHAPTERS = build_notebooks.CHAPTERS
COURSE_ID = "kerasdl-d2l"
BIN_DIR = Path(sys.executable).parent


def nbgrader_environ():
    """Environment of an nbgrader subprocess (and of the kernels it starts).

    The virtualenv's `bin` goes first on PATH: nbgrader runs its `alembic`
    script from there to create the gradebook. MPLBACKEND is dropped so the
    kernels use Jupyter's inline backend, as they do for students.
    """
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(BIN_DIR), env.get("PATH", "")])
    env.pop("MPLBACKEND", None)
    env.pop("NBGRADER_EXECUTION", None)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env

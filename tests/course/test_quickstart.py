"""The README's instructor quick start, run verbatim on a fresh clone."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "ch02_preliminaries"
# Scores are rounded to 4 decimals by nbgrader.
SCORE_TOL = 1e-4
# Seconds for the whole quick start (one notebook autograded in the sandbox).
QUICKSTART_TIMEOUT = 900

pytestmark = pytest.mark.slow


def quickstart_commands():
    """The shell lines of the README block that follows ``<!-- quickstart -->``."""
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- quickstart -->\s*```sh\n(.*?)```", readme, re.S)
    assert match, "README.md has no quick start block"
    return match.group(1)


def test_readme_quickstart_grades_a_fresh_clone(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    script = quickstart_commands()
    assert script.startswith("git clone <this repository> kerasdl-course")
    # The only substitution: where "this repository" is. `make install`
    # finds the environment this test runs in (a link to it, already
    # installed, so the clone's make does not build another one).
    venv = Path(sys.prefix)
    prelude = (
        f"set -euo pipefail\ncd {tmp_path}\n"
        "git() { command git \"$@\"; if [ \"$1\" = clone ]; then "
        f"ln -s {venv} kerasdl-course/.venv; touch -d @0 kerasdl-course/pyproject.toml; fi; }}\n"
    )
    body = script.replace("<this repository>", str(ROOT))
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("NBGRADER", "KERASDL_"))}
    result = subprocess.run(["bash", "-c", prelude + body], env=env, capture_output=True,
                            text=True, timeout=QUICKSTART_TIMEOUT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    course = tmp_path / "kerasdl-course"
    grades = pd.read_csv(course / "reports" / ASSIGNMENT / "grades.csv")
    ada = grades[grades.student_id == "ada"].iloc[0]
    assert ada.max_score > 0
    assert abs(ada.score - ada.max_score) < SCORE_TOL
    assert list((course / "feedback" / "ada" / ASSIGNMENT).glob("*.html"))
    assert "not graded" not in result.stdout

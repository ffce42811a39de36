"""The judge's tests import the chapter fixtures of `tests/grader` as `fixtures`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "grader"))

"""grader: check a student's function, layer or model against the kerasdl reference.

In an nbgrader test cell::

    grader.check("softmax", softmax)

runs the exercise's seeded cases on the student's object beside the kerasdl
reference, prints one feedback line per case (an HTML table in a notebook) and
returns a `Score`, a float in `[0, points]` that nbgrader takes as the cell's
partial credit. Hidden cases run under `NBGRADER_EXECUTION=autograde` or with
`hidden=True`. Writing new checks: see `grader/README.md`.
"""

import sys as _sys

import kerasdl as _kerasdl  # noqa: F401  (first: sets TensorFlow's environment before TF loads)

from grader import compare as _compare
from grader import feedback as _feedback
from grader import integrity as _integrity
from grader import runner as _runner
from grader import sandbox as _sandbox
from grader.cases import CaseBuilder, CaseContext
from grader.compare import Comparison, Normal, Uniform
from grader.errors import (
    CaseFailed,
    GraderError,
    PluginError,
    ReferenceFailedError,
    UnknownExerciseError,
)
from grader.registry import ENTRY_POINT_GROUP, Exercise, Registry, default_registry, exercise
from grader.results import CaseResult, Score
from grader.tolerances import FLOAT16, FLOAT32, FLOAT64, Tolerance, tolerance_for

__all__ = [
    "check",
    "exercises",
    "points",
    "exercise",
    "Score",
    "CaseResult",
    "CaseBuilder",
    "CaseContext",
    "CaseFailed",
    "Comparison",
    "Normal",
    "Uniform",
    "Tolerance",
    "FLOAT16",
    "FLOAT32",
    "FLOAT64",
    "tolerance_for",
    "Exercise",
    "Registry",
    "ENTRY_POINT_GROUP",
    "GraderError",
    "PluginError",
    "ReferenceFailedError",
    "UnknownExerciseError",
]

_run_exercise = _runner.run_exercise
_show = _feedback.show
_registry = default_registry


def check(exercise_id, obj, *, hidden=None, quiet=False):
    """Grade a student's object for one exercise and return its `Score`.

    Args:
        exercise_id: the exercise id (`"softmax"`).
        obj: the student's function, class or model factory.
        hidden: True to run hidden cases too, False never; None (default)
            runs them only under nbgrader autograding
            (`NBGRADER_EXECUTION=autograde`).
        quiet: do not print the feedback.

    Returns:
        `Score`, a float in `[0, points]` (0 when the submission is or calls
        the kerasdl reference).

    Raises:
        UnknownExerciseError: no plugin registers `exercise_id`.
        PluginError: a plugin module is broken (an instructor error).
    """
    spec = _registry.get(exercise_id)
    score = _run_exercise(spec, obj, hidden=hidden, guard=_tampered)
    if not quiet:
        _show(score)
    return score


def exercises():
    """Return a `pandas.DataFrame` of the registered exercises.

    Columns: `id`, `chapter`, `points`, `public_cases`, `hidden_cases`,
    `module`, `description`.
    """
    return _registry.frame()


def points(exercise_id):
    """Return the maximum points of an exercise."""
    return _registry.get(exercise_id).points


# The grader's own functions, recorded at import: a notebook that replaces
# one of them (to force a pass) scores 0 instead.
_SNAPSHOT = _integrity.snapshot_functions(
    [_compare, _runner, _sandbox, _integrity, _sys.modules["grader.cases"]]
)
_snapshot_intact = _integrity.snapshot_intact
# NumPy functions the checks compare with: replacing one (`np.allclose =
# lambda *a, **k: True`) is detected and scores 0.
_NUMPY_GUARDED = _integrity.snapshot_attributes(
    "numpy", ["allclose", "isclose", "array_equal", "all", "any", "abs", "max", "min",
              "isfinite", "isnan", "mean", "var", "std", "sum", "asarray", "array"])
_NUMPY_TESTING_GUARDED = _integrity.snapshot_attributes(
    "numpy.testing", ["assert_allclose", "assert_array_equal"])


def _tampered():
    if not _snapshot_intact(_SNAPSHOT):
        return ("the grader was modified in this kernel; restart the kernel and "
                "run the notebook again")
    if not (_snapshot_intact(_NUMPY_GUARDED) and _snapshot_intact(_NUMPY_TESTING_GUARDED)):
        return ("numpy was modified in this kernel; restart the kernel and run "
                "the notebook again")
    return None

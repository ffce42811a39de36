"""Exceptions of the grader.

Instructor errors (`GraderError` and subclasses) propagate to the notebook:
an unknown exercise id or a broken plugin must be fixed by the instructor.
Student errors never propagate: they become failed cases.
"""

__all__ = [
    "GraderError",
    "UnknownExerciseError",
    "PluginError",
    "ReferenceFailedError",
    "CaseFailed",
]


class GraderError(Exception):
    """An instructor error: the grader or one of its plugins is misconfigured."""


class UnknownExerciseError(GraderError, KeyError):
    """`check()` or `points()` was called with an id no plugin registers."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class PluginError(GraderError):
    """A plugin module failed to import, misuses the decorator or clashes."""


class ReferenceFailedError(GraderError):
    """The reference implementation raised on a case's inputs."""


class CaseFailed(Exception):
    """Raised by case code to fail the current case with a message and hint.

    Args:
        message: one line for the student (what was compared, what was found).
        hint: optional advice for a known mistake.
        comparison: optional `Comparison` with the error figures.
    """

    def __init__(self, message, hint=None, comparison=None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.comparison = comparison

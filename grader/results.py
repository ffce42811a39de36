"""Result records: one `CaseResult` per case, one `Score` per `check()` call."""

import dataclasses

__all__ = ["CaseResult", "Score"]

# Scores are rounded to this many decimals so that sums of case weights do not
# show float noise such as 1.9999999999999998 in the notebook.
SCORE_DECIMALS = 4


@dataclasses.dataclass
class CaseResult:
    """Outcome of one case of an exercise.

    Args:
        name: short case name shown in the feedback (`"logits near +1000"`).
        passed: whether the student's object passed the case.
        message: one line saying what was compared and what was found.
        max_abs_err: largest absolute error of a value comparison (or None).
        max_rel_err: largest relative error of a value comparison (or None).
        worst_index: index (tuple) of the worst element, or None.
        hint: advice for the known mistake the output matches, or None.
        hidden: whether the case is hidden (its values are never printed).
        seconds: wall time of the case, in seconds.
        student_seconds: the part of `seconds` spent running the submitted
            code (calls through `CaseContext.student` and `guard`).
        weight: the case's share of the exercise's points (relative weight).
        not_attempted: the submitted code raised `NotImplementedError`, as
            nbgrader's released stub (`raise NotImplementedError()`) does.
    """

    name: str
    passed: bool
    message: str = ""
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    worst_index: tuple | None = None
    hint: str | None = None
    hidden: bool = False
    seconds: float = 0.0
    student_seconds: float = 0.0
    weight: float = 1.0
    not_attempted: bool = False


class Score(float):
    """The points a submission earned for one exercise, as a plain number.

    A `float` subclass: the notebook shows it as `1.5`, which nbgrader reads as
    the cell's partial credit. It has no `_repr_html_`, so the cell's
    `text/plain` output is that number and nothing else.

    Attributes:
        exercise: exercise id (`"softmax"`).
        points: the exercise's maximum points.
        results: list of `CaseResult`, in the order the cases ran.
        passed: whether every case that ran passed.
        integrity_message: why the score was set to 0 by the integrity rule,
            or None.
    """

    def __new__(cls, value, *, exercise, points, results=(), integrity_message=None):
        value = min(max(float(value), 0.0), float(points))
        self = super().__new__(cls, round(value, SCORE_DECIMALS))
        self.exercise = exercise
        self.points = points
        self.results = list(results)
        self.integrity_message = integrity_message
        self.passed = integrity_message is None and all(r.passed for r in self.results)
        return self

    def __repr__(self):
        return float.__repr__(float(self))

    __str__ = __repr__

    def __reduce__(self):
        return (float, (float(self),))

"""`Verdict`: the judge's decision on one graded test cell, as data.

Light to import (no TensorFlow): the course's trusted process reads verdicts
that workers sent back as JSON, and records them.
"""

import dataclasses

from grader.results import CaseResult, Score

__all__ = ["Verdict"]


@dataclasses.dataclass
class Verdict:
    """The judge's decision on one graded test cell.

    Attributes:
        exercise: exercise id.
        score: the points awarded (what the gradebook records).
        points: the exercise's maximum points.
        public_score: the score over the public cases alone (what an honest
            self-check in the kernel prints), or None if no case ran.
        results: the `CaseResult`s, public cases first.
        message: why the score is 0 without (all) cases, or None.
        kernel_lost: why the kernel stopped answering, or None.
        seconds: wall time of the judging.
    """

    exercise: str
    score: float
    points: float
    public_score: float | None = None
    results: list = dataclasses.field(default_factory=list)
    message: str | None = None
    kernel_lost: str | None = None
    seconds: float = 0.0

    def as_score(self):
        """The verdict as a `grader.results.Score` (for the feedback renderers)."""
        return Score(self.score, exercise=self.exercise, points=self.points,
                     results=self.results, integrity_message=self.message)

    def to_json(self):
        data = dataclasses.asdict(self)
        data["results"] = [dataclasses.asdict(result) for result in self.results]
        return data

    @classmethod
    def from_json(cls, data):
        data = dict(data)
        data["results"] = [CaseResult(**{**result, "worst_index": tuple(result["worst_index"])
                                         if result.get("worst_index") is not None else None})
                           for result in data.get("results", [])]
        return cls(**data)

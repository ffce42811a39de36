"""The sample class: who the demo students are and what they submit.

Every assignment of the demo gets one submission from each of the eight
students below. A submission starts from the released notebook; each solution
cell (keyed by its nbgrader ``grade_id``) is filled with the student's code,
or, for cells the student did not write specifically, with the instructor's
solution (`base="solution"`) or left as the released stub (`base="stub"`).
`expected` lists the points of each graded cell that differ from the base's
default (full points for "solution", zero for "stub"); each value is derived
from the exercise's cases (see the comment beside it).
"""

import dataclasses

__all__ = ["STUDENTS", "Submission", "class_submissions"]

# The sample students, the same in every assignment, with their persona.
STUDENTS = {
    "ana": "complete and correct: the instructor's solution",
    "ben": "correct in an unusual way: NumPy loops and float64",
    "chloe": "the chapter's typical mistakes",
    "dan": "untouched stub: the released notebook",
    "eve": "code that raises",
    "finn": "one function that loops forever",
    "gia": "tries to cheat: calls the reference, always-equal objects, patches NumPy",
    "hal": "forges the grade in the kernel: one line replaces grader.check, answers untouched",
}


@dataclasses.dataclass(frozen=True)
class Submission:
    """One student's submission to one assignment.

    Attributes:
        answers: dict, solution cell ``grade_id`` -> the student's code for it.
        base: ``"solution"`` or ``"stub"``, what fills the other solution cells.
        expected: dict, graded cell ``grade_id`` -> expected points, for cells
            whose expected score is not the base's default.
    """

    answers: dict = dataclasses.field(default_factory=dict)
    base: str = "solution"
    expected: dict = dataclasses.field(default_factory=dict)


def class_submissions(**submissions):
    """The whole sample class's submissions to one assignment, in `STUDENTS` order.

    "ana" submits the instructor's solution (`Submission()`) and "dan" the
    released stub (`Submission(base="stub")`) in every assignment; the
    assignment's module gives the other students' submissions.

    Args:
        **submissions: student id -> `Submission`, for every student of
            `STUDENTS` but "ana" and "dan".

    Returns:
        dict, student id -> `Submission`, for all of `STUDENTS`.

    Raises:
        ValueError: a student is missing, unknown, or is "ana" or "dan".
    """
    fixed = {"ana": Submission(), "dan": Submission(base="stub")}
    if set(fixed) & set(submissions) or set(fixed) | set(submissions) != set(STUDENTS):
        raise ValueError(
            "`submissions` must give one Submission for each student of STUDENTS "
            f"but 'ana' and 'dan'. Received: submissions={sorted(submissions)}"
        )
    by_student = {**fixed, **submissions}
    return {student: by_student[student] for student in STUDENTS}

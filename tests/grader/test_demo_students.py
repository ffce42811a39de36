"""Tests of `grader.demo.students.class_submissions`, the sample class's assembly."""

import pytest

from grader.demo import ch04_softmax_regression, ch07_cnn
from grader.demo.students import STUDENTS, Submission, class_submissions

OTHER_STUDENTS = [student for student in STUDENTS if student not in ("ana", "dan")]


def test_fixed_students_and_order():
    """Do "ana" (solution) and "dan" (stub) join the given students, in STUDENTS order?"""
    given = {student: Submission(answers={"f": student}) for student in OTHER_STUDENTS}
    submissions = class_submissions(**given)
    assert list(submissions) == list(STUDENTS)
    assert submissions["ana"] == Submission()
    assert submissions["dan"] == Submission(base="stub")
    for student in OTHER_STUDENTS:
        assert submissions[student] is given[student]


@pytest.mark.parametrize("module", [ch04_softmax_regression, ch07_cnn])
def test_demo_assignments_cover_the_class(module):
    """Does each demo assignment give every sample student exactly one submission?"""
    assert list(module.SUBMISSIONS) == list(STUDENTS)
    assert module.SUBMISSIONS["dan"].base == "stub"


@pytest.mark.parametrize("students", [OTHER_STUDENTS[1:], [*OTHER_STUDENTS, "ana"],
                                      [*OTHER_STUDENTS, "zoe"]])
def test_wrong_students_raise(students):
    """Does a missing, fixed or unknown student raise a ValueError naming the argument?"""
    with pytest.raises(ValueError, match=r"^`submissions` must give one Submission for each "
                                         r"student of STUDENTS but 'ana' and 'dan'\. "
                                         r"Received: submissions=\["):
        class_submissions(**{student: Submission() for student in students})

"""Chapter 5 checks: correct answers get full points, known mistakes their hint."""

import pytest

import grader
from fixtures import ch05
from fixtures.table import assert_expected, case_id


@pytest.mark.parametrize("exercise_id, implementation, expected", ch05.CASES, ids=case_id)
def test_chapter_5_table(exercise_id, implementation, expected, capsys):
    """Does each implementation get the score and hint the table expects?"""
    score = grader.check(exercise_id, implementation, hidden=True)
    assert_expected(score, expected, capsys.readouterr().out)

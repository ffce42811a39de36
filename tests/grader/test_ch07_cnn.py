"""Tests of the chapter 7 checks: correct and alternative submissions get full
points, each known mistake loses points with its hint, the reference scores 0."""

import numpy as np
import pytest

import grader
import kerasdl
from tests.grader.fixtures import ch07_cnn
from tests.grader.fixtures.ch07_common import assert_submission, ids

CHAPTER_IDS = ["corr2d", "conv_output_shape", "corr2d_multi_in", "corr2d_multi_in_out",
               "corr2d_multi_in_out_1x1", "pool2d", "lenet"]
# Scores are sums of case weights rounded to 4 decimals.
SCORE_ATOL = 1e-4


@pytest.mark.parametrize("row", ch07_cnn.SUBMISSIONS, ids=ids(ch07_cnn.SUBMISSIONS))
def test_submission(row):
    """Does each submission get full points, or lose points with the right hint?"""
    assert_submission(row)


@pytest.mark.parametrize("exercise_id", CHAPTER_IDS)
def test_reference_scores_zero(exercise_id):
    """Does submitting the kerasdl reference itself score 0 with the integrity message?"""
    score = grader.check(exercise_id, getattr(kerasdl, exercise_id), hidden=True, quiet=True)
    np.testing.assert_allclose(float(score), 0.0, atol=SCORE_ATOL)
    assert "kerasdl reference itself" in score.integrity_message


def test_every_exercise_has_a_full_and_a_failing_submission():
    """Does every exercise of the chapter have a full-points and a wrong submission?"""
    for exercise_id in CHAPTER_IDS:
        rows = [r for r in ch07_cnn.SUBMISSIONS if r[0] == exercise_id]
        assert any(r[3] == ch07_cnn.FULL for r in rows), exercise_id
        assert any(r[3] != ch07_cnn.FULL for r in rows), exercise_id

"""Tests of the chapter 7 checks: correct and alternative submissions get full
points, each known mistake loses points with its hint, the reference scores 0."""

import numpy as np
import pytest

import grader
from tests.grader.fixtures import ch07_cnn
from tests.grader.fixtures.ch07_common import SCORE_ATOL, chapter_tests

CHAPTER_IDS = ["corr2d", "conv_output_shape", "corr2d_multi_in", "corr2d_multi_in_out",
               "corr2d_multi_in_out_1x1", "pool2d", "lenet"]

test_submission, test_reference_scores_zero = chapter_tests(ch07_cnn.SUBMISSIONS, CHAPTER_IDS)


def test_every_exercise_has_a_full_and_a_failing_submission():
    """Does every exercise of the chapter have a full-points and a wrong submission?"""
    for exercise_id in CHAPTER_IDS:
        rows = [r for r in ch07_cnn.SUBMISSIONS if r[0] == exercise_id]
        assert any(r[3] == ch07_cnn.FULL for r in rows), exercise_id
        assert any(r[3] != ch07_cnn.FULL for r in rows), exercise_id


@pytest.mark.parametrize("answer, message", [
    (ch07_cnn.conv_output_shape_three_values, "has 3 items, expected 2"),
    (ch07_cnn.conv_output_shape_always_equal, "differs"),
    (ch07_cnn.conv_output_shape_always_equal_object, "expected a tuple of 2 values"),
])
def test_conv_output_shape_rejects_wrong_length_and_always_equal(answer, message):
    """Do a 3-value array and objects whose __eq__ is always True score 0?"""
    score = grader.check("conv_output_shape", answer, hidden=True, quiet=True)
    np.testing.assert_allclose(float(score), 0.0, atol=SCORE_ATOL)
    messages = [r.message for r in score.results if not r.hidden]
    assert all(message in m for m in messages), messages

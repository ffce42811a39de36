"""Tests of the chapter 7 checks: correct and alternative submissions get full
points, each known mistake loses points with its hint, the reference scores 0."""

from tests.grader.fixtures import ch07_cnn
from tests.grader.fixtures.ch07_common import chapter_tests

CHAPTER_IDS = ["corr2d", "conv_output_shape", "corr2d_multi_in", "corr2d_multi_in_out",
               "corr2d_multi_in_out_1x1", "pool2d", "lenet"]

test_submission, test_reference_scores_zero = chapter_tests(ch07_cnn.SUBMISSIONS, CHAPTER_IDS)


def test_every_exercise_has_a_full_and_a_failing_submission():
    """Does every exercise of the chapter have a full-points and a wrong submission?"""
    for exercise_id in CHAPTER_IDS:
        rows = [r for r in ch07_cnn.SUBMISSIONS if r[0] == exercise_id]
        assert any(r[3] == ch07_cnn.FULL for r in rows), exercise_id
        assert any(r[3] != ch07_cnn.FULL for r in rows), exercise_id

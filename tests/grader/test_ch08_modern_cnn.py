"""Tests of the chapter 8 modern-CNN checks: correct and alternative models get full
points, each known mistake loses points with its hint, the reference scores 0."""

from tests.grader.fixtures import ch08_modern_cnn
from tests.grader.fixtures.ch07_common import chapter_tests

CHAPTER_IDS = ["alexnet", "vgg_block", "vgg", "nin_block", "nin", "Inception", "googlenet"]
# Exercises whose models take seconds to build on two CPU cores.
SLOW_IDS = ("alexnet", "googlenet", "vgg")

test_submission, test_reference_scores_zero = chapter_tests(
    ch08_modern_cnn.SUBMISSIONS, CHAPTER_IDS, SLOW_IDS)

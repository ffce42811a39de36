"""Tests of the batch-norm and ResNet checks: correct and alternative submissions get
full points, each known mistake loses points with its hint, the reference scores 0."""

from tests.grader.fixtures import ch08_batchnorm_resnet
from tests.grader.fixtures.ch07_common import chapter_tests

CHAPTER_IDS = ["batch_norm", "BatchNorm", "bn_lenet", "Residual", "resnet_block", "resnet18"]
# ResNet-18 takes seconds to build on two CPU cores.
SLOW_IDS = ("resnet18",)

test_submission, test_reference_scores_zero = chapter_tests(
    ch08_batchnorm_resnet.SUBMISSIONS, CHAPTER_IDS, SLOW_IDS)

"""Tests of the batch-norm and ResNet checks: correct and alternative submissions get
full points, each known mistake loses points with its hint, the reference scores 0."""

import numpy as np
import pytest

import grader
import kerasdl
from tests.grader.fixtures import ch08_batchnorm_resnet
from tests.grader.fixtures.ch07_common import SCORE_ATOL, assert_submission

CHAPTER_IDS = ["batch_norm", "BatchNorm", "bn_lenet", "Residual", "resnet_block", "resnet18"]
# ResNet-18 takes seconds to build on two CPU cores.
SLOW_IDS = ("resnet18",)


def _rows():
    for row in ch08_batchnorm_resnet.SUBMISSIONS:
        marks = [pytest.mark.slow] if row[0] in SLOW_IDS else []
        yield pytest.param(row, marks=marks, id=f"{row[0]}-{row[1]}")


@pytest.mark.parametrize("row", list(_rows()))
def test_submission(row):
    """Does each submission get full points, or lose points with the right hint?"""
    assert_submission(row)


@pytest.mark.parametrize("exercise_id", CHAPTER_IDS)
def test_reference_scores_zero(exercise_id):
    """Does submitting the kerasdl reference itself score 0 with the integrity message?"""
    score = grader.check(exercise_id, getattr(kerasdl, exercise_id), hidden=True, quiet=True)
    np.testing.assert_allclose(float(score), 0.0, atol=SCORE_ATOL)
    assert "kerasdl reference itself" in score.integrity_message

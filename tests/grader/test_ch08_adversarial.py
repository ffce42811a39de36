"""Tests of the FGSM checks, and of the whole registry (all 56 exercise ids)."""

import re
from pathlib import Path

import numpy as np
import pytest

import grader
import kerasdl
from tests.grader.fixtures import ch08_adversarial
from tests.grader.fixtures.ch07_common import SCORE_ATOL, assert_submission, ids

CHAPTER_IDS = ["fgsm", "adversarial_accuracy"]
# Points per exercise fixed by the cross-team contract.
CONTRACT_POINTS = {
    "preprocess": 3, "lp_norm": 1, "squared_error_grad": 2,
    "synthetic_data": 2, "data_iter": 2, "linreg": 1, "squared_loss": 1, "sgd": 2,
    "normal_equation": 2, "train_linreg": 3,
    "softmax": 2, "cross_entropy": 1, "log_softmax": 2, "softmax_cross_entropy": 2,
    "accuracy": 1, "evaluate_accuracy": 2, "train_step": 3,
    "relu": 1, "sigmoid": 1, "tanh": 1, "relu_grad": 1, "sigmoid_grad": 1, "tanh_grad": 1,
    "mlp": 2, "mlp_model": 2,
    "k_fold_data": 2, "l2_penalty": 1, "sgd_weight_decay": 1, "dropout_layer": 3,
    "DropoutMLP": 3,
    "xavier_normal": 2, "xavier_uniform": 2, "XavierUniform": 2, "scaled_sigmoid": 1,
    "corr2d": 2, "conv_output_shape": 2, "corr2d_multi_in": 2, "corr2d_multi_in_out": 2,
    "corr2d_multi_in_out_1x1": 2, "pool2d": 2, "lenet": 3,
    "alexnet": 3, "vgg_block": 2, "vgg": 3, "nin_block": 2, "nin": 3, "Inception": 3,
    "googlenet": 3,
    "batch_norm": 3, "BatchNorm": 3, "bn_lenet": 3, "Residual": 3, "resnet_block": 2,
    "resnet18": 3,
    "fgsm": 3, "adversarial_accuracy": 2,
}
EXERCISES_MD = Path("/work/shared/EXERCISES.md")


@pytest.mark.parametrize("row", ch08_adversarial.SUBMISSIONS,
                         ids=ids(ch08_adversarial.SUBMISSIONS))
def test_submission(row):
    """Does each submission get full points, or lose points with the right hint?"""
    assert_submission(row)


@pytest.mark.parametrize("exercise_id", CHAPTER_IDS)
def test_reference_scores_zero(exercise_id):
    """Does submitting the kerasdl reference itself score 0 with the integrity message?"""
    score = grader.check(exercise_id, getattr(kerasdl, exercise_id), hidden=True, quiet=True)
    np.testing.assert_allclose(float(score), 0.0, atol=SCORE_ATOL)
    assert "kerasdl reference itself" in score.integrity_message


def test_exercises_lists_all_56_ids_with_their_points():
    """Does grader.exercises() list the 56 contract ids, each with its points?"""
    frame = grader.exercises()
    listed = dict(zip(frame["id"], frame["points"]))
    assert len(CONTRACT_POINTS) == 56
    assert listed == CONTRACT_POINTS


@pytest.mark.skipif(not EXERCISES_MD.exists(), reason="the shared catalog is not present")
def test_catalog_ids_are_registered():
    """Is every exercise id of the catalog's tables registered?"""
    ids_in_catalog = set()
    for line in EXERCISES_MD.read_text().splitlines():
        match = re.match(r"\|\s*(`[^|]+`)\s*\|", line)
        if match:
            ids_in_catalog.update(re.findall(r"`(\w+)`", match.group(1)))
    assert ids_in_catalog == set(CONTRACT_POINTS)

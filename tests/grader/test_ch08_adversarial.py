"""Tests of the FGSM checks, and of the whole registry (all 56 exercise ids)."""

import re
from pathlib import Path

import numpy as np
import pytest

import grader
from tests.grader.fixtures import ch08_adversarial
from tests.grader.fixtures.ch07_common import chapter_tests
from tests.grader.fixtures.points import COURSE_POINTS

CHAPTER_IDS = ["fgsm", "adversarial_accuracy"]
EXERCISES_MD = Path("/work/shared/EXERCISES.md")

test_submission, test_reference_scores_zero = chapter_tests(
    ch08_adversarial.SUBMISSIONS, CHAPTER_IDS)


def test_exercises_lists_all_56_ids_with_their_points():
    """Does grader.exercises() list the 56 contract ids, each with its points?"""
    frame = grader.exercises()
    listed = dict(zip(frame["id"], frame["points"]))
    assert len(COURSE_POINTS) == 56
    assert listed == COURSE_POINTS


@pytest.mark.skipif(not EXERCISES_MD.exists(), reason="the shared catalog is not present")
def test_catalog_ids_are_registered():
    """Is every exercise id of the catalog's tables registered?"""
    ids_in_catalog = set()
    for line in EXERCISES_MD.read_text().splitlines():
        match = re.match(r"\|\s*(`[^|]+`)\s*\|", line)
        if match:
            ids_in_catalog.update(re.findall(r"`(\w+)`", match.group(1)))
    assert ids_in_catalog == set(COURSE_POINTS)


def test_fgsm_accepts_either_step_only_where_the_gradient_sign_is_unsure():
    """Is a pixel whose gradient is too small for its sign to be sure accepted with a
    step of either sign (or none), while a wrong value there, or a flipped step at a
    pixel whose sign is sure, is still expected to be the reference's?"""
    from grader.checks.ch08_adversarial import _either_sign

    X = np.array([[0.5, 0.5, 0.95]])
    want = np.array([[0.6, 0.4, 1.0]])  # eps 0.1: up, down, up (clipped)
    unsure = np.array([[False, True, False]])
    flipped_where_unsure = np.array([[0.6, 0.6, 1.0]])
    np.testing.assert_allclose(_either_sign(flipped_where_unsure, want, X, 0.1, unsure),
                               flipped_where_unsure)
    not_a_step = np.array([[0.6, 0.55, 1.0]])
    np.testing.assert_allclose(_either_sign(not_a_step, want, X, 0.1, unsure), want)
    flipped_where_sure = np.array([[0.4, 0.4, 1.0]])
    np.testing.assert_allclose(_either_sign(flipped_where_sure, want, X, 0.1, unsure), want)

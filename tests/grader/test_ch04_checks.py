"""Chapter 4 checks: correct answers get full points, known mistakes their hint."""

import pytest

import grader
from fixtures import ch04
from fixtures.table import assert_expected, case_id


@pytest.mark.parametrize("exercise_id, implementation, expected", ch04.CASES, ids=case_id)
def test_chapter_4_table(exercise_id, implementation, expected, capsys):
    """Does each implementation get the score and hint the table expects?"""
    score = grader.check(exercise_id, implementation, hidden=True)
    assert_expected(score, expected, capsys.readouterr().out)


def test_a_step_that_reconfigures_the_optimizer_does_not_leak(capsys):
    """Is a correct train_step still full marks after one that changed the optimizer?

    The optimizers given to train_step are reused between checks; a student
    step that changes the learning rate or patches the optimizer must not
    carry over to the next submission.
    """
    import tensorflow as tf

    def meddling_step(net, loss_fn, optimizer, X, y):
        optimizer.learning_rate = 5.0
        optimizer.apply_gradients = lambda pairs: None
        optimizer.momentum = 0.9
        with tf.GradientTape() as tape:
            loss = loss_fn(y, net(X, training=True)) + sum(net.losses)
        return loss

    good = next(impl for eid, impl, expected in ch04.CASES
                if eid == "train_step" and expected == ch04.FULL)
    assert float(grader.check("train_step", meddling_step, hidden=True)) < 3
    score = grader.check("train_step", good, hidden=True)
    assert score.passed, capsys.readouterr().out

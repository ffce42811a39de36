"""Chapter 4 checks: correct answers get full points, known mistakes their hint."""

import keras
import pytest
import tensorflow as tf

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
    def meddling_step(net, loss_fn, optimizer, X, y):
        optimizer.learning_rate = 5.0
        optimizer.apply_gradients = lambda pairs: None
        optimizer.momentum = 0.9
        with tf.GradientTape() as tape:
            loss = loss_fn(y, net(X, training=True)) + sum(net.losses)
        return loss

    def scheduling_step(net, loss_fn, optimizer, X, y):
        optimizer.learning_rate = keras.optimizers.schedules.ExponentialDecay(0.1, 1, 0.5)
        return good(net, loss_fn, optimizer, X, y)

    def activation_step(net, loss_fn, optimizer, X, y):
        net.layers[0].activation = keras.activations.linear
        return good(net, loss_fn, optimizer, X, y)

    good = next(impl for eid, impl, expected in ch04.CASES
                if eid == "train_step" and expected == ch04.FULL)
    for meddling in (meddling_step, scheduling_step, activation_step):
        grader.check("train_step", meddling, hidden=True)
        score = grader.check("train_step", good, hidden=True)
        assert score.passed, (meddling.__name__, capsys.readouterr().out)


def test_a_changed_dropout_rate_does_not_leak(capsys):
    """Does a known mistake keep its hint after a submission changed the net's dropout rate?"""

    def rate_zero_evaluate(net, data_iter):
        for layer in net.layers:
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = 0.0
        correct = total = 0
        for X, y in data_iter:
            correct += int(tf.reduce_sum(tf.cast(
                tf.argmax(net(X, training=False), axis=1) == tf.cast(y, tf.int64), tf.int32)))
            total += int(tf.size(y))
        return correct / total

    wrong = next(impl for eid, impl, expected in ch04.CASES
                 if eid == "evaluate_accuracy" and expected == "inference mode")
    grader.check("evaluate_accuracy", rate_zero_evaluate, hidden=True)
    capsys.readouterr()
    score = grader.check("evaluate_accuracy", wrong, hidden=True)
    assert score < score.points
    assert "inference mode" in capsys.readouterr().out

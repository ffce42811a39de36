"""Integrity: the reference itself, a wrapper or a subclass of it scores 0."""

import math
import inspect

import numpy as np
import pytest
import tensorflow as tf

import grader
import kerasdl
from test_registry import CHAPTER_2_TO_6_POINTS

# Scores are rounded to 4 decimals; a pass or a fail is exact to this.
SCORE_ATOL = 1e-9

IDS = sorted(CHAPTER_2_TO_6_POINTS)


@pytest.mark.parametrize("exercise_id", IDS)
def test_reference_itself_scores_zero(exercise_id, capsys):
    """Does submitting the kerasdl reference itself score 0 with a message?"""
    score = grader.check(exercise_id, getattr(kerasdl, exercise_id), hidden=True)
    assert math.isclose(float(score), 0.0, abs_tol=SCORE_ATOL)
    assert "kerasdl reference itself" in capsys.readouterr().out


@pytest.mark.parametrize("exercise_id", IDS)
def test_wrapper_calling_reference_scores_zero(exercise_id, capsys):
    """Does a function that calls the kerasdl reference score 0 with a message?"""
    reference = getattr(kerasdl, exercise_id)

    def wrapper(*args, **kwargs):
        return reference(*args, **kwargs)

    score = grader.check(exercise_id, wrapper, hidden=True)
    assert math.isclose(float(score), 0.0, abs_tol=SCORE_ATOL)
    out = capsys.readouterr().out
    assert "your code called kerasdl's" in out, out


@pytest.mark.parametrize("exercise_id", [i for i in IDS if inspect.isclass(getattr(kerasdl, i))])
def test_subclass_of_reference_scores_zero(exercise_id, capsys):
    """Does a subclass of a kerasdl reference class score 0?"""
    subclass = type("Mine", (getattr(kerasdl, exercise_id),), {})
    assert math.isclose(float(grader.check(exercise_id, subclass)), 0.0, abs_tol=SCORE_ATOL)
    assert "derives from kerasdl's" in capsys.readouterr().out


def test_declared_reuse_is_allowed(capsys):
    """May train_linreg call the references it declares it reuses?"""
    def train_linreg(features, labels, lr, num_epochs, batch_size):
        w = tf.Variable(tf.random.normal((features.shape[1], 1), stddev=0.01))
        b = tf.Variable(tf.zeros(1))
        for _ in range(num_epochs):
            for X, y in kerasdl.data_iter(batch_size, features, labels):
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(kerasdl.squared_loss(kerasdl.linreg(X, w, b), y))
                kerasdl.sgd([w, b], tape.gradient(loss, [w, b]), lr, len(X))
        return w, b

    score = grader.check("train_linreg", train_linreg)
    assert math.isclose(float(score), 3.0, abs_tol=SCORE_ATOL), capsys.readouterr().out


def test_undeclared_helper_call_scores_zero(capsys):
    """Does calling another (non-reused) kerasdl function, even a private one, score 0?"""
    def softmax(X):
        kerasdl.softmax_regression._as_float_tensor(X)
        e = tf.exp(X - tf.reduce_max(X, axis=1, keepdims=True))
        return e / tf.reduce_sum(e, axis=1, keepdims=True)

    assert math.isclose(float(grader.check("softmax", softmax)), 0.0, abs_tol=SCORE_ATOL)
    assert "_as_float_tensor" in capsys.readouterr().out


def test_monkeypatched_numpy_scores_zero(monkeypatch, capsys):
    """Does replacing numpy.allclose to force a pass score 0?"""
    monkeypatch.setattr(np, "allclose", lambda *args, **kwargs: True)
    assert math.isclose(float(grader.check("relu", lambda x: x)), 0.0, abs_tol=SCORE_ATOL)
    assert "numpy.allclose was replaced" in capsys.readouterr().out


def test_monkeypatched_tensorflow_scores_zero(monkeypatch, capsys):
    """Does replacing tf.maximum (which the relu reference uses) so that a wrong relu
    matches it score 0?"""
    monkeypatch.setattr(tf, "maximum", lambda a, b: a)
    assert math.isclose(float(grader.check("relu", lambda x: x)), 0.0, abs_tol=SCORE_ATOL)
    assert "tensorflow.maximum was replaced" in capsys.readouterr().out


def test_switching_off_the_call_watcher_scores_zero(capsys):
    """Does a submission that clears sys.settrace before calling the reference score 0?"""
    import sys

    def softmax(X):
        sys.settrace(None)
        return kerasdl.softmax(X)

    assert math.isclose(float(grader.check("softmax", softmax)), 0.0, abs_tol=SCORE_ATOL)
    assert "switched off" in capsys.readouterr().out


def test_reference_called_from_a_new_thread_scores_zero(capsys):
    """Does calling the reference in a worker thread started by the submission score 0?"""
    from concurrent.futures import ThreadPoolExecutor

    executor = ThreadPoolExecutor(1)

    def softmax(X):
        return executor.submit(kerasdl.softmax, X).result()

    try:
        assert math.isclose(float(grader.check("softmax", softmax)), 0.0, abs_tol=SCORE_ATOL)
    finally:
        executor.shutdown()
    assert "kerasdl's softmax" in capsys.readouterr().out


def test_patched_grader_helper_scores_zero(monkeypatch, capsys):
    """Does replacing a grader comparison function score 0?"""
    from grader import compare

    monkeypatch.setattr(compare, "compare_values",
                        lambda *a, **k: compare.Comparison(True, "ok"))
    assert math.isclose(float(grader.check("relu", lambda x: x)), 0.0, abs_tol=SCORE_ATOL)
    assert "grader was modified" in capsys.readouterr().out


def test_patched_reference_code_is_detected(monkeypatch, capsys):
    """Does swapping the reference's code (to the student's) score 0?"""
    def student(X):
        return X

    monkeypatch.setattr(kerasdl.relu, "__code__", student.__code__)
    assert math.isclose(float(grader.check("relu", student)), 0.0, abs_tol=SCORE_ATOL)
    assert "kerasdl reference was modified" in capsys.readouterr().out


def test_replaced_module_attribute_does_not_change_reference(monkeypatch):
    """Is the reference held privately, so replacing kerasdl.relu changes nothing?"""
    monkeypatch.setattr(kerasdl, "relu", lambda x: x)
    assert float(grader.check("relu", lambda x: x, quiet=True)) < 1.0
    assert math.isclose(float(grader.check("relu", lambda x: tf.maximum(x, 0.0), quiet=True)), 1.0, abs_tol=SCORE_ATOL)


def test_nested_watching_is_not_a_violation():
    """Does a watcher entered twice (student code nested in student code) stay clean
    and restore the trace function that was there before?"""
    import sys

    from grader.integrity import CallWatcher

    before = sys.gettrace()
    watcher = CallWatcher()
    with watcher:
        with watcher:
            pass
        assert sys.gettrace() is not before
    assert watcher.violation is None
    assert sys.gettrace() is before


def test_layer_calling_the_reference_inside_call_scores_zero(capsys):
    """Is a Residual whose call() runs kerasdl's Residual caught (the trace is not watched)?"""
    import keras

    class LazyResidual(keras.layers.Layer):
        def __init__(self, num_channels, use_1x1conv=False, strides=1, **kwargs):
            super().__init__(**kwargs)
            self.args = (num_channels, use_1x1conv, strides)
            self.inner = None

        def call(self, X, training=None):
            if self.inner is None:
                self.inner = kerasdl.Residual(*self.args)
            return self.inner(X, training=training)

    score = grader.check("Residual", LazyResidual, hidden=True)
    assert math.isclose(float(score), 0.0, abs_tol=SCORE_ATOL)
    assert "your code called kerasdl's" in capsys.readouterr().out


def test_model_calling_the_reference_inside_call_scores_zero(capsys):
    """Is a LeNet whose layer runs kerasdl's LeNet inside call() caught?"""
    import keras

    class Wrapped(keras.layers.Layer):
        def call(self, X):
            if not hasattr(self, "inner"):
                self.inner = kerasdl.lenet()
            return self.inner(X)

    def lenet():
        return keras.Sequential([keras.Input((28, 28, 1)), Wrapped()])

    score = grader.check("lenet", lenet, hidden=True)
    assert math.isclose(float(score), 0.0, abs_tol=SCORE_ATOL)
    assert "your code called kerasdl's" in capsys.readouterr().out


def _traced_only(X):
    """True while the grader traces a model into a graph (batch of 1), not in eager calls."""
    return not tf.executing_eagerly() and X.shape[0] == 1


def test_reference_called_only_while_traced_scores_zero(capsys):
    """Is a correct Residual that calls kerasdl only when traced in a graph caught?"""
    from fixtures import ch08_batchnorm_resnet

    class SneakyResidual(ch08_batchnorm_resnet.Residual):
        def call(self, X, training=None):
            if _traced_only(X):
                kerasdl.Residual(4)
            return super().call(X, training=training)

    score = grader.check("Residual", SneakyResidual, hidden=True)
    assert math.isclose(float(score), 0.0, abs_tol=SCORE_ATOL)
    assert "your code called kerasdl's Residual" in capsys.readouterr().out


@pytest.mark.parametrize("sneaky", ["Conv2D subclass", "activation"])
def test_keras_leaf_calling_the_reference_only_while_traced_scores_zero(sneaky, capsys):
    """Is a LeNet whose Conv2D subclass or activation function calls kerasdl only when
    traced in a graph caught (student code inside a built-in leaf layer is traced)?"""
    import keras

    L = keras.layers

    def sigmoid(X):
        if sneaky == "activation" and _traced_only(X):
            kerasdl.lenet()
        return tf.sigmoid(X)

    class Conv2D(L.Conv2D):
        def call(self, inputs):
            if sneaky == "Conv2D subclass" and _traced_only(inputs):
                kerasdl.lenet()
            return super().call(inputs)

    def lenet():
        return keras.Sequential([
            keras.Input((28, 28, 1)), Conv2D(6, 5, padding="same", activation=sigmoid),
            L.AveragePooling2D(2, 2), L.Conv2D(16, 5, activation="sigmoid"),
            L.AveragePooling2D(2, 2), L.Flatten(), L.Dense(120, activation="sigmoid"),
            L.Dense(84, activation="sigmoid"), L.Dense(10)])

    score = grader.check("lenet", lenet, hidden=True)
    assert math.isclose(float(score), 0.0, abs_tol=SCORE_ATOL)
    assert "your code called kerasdl's lenet" in capsys.readouterr().out


def test_patch_restored_within_a_check_scores_zero_and_poisons_nothing(monkeypatch, capsys):
    """Is a tf.maximum patched in one case and restored in the next caught, with no
    expected value kept from the patched window?"""
    real_maximum = tf.maximum
    calls = []

    def patcher(x):
        calls.append(1)
        tf.maximum = ((lambda a, b, name=None: real_maximum(a, b) + 1.0)
                      if len(calls) == 1 else real_maximum)
        return real_maximum(x, tf.zeros_like(x))

    monkeypatch.setattr(tf, "maximum", real_maximum)  # restored after the test
    score = grader.check("relu", patcher, hidden=True)
    assert math.isclose(float(score), 0.0, abs_tol=SCORE_ATOL)
    assert "tensorflow.maximum was replaced" in capsys.readouterr().out
    tf.maximum = real_maximum
    good = grader.check("relu", lambda x: real_maximum(x, tf.zeros_like(x)), hidden=True)
    wrong = grader.check("relu", lambda x: real_maximum(x, 0.0) + 1.0, hidden=True)
    assert math.isclose(float(good), 1.0, abs_tol=SCORE_ATOL)
    assert math.isclose(float(wrong), 0.0, abs_tol=SCORE_ATOL)

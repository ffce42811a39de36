"""Integrity: the reference itself, a wrapper or a subclass of it scores 0."""

import importlib
import inspect
import math
import types

import numpy as np
import pytest
import tensorflow as tf

import grader
import kerasdl
from grader import integrity

# The module (`kerasdl.softmax_regression` is the function of that name).
SOFTMAX_MODULE = importlib.import_module("kerasdl.softmax_regression")
from test_registry import CHAPTER_2_TO_6_POINTS

# Scores are rounded to 4 decimals; a pass or a fail is exact to this.
SCORE_ATOL = 1e-9

IDS = sorted(CHAPTER_2_TO_6_POINTS)


@pytest.fixture(params=["probe", "trace"])
def watch_mode(request):
    """Run a test with the probe watcher and with its `sys.settrace` fallback."""
    instrumentation = integrity.instrumentation()
    assert instrumentation.complete, instrumentation.problem
    if request.param == "trace":
        instrumentation.complete = False  # as when kerasdl's source is not on disk
    try:
        yield request.param
    finally:
        instrumentation.complete = True


@pytest.mark.parametrize("exercise_id", IDS)
def test_reference_itself_scores_zero(exercise_id, capsys):
    """Does submitting the kerasdl reference itself score 0 with a message?"""
    score = grader.check(exercise_id, getattr(kerasdl, exercise_id), hidden=True)
    assert math.isclose(float(score), 0.0, abs_tol=SCORE_ATOL)
    assert "kerasdl reference itself" in capsys.readouterr().out


@pytest.mark.parametrize("exercise_id", IDS)
def test_wrapper_calling_reference_scores_zero(exercise_id, watch_mode, capsys):
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


def test_declared_reuse_is_allowed(watch_mode, capsys):
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


def test_undeclared_helper_call_scores_zero(watch_mode, capsys):
    """Does calling another (non-reused) kerasdl function, even a private one, score 0?"""
    def softmax(X):
        SOFTMAX_MODULE._as_float_tensor(X)
        e = tf.exp(X - tf.reduce_max(X, axis=1, keepdims=True))
        return e / tf.reduce_sum(e, axis=1, keepdims=True)

    assert math.isclose(float(grader.check("softmax", softmax)), 0.0, abs_tol=SCORE_ATOL)
    assert "your code called kerasdl's _as_float_tensor" in capsys.readouterr().out


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


def _clear_settrace():
    import sys

    sys.settrace(None)


def _clear_active_watchers():
    integrity._ACTIVE.clear()


def _replace_probe():
    vars(SOFTMAX_MODULE)[integrity.PROBE_NAME] = lambda: None


def _unprobe_reference():
    originals = {probed: original
                 for original, probed in integrity.instrumentation().twins.items()}
    kerasdl.softmax.__code__ = originals.get(kerasdl.softmax.__code__, kerasdl.softmax.__code__)


@pytest.mark.parametrize("switch_off", [_clear_settrace, _clear_active_watchers, _replace_probe,
                                        _unprobe_reference])
def test_switching_off_the_call_watcher_scores_zero(watch_mode, switch_off, capsys):
    """Does a submission that switches off the watcher (or kerasdl's probes) before
    calling the reference score 0?"""
    code = kerasdl.softmax.__code__
    probe = vars(SOFTMAX_MODULE)[integrity.PROBE_NAME]

    def softmax(X):
        switch_off()
        return kerasdl.softmax(X)

    try:
        score = grader.check("softmax", softmax)
    finally:
        kerasdl.softmax.__code__ = code
        vars(SOFTMAX_MODULE)[integrity.PROBE_NAME] = probe
    assert math.isclose(float(score), 0.0, abs_tol=SCORE_ATOL)
    out = capsys.readouterr().out
    assert "0 points: your code" in out, out


@pytest.mark.parametrize("wrap", ["lambda", "decorated", "inside"])
def test_reference_inside_tf_function_scores_zero(watch_mode, wrap, capsys):
    """Is a reference call inside a tf.function caught? (AutoGraph would otherwise
    run a transcription of the reference's source that no watcher sees.)"""
    if wrap == "lambda":
        softmax = tf.function(lambda X: kerasdl.softmax(X))
    elif wrap == "decorated":
        @tf.function
        def softmax(X):
            return kerasdl.softmax(X)
    else:
        def softmax(X):
            return tf.function(kerasdl.softmax)(X)
    assert math.isclose(float(grader.check("softmax", softmax)), 0.0, abs_tol=SCORE_ATOL)
    assert "your code called kerasdl's softmax" in capsys.readouterr().out


def test_every_kerasdl_function_runs_probed_code():
    """Is every function kerasdl's modules and classes bind instrumented, and the
    watcher in probe mode?"""
    instrumentation = integrity.instrumentation()
    assert instrumentation.complete, instrumentation.problem
    assert integrity.CallWatcher().mode == "probe"
    bindings = integrity._module_bindings(integrity._kerasdl_modules())
    assert len(bindings) > 100
    unprobed = [f.__qualname__ for _, _, f in bindings
                if not inspect.isclass(f) and id(f.__code__) not in instrumentation.probed]
    assert not unprobed


def test_reload_before_a_check_is_probed_again(capsys):
    """After `importlib.reload` of a kerasdl module, is a correct submission still
    graded in full and a call of the reloaded reference still caught?"""
    importlib.reload(SOFTMAX_MODULE)
    assert math.isclose(float(grader.check("softmax", _own_softmax, quiet=True)), 2.0,
                        abs_tol=SCORE_ATOL)
    reloaded = SOFTMAX_MODULE.softmax

    def softmax(X):
        return reloaded(X)

    assert math.isclose(float(grader.check("softmax", softmax)), 0.0, abs_tol=SCORE_ATOL)
    assert "your code called kerasdl's softmax" in capsys.readouterr().out
    assert integrity.CallWatcher().mode == "probe"


def test_reload_during_a_check_scores_zero(capsys):
    """Does reloading kerasdl inside the submission (fresh, unprobed functions) score 0?"""
    def softmax(X):
        module = importlib.reload(SOFTMAX_MODULE)
        return module.softmax(X)

    assert math.isclose(float(grader.check("softmax", softmax)), 0.0, abs_tol=SCORE_ATOL)
    # Caught as a call of kerasdl's helpers from the unprobed reloaded code, or
    # as the reload itself.
    assert "0 points: your code" in capsys.readouterr().out
    assert math.isclose(float(grader.check("softmax", _own_softmax, quiet=True)), 2.0,
                        abs_tol=SCORE_ATOL)


def _own_softmax(X):
    e = tf.exp(X - tf.reduce_max(X, axis=1, keepdims=True))
    return e / tf.reduce_sum(e, axis=1, keepdims=True)


def test_reference_called_from_a_new_thread_scores_zero(watch_mode, capsys):
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


def test_nested_watching_is_not_a_violation(watch_mode):
    """Does a watcher entered twice (student code nested in student code) stay clean
    and restore the trace functions that were there before?"""
    import sys
    import threading

    before, thread_before = sys.gettrace(), threading.gettrace()
    watcher = integrity.CallWatcher()
    assert watcher.mode == watch_mode
    with watcher:
        with watcher:
            pass
        assert threading.gettrace() is not thread_before
        assert (sys.gettrace() is not before) == (watch_mode == "trace")
    assert watcher.violation is None
    assert sys.gettrace() is before and threading.gettrace() is thread_before
    assert not integrity._ACTIVE


def test_layer_calling_the_reference_inside_call_scores_zero(watch_mode, capsys):
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


def test_model_calling_the_reference_inside_call_scores_zero(watch_mode, capsys):
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


def test_reference_called_only_while_traced_scores_zero(watch_mode, capsys):
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


def test_caller_compiled_under_a_kerasdl_file_name_scores_zero(capsys):
    """Is a relay compiled with a kerasdl file name (so that its frames look like
    kerasdl's) still caught calling the reference?"""
    namespace = {"kerasdl": kerasdl}
    exec(compile("def relay(X):\n    return kerasdl.softmax(X)\n",
                 kerasdl.softmax.__code__.co_filename, "exec"), namespace)
    relay = namespace["relay"]

    def softmax(X):
        return relay(X)

    assert math.isclose(float(grader.check("softmax", softmax)), 0.0, abs_tol=SCORE_ATOL)
    assert "your code called kerasdl's softmax" in capsys.readouterr().out


def test_helper_replaced_before_a_check_scores_zero_until_restored(monkeypatch, capsys):
    """Does replacing a helper the reference calls (so the reference agrees with a
    wrong answer) score 0 with a restart message, and grade normally once restored?"""
    def uniform(X):
        return tf.fill(tf.shape(X), 0.1)

    monkeypatch.setattr(SOFTMAX_MODULE, "_as_float_tensor", lambda X: tf.zeros((4, 10)))
    assert math.isclose(float(grader.check("softmax", uniform)), 0.0, abs_tol=SCORE_ATOL)
    assert "restart the kernel" in capsys.readouterr().out
    monkeypatch.undo()
    assert math.isclose(float(grader.check("softmax", _own_softmax, quiet=True)), 2.0,
                        abs_tol=SCORE_ATOL)
    assert float(grader.check("softmax", uniform, quiet=True)) < 2.0


def test_helper_replaced_during_a_check_poisons_no_later_check(capsys):
    """Does a submission that replaces a kerasdl helper while it runs score 0, and
    do later checks grade normally once the helper is back (nothing remembered
    from the replaced helper)?"""
    original = SOFTMAX_MODULE._as_float_tensor

    def softmax(X):
        SOFTMAX_MODULE._as_float_tensor = lambda X: tf.zeros_like(tf.cast(X, tf.float32))
        return _own_softmax(X)

    try:
        assert math.isclose(float(grader.check("softmax", softmax)), 0.0, abs_tol=SCORE_ATOL)
        assert "replaced or reloaded kerasdl's _as_float_tensor" in capsys.readouterr().out
        assert math.isclose(float(grader.check("log_softmax", tf.nn.log_softmax, quiet=True)),
                            0.0, abs_tol=SCORE_ATOL)
    finally:
        SOFTMAX_MODULE._as_float_tensor = original
    assert math.isclose(float(grader.check("log_softmax", tf.nn.log_softmax, quiet=True)),
                        grader.points("log_softmax"), abs_tol=SCORE_ATOL)


def test_helper_code_swapped_before_a_check_scores_zero(monkeypatch, capsys):
    """Is a helper whose code was swapped before the check reported (not graded
    with the swapped helper)?"""
    monkeypatch.setattr(SOFTMAX_MODULE._as_float_tensor, "__code__",
                        (lambda X: tf.zeros((4, 10))).__code__)
    assert math.isclose(float(grader.check("softmax", _own_softmax)), 0.0, abs_tol=SCORE_ATOL)
    assert "_as_float_tensor was modified" in capsys.readouterr().out


# kerasdl functions a notebook may call inside its own tf.function, with arguments.
IN_GRAPH_CALLS = {
    "accuracy": lambda: (tf.constant([[0.1, 0.9], [0.8, 0.2]]), tf.constant([1, 1])),
    "relu": lambda: (tf.constant([-1.0, 2.0]),),
    "sigmoid": lambda: (tf.constant([-1.0, 2.0]),),
    "softmax": lambda: (tf.constant([[1.0, 2.0]]),),
    "log_softmax": lambda: (tf.constant([[1.0, 2.0]]),),
    "linreg": lambda: (tf.ones((3, 2)), tf.ones((2, 1)), tf.zeros(1)),
    "squared_loss": lambda: (tf.ones((3, 1)), tf.zeros((3, 1))),
    "l2_penalty": lambda: (tf.ones((2, 2)),),
}


@pytest.mark.parametrize("name", sorted(IN_GRAPH_CALLS))
def test_kerasdl_functions_still_work_inside_tf_function(name):
    """Do kerasdl functions, which AutoGraph no longer converts once the grader
    is loaded, give inside a tf.function what they give eagerly?"""
    assert integrity.instrumentation().complete
    function = getattr(kerasdl, name)
    args = IN_GRAPH_CALLS[name]()
    eager = np.asarray(function(*args), dtype="float64")
    in_graph = np.asarray(tf.function(lambda *a: function(*a))(*args), dtype="float64")
    np.testing.assert_allclose(in_graph, eager, rtol=1e-6, atol=1e-6)


def test_reused_accuracy_inside_tf_function_scores_full(capsys):
    """May evaluate_accuracy call the reused kerasdl.accuracy inside a tf.function?"""
    def evaluate_accuracy(net, data_iter):
        @tf.function
        def batch_correct(X, y):
            return kerasdl.accuracy(net(X, training=False), y)

        correct, total = 0.0, 0
        for X, y in data_iter:
            correct += float(batch_correct(X, y))
            total += int(tf.size(y))
        return correct / total

    score = grader.check("evaluate_accuracy", evaluate_accuracy, hidden=True)
    assert math.isclose(float(score), grader.points("evaluate_accuracy"), abs_tol=SCORE_ATOL), \
        capsys.readouterr().out


def _forged_globals_copy():
    namespace = dict(vars(SOFTMAX_MODULE))
    namespace[integrity.PROBE_NAME] = lambda: None
    return types.FunctionType(kerasdl.softmax.__code__, namespace)


def _probe_renamed_copy():
    code = kerasdl.softmax.__code__
    names = tuple("dict" if n == integrity.PROBE_NAME else n for n in code.co_names)
    return types.FunctionType(code.replace(co_names=names), vars(SOFTMAX_MODULE))


def _original_code_copy():
    original = next(code for code in integrity.instrumentation().twins
                    if code.co_qualname == "softmax")
    return types.FunctionType(original, vars(SOFTMAX_MODULE))


@pytest.mark.parametrize("make_copy", [_forged_globals_copy, _probe_renamed_copy,
                                       _original_code_copy])
def test_reference_code_run_without_its_probe_scores_zero(make_copy, capsys):
    """Is the reference's code run without its probe (forged globals, a renamed
    probe, the unprobed original) caught through the kerasdl helpers it calls?"""
    copy = make_copy()

    def softmax(X):
        return copy(X)

    assert math.isclose(float(grader.check("softmax", softmax)), 0.0, abs_tol=SCORE_ATOL)
    assert "your code called kerasdl's _as_float_tensor" in capsys.readouterr().out


RELOAD_EVERYTHING = """
import importlib
import tensorflow as tf
import grader
import kerasdl
from grader import integrity

def own_softmax(X):
    e = tf.exp(X - tf.reduce_max(X, axis=1, keepdims=True))
    return e / tf.reduce_sum(e, axis=1, keepdims=True)

for module in integrity._kerasdl_modules():
    importlib.reload(module)
print(float(grader.check("softmax", own_softmax)))
print(float(grader.check("mlp", lambda *a: kerasdl.mlp(*a), quiet=True)))
print(integrity.CallWatcher().mode)
"""


def test_every_kerasdl_module_reloaded_grades_normally():
    """After reloading every kerasdl module (dataclasses included: their generated
    methods are not kerasdl code), does a correct submission still get full marks
    and a reference call still score 0? (In a separate process: the reload is global.)"""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", RELOAD_EVERYTHING], capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    *_, softmax_score, mlp_score, mode = run.stdout.split()
    assert math.isclose(float(softmax_score), 2.0, abs_tol=SCORE_ATOL), run.stdout
    assert math.isclose(float(mlp_score), 0.0, abs_tol=SCORE_ATOL), run.stdout
    assert mode == "probe"

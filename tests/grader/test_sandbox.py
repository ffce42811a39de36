"""TF32 handling of the runner, with a GPU simulated (no GPU on the test machines)."""

import numpy as np
import pytest
import tensorflow as tf

import grader
from grader import sandbox

SCORE_ATOL = 1e-9


@pytest.fixture
def fake_gpu(monkeypatch):
    """Make the sandbox believe a GPU is present, with TF32 on as TensorFlow's default."""
    monkeypatch.setattr(sandbox, "_GPU_PRESENT", True)
    previous = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(True)
    yield
    tf.config.experimental.enable_tensor_float_32_execution(previous)


def test_tf32_off_inside_and_restored_after(fake_gpu):
    """Is TF32 off inside `tf32_disabled()` on a GPU and back on after it?"""
    with sandbox.tf32_disabled():
        assert not tf.config.experimental.tensor_float_32_execution_enabled()
    assert tf.config.experimental.tensor_float_32_execution_enabled()


def test_tf32_restored_when_the_block_raises(fake_gpu):
    """Is TF32 restored even when the graded block raises?"""
    with pytest.raises(RuntimeError):
        with sandbox.tf32_disabled():
            raise RuntimeError("boom")
    assert tf.config.experimental.tensor_float_32_execution_enabled()


def test_student_code_runs_without_tf32(fake_gpu):
    """Does a student's function see TF32 off during `check()`, and TF32 come back after?"""
    seen = []

    def relu(x):
        seen.append(tf.config.experimental.tensor_float_32_execution_enabled())
        return np.maximum(np.asarray(x, dtype=np.float64), 0.0)

    score = grader.check("relu", relu, quiet=True)
    np.testing.assert_allclose(float(score), grader.points("relu"), atol=SCORE_ATOL)
    assert seen and not any(seen)
    assert tf.config.experimental.tensor_float_32_execution_enabled()


def test_cpu_leaves_tf32_setting_alone(monkeypatch):
    """Without a GPU, does `tf32_disabled()` leave the setting as it was?"""
    monkeypatch.setattr(sandbox, "_GPU_PRESENT", False)
    before = tf.config.experimental.tensor_float_32_execution_enabled()
    with sandbox.tf32_disabled():
        assert tf.config.experimental.tensor_float_32_execution_enabled() == before


def _draws():
    import random

    import keras
    return (random.random(), float(np.random.random()),
            keras.random.normal((4,)).numpy().tolist())


def test_light_seeding_repeats_python_numpy_and_keras_draws():
    """Does seeding without the kernel-cache clear give the draws of full seeding?"""
    assert sandbox._LIGHT_SEEDING, "this TensorFlow/Keras lacks the seed attributes"
    sandbox.seed_everything(7, reset_kernels=True)
    full = _draws()
    sandbox.seed_everything(7, reset_kernels=False)
    light = _draws()
    assert light[:2] == pytest.approx(full[:2], rel=0, abs=0)
    np.testing.assert_array_equal(light[2], full[2])
    from tensorflow.python.eager import context
    assert context.global_seed() == 7


def test_light_seeding_keeps_the_kernel_cache():
    """Is a cached eager kernel still warm after light seeding, and cold after full?

    A stateful random op continues its sequence when its kernel stays cached,
    so the next draw differs from a fresh one; that is how the cache shows.
    """
    def first_draw_after(reset):
        sandbox.seed_everything(11, reset_kernels=True)
        tf.random.uniform((2, 9))  # caches the kernel of this op
        sandbox.seed_everything(11, reset_kernels=reset)
        return tf.random.uniform((2, 9)).numpy()

    sandbox.seed_everything(11, reset_kernels=True)
    fresh = tf.random.uniform((2, 9)).numpy()
    np.testing.assert_array_equal(first_draw_after(True), fresh)
    assert not np.array_equal(first_draw_after(False), fresh)


def test_random_draw_exercises_reseed_fully():
    """Do the exercises judged on random draws clear the kernel cache at every call?"""
    from grader.registry import default_registry
    random_ids = {i for i in default_registry.ids() if default_registry.get(i).random_draws}
    assert random_ids == {"synthetic_data", "data_iter", "xavier_normal", "xavier_uniform",
                          "XavierUniform", "dropout_layer"}

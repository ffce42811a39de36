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

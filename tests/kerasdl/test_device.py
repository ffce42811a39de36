"""Tests for kerasdl.device on a CPU-only machine (GPU branches with fake devices)."""

import os
import random
import re

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_framework_config

from kerasdl import device

# Same seed, same draws: reseeded generators must repeat exactly.
REPRODUCIBLE_RTOL = 0.0
# A fake environment for gpu_env_for_job, so tests do not depend on the machine.
BASE_ENV = {"PATH": "/usr/bin", "HOME": "/home/student"}


class FakeGPU:
    """Stand-in for a tf.config.PhysicalDevice of type GPU."""

    def __init__(self, index):
        self.name = f"/physical_device:GPU:{index}"
        self.device_type = "GPU"


@pytest.fixture
def fake_gpus(monkeypatch):
    """Two fake GPUs; records set_memory_growth calls in the returned dict."""
    gpus = [FakeGPU(0), FakeGPU(1)]
    state = {"calls": [], "gpus": gpus}

    def list_physical_devices(device_type=None):
        return list(gpus) if device_type == "GPU" else []

    def set_memory_growth(gpu, enable):
        state["calls"].append((gpu.name, enable))

    monkeypatch.setattr(tf.config, "list_physical_devices", list_physical_devices)
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", set_memory_growth)
    monkeypatch.setattr(
        tf.config.experimental,
        "get_device_details",
        lambda gpu: {"device_name": "NVIDIA A100-SXM4-40GB", "compute_capability": (8, 0)},
    )
    return state


@pytest.fixture
def restore_tf32():
    """Put TF32 back as it was, whatever the test did."""
    previous = tf.config.experimental.tensor_float_32_execution_enabled()
    yield previous
    tf.config.experimental.enable_tensor_float_32_execution(previous)


# ---------------------------------------------------------------------------
# gpu_env_for_job


def test_env_without_gpus_leaves_cuda_untouched():
    """With 0 GPUs, is CUDA_VISIBLE_DEVICES left as it was and the grading env added?"""
    env = device.gpu_env_for_job(3, 0, base_env=BASE_ENV)
    assert env == {**BASE_ENV, "TF_FORCE_GPU_ALLOW_GROWTH": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}
    kept = device.gpu_env_for_job(0, 0, base_env={**BASE_ENV, "CUDA_VISIBLE_DEVICES": "1"})
    assert kept["CUDA_VISIBLE_DEVICES"] == "1"


@pytest.mark.parametrize(
    "num_gpus, expected",
    [(1, ["0", "0", "0", "0", "0"]), (2, ["0", "1", "0", "1", "0"]), (3, ["0", "1", "2", "0", "1"])],
)
def test_env_round_robin(num_gpus, expected):
    """Are jobs 0..4 assigned GPUs round-robin, one GPU each?"""
    envs = [device.gpu_env_for_job(job, num_gpus, base_env=BASE_ENV) for job in range(5)]
    assert [env["CUDA_VISIBLE_DEVICES"] for env in envs] == expected
    for env in envs:
        assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
        assert env["TF_CPP_MIN_LOG_LEVEL"] == "2"
        assert env["PATH"] == BASE_ENV["PATH"]


def test_env_round_robin_over_restricted_devices():
    """With CUDA_VISIBLE_DEVICES="2,3" in the base env, do jobs get "2", "3", "2" only?"""
    base = {**BASE_ENV, "CUDA_VISIBLE_DEVICES": "2, 3"}
    envs = [device.gpu_env_for_job(job, 2, base_env=base) for job in range(3)]
    assigned = [env["CUDA_VISIBLE_DEVICES"] for env in envs]
    assert assigned == ["2", "3", "2"]
    # A machine-wide count (4 GPUs) never assigns a device outside the list.
    envs = [device.gpu_env_for_job(job, 4, base_env=base) for job in range(3)]
    assert [env["CUDA_VISIBLE_DEVICES"] for env in envs] == ["2", "3", "2"]
    # Fewer GPUs than listed: only the first ones are used.
    envs = [device.gpu_env_for_job(job, 1, base_env=base) for job in range(2)]
    assert [env["CUDA_VISIBLE_DEVICES"] for env in envs] == ["2", "2"]


def test_env_does_not_mutate_base_and_defaults_to_os_environ(monkeypatch):
    """Is the base env copied, and os.environ used when none is given?"""
    base = dict(BASE_ENV)
    device.gpu_env_for_job(1, 2, base_env=base)
    assert base == BASE_ENV
    monkeypatch.setenv("KERASDL_TEST_MARKER", "present")
    assert device.gpu_env_for_job(0, 0)["KERASDL_TEST_MARKER"] == "present"
    assert "KERASDL_TEST_MARKER" not in device.gpu_env_for_job(0, 0, base_env=BASE_ENV)


@pytest.mark.parametrize(
    "job_index, num_gpus, error, message",
    [
        (-1, 2, ValueError, "`job_index` must be a non-negative integer. Received: job_index=-1"),
        (0, -2, ValueError, "Received: num_gpus=-2"),
        (0, 1.5, TypeError, "Received: num_gpus=1.5"),
        ("0", 1, TypeError, "Received: job_index='0'"),
    ],
)
def test_env_argument_errors(job_index, num_gpus, error, message):
    """Are negative or non-integer job indices and GPU counts rejected by name?"""
    with pytest.raises(error, match=re.escape(message)):
        device.gpu_env_for_job(job_index, num_gpus, base_env=BASE_ENV)


# ---------------------------------------------------------------------------
# tf32_execution


@pytest.mark.parametrize("initial", [True, False])
def test_tf32_set_and_restored(restore_tf32, initial):
    """Is TF32 switched inside the block and the previous state back after it?"""
    tf.config.experimental.enable_tensor_float_32_execution(initial)
    with device.tf32_execution(not initial):
        assert tf.config.experimental.tensor_float_32_execution_enabled() is (not initial)
        with device.tf32_execution(initial):
            assert tf.config.experimental.tensor_float_32_execution_enabled() is initial
        assert tf.config.experimental.tensor_float_32_execution_enabled() is (not initial)
    assert tf.config.experimental.tensor_float_32_execution_enabled() is initial


def test_tf32_restored_on_exception(restore_tf32):
    """Is the previous TF32 state restored when the block raises?"""
    tf.config.experimental.enable_tensor_float_32_execution(True)
    with pytest.raises(KeyError):
        with device.tf32_execution(False):
            raise KeyError("boom")
    assert tf.config.experimental.tensor_float_32_execution_enabled() is True


def test_tf32_rejects_non_bool(restore_tf32):
    """Is a non-bool setting rejected before anything changes?"""
    with pytest.raises(TypeError, match=re.escape("Received: enabled=1")):
        with device.tf32_execution(1):
            pass


# ---------------------------------------------------------------------------
# describe_device, visible_gpu_count, configure_gpus


def test_describe_device_on_cpu():
    """On this CPU-only machine, does it say "CPU (N cores)" with the usable cores?"""
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU is visible")
    cores = len(os.sched_getaffinity(0))
    assert device.describe_device() == f"CPU ({cores} core{'s' if cores != 1 else ''})"
    assert device.visible_gpu_count() == 0


def test_describe_device_with_fake_gpus(fake_gpus):
    """With two GPUs visible, does it say "GPU: <name> x 2"?"""
    assert device.describe_device() == "GPU: NVIDIA A100-SXM4-40GB x 2"
    assert device.visible_gpu_count() == 2


def test_configure_gpus_noop_on_cpu(monkeypatch):
    """Without GPUs, does configure_gpus return [] and touch no device?"""

    def must_not_be_called(*args):
        raise AssertionError("set_memory_growth called without GPUs")

    monkeypatch.setattr(tf.config, "list_physical_devices", lambda device_type=None: [])
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", must_not_be_called)
    assert device.configure_gpus() == []


def test_configure_gpus_on_real_machine_is_safe():
    """On this machine (no GPU), does the real call succeed and return one entry per GPU?"""
    assert len(device.configure_gpus()) == len(tf.config.list_physical_devices("GPU"))


def test_configure_gpus_sets_growth_on_every_gpu(fake_gpus):
    """Is memory growth set on each visible GPU with the requested value?"""
    assert device.configure_gpus() == fake_gpus["gpus"]
    device.configure_gpus(memory_growth=False)
    assert fake_gpus["calls"] == [
        ("/physical_device:GPU:0", True),
        ("/physical_device:GPU:1", True),
        ("/physical_device:GPU:0", False),
        ("/physical_device:GPU:1", False),
    ]


def test_configure_gpus_after_initialisation(fake_gpus, monkeypatch):
    """Once GPUs are initialised, is the same setting a no-op and another one a clear error?"""

    def initialised(gpu, enable):
        raise RuntimeError("Physical devices cannot be modified after being initialized")

    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", initialised)
    monkeypatch.setattr(tf.config.experimental, "get_memory_growth", lambda gpu: True)
    assert device.configure_gpus(True) == fake_gpus["gpus"]
    with pytest.raises(RuntimeError, match="already initialised the GPUs. Restart the Python process"):
        device.configure_gpus(False)


def test_configure_gpus_rejects_non_bool():
    """Is a non-bool memory_growth rejected by name?"""
    with pytest.raises(TypeError, match=re.escape("Received: memory_growth='yes'")):
        device.configure_gpus("yes")


# ---------------------------------------------------------------------------
# enable_determinism


def draws():
    """One draw from each generator enable_determinism seeds."""
    return random.random(), np.random.random(), float(tf.random.uniform(()))


def test_enable_determinism_seeds_and_enables():
    """Does it reseed Python, NumPy and TensorFlow alike and switch op determinism on?"""
    was_enabled = tf_framework_config.is_op_determinism_enabled()
    try:
        device.enable_determinism(7)
        first = draws()
        assert tf_framework_config.is_op_determinism_enabled()
        device.enable_determinism(7)
        np.testing.assert_allclose(draws(), first, rtol=REPRODUCIBLE_RTOL)
        device.enable_determinism(8)
        assert not np.allclose(draws(), first)
    finally:
        if not was_enabled:
            tf_framework_config.disable_op_determinism()


@pytest.mark.parametrize(
    "seed, error, message",
    [(-1, ValueError, "Received: seed=-1"), (1.5, TypeError, "Received: seed=1.5")],
)
def test_enable_determinism_errors(seed, error, message):
    """Are negative or non-integer seeds rejected by name?"""
    with pytest.raises(error, match=re.escape(message)):
        device.enable_determinism(seed)


def test_public_names_exported():
    """Is every name of device.__all__ exported from kerasdl?"""
    import kerasdl

    assert set(device.__all__) == {
        "configure_gpus", "describe_device", "enable_determinism",
        "gpu_env_for_job", "tf32_execution", "visible_gpu_count",
    }
    for name in device.__all__:
        assert getattr(kerasdl, name) is getattr(device, name)

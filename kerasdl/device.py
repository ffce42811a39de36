"""Devices: GPU set-up, TF32, determinism, and environments for grading jobs.

Everything here runs on a CPU-only machine, where the GPU functions are safe
no-ops. The GPU branches follow TensorFlow's documented behaviour but are not
exercised by the CPU test suite: memory growth on real devices, the
already-initialised error of `tf.config.experimental.set_memory_growth`, the
GPU names of `describe_device` and the effect of TF32 on GPU matmuls.

Source: notes, 6.7 GPUs.
"""

import contextlib
import numbers
import os

import keras
import tensorflow as tf

__all__ = [
    "configure_gpus",
    "describe_device",
    "enable_determinism",
    "gpu_env_for_job",
    "tf32_execution",
    "visible_gpu_count",
]

# Environment variable restricting which CUDA devices a process sees.
CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
# Environment a grading subprocess gets regardless of the GPU count:
# allocate GPU memory on demand (several jobs may share a GPU) and keep
# TensorFlow's C++ INFO and WARNING lines off stderr (nbgrader scores a cell
# that writes to stderr as failed; level 2 still shows errors).
GRADING_ENV = {
    "TF_FORCE_GPU_ALLOW_GROWTH": "true",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def visible_gpu_count():
    """Number of GPUs TensorFlow can see.

    Uses `tf.config.list_physical_devices("GPU")`, which enumerates physical
    devices without creating the logical ones, so `configure_gpus` can still
    be called afterwards.

    Returns:
        int, 0 on a CPU-only machine.

    Source: notes, 6.7 GPUs.
    """
    return len(tf.config.list_physical_devices("GPU"))


def configure_gpus(memory_growth=True):
    """Make every visible GPU allocate memory on demand.

    By default TensorFlow reserves almost all memory of each GPU at start-up;
    with memory growth it allocates as needed, so several processes (grading
    jobs, notebooks) can share a GPU. Call it before the first model or op
    runs: once TensorFlow has initialised the GPUs the setting is frozen. A
    call that asks for the setting already in force is a no-op, so running the
    cell again in a notebook is safe. On a CPU-only machine it does nothing.
    Not verified here (no GPU): the calls to
    `tf.config.experimental.set_memory_growth` on real devices.

    Args:
        memory_growth: bool, enable (True) or disable (False) memory growth.

    Returns:
        The list of `tf.config.PhysicalDevice` GPUs configured (empty on CPU).

    Raises:
        TypeError: `memory_growth` is not a bool.
        RuntimeError: the GPUs were already initialised with the other
            setting; restart the Python process (kernel) and call this first.

    Source: notes, 6.7 GPUs.
    """
    if not isinstance(memory_growth, bool):
        raise TypeError(
            f"`memory_growth` must be a bool. Received: memory_growth={memory_growth!r}"
        )
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            tf.config.experimental.set_memory_growth(gpu, memory_growth)
        except RuntimeError as error:
            if tf.config.experimental.get_memory_growth(gpu) == memory_growth:
                continue  # Already in force; nothing to change.
            raise RuntimeError(
                f"Cannot set memory growth to {memory_growth} on {gpu.name}: "
                "TensorFlow has already initialised the GPUs. Restart the Python "
                "process (notebook kernel) and call `configure_gpus` before "
                f"building any model or running any op. Original error: {error}"
            ) from None
    return gpus


@contextlib.contextmanager
def tf32_execution(enabled):
    """Switch TensorFloat-32 execution on or off inside a `with` block.

    On NVIDIA Ampere and newer GPUs TensorFlow runs float32 matmuls and
    convolutions in TF32 by default (10-bit mantissa, about 1e-3 relative
    error). Turn it off to compare a student's result with a float32 NumPy
    value under float32 tolerances. The previous setting is restored on exit,
    also when the block raises. On a CPU the setting has no numerical effect
    (not verified here: the TF32 results on a GPU).

    Args:
        enabled: bool, the TF32 setting inside the block.

    Yields:
        None.

    Raises:
        TypeError: `enabled` is not a bool.

    Source: notes, 6.7 GPUs.
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"`enabled` must be a bool. Received: enabled={enabled!r}")
    previous = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(enabled)
    try:
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(previous)


def _check_non_negative_int(name, value):
    """Raise unless argument `name` is a non-negative int (bools refused).

    Raises:
        TypeError: `value` is not an int.
        ValueError: `value` is negative.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be a non-negative integer. Received: {name}={value!r}"
        )
    if value < 0:
        raise ValueError(
            f"`{name}` must be a non-negative integer. Received: {name}={value!r}"
        )


def enable_determinism(seed):
    """Seed every generator and make TensorFlow ops deterministic.

    Calls `keras.utils.set_random_seed(seed)` (Python `random`, NumPy,
    TensorFlow and Keras) and `tf.config.experimental.enable_op_determinism()`,
    which makes GPU kernels and `tf.data` reproducible; ops without a
    deterministic implementation then raise instead of varying. It cannot be
    undone for the rest of the process and makes some GPU ops slower. Not
    verified here (no GPU): determinism of GPU kernels.

    Args:
        seed: non-negative int.

    Raises:
        TypeError: `seed` is not an int.
        ValueError: `seed` is negative.

    Source: notes, 6.7 GPUs.
    """
    _check_non_negative_int("seed", seed)
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def _cpu_count():
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def describe_device():
    """One line naming the device TensorFlow computes on.

    Returns:
        str: `"GPU: <name> x N"` when GPUs are visible (the name of the first
        one, from `tf.config.experimental.get_device_details`), else
        `"CPU (N cores)"` with the cores available to this process.

    Source: notes, 6.7 GPUs.
    """
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        cores = _cpu_count()
        return f"CPU ({cores} core{'s' if cores != 1 else ''})"
    details = tf.config.experimental.get_device_details(gpus[0])
    name = details.get("device_name", gpus[0].name)
    return f"GPU: {name} x {len(gpus)}"


def gpu_env_for_job(job_index, num_gpus, base_env=None):
    """Environment variables for the `job_index`-th grading subprocess.

    Jobs are spread round-robin over the GPUs: job `i` sees only GPU
    `i % num_gpus` through `CUDA_VISIBLE_DEVICES`. When the base environment
    already restricts the devices (e.g. `CUDA_VISIBLE_DEVICES="2,3"`), the
    round-robin runs over (at most `num_gpus` of) that list, so job 0 gets
    `"2"`, job 1 gets `"3"` and job 2 gets `"2"` again, also when `num_gpus`
    counts more GPUs than the list holds (e.g. a count from `nvidia-smi`,
    which ignores `CUDA_VISIBLE_DEVICES`). Every job also gets `TF_FORCE_GPU_ALLOW_GROWTH=true` (jobs sharing
    a GPU allocate on demand) and `TF_CPP_MIN_LOG_LEVEL=2` (no C++ INFO or
    WARNING lines on stderr). With `num_gpus=0`, `CUDA_VISIBLE_DEVICES` is
    left as the base environment has it. Not verified here (no GPU): that
    the subprocess then runs on the assigned GPU.

    Args:
        job_index: non-negative int, the job's position.
        num_gpus: non-negative int, GPUs to spread the jobs over.
        base_env: mapping or None; the environment to extend (a copy is made;
            default `os.environ`).

    Returns:
        dict of str to str, the full environment for `subprocess.run(env=...)`.

    Raises:
        TypeError: `job_index` or `num_gpus` is not an int.
        ValueError: `job_index` or `num_gpus` is negative.

    Source: notes, 6.7 GPUs.
    """
    _check_non_negative_int("job_index", job_index)
    _check_non_negative_int("num_gpus", num_gpus)
    env = dict(os.environ if base_env is None else base_env)
    env.update(GRADING_ENV)
    if num_gpus == 0:
        return env
    visible = env.get(CUDA_VISIBLE_DEVICES, "").strip()
    if visible:
        # A count from nvidia-smi ignores the restriction: never leave the list.
        restricted = [d.strip() for d in visible.split(",") if d.strip()]
        device_ids = restricted[:num_gpus]
    else:
        device_ids = [str(i) for i in range(num_gpus)]
    env[CUDA_VISIBLE_DEVICES] = device_ids[job_index % len(device_ids)]
    return env

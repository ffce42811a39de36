"""Seeding every random number generator the course uses."""

import numbers
import random

import keras
import numpy as np
import tensorflow as tf

__all__ = ["set_seed"]


def set_seed(seed):
    """Seed Python `random`, NumPy, TensorFlow and Keras at once.

    After `set_seed(s)`, unseeded draws of `random`, `np.random`,
    `tf.random` and `keras.random` (through Keras' global `SeedGenerator`,
    which is reset) repeat from one run to the next. It does not make GPU
    kernels deterministic (see `kerasdl.enable_determinism`).

    Args:
        seed: int in `[0, 2**32)`.

    Returns:
        None.

    Raises:
        TypeError: if `seed` is not an int.
        ValueError: if `seed` is negative or `>= 2**32` (NumPy's limit).

    Source: notes, 2.1 Data Manipulation (random numbers).
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"`seed` must be an int. Received: seed={seed!r}")
    if not 0 <= seed < 2**32:
        raise ValueError(
            f"`seed` must be in [0, 2**32). Received: seed={seed}"
        )
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    # Also resets Keras' global SeedGenerator used by unseeded keras.random.
    keras.utils.set_random_seed(seed)

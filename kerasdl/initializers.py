"""Numerical stability and Xavier initialization.

References for the exercises of the numerical stability section
(`xavier_normal`, `xavier_uniform`, `XavierUniform`, `scaled_sigmoid`) and the
notes' demonstrations of vanishing (`sigmoid_gradient_demo`) and exploding
(`matrix_product_explosion`) gradients.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from kerasdl.mlp import sigmoid

__all__ = [
    "compute_fans",
    "xavier_normal",
    "xavier_uniform",
    "XavierUniform",
    "scaled_sigmoid",
    "sigmoid_gradient_demo",
    "matrix_product_explosion",
]


def compute_fans(shape):
    """Return `(fan_in, fan_out)` of a weight shape, as Keras computes them.

    - `()`: `(1, 1)`; `(n,)`: `(n, n)`;
    - `(n_in, n_out)` (Dense kernel): `(n_in, n_out)`;
    - `(k_1, ..., k_r, c_in, c_out)` (conv kernel, channels last): with the
      receptive field `k = k_1 * ... * k_r`, `(k * c_in, k * c_out)`.

    Args:
        shape: tuple of ints.

    Returns:
        Tuple of two ints.

    Source: notes, 5.4 Numerical Stability and Initialization.
    """
    shape = tuple(int(d) for d in shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _check_shape(shape):
    """Raise unless `shape` is a sequence of positive ints."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(
            "`shape` must be a tuple of positive ints. "
            f"Received: shape={shape!r}"
        ) from None
    if not all(isinstance(d, (int, np.integer)) and d > 0 for d in dims):
        raise ValueError(
            "`shape` must be a tuple of positive ints. "
            f"Received: shape={shape!r}"
        )
    return dims


def _checked_fan_sum(shape):
    """Return `(shape, fan_in + fan_out)` of a weight shape, checked by `_check_shape`."""
    shape = _check_shape(shape)
    fan_in, fan_out = compute_fans(shape)
    return shape, fan_in + fan_out


def xavier_normal(shape, seed=None, dtype="float32"):
    """Draw Xavier (Glorot) normal weights: `N(0, 2 / (fan_in + fan_out))`.

    A plain normal, unlike `keras.initializers.GlorotNormal` which truncates
    at two standard deviations and rescales; both have the standard deviation
    `sqrt(2 / (fan_in + fan_out))`. Fans as in `compute_fans`.

    Args:
        shape: tuple of ints, e.g. `(784, 256)` or a conv kernel
            `(k_h, k_w, c_in, c_out)`.
        seed: optional int (same int, same values) or
            `keras.random.SeedGenerator`; `None` draws from Keras' global
            generator (see `kerasdl.set_seed`).
        dtype: float dtype of the result.

    Returns:
        `tf.Tensor` of the given shape.

    Raises:
        ValueError: if `shape` holds a non-positive or non-int entry.

    Source: notes, 5.4 Numerical Stability and Initialization.
    """
    shape, fan_sum = _checked_fan_sum(shape)
    stddev = math.sqrt(2.0 / fan_sum)
    return keras.random.normal(shape, stddev=stddev, dtype=dtype, seed=seed)


def xavier_uniform(shape, seed=None, dtype="float32"):
    """Draw Xavier (Glorot) uniform weights: `U(-a, a)`, `a = sqrt(6 / (fan_in + fan_out))`.

    The variance `a^2 / 3 = 2 / (fan_in + fan_out)` equals that of
    `xavier_normal`; the same distribution as
    `keras.initializers.GlorotUniform`.

    Args:
        shape: tuple of ints.
        seed: optional int, `keras.random.SeedGenerator` or `None` (see
            `xavier_normal`).
        dtype: float dtype of the result.

    Returns:
        `tf.Tensor` of the given shape.

    Raises:
        ValueError: if `shape` holds a non-positive or non-int entry.

    Source: notes, 5.4 Numerical Stability and Initialization.
    """
    shape, fan_sum = _checked_fan_sum(shape)
    limit = math.sqrt(6.0 / fan_sum)
    return keras.random.uniform(
        shape, minval=-limit, maxval=limit, dtype=dtype, seed=seed
    )


@keras.saving.register_keras_serializable(package="kerasdl")
class XavierUniform(keras.initializers.Initializer):
    """Xavier (Glorot) uniform initializer: `U(-a, a)`, `a = sqrt(6 / (fan_in + fan_out))`.

    Use it as `keras.layers.Dense(256, kernel_initializer=XavierUniform())`.

    Args:
        seed: optional int. With an int every call returns the same values
            for the same shape (as Keras' seeded initializers do); with
            `None` every call draws new values.

    Call arguments:
        shape: tuple of ints, e.g. `(fan_in, fan_out)` or a conv kernel
            `(k_h, k_w, c_in, c_out)`.
        dtype: float dtype; defaults to `keras.config.floatx()`.

    Source: notes, 5.4 Numerical Stability and Initialization.
    """

    def __init__(self, seed=None):
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
        ):
            raise TypeError(
                f"`seed` must be an int or None. Received: seed={seed!r}"
            )
        self.seed = None if seed is None else int(seed)

    def __call__(self, shape, dtype=None):
        return xavier_uniform(
            shape, seed=self.seed, dtype=dtype or keras.config.floatx()
        )

    def get_config(self):
        return {"seed": self.seed}


def scaled_sigmoid(x):
    """Return `4 * sigmoid(x) - 2`: a sigmoid with slope 1 at 0, like tanh.

    Its derivative at 0 is `4 * 1/4 = 1`, and `scaled_sigmoid(0) = 0`, so near
    0 it behaves like the identity, as Xavier's analysis assumes.

    Args:
        x: array-like, float32 or float64.

    Returns:
        `tf.Tensor` with the shape and float dtype of `x`, in [-2, 2].

    Source: notes, 5.4 Numerical Stability and Initialization.
    """
    return 4 * sigmoid(x) - 2


def sigmoid_gradient_demo(start=-8.0, stop=8.0, step=0.1):
    """Return the sigmoid and its gradient on a grid, as in the notes' plot.

    The gradient, computed with `tf.GradientTape`, peaks at 0.25 at `x = 0`
    and vanishes for large `|x|`: the cause of vanishing gradients in deep
    sigmoid networks.

    Args:
        start: first grid point.
        stop: end of the grid (excluded).
        step: grid spacing.

    Returns:
        `(x, y, grad)` float32 `tf.Tensor`s of the same length: the grid,
        `sigmoid(x)`, and `dsigmoid/dx`.

    Source: notes, 5.4 Numerical Stability and Initialization.
    """
    x = tf.range(start, stop, step, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.math.sigmoid(x)
    return x, y, tape.gradient(y, x)


def matrix_product_explosion(num_matrices=100, seed=0):
    """Return the product of `num_matrices` random `N(0, 1)` 4x4 matrices.

    The notes' demonstration of exploding products: the entries grow by
    orders of magnitude (around 1e20 and more after 100 factors), which is
    what happens to gradients through many layers with badly scaled weights.

    Args:
        num_matrices: positive int, number of factors.
        seed: int or `None` for the NumPy generator of the factors.

    Returns:
        float32 `tf.Tensor` `(4, 4)`.

    Raises:
        ValueError: if `num_matrices < 1`.

    Source: notes, 5.4 Numerical Stability and Initialization.
    """
    if num_matrices < 1:
        raise ValueError(
            "`num_matrices` must be a positive int. "
            f"Received: num_matrices={num_matrices}"
        )
    rng = np.random.default_rng(seed)
    M = tf.constant(rng.standard_normal((4, 4)), dtype=tf.float32)
    for _ in range(num_matrices - 1):
        M = tf.matmul(M, tf.constant(rng.standard_normal((4, 4)), dtype=tf.float32))
    return M

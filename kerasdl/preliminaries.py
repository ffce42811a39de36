"""Preliminaries: data preprocessing, norms and automatic differentiation.

References for the exercises of chapter 2 (`preprocess`, `lp_norm`,
`squared_error_grad`) and the tensor conversion helper the other scratch
modules share.
"""

import math

import numpy as np
import pandas as pd
import tensorflow as tf

__all__ = ["preprocess", "lp_norm", "squared_error_grad"]


def _as_float_tensor(x):
    """Convert `x` to a floating `tf.Tensor`, keeping float64 as float64.

    Lists, NumPy arrays, tensors and variables are accepted. Integer and boolean
    inputs become float32 (the Keras default float type); floating inputs keep
    their dtype, so float64 NumPy arrays stay float64.

    Args:
        x: array-like.

    Returns:
        A floating `tf.Tensor` with the values of `x`.
    """
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        x = tf.cast(x, tf.float32)
    return x


def _common_float_dtype(*tensors):
    """Return float64 if any of `tensors` is float64, else float32."""
    if any(t.dtype == tf.float64 for t in tensors):
        return tf.float64
    return tf.float32


def preprocess(df):
    """Make a raw data frame numeric: impute numbers, one-hot encode categories.

    Numeric columns get their missing values replaced by the column mean
    (computed over the non-missing values). Every other column is replaced by
    one indicator column per category plus one for missing values, named as
    `pandas.get_dummies(..., dummy_na=True)` names them (`"Alley_Pave"`,
    `"Alley_nan"`). The input frame is not modified.

    Args:
        df: `pandas.DataFrame` with numeric and non-numeric columns.

    Returns:
        A new `pandas.DataFrame` of float64 columns without NaN: the numeric
        columns first (in their original order), then the indicator columns.
        A numeric column that is entirely missing has no mean and is filled
        with 0.

    Raises:
        TypeError: if `df` is not a `pandas.DataFrame`.

    Source: notes, 2.2 Data Preprocessing.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            "`df` must be a pandas.DataFrame. "
            f"Received: df of type {type(df).__name__}"
        )
    numeric_columns = df.select_dtypes(include="number").columns
    other_columns = [c for c in df.columns if c not in numeric_columns]
    numeric = df[numeric_columns].astype(np.float64)
    # A column of only NaN has a NaN mean: fill it with 0 so nothing stays NaN.
    numeric = numeric.fillna(numeric.mean()).fillna(0.0)
    if not other_columns:
        return numeric
    dummies = pd.get_dummies(
        df[other_columns], dummy_na=True, dtype=np.float64
    )
    return pd.concat([numeric, dummies], axis=1)


def lp_norm(x, p):
    """Return the l_p norm `(sum_i |x_i|^p)^(1/p)` of a vector.

    The largest magnitude is factored out before raising to the power `p`,
    `||x||_p = m * ||x / m||_p` with `m = max_i |x_i|`, so large entries or
    large `p` do not overflow. `p = math.inf` gives the max norm.

    Args:
        x: 1-D array-like, float32 or float64 (tensor, NumPy array or list).
        p: number `>= 1`.

    Returns:
        Scalar `tf.Tensor` with the dtype of `x` (float32 for integer input).

    Raises:
        ValueError: if `p < 1` or `x` is not 1-D.

    Source: notes, 2.3 Linear Algebra.
    """
    if not p >= 1:  # also rejects NaN
        raise ValueError(f"`p` must be a number >= 1. Received: p={p}")
    x = _as_float_tensor(x)
    if x.shape.rank != 1:
        raise ValueError(
            f"`x` must be a 1-D tensor. Received: x with shape {x.shape}"
        )
    magnitude = tf.abs(x)
    # The 0 appended makes the maximum of an empty vector 0.
    largest = tf.reduce_max(tf.concat([magnitude, tf.zeros([1], x.dtype)], 0))
    if math.isinf(p):
        return largest
    # Dividing by 1 for the zero vector keeps 0 / 0 out of the result.
    scale = tf.where(largest > 0, largest, tf.ones_like(largest))
    return scale * tf.reduce_sum((magnitude / scale) ** p) ** (1.0 / p)


def squared_error_grad(x, w, y):
    """Return the gradient of `z = (<x, w> - y)^2` with respect to `w`.

    Computed with `tf.GradientTape`; the closed form is `2 (<x, w> - y) x`.

    Args:
        x: 1-D array-like of `d` features.
        w: array-like of `d` weights (any shape with `d` elements, e.g. `(d,)`
            or `(d, 1)`), or a `tf.Variable`.
        y: scalar target.

    Returns:
        `tf.Tensor` with the shape of `w`.

    Source: notes, 2.5 Automatic Differentiation.
    """
    x, w, y = (_as_float_tensor(t) for t in (x, w, y))
    dtype = _common_float_dtype(x, w, y)
    x, w, y = (tf.cast(t, dtype) for t in (x, w, y))
    with tf.GradientTape() as tape:
        tape.watch(w)
        # <x, w> over the flattened vectors, so (d,) and (d, 1) weights agree.
        z = (tf.reduce_sum(tf.reshape(x, [-1]) * tf.reshape(w, [-1])) - y) ** 2
    return tape.gradient(z, w)

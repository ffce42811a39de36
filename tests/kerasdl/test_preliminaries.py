"""Tests of `kerasdl.preliminaries`: preprocess, lp_norm, squared_error_grad."""

import math

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import kerasdl

FLOAT32_RTOL = 1e-5
FLOAT64_RTOL = 1e-12


def _house_tiny():
    """The notes' tiny house data set, with a missing number and category."""
    return pd.DataFrame(
        {
            "NumRooms": [np.nan, 2.0, 4.0, np.nan],
            "RoofType": [np.nan, np.nan, "Slate", np.nan],
            "Price": [127500, 106000, 178100, 140000],
        }
    )


def test_preprocess_matches_hand_computed_frame():
    """Does preprocess impute the column mean and one-hot encode with a NaN column?"""
    expected = pd.DataFrame(
        {
            "NumRooms": [3.0, 2.0, 4.0, 3.0],  # mean of 2 and 4
            "Price": [127500.0, 106000.0, 178100.0, 140000.0],
            "RoofType_Slate": [0.0, 0.0, 1.0, 0.0],
            "RoofType_nan": [1.0, 1.0, 0.0, 1.0],
        }
    )
    result = kerasdl.preprocess(_house_tiny())
    pd.testing.assert_frame_equal(result, expected, check_like=True)


def test_preprocess_leaves_input_unchanged_and_no_nan():
    """Is the input frame untouched and the result all numeric without NaN?"""
    df = _house_tiny()
    before = df.copy()
    result = kerasdl.preprocess(df)
    pd.testing.assert_frame_equal(df, before)
    assert all(pd.api.types.is_numeric_dtype(t) for t in result.dtypes)
    assert not result.isna().any().any()


def test_preprocess_fills_all_nan_column_with_zero():
    """Does a numeric column with no value at all end up without NaN?"""
    df = pd.DataFrame({"a": [np.nan, np.nan], "b": [1.0, 2.0]})
    result = kerasdl.preprocess(df)
    np.testing.assert_array_equal(result["a"].to_numpy(), [0.0, 0.0])


def test_preprocess_rejects_non_frame():
    """Does preprocess name the argument when it is not a DataFrame?"""
    with pytest.raises(TypeError, match=r"`df` must be a pandas.DataFrame. Received: df of type list"):
        kerasdl.preprocess([1, 2])


@pytest.mark.parametrize("p", [1, 2, 3, 1.5, math.inf])
def test_lp_norm_matches_numpy(rng, p):
    """Does lp_norm equal np.linalg.norm in float64 for several p?"""
    x = rng.standard_normal(17)
    result = kerasdl.lp_norm(x, p)
    assert result.dtype == tf.float64
    np.testing.assert_allclose(result.numpy(), np.linalg.norm(x, ord=p), rtol=FLOAT64_RTOL)


@pytest.mark.parametrize("convert", [list, np.float32, tf.constant], ids=["list", "float32", "tensor"])
def test_lp_norm_accepts_lists_arrays_tensors(convert):
    """Does lp_norm give 5 for [3, 4] whatever the input type?"""
    x = [3.0, 4.0] if convert is list else convert(np.array([3.0, 4.0]))
    np.testing.assert_allclose(kerasdl.lp_norm(x, 2).numpy(), 5.0, rtol=FLOAT32_RTOL)


def test_lp_norm_does_not_overflow_in_float32():
    """Is the 2-norm of [3e30, 4e30] finite in float32 (naive squares overflow)?"""
    x = tf.constant([3e30, 4e30], dtype=tf.float32)
    np.testing.assert_allclose(kerasdl.lp_norm(x, 2).numpy(), 5e30, rtol=FLOAT32_RTOL)


def test_lp_norm_of_zero_vector_is_zero():
    """Is the norm of the zero vector 0, not NaN?"""
    np.testing.assert_array_equal(kerasdl.lp_norm([0.0, 0.0], 3).numpy(), 0.0)


def test_lp_norm_rejects_p_below_one():
    """Does lp_norm reject p < 1 with the argument named?"""
    with pytest.raises(ValueError, match=r"`p` must be a number >= 1. Received: p=0.5"):
        kerasdl.lp_norm([1.0, 2.0], 0.5)


def test_lp_norm_rejects_matrix():
    """Does lp_norm reject a 2-D input?"""
    with pytest.raises(ValueError, match=r"`x` must be a 1-D tensor. Received: x with shape \(2, 2\)"):
        kerasdl.lp_norm([[1.0, 2.0], [3.0, 4.0]], 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_squared_error_grad_matches_closed_form(rng, dtype):
    """Is the tape gradient equal to 2 (<x, w> - y) x in float32 and float64?"""
    x = rng.standard_normal(5).astype(dtype)
    w = rng.standard_normal(5).astype(dtype)
    y = dtype(0.7)
    expected = 2 * (np.dot(x.astype(np.float64), w) - 0.7) * x.astype(np.float64)
    result = kerasdl.squared_error_grad(tf.constant(x), tf.constant(w), y)
    rtol = FLOAT32_RTOL if dtype == np.float32 else FLOAT64_RTOL
    np.testing.assert_allclose(result.numpy(), expected, rtol=rtol)


def test_squared_error_grad_keeps_shape_of_column_weights(rng):
    """Does a (d, 1) weight variable get a (d, 1) gradient?"""
    x = rng.standard_normal(4).astype(np.float32)
    w = tf.Variable(rng.standard_normal((4, 1)).astype(np.float32))
    result = kerasdl.squared_error_grad(x, w, 1.0)
    assert result.shape == (4, 1)
    expected = 2 * (x @ w.numpy()[:, 0] - 1.0) * x
    np.testing.assert_allclose(result.numpy()[:, 0], expected, rtol=FLOAT32_RTOL)

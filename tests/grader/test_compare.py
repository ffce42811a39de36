"""Comparisons and tolerances: dtypes, shapes, NaN/inf, frames, samples."""

import math

import numpy as np
import pandas as pd
import tensorflow as tf

from grader.compare import Normal, Uniform, compare_frames, compare_sample, compare_values
from grader.tolerances import FLOAT32, FLOAT64, tolerance_for

# A float32 rounding-sized error: passes at float32, fails at float64 tolerance.
FLOAT32_SIZED_ERROR = 1e-7


def test_tolerance_follows_least_precise_dtype():
    """Is a float64 output for float32 inputs compared at float32 tolerance?"""
    assert tolerance_for("float32", np.float64) is FLOAT32
    assert tolerance_for(tf.float64, "float64") is FLOAT64
    assert tolerance_for("int32") is FLOAT32
    reference = np.array([1.0, 2.0], dtype=np.float32)
    student = reference.astype(np.float64) + FLOAT32_SIZED_ERROR
    assert compare_values(student, reference, input_dtypes=("float32",)).passed
    assert not compare_values(student, reference.astype(np.float64),
                              input_dtypes=("float64",)).passed


def test_scalar_forms_are_equivalent():
    """Are Python floats, 0-d arrays and shape-() tensors the same scalar?"""
    for student in (2.5, np.float64(2.5), np.array(2.5), tf.constant(2.5)):
        assert compare_values(student, tf.constant(2.5)).passed


def test_column_only_when_allowed():
    """Is (n,) vs (n, 1) accepted only under shape_policy='column'?"""
    flat, column = np.arange(3.0), np.arange(3.0).reshape(3, 1)
    assert not compare_values(flat, column).passed
    assert compare_values(flat, column, shape_policy="column").passed
    assert not compare_values(np.arange(3.0).reshape(1, 3), column,
                              shape_policy="column").passed


def test_inf_passes_only_where_reference_has_it_and_case_allows():
    """Does inf pass only at the reference's inf, and only with allow_inf?"""
    reference = np.array([1.0, np.inf])
    assert compare_values(np.array([1.0, np.inf]), reference, allow_inf=True).passed
    assert not compare_values(np.array([1.0, np.inf]), reference).passed
    assert not compare_values(np.array([1.0, -np.inf]), reference, allow_inf=True).passed
    assert not compare_values(np.array([np.inf, np.inf]), reference, allow_inf=True).passed


def test_worst_index_and_errors_reported():
    """Are the largest errors and the worst index reported?"""
    result = compare_values(np.array([[0.0, 1.0], [2.0, 3.5]]),
                            np.array([[0.0, 1.0], [2.0, 3.0]]))
    assert not result.passed
    assert result.worst_index == (1, 1)
    assert math.isclose(result.max_abs_err, 0.5)
    assert "index [1, 1]: got 3.5, expected 3" in result.message


def test_integer_output_needs_allow_int():
    """Is an integer output for a float reference accepted only with allow_int?"""
    assert not compare_values(np.int64(3), 3.0).passed
    assert compare_values(np.int64(3), 3.0, allow_int=True).passed


def test_frames_compared_by_column_name():
    """Are data frames compared by column name, ignoring order and bool vs float?"""
    reference = pd.DataFrame({"a": [1.0, 2.0], "b_x": [1.0, 0.0]})
    student = pd.DataFrame({"b_x": [True, False], "a": [1, 2]})
    assert compare_frames(student, reference).passed
    missing = compare_frames(student[["a"]], reference)
    assert not missing.passed and "missing columns ['b_x']" in missing.message
    nan = compare_frames(pd.DataFrame({"a": [1.0, np.nan], "b_x": [1, 0]}), reference)
    assert not nan.passed and "NaN" in nan.message


def test_sample_bands_sized_by_count():
    """Does a correct seeded sample pass and a 10% wider one fail?"""
    rng = np.random.default_rng(0)
    sample = rng.normal(0.0, 0.05, size=20000)
    assert compare_sample(sample, Normal(0.0, 0.05)).passed
    assert not compare_sample(sample * 1.1, Normal(0.0, 0.05)).passed
    uniform = rng.uniform(-0.1, 0.1, size=20000)
    assert compare_sample(uniform, Uniform(-0.1, 0.1)).passed
    outside = compare_sample(uniform * 1.01, Uniform(-0.1, 0.1))
    assert not outside.passed and "outside U(-0.1, 0.1)" in outside.message

"""Checks of chapter 2, Preliminaries: `preprocess`, `lp_norm`, `squared_error_grad`."""

import numpy as np
import pandas as pd
import tensorflow as tf

import kerasdl
from grader.registry import exercise

CHAPTER = "ch02_preliminaries"


def _house_frame():
    """The notes' tiny house table: a numeric column with NaN, a category with NaN."""
    return pd.DataFrame({
        "NumRooms": [np.nan, 2.0, 4.0, np.nan],
        "RoofType": [np.nan, np.nan, "Slate", np.nan],
        "Price": [127500, 106000, 178100, 140000],
    })


def _mixed_frame(rng, num_rows=6):
    """Seeded: two categorical columns (one without NaN), an int column and NaN floats.

    Rows 0 and 1 have the float NaN (so it is never all NaN), rows 1 and 2 the
    category NaN; the order of the rows is then shuffled.
    """
    lot = rng.integers(5_000, 15_000, size=num_rows).astype(float)
    lot[:2] = np.nan
    alley = rng.choice(["Pave", "Grvl"], size=num_rows).astype(object)
    alley[1:3] = np.nan
    order = rng.permutation(num_rows)
    return pd.DataFrame({
        "Lot": lot[order],
        "Alley": alley[order],
        "Street": rng.choice(["Pave", "Grvl"], size=num_rows),
        "Year": rng.integers(1900, 2010, size=num_rows),
    })


def _numbers_frame(rng, num_rows=4):
    """Seeded: a float column with one NaN and an int column, nothing to encode."""
    a = rng.normal(0.0, 5.0, size=num_rows)
    a[rng.integers(num_rows)] = np.nan
    return pd.DataFrame({"a": a, "b": rng.integers(0, 10, size=num_rows)})


def _fill_zero(df):
    numeric = df.select_dtypes("number").fillna(0.0)
    other = pd.get_dummies(df.select_dtypes(exclude="number"), dummy_na=True, dtype=float)
    return pd.concat([numeric, other], axis=1)


def _no_dummy_na(df):
    numeric = df.select_dtypes("number")
    numeric = numeric.fillna(numeric.mean())
    other = pd.get_dummies(df.select_dtypes(exclude="number"), dtype=float)
    return pd.concat([numeric, other], axis=1)


def _drop_rows(df):
    numeric = df.select_dtypes("number").dropna()
    return pd.concat([numeric, pd.get_dummies(
        df.loc[numeric.index].select_dtypes(exclude="number"), dummy_na=True, dtype=float)],
        axis=1)


_PREPROCESS_MISTAKES = {
    "replace numeric NaN with that column's mean, not with 0": _fill_zero,
    "one-hot encode with pandas.get_dummies(..., dummy_na=True) so missing "
    "values get their own indicator column": _no_dummy_na,
    "keep every row: impute missing numbers instead of dropping rows": _drop_rows,
}


@exercise("preprocess", chapter=CHAPTER, points=3, reference=kerasdl.preprocess)
def preprocess_cases(c):
    """Student `preprocess` matches the reference frame column by column."""
    c.values("house table", _house_frame(), mistakes=_PREPROCESS_MISTAKES,
             what="your data frame")
    c.values("missing numbers and categories in several columns", _mixed_frame(c.rng),
             mistakes=_PREPROCESS_MISTAKES, what="your data frame", hidden=True)
    c.values("numeric columns only", _numbers_frame(c.rng), mistakes=_PREPROCESS_MISTAKES,
             what="your data frame", hidden=True)


def _lp_no_abs(x, p):
    return tf.reduce_sum(tf.cast(x, tf.float64) ** p) ** (1.0 / p)


def _lp_no_root(x, p):
    return tf.reduce_sum(tf.abs(tf.cast(x, tf.float64)) ** p)


_LP_MISTAKES = {
    "take the absolute value |x_i| before raising to the power p": _lp_no_abs,
    "take the p-th root of the sum: (sum |x_i|^p)^(1/p)": _lp_no_root,
}


@exercise("lp_norm", chapter=CHAPTER, points=1, reference=kerasdl.lp_norm)
def lp_norm_cases(c):
    """Student `lp_norm` equals the reference for several `p`."""
    c.values("[3, -4], p=2", c.tensor([3.0, -4.0]), 2, mistakes=_LP_MISTAKES)
    c.values("[3, -4], p=1", c.tensor([3.0, -4.0]), 1, mistakes=_LP_MISTAKES)
    c.values("random (10,), p=3", c.normal((10,)), 3, mistakes=_LP_MISTAKES)
    c.values("float64 input, a fractional p", c.normal((7,), dtype="float64"), 1.5,
             mistakes=_LP_MISTAKES, hidden=True)
    c.values("a long random vector, a larger p", c.uniform((1000,), -2.0, 2.0), 4,
             mistakes=_LP_MISTAKES, hidden=True)


def _grad_no_two(x, w, y):
    x, w = tf.cast(x, tf.float64), tf.cast(w, tf.float64)
    return (tf.reduce_sum(x * w) - y) * x


def _grad_wrt_x(x, w, y):
    x, w = tf.cast(x, tf.float64), tf.cast(w, tf.float64)
    return 2 * (tf.reduce_sum(x * w) - y) * w


_GRAD_MISTAKES = {
    "d/dw (<x, w> - y)^2 = 2 (<x, w> - y) x: keep the factor 2": _grad_no_two,
    "differentiate with respect to w, not x (tape.gradient(z, w))": _grad_wrt_x,
}


def _closed_form_grad(x, w, y):
    """Float64 oracle: 2 (<x, w> - y) x."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    return 2.0 * (np.sum(x * w) - float(y)) * x


@exercise("squared_error_grad", chapter=CHAPTER, points=2,
          reference=kerasdl.squared_error_grad)
def squared_error_grad_cases(c):
    """Student gradient equals `2 (<x, w> - y) x` (float64 oracle) and the reference."""
    x, w = c.normal((4,)), tf.Variable(c.normal((4,)))
    c.values("x, w of length 4", x, w, 1.5, expected=_closed_form_grad,
             mistakes=_GRAD_MISTAKES)
    c.values("x = [1, 2, 3], w = [0, 0, 0]", c.tensor([1.0, 2.0, 3.0]),
             tf.Variable(c.tensor([0.0, 0.0, 0.0])), 2.0, mistakes=_GRAD_MISTAKES)
    c.values("float64 input, a negative target", c.normal((10,), dtype="float64"),
             tf.Variable(c.normal((10,), dtype="float64")), -0.5,
             expected=_closed_form_grad, mistakes=_GRAD_MISTAKES, hidden=True)

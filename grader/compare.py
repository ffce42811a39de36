"""Comparisons: values, data frames, sequences and random samples.

Every comparison returns a `Comparison` record instead of raising, so a case
can try the known mistakes on a failure before reporting it. NumPy functions
are bound privately at import time: a notebook that monkeypatches
`numpy.allclose` or `numpy.abs` cannot change a verdict.
"""

import dataclasses
import math

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from grader.errors import CaseFailed
from grader.tolerances import STATISTICAL_SIGMAS, tolerance_for

__all__ = [
    "Comparison",
    "Normal",
    "Uniform",
    "to_array",
    "compare_values",
    "compare_frames",
    "compare_sample",
    "allclose",
]

# Private references, taken before any student code runs.
_np_array = np.array
_np_abs = np.abs
_np_isnan = np.isnan
_np_isinf = np.isinf
_np_isfinite = np.isfinite
_np_argmax = np.argmax
_np_max = np.max
_np_min = np.min
_np_all = np.all
_np_any = np.any
_np_mean = np.mean
_np_var = np.var
_np_unravel_index = np.unravel_index
_np_sign = np.sign
_np_squeeze = np.squeeze
_np_where = np.where
_np_subtract = np.subtract
_np_zeros_like = np.zeros_like
_np_ndarray = np.ndarray
_np_generic = np.generic
_tf_Tensor = tf.Tensor
_tf_Variable = tf.Variable
_keras_Variable = keras.Variable
_pd_DataFrame = pd.DataFrame
_isinstance = isinstance

# Numeric dtype kinds: bool, signed and unsigned int, float.
_NUMERIC_KINDS = "biuf"
# Relative errors are computed against max(|reference|, this floor) so exact
# zeros in the reference do not give infinite relative errors.
_REL_ERR_FLOOR = 1e-30


@dataclasses.dataclass
class Comparison:
    """Outcome of one comparison (see `CaseResult` for the fields)."""

    passed: bool
    message: str
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    worst_index: tuple | None = None

    def raise_if_failed(self, hint=None):
        """Raise `CaseFailed` carrying this comparison if it failed."""
        if not self.passed:
            raise CaseFailed(self.message, hint=hint, comparison=self)


@dataclasses.dataclass(frozen=True)
class Normal:
    """Normal distribution `N(mean, std^2)` for sample checks."""

    mean: float = 0.0
    std: float = 1.0
    # Fourth standardized moment, sets the standard error of the variance.
    kurtosis: float = 3.0
    bounds = None

    def __str__(self):
        return f"N({self.mean:g}, {self.std:.4g}^2)"


@dataclasses.dataclass(frozen=True)
class Uniform:
    """Uniform distribution `U(low, high)` for sample checks."""

    low: float
    high: float
    # Fourth standardized moment of a uniform distribution, 9/5.
    kurtosis: float = 1.8

    @property
    def mean(self):
        return (self.low + self.high) / 2

    @property
    def std(self):
        # Variance of U(low, high) is (high - low)^2 / 12.
        return (self.high - self.low) / math.sqrt(12.0)

    @property
    def bounds(self):
        return (self.low, self.high)

    def __str__(self):
        return f"U({self.low:.4g}, {self.high:.4g})"


def to_array(value, what="your output"):
    """Convert a student's value to a NumPy array, or fail with a message.

    Accepts `tf.Tensor`, `tf.Variable`, Keras variables, NumPy arrays and scalars, Python
    numbers and (nested) lists of numbers. Anything else (None, strings,
    objects that merely claim equality) raises `CaseFailed`.

    Args:
        value: the student's value.
        what: how the feedback names the value.

    Returns:
        A NumPy array of a numeric dtype (a copy).

    Raises:
        CaseFailed: `value` is not numeric.
    """
    if value is None:
        raise CaseFailed(f"{what} is None: did you forget `return`?")
    if _isinstance(value, (_tf_Tensor, _tf_Variable, _keras_Variable)):
        try:
            array = _np_array(value.numpy())
        except Exception as exc:  # symbolic tensors have no value
            raise CaseFailed(
                f"{what} is a symbolic tensor without a value "
                f"({type(exc).__name__})"
            ) from None
    elif _isinstance(value, (_np_ndarray, _np_generic, bool, int, float, list, tuple)):
        try:
            array = _np_array(value)
        except Exception:
            raise CaseFailed(f"{what} could not be read as an array") from None
    else:
        # A handle to a kernel object names the student's type (`type_name`).
        name = getattr(value, "type_name", None) or type(value).__name__
        raise CaseFailed(f"{what} is a {name}, not a tensor or array")
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise CaseFailed(
            f"{what} has dtype {array.dtype} ({type(value).__name__}), "
            "not a number"
        )
    return array


def allclose(a, b, rtol=0.0, atol=0.0):
    """Private `numpy.allclose` for plugins (immune to monkeypatching)."""
    a = _np_array(a, dtype="float64")
    b = _np_array(b, dtype="float64")
    return a.shape == b.shape and bool(_np_all(_np_abs(a - b) <= atol + rtol * _np_abs(b)))


def _format_index(index):
    """Return `[2, 3]` for an index tuple, `[]` for a scalar."""
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def _shapes_compatible(student_shape, reference_shape, policy):
    """Whether two shapes are equal under a shape policy."""
    if student_shape == reference_shape:
        return True
    if policy == "column":
        # (n,) and (n, 1) are the same column of values.
        flat = [s for s in (student_shape, reference_shape) if len(s) == 1]
        column = [s for s in (student_shape, reference_shape) if len(s) == 2 and s[1] == 1]
        return len(flat) == 1 and len(column) == 1 and flat[0][0] == column[0][0]
    if policy == "squeeze":
        return tuple(d for d in student_shape if d != 1) == tuple(
            d for d in reference_shape if d != 1
        )
    return False


def compare_values(
    student,
    reference,
    *,
    input_dtypes=(),
    tol=None,
    shape_policy="exact",
    allow_int=False,
    allow_inf=False,
    what="your output",
    hidden=False,
    equal_nan=False,
):
    """Compare a student's value with the reference value.

    Checks, in order: the value is numeric; its shape (under `shape_policy`)
    and dtype kind; NaN/inf (never accepted, except `inf` where the reference
    has the same `inf` and `allow_inf`); then the values under the tolerance.

    Args:
        student: the student's value (tensor, array, scalar).
        reference: the expected value.
        input_dtypes: dtypes of the case's inputs, for `tolerance_for`.
        tol: a `Tolerance` to use instead of the dtype-derived one.
        shape_policy: `"exact"`, `"column"` (`(n,)` equals `(n, 1)`) or
            `"squeeze"` (shapes equal after dropping size-1 axes).
        allow_int: accept integer/bool output where the reference is float.
        allow_inf: accept `inf` where the reference has the same `inf`.
        what: how the feedback names the value.
        hidden: hidden case: the message shows no values.
        equal_nan: treat NaN and inf in both values at the same place as
            equal (used to recognise a known mistake, never to pass a case).

    Returns:
        A `Comparison`.
    """
    try:
        s = to_array(student, what)
    except CaseFailed as exc:
        return Comparison(False, exc.message)
    r = to_array(reference, "the reference output")
    if not _shapes_compatible(s.shape, r.shape, shape_policy):
        return Comparison(False, f"{what} has shape {s.shape}, expected {r.shape}")
    if r.dtype.kind == "f" and s.dtype.kind != "f" and not allow_int:
        return Comparison(
            False, f"{what} has dtype {s.dtype}, expected a floating dtype"
        )
    if r.dtype.kind in "iub" and s.dtype.kind == "f" and _np_any(
        s != s.round()  # noqa: PLR0124 (both plain NumPy arrays)
    ):
        return Comparison(False, f"{what} has fractional values, expected integers")
    s64 = s.astype("float64").reshape(r.shape)
    r64 = r.astype("float64")
    tol = tol or tolerance_for(*input_dtypes, s.dtype, r.dtype)
    bad_nan = _np_isnan(s64) & ~_np_isnan(r64)
    if not equal_nan:
        bad_nan = _np_isnan(s64) | bad_nan
    # A NaN in the expected value is matched only by a NaN (known mistakes).
    bad_nan = bad_nan | (_np_isnan(r64) & ~_np_isnan(s64))
    if allow_inf or equal_nan:
        bad_inf = _np_isinf(s64) & ~(_np_isinf(r64) & (_np_sign(s64) == _np_sign(r64)))
    else:
        bad_inf = _np_isinf(s64)
    for bad, kind in ((bad_nan, "NaN"), (bad_inf, "inf")):
        if _np_any(bad):
            index = _np_unravel_index(_np_argmax(bad), bad.shape) if bad.ndim else ()
            where = "" if hidden else f" at index {_format_index(index)}"
            return Comparison(
                False, f"{what} has {kind}{where}", worst_index=tuple(int(i) for i in index)
            )
    both_inf = _np_isinf(s64) & _np_isinf(r64) & (s64 == r64)
    finite = ~both_inf & _np_isfinite(r64) & _np_isfinite(s64)
    # Subtract only where both are finite: inf - inf would warn.
    abs_err = _np_abs(_np_subtract(s64, r64, out=_np_zeros_like(s64), where=finite))
    r_abs = _np_abs(_np_where(finite, r64, 0.0))
    scale = max(1.0, float(_np_max(r_abs))) if r_abs.size else 1.0
    allowed = tol.atol * scale + tol.rtol * r_abs
    excess = abs_err - allowed
    rel_err = abs_err / (r_abs + _REL_ERR_FLOOR)
    max_abs = float(_np_max(abs_err)) if abs_err.size else 0.0
    max_rel = float(_np_max(rel_err)) if rel_err.size else 0.0
    if not abs_err.size or not _np_any(excess > 0):
        return Comparison(
            True, f"{what} matches (max abs err {max_abs:.2g})", max_abs, max_rel
        )
    flat = int(_np_argmax(excess))
    index = tuple(int(i) for i in _np_unravel_index(flat, excess.shape)) if excess.ndim else ()
    if hidden:
        message = f"{what} differs from the expected values ({tol.name} tolerance)"
    else:
        message = (
            f"{what} differs at index {_format_index(index)}: got "
            f"{float(s64[index]):.6g}, expected {float(r64[index]):.6g} "
            f"(max abs err {max_abs:.3g}, tolerance {tol})"
        )
    return Comparison(False, message, max_abs, max_rel, index)


def compare_sequence(student, reference, *, names=None, what="your output", options=None, **common):
    """Compare a tuple/list output item by item with `compare_values`.

    Args:
        student: the student's tuple or list.
        reference: the reference tuple or list.
        names: optional names of the items (`("w", "b")`).
        what: how the feedback names the whole output.
        options: optional list of per-item keyword dicts for `compare_values`.
        **common: keyword arguments for every item.

    Returns:
        The first failing item's `Comparison`, or a passing one.
    """
    if not _isinstance(student, (tuple, list)):
        return Comparison(
            False,
            f"{what} is a {type(student).__name__}, expected a tuple of "
            f"{len(reference)} values",
        )
    if len(student) != len(reference):
        return Comparison(
            False, f"{what} has {len(student)} items, expected {len(reference)}"
        )
    names = names or [f"{what}[{i}]" for i in range(len(reference))]
    options = options or [{}] * len(reference)
    worst = 0.0
    for item, expected, name, extra in zip(student, reference, names, options):
        result = compare_values(item, expected, what=name, **{**common, **extra})
        if not result.passed:
            return result
        worst = max(worst, result.max_abs_err or 0.0)
    return Comparison(True, f"{what} matches (max abs err {worst:.2g})", worst)


def compare_frames(student, reference, *, tol=None, what="your data frame", hidden=False, **_):
    """Compare two `pandas.DataFrame`s column by column, by column name.

    Column order and the index are not graded; every column must be numeric
    (bool counts) and free of NaN, and its values must match the reference's
    column of the same name under the tolerance.

    Args:
        student: the student's value.
        reference: the reference data frame.
        tol: a `Tolerance`; float64 by default (pandas computes in float64).
        what: how the feedback names the value.
        hidden: hidden case: the message shows no values.

    Returns:
        A `Comparison`.
    """
    if not _isinstance(student, _pd_DataFrame):
        return Comparison(
            False, f"{what} is a {type(student).__name__}, not a pandas.DataFrame"
        )
    missing = [c for c in reference.columns if c not in student.columns]
    extra = [c for c in student.columns if c not in reference.columns]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing columns {missing[:4]}")
        if extra:
            parts.append(f"unexpected columns {extra[:4]}")
        return Comparison(False, f"{what} has " + " and ".join(parts))
    if len(student) != len(reference):
        return Comparison(
            False, f"{what} has {len(student)} rows, expected {len(reference)}"
        )
    worst = 0.0
    for column in reference.columns:
        values = student[column]
        if _isinstance(values, _pd_DataFrame):
            return Comparison(False, f"{what} has column {column!r} more than once")
        if values.dtype.kind not in _NUMERIC_KINDS:
            return Comparison(
                False, f"{what}: column {column!r} has dtype {values.dtype}, not numeric"
            )
        result = compare_values(
            values.to_numpy(),
            reference[column].to_numpy(dtype="float64"),
            tol=tol,
            allow_int=True,
            what=f"column {column!r}",
            hidden=hidden,
        )
        if not result.passed:
            return dataclasses.replace(result, message=f"{what}: {result.message}")
        worst = max(worst, result.max_abs_err or 0.0)
    return Comparison(True, f"{what} matches by column name (max abs err {worst:.2g})", worst)


def compare_sample(sample, dist, *, what="your sample", sigmas=STATISTICAL_SIGMAS):
    """Check that a random sample fits a distribution's mean, std and bounds.

    The sample mean must lie within `sigmas * std / sqrt(n)` of the mean and
    the sample variance within `sigmas * std^2 * sqrt((kurtosis - 1) / n)` of
    the variance (the standard errors of those estimators). A `Uniform` also
    bounds every value.

    Args:
        sample: the student's sampled values (any shape, at least 2 values).
        dist: a `Normal` or `Uniform`.
        what: how the feedback names the sample.
        sigmas: width of the acceptance band, in standard errors.

    Returns:
        A `Comparison` (errors are those of the standard deviation).
    """
    try:
        values = to_array(sample, what)
    except CaseFailed as exc:
        return Comparison(False, exc.message)
    if values.dtype.kind != "f":
        return Comparison(False, f"{what} has dtype {values.dtype}, expected floats")
    values = values.astype("float64").ravel()
    n = values.size
    if n < 2:
        return Comparison(False, f"{what} has {n} values, expected many")
    if not _np_all(_np_isfinite(values)):
        return Comparison(False, f"{what} has NaN or inf values")
    mean = float(_np_mean(values))
    var = float(_np_var(values))
    std = math.sqrt(var)
    mean_band = sigmas * dist.std / math.sqrt(n)
    var_band = sigmas * dist.std**2 * math.sqrt((dist.kurtosis - 1.0) / n)
    if dist.bounds is not None:
        low, high = dist.bounds
        # float32 rounding may land one ulp outside the interval.
        slack = 1e-6 * (high - low)
        lo, hi = float(_np_min(values)), float(_np_max(values))
        if lo < low - slack or hi > high + slack:
            return Comparison(
                False,
                f"{what} has values in [{lo:.4g}, {hi:.4g}], outside {dist}",
            )
    if abs(mean - dist.mean) > mean_band:
        return Comparison(
            False,
            f"{what} has mean {mean:.4g}, expected {dist.mean:.4g} "
            f"+- {mean_band:.2g} for {dist}",
        )
    if abs(var - dist.std**2) > var_band:
        return Comparison(
            False,
            f"{what} has std {std:.4g}, expected {dist.std:.4g} for {dist}",
            abs(std - dist.std),
            abs(std - dist.std) / dist.std,
        )
    return Comparison(
        True,
        f"{what} fits {dist} (mean {mean:.3g}, std {std:.4g}, n={n})",
        abs(std - dist.std),
        abs(std - dist.std) / dist.std,
    )

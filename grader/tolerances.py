"""Named tolerances, chosen from the dtypes involved in a comparison.

A student output passes an element when
`|student - reference| <= atol * scale + rtol * |reference|`, where `scale` is
the reference's largest magnitude (at least 1), so an absolute tolerance means
the same on logits near 1000 as on probabilities.

The tolerance follows the *least* precise float dtype among the inputs, the
reference output and the student output: a float64 student output for float32
inputs is compared at float32 tolerance, and a float32 output for float64
inputs is also accepted at float32 tolerance (the catalog allows both dtypes).
"""

import dataclasses

import numpy as np

__all__ = [
    "Tolerance",
    "FLOAT16",
    "FLOAT32",
    "FLOAT64",
    "LINALG_FLOAT32",
    "STATISTICAL_SIGMAS",
    "tolerance_for",
]


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """Relative and scale-aware absolute tolerance, with a name for feedback."""

    name: str
    rtol: float
    atol: float

    def __str__(self):
        return f"{self.name} (rtol={self.rtol:g}, atol={self.atol:g})"


# Half precision: 10-bit mantissa, about 1e-3 relative rounding per operation.
FLOAT16 = Tolerance("float16", rtol=1e-2, atol=1e-2)
# Single precision: 2^-24 ~ 6e-8 per rounding; a few hundred roundings in a
# reduction or a different but valid algorithm stay well inside 1e-5.
FLOAT32 = Tolerance("float32", rtol=1e-5, atol=1e-5)
# Double precision: 2^-53 ~ 1e-16 per rounding.
FLOAT64 = Tolerance("float64", rtol=1e-9, atol=1e-12)
# Solving normal equations squares the condition number: float32 solutions of
# a well-conditioned random problem agree to about 1e-4.
LINALG_FLOAT32 = Tolerance("float32 linear algebra", rtol=1e-4, atol=1e-4)

# Statistical checks accept a sample moment within this many standard errors
# of its expected value: a correct sampler fails with probability < 1e-6, and
# the verdict is fixed anyway because every draw is seeded.
STATISTICAL_SIGMAS = 5.0

# Bits of mantissa per float dtype, to order them by precision.
_PRECISION_BITS = {"float16": 10, "bfloat16": 7, "float32": 23, "float64": 52}
_TOLERANCE_BY_DTYPE = {
    "float16": FLOAT16,
    "bfloat16": FLOAT16,
    "float32": FLOAT32,
    "float64": FLOAT64,
}


def _dtype_name(dtype):
    """Return a dtype's name for NumPy, TensorFlow and string dtypes."""
    name = getattr(dtype, "name", None)
    if name is None:
        name = str(dtype)
    return name


def tolerance_for(*dtypes):
    """Return the tolerance of the least precise float dtype in `dtypes`.

    Args:
        *dtypes: NumPy or TensorFlow dtypes or names; non-float ones are
            ignored.

    Returns:
        A `Tolerance`; `FLOAT32` when no float dtype is given.
    """
    names = [_dtype_name(d) for d in dtypes]
    floats = [n for n in names if n in _PRECISION_BITS]
    if not floats:
        return FLOAT32
    least = min(floats, key=_PRECISION_BITS.__getitem__)
    return _TOLERANCE_BY_DTYPE[least]


def dtype_of(value):
    """Return the dtype of a tensor, array or scalar, or None."""
    dtype = getattr(value, "dtype", None)
    if dtype is not None:
        return dtype
    if isinstance(value, float):
        return np.dtype("float64")
    return None

"""Tests of `kerasdl.initializers`: Xavier initialization and stability demos."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasdl

FLOAT32_RTOL = 1e-5
FLOAT64_RTOL = 1e-12
# Anchors are quoted with 3-4 significant digits.
ANCHOR_RTOL = 1e-3
DENSE_SHAPE = (784, 256)
CONV_SHAPE = (5, 5, 6, 16)
DENSE_STD = 0.04385  # sqrt(2 / (784 + 256))
DENSE_LIMIT = 0.07596  # sqrt(6 / (784 + 256))
CONV_STD = 0.0603  # sqrt(2 / (150 + 400))
NUM_SIGMAS = 5
# Fraction of a plain normal beyond 2 standard deviations; a truncated one has 0.
TAIL_FRACTION = math.erfc(2 / math.sqrt(2))


def _std_rtol(n):
    """Relative tolerance of a sample std of n normal draws (std error 1/sqrt(2n))."""
    return NUM_SIGMAS / math.sqrt(2 * n)


def test_anchor_values_are_the_formulas():
    """Are the quoted anchors the formulas' values?"""
    np.testing.assert_allclose(math.sqrt(2 / (784 + 256)), DENSE_STD, rtol=ANCHOR_RTOL)
    np.testing.assert_allclose(math.sqrt(6 / (784 + 256)), DENSE_LIMIT, rtol=ANCHOR_RTOL)
    np.testing.assert_allclose(math.sqrt(2 / (150 + 400)), CONV_STD, rtol=ANCHOR_RTOL)


@pytest.mark.parametrize(
    "shape, fans",
    [((), (1, 1)), ((7,), (7, 7)), (DENSE_SHAPE, (784, 256)), (CONV_SHAPE, (150, 400)), ((3, 4, 5), (12, 15))],
)
def test_compute_fans_keras_style(shape, fans):
    """Are fans receptive field times channels, as in Keras?"""
    assert kerasdl.compute_fans(shape) == fans


def test_xavier_normal_dense_moments_and_plain_tails():
    """Is xavier_normal (784, 256) mean 0, std 0.04385, with untruncated tails?"""
    W = kerasdl.xavier_normal(DENSE_SHAPE, seed=0).numpy().astype(np.float64)
    n = W.size
    assert W.shape == DENSE_SHAPE
    np.testing.assert_allclose(W.std(), DENSE_STD, rtol=_std_rtol(n) + ANCHOR_RTOL)
    assert abs(W.mean()) < NUM_SIGMAS * DENSE_STD / math.sqrt(n)
    tail = (np.abs(W) > 2 * DENSE_STD).mean()
    assert abs(tail - TAIL_FRACTION) < NUM_SIGMAS * math.sqrt(TAIL_FRACTION / n)


def test_xavier_normal_realised_std_matches_keras_glorot_normal():
    """Do xavier_normal and Keras GlorotNormal (truncated) have the same std?"""
    ours = kerasdl.xavier_normal(DENSE_SHAPE, seed=1).numpy().std()
    theirs = keras.initializers.GlorotNormal(seed=1)(DENSE_SHAPE).numpy().std()
    np.testing.assert_allclose(ours, theirs, rtol=2 * _std_rtol(math.prod(DENSE_SHAPE)) + ANCHOR_RTOL)


def test_xavier_normal_conv_std():
    """Is the std for a (5, 5, 6, 16) conv kernel 0.0603?"""
    W = kerasdl.xavier_normal(CONV_SHAPE, seed=0).numpy()
    np.testing.assert_allclose(W.std(), CONV_STD, rtol=_std_rtol(W.size) + ANCHOR_RTOL)


def test_xavier_uniform_limit_and_moments_match_glorot_uniform():
    """Is xavier_uniform within +-0.07596, std 0.04385, like GlorotUniform?"""
    n = math.prod(DENSE_SHAPE)
    for W in (kerasdl.xavier_uniform(DENSE_SHAPE, seed=0).numpy(),
              keras.initializers.GlorotUniform(seed=0)(DENSE_SHAPE).numpy()):
        assert np.abs(W).max() <= DENSE_LIMIT * (1 + ANCHOR_RTOL)
        # The extremes of 200k uniform draws come within 1e-4 of the limit.
        np.testing.assert_allclose([W.min(), W.max()], [-DENSE_LIMIT, DENSE_LIMIT], rtol=ANCHOR_RTOL)
        # A uniform's sample std has relative std error sqrt(0.8 / (4 n)).
        np.testing.assert_allclose(W.std(), DENSE_STD, rtol=NUM_SIGMAS * math.sqrt(0.2 / n) + ANCHOR_RTOL)


def test_seeded_draws_repeat_and_dtype():
    """Does the same int seed give the same values, in the dtype asked for?"""
    first = kerasdl.xavier_uniform((3, 4), seed=7)
    np.testing.assert_array_equal(kerasdl.xavier_uniform((3, 4), seed=7).numpy(), first.numpy())
    assert kerasdl.xavier_normal((3, 4), seed=7, dtype="float64").dtype == tf.float64


def test_xavier_rejects_bad_shape():
    """Is a shape with a zero entry refused?"""
    with pytest.raises(ValueError, match=r"`shape` must be a tuple of positive ints. Received: shape=\(3, 0\)"):
        kerasdl.xavier_normal((3, 0))


def test_xavier_uniform_initializer_in_dense_and_config():
    """Does XavierUniform work as a kernel_initializer and round-trip get_config?"""
    init = kerasdl.XavierUniform(seed=3)
    assert isinstance(init, keras.initializers.Initializer)
    assert init.get_config() == {"seed": 3}
    dense = keras.layers.Dense(256, kernel_initializer=init)
    dense.build((None, 784))
    assert np.abs(dense.kernel.numpy()).max() <= DENSE_LIMIT * (1 + ANCHOR_RTOL)
    clone = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert isinstance(clone, kerasdl.XavierUniform)
    np.testing.assert_array_equal(clone((4, 5)).numpy(), init((4, 5)).numpy())


def test_xavier_uniform_initializer_rejects_bad_seed():
    """Is a float seed refused with the argument named?"""
    with pytest.raises(TypeError, match=r"`seed` must be an int or None. Received: seed=1.5"):
        kerasdl.XavierUniform(seed=1.5)


def test_scaled_sigmoid_value_and_slope_at_zero(rng):
    """Is scaled_sigmoid 4 sigmoid - 2, with value 0 and slope 1 at 0?"""
    x = rng.normal(scale=3.0, size=10)
    np.testing.assert_allclose(kerasdl.scaled_sigmoid(x).numpy(), 4 / (1 + np.exp(-x)) - 2, rtol=FLOAT64_RTOL)
    zero = tf.constant(0.0)
    with tf.GradientTape() as tape:
        tape.watch(zero)
        y = kerasdl.scaled_sigmoid(zero)
    np.testing.assert_allclose([y.numpy(), tape.gradient(y, zero).numpy()], [0.0, 1.0], atol=FLOAT32_RTOL)


def test_sigmoid_gradient_demo_vanishes_at_the_ends():
    """Does the sigmoid gradient peak at 0.25 and vanish near +-8?"""
    x, y, grad = kerasdl.sigmoid_gradient_demo()
    assert x.shape == y.shape == grad.shape
    np.testing.assert_allclose(grad.numpy(), (y * (1 - y)).numpy(), rtol=FLOAT32_RTOL, atol=1e-7)
    np.testing.assert_allclose(grad.numpy().max(), 0.25, rtol=FLOAT32_RTOL)
    assert grad.numpy()[0] < 1e-3 and grad.numpy()[-1] < 1e-3


def test_matrix_product_explodes_and_matches_float64():
    """Is the product of 100 N(0, 1) 4x4 matrices huge, and the same as NumPy's?"""
    M = kerasdl.matrix_product_explosion(100, seed=0).numpy()
    assert M.shape == (4, 4) and np.isfinite(M).all()
    assert np.abs(M).max() > 1e15
    rng = np.random.default_rng(0)
    expected = rng.standard_normal((4, 4)).astype(np.float32).astype(np.float64)
    for _ in range(99):
        expected = expected @ rng.standard_normal((4, 4)).astype(np.float32).astype(np.float64)
    # 100 float32 products: rounding errors add up to about 100 * 6e-8.
    np.testing.assert_allclose(M, expected, rtol=1e-4)


def test_matrix_product_rejects_zero_matrices():
    """Is num_matrices=0 refused?"""
    with pytest.raises(ValueError, match=r"`num_matrices` must be a positive int. Received: num_matrices=0"):
        kerasdl.matrix_product_explosion(0)

"""Tests of the Inception block (kerasdl/layers/inception.py)."""

import keras
import numpy as np
import pytest

from kerasdl.layers import Inception

# Same float32 computation before and after a save/load.
FLOAT32_RTOL = 1e-6


def conv_params(k, c_in, c_out):
    """Weights plus biases of a k x k conv."""
    return k * k * c_in * c_out + c_out


def test_output_channels_anchor():
    """Does Inception(64, (96, 128), (16, 32), 32) map 12x12x192 to 12x12x256?"""
    X = np.random.default_rng(0).uniform(size=(2, 12, 12, 192)).astype(np.float32)
    Y = Inception(64, (96, 128), (16, 32), 32)(X)
    assert Y.shape == (2, 12, 12, 256)
    assert float(np.min(Y)) >= 0.0  # every path ends in ReLU


def test_path4_uses_c4_and_param_count():
    """Does path 4 use c4 channels (not c1), giving the expected number of parameters?"""
    layer = Inception(10, (4, 6), (2, 3), 7)
    layer.build((None, 8, 8, 5))
    assert layer.p4_2.kernel.shape == (1, 1, 5, 7)
    expected = (
        conv_params(1, 5, 10)
        + conv_params(1, 5, 4) + conv_params(3, 4, 6)
        + conv_params(1, 5, 2) + conv_params(5, 2, 3)
        + conv_params(1, 5, 7)
    )
    assert layer.count_params() == expected
    assert layer.compute_output_shape((None, 8, 8, 5)) == (None, 8, 8, 10 + 6 + 3 + 7)


def test_paths_are_concatenated_in_order():
    """Are the four paths concatenated as [p1, p2, p3, p4] on the channel axis?"""
    layer = Inception(2, (3, 4), (1, 5), 6)
    X = np.random.default_rng(1).uniform(size=(1, 5, 5, 3)).astype(np.float32)
    Y = np.asarray(layer(X))
    np.testing.assert_allclose(Y[..., :2], layer.p1_1(X), rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(Y[..., 2:6], layer.p2_2(layer.p2_1(X)), rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(Y[..., 6:11], layer.p3_2(layer.p3_1(X)), rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(Y[..., 11:], layer.p4_2(layer.p4_1(X)), rtol=FLOAT32_RTOL)


@pytest.mark.parametrize(
    "args,message",
    [
        ((0, (1, 1), (1, 1), 1), "`c1` must be an int >= 1. Received: c1=0"),
        ((1, 3, (1, 1), 1), "`c2` must be a pair of ints >= 1. Received: c2=3"),
        ((1, (1, 1), (1, 1, 1), 1), "`c3` must be a pair of ints >= 1. Received: c3=(1, 1, 1)"),
        ((1, (1, 1), (1, 1), 2.5), "`c4` must be an int >= 1. Received: c4=2.5"),
    ],
)
def test_validates_channels(args, message):
    """Does Inception reject bad channel arguments with a ValueError naming them?"""
    with pytest.raises(ValueError) as info:
        Inception(*args)
    assert message in str(info.value)


def test_round_trips(tmp_path):
    """Does Inception survive get_config/from_config and a .keras save/load with equal outputs?"""
    layer = Inception(4, (2, 3), (1, 2), 5, name="inc")
    clone = Inception.from_config(layer.get_config())
    assert (clone.c1, clone.c2, clone.c3, clone.c4, clone.name) == (4, (2, 3), (1, 2), 5, "inc")

    net = keras.Sequential([keras.Input(shape=(6, 6, 3)), Inception(4, (2, 3), (1, 2), 5)])
    X = np.random.default_rng(2).uniform(size=(2, 6, 6, 3)).astype(np.float32)
    path = tmp_path / "inception.keras"
    net.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[0], Inception)
    np.testing.assert_allclose(loaded(X), net(X), rtol=FLOAT32_RTOL)

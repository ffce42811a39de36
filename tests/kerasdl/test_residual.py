"""Tests of the residual block (kerasdl/layers/residual.py)."""

import keras
import numpy as np
import pytest

from kerasdl.layers import Residual

# Same float32 computation, done twice.
FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-6


def test_shapes_anchor():
    """Does Residual(3) keep (4, 6, 6, 3) and Residual(6, use_1x1conv=True, strides=2) give (4, 3, 3, 6)?"""
    X = np.random.default_rng(0).uniform(size=(4, 6, 6, 3)).astype(np.float32)
    assert Residual(3)(X).shape == (4, 6, 6, 3)
    assert Residual(6, use_1x1conv=True, strides=2)(X).shape == (4, 3, 3, 6)
    assert Residual(6, use_1x1conv=True, strides=2).compute_output_shape((4, 6, 6, 3)) == (4, 3, 3, 6)


def test_skip_connection_added_once():
    """With both convs zeroed, is the output relu(X) (skip added once, not twice)?"""
    layer = Residual(3)
    X = np.random.default_rng(1).uniform(0.1, 1.0, size=(2, 5, 5, 3)).astype(np.float32)
    layer(X)
    for conv in (layer.conv1, layer.conv2):
        conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])
    # Zero conv output -> BN (beta 0) outputs 0 in training and inference.
    np.testing.assert_allclose(layer(X, training=False), X, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    np.testing.assert_allclose(layer(X, training=True), X, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


@pytest.mark.parametrize("training", [False, True])
def test_equals_manual_composition(training):
    """Is the output relu(bn2(conv2(relu(bn1(conv1 X)))) + conv3 X) with training passed to BN?"""
    X = np.random.default_rng(2).normal(size=(3, 6, 6, 2)).astype(np.float32)
    layer = Residual(4, use_1x1conv=True, strides=2)
    layer.build(X.shape)
    # Reference computed first, on fresh BN statistics, by a clone with the same weights.
    clone = Residual.from_config(layer.get_config())
    clone.build(X.shape)
    clone.set_weights(layer.get_weights())
    Y = layer(X, training=training)
    Z = keras.activations.relu(clone.bn1(clone.conv1(X), training=training))
    Z = clone.bn2(clone.conv2(Z), training=training)
    expected = keras.activations.relu(Z + clone.conv3(X))
    np.testing.assert_allclose(Y, expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def test_batch_norm_statistics_update_only_in_training():
    """Do the block's moving statistics change only with training=True?"""
    layer = Residual(3)
    X = np.random.default_rng(3).normal(size=(2, 4, 4, 3)).astype(np.float32)
    layer(X)
    before = [w.numpy().copy() for w in layer.non_trainable_weights]
    layer(X, training=False)
    for b, w in zip(before, layer.non_trainable_weights):
        np.testing.assert_allclose(w, b, rtol=0, atol=0)
    layer(X, training=True)
    assert any(not np.allclose(w, b) for b, w in zip(before, layer.non_trainable_weights))


def test_param_counts():
    """Does Residual(6, use_1x1conv=True) on 3 channels count two 3x3 convs, a 1x1 conv and two BNs?"""
    layer = Residual(6, use_1x1conv=True, strides=2)
    layer.build((None, 8, 8, 3))
    trainable = (9 * 3 * 6 + 6) + (9 * 6 * 6 + 6) + (3 * 6 + 6) + 2 * (2 * 6)
    assert sum(int(np.prod(w.shape)) for w in layer.trainable_weights) == trainable
    assert sum(int(np.prod(w.shape)) for w in layer.non_trainable_weights) == 2 * 2 * 6


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(num_channels=0), "`num_channels` must be an int >= 1. Received: num_channels=0"),
        (dict(num_channels=3, strides=0), "`strides` must be an int >= 1. Received: strides=0"),
        (dict(num_channels=3, bn_momentum=1.5), "`bn_momentum` must be in [0, 1]. Received: bn_momentum=1.5"),
    ],
)
def test_validates_arguments(kwargs, message):
    """Does Residual reject bad arguments with a ValueError naming them?"""
    with pytest.raises(ValueError) as info:
        Residual(**kwargs)
    assert message in str(info.value)


def test_identity_shortcut_needs_matching_shape():
    """Does an identity shortcut on a channel change fail at build time with a clear message?"""
    with pytest.raises(ValueError, match="pass `use_1x1conv=True`"):
        Residual(6)(np.zeros((1, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="strides=2"):
        Residual(3, strides=2)(np.zeros((1, 4, 4, 3), np.float32))


def test_round_trips(tmp_path):
    """Does Residual survive get_config/from_config and a .keras save/load with equal outputs?"""
    layer = Residual(6, use_1x1conv=True, strides=2, bn_momentum=0.9, name="res")
    clone = Residual.from_config(layer.get_config())
    assert (clone.num_channels, clone.use_1x1conv, clone.strides, clone.name) == (6, True, 2, "res")
    assert clone.bn_momentum == 0.9 and clone.bn1.momentum == 0.9 and clone.bn2.momentum == 0.9

    net = keras.Sequential([keras.Input(shape=(6, 6, 3)), Residual(6, use_1x1conv=True, strides=2)])
    X = np.random.default_rng(4).normal(size=(2, 6, 6, 3)).astype(np.float32)
    net(X, training=True)  # move the BN statistics away from (0, 1)
    path = tmp_path / "residual.keras"
    net.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[0], Residual)
    np.testing.assert_allclose(loaded(X), net(X), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)

"""Tests of batch normalization from scratch (kerasdl/layers/batch_norm.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasdl.layers import BatchNorm, batch_norm

# float32 normalisation of O(1) values, compared with Keras' float32 kernel.
FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-5
# float64 against the float64 NumPy oracle.
FLOAT64_RTOL = 1e-12
# FACTS anchors are given to 5-7 significant digits.
ANCHOR_RTOL = 1e-5

NOTES_EPS, NOTES_MOMENTUM = 1e-5, 0.9
X_ANCHOR = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]], dtype=np.float32)


def numpy_batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, training):
    """float64 NumPy oracle of the contract."""
    X = np.asarray(X, np.float64)
    if training:
        axes = tuple(range(X.ndim - 1))
        mean, var = X.mean(axis=axes), X.var(axis=axes)
        moving_mean = momentum * moving_mean + (1 - momentum) * mean
        moving_var = momentum * moving_var + (1 - momentum) * var
    else:
        mean, var = moving_mean, moving_var
    return gamma * (X - mean) / np.sqrt(var + eps) + beta, moving_mean, moving_var


def anchor_args(num_features=2):
    return (np.ones(num_features), np.zeros(num_features), np.zeros(num_features), np.ones(num_features))


def test_batch_norm_anchor():
    """Does one training step on the FACTS input give -1.2247427 and moving stats [0.3, 0.6] / [1.16667, 1.96667]?"""
    Y, moving_mean, moving_var = batch_norm(X_ANCHOR, *anchor_args(), NOTES_EPS, NOTES_MOMENTUM, training=True)
    np.testing.assert_allclose(Y[0], [-1.2247427, -1.2247427], rtol=ANCHOR_RTOL)
    np.testing.assert_allclose(moving_mean, [0.3, 0.6], rtol=ANCHOR_RTOL)
    np.testing.assert_allclose(moving_var, [1.16667, 1.96667], rtol=ANCHOR_RTOL)


def test_batch_norm_keras_epsilon_anchor():
    """Does Keras' default epsilon 1e-3 give -1.2245153 instead?"""
    Y, _, _ = batch_norm(X_ANCHOR, *anchor_args(), 1e-3, NOTES_MOMENTUM, training=True)
    np.testing.assert_allclose(Y[0, 0], -1.2245153, rtol=ANCHOR_RTOL)


def test_batch_norm_inference_uses_and_keeps_moving_stats():
    """In inference, are the moving statistics used and returned unchanged?"""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 3))
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    moving_mean, moving_var = rng.normal(size=3), rng.uniform(0.5, 2.0, size=3)
    Y, new_mean, new_var = batch_norm(X, gamma, beta, moving_mean, moving_var, NOTES_EPS, NOTES_MOMENTUM, False)
    expected = gamma * (X - moving_mean) / np.sqrt(moving_var + NOTES_EPS) + beta
    np.testing.assert_allclose(Y, expected, rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(new_mean, moving_mean, rtol=FLOAT64_RTOL)
    np.testing.assert_allclose(new_var, moving_var, rtol=FLOAT64_RTOL)


@pytest.mark.parametrize("shape", [(6, 4), (3, 5, 4, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_equals_numpy_oracle(shape, training):
    """Does batch_norm equal the float64 NumPy oracle for (N, D) and NHWC, in training and inference?"""
    rng = np.random.default_rng(1)
    X = rng.normal(2.0, 3.0, size=shape)
    c = shape[-1]
    args = (rng.normal(size=c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 2, size=c))
    got = batch_norm(X, *args, NOTES_EPS, NOTES_MOMENTUM, training)
    expected = numpy_batch_norm(X, *args, NOTES_EPS, NOTES_MOMENTUM, training)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=FLOAT64_RTOL, atol=FLOAT64_RTOL)


def test_batch_norm_rejects_other_ranks():
    """Does batch_norm refuse a 3-D input with a ValueError naming X?"""
    with pytest.raises(ValueError, match=r"`X` must be 2-D \(N, D\) or 4-D \(N, H, W, C\). Received: X.shape=\(2, 3, 4\)"):
        batch_norm(np.zeros((2, 3, 4)), *anchor_args(4), NOTES_EPS, NOTES_MOMENTUM, True)


def test_layer_weights():
    """Are gamma/beta trainable (1, 0) and the moving statistics non-trainable (0, 1), made in build?"""
    layer = BatchNorm()
    assert not layer.weights
    layer.build((None, 3))
    assert [w.name for w in layer.trainable_weights] == ["gamma", "beta"]
    assert [w.name for w in layer.non_trainable_weights] == ["moving_mean", "moving_variance"]
    np.testing.assert_allclose(layer.gamma, np.ones(3))
    np.testing.assert_allclose(layer.beta, np.zeros(3))
    np.testing.assert_allclose(layer.moving_mean, np.zeros(3))
    np.testing.assert_allclose(layer.moving_variance, np.ones(3))
    assert layer.momentum == NOTES_MOMENTUM and layer.epsilon == NOTES_EPS


def test_moving_stats_change_only_in_training():
    """Does the moving variance change only in training (not for training=False or None)?"""
    layer = BatchNorm()
    layer(X_ANCHOR)
    layer(X_ANCHOR, training=False)
    np.testing.assert_allclose(layer.moving_variance, np.ones(2))
    layer(X_ANCHOR, training=True)
    np.testing.assert_allclose(layer.moving_mean, [0.3, 0.6], rtol=ANCHOR_RTOL)
    np.testing.assert_allclose(layer.moving_variance, [1.16667, 1.96667], rtol=ANCHOR_RTOL)


@pytest.mark.parametrize("shape", [(8, 5), (4, 6, 6, 3)])
def test_layer_equals_keras_batch_normalization(shape):
    """Does BatchNorm equal BatchNormalization(momentum=0.9, epsilon=1e-5) over several steps, then in inference?"""
    rng = np.random.default_rng(2)
    ours = BatchNorm()
    keras_bn = keras.layers.BatchNormalization(momentum=NOTES_MOMENTUM, epsilon=NOTES_EPS)
    ours.build(shape)
    keras_bn.build(shape)
    c = shape[-1]
    params = [rng.normal(size=c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 2, size=c)]
    ours.set_weights(params)
    keras_bn.set_weights(params)  # gamma, beta, moving_mean, moving_variance
    for _ in range(4):
        X = rng.normal(1.0, 2.0, size=shape).astype(np.float32)
        np.testing.assert_allclose(
            ours(X, training=True), keras_bn(X, training=True), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
        )
    for a, b in zip(ours.get_weights(), keras_bn.get_weights()):
        np.testing.assert_allclose(a, b, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    X = rng.normal(size=shape).astype(np.float32)
    np.testing.assert_allclose(ours(X), keras_bn(X), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def test_moving_stats_update_inside_tf_function():
    """Are the moving statistics updated when the layer runs inside a compiled training step?"""
    layer = BatchNorm()
    layer.build(X_ANCHOR.shape)

    @tf.function
    def step(X):
        return layer(X, training=True)

    step(tf.constant(X_ANCHOR))
    step(tf.constant(X_ANCHOR))
    _, mean1, var1 = batch_norm(X_ANCHOR, *anchor_args(), NOTES_EPS, NOTES_MOMENTUM, True)
    _, mean2, var2 = batch_norm(X_ANCHOR, np.ones(2), np.zeros(2), mean1, var1, NOTES_EPS, NOTES_MOMENTUM, True)
    np.testing.assert_allclose(layer.moving_mean, mean2, rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(layer.moving_variance, var2, rtol=FLOAT32_RTOL)


def test_gradients_reach_gamma_and_beta():
    """Do gamma and beta get gradients, and the moving statistics none?"""
    layer = BatchNorm()
    X = tf.constant(np.random.default_rng(3).normal(size=(6, 2)), tf.float32)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(X, training=True) * tf.constant([1.0, 2.0]))
    grads = tape.gradient(loss, layer.trainable_weights)
    # dL/dbeta = sum of the upstream gradient = N * [1, 2].
    np.testing.assert_allclose(grads[1], [6.0, 12.0], rtol=FLOAT32_RTOL)
    assert grads[0] is not None
    assert len(layer.trainable_weights) == 2


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(momentum=1.5), "`momentum` must be in [0, 1]. Received: momentum=1.5"),
        (dict(epsilon=0.0), "`epsilon` must be > 0. Received: epsilon=0.0"),
    ],
)
def test_layer_validates_arguments(kwargs, message):
    """Does BatchNorm reject a momentum outside [0, 1] and a non-positive epsilon?"""
    with pytest.raises(ValueError) as info:
        BatchNorm(**kwargs)
    assert message in str(info.value)


def test_layer_rejects_3d_input():
    """Does BatchNorm refuse a 3-D input at build time?"""
    with pytest.raises(ValueError, match=r"Received: input_shape=\(2, 3, 4\)"):
        BatchNorm()(np.zeros((2, 3, 4), np.float32))


def test_layer_round_trips(tmp_path):
    """Does BatchNorm survive get_config/from_config and a .keras save/load with its statistics?"""
    layer = BatchNorm(momentum=0.8, epsilon=1e-4, name="bn")
    clone = BatchNorm.from_config(layer.get_config())
    assert (clone.momentum, clone.epsilon, clone.name) == (0.8, 1e-4, "bn")

    net = keras.Sequential([keras.Input(shape=(2,)), BatchNorm()])
    net(X_ANCHOR, training=True)
    path = tmp_path / "batch_norm.keras"
    net.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[0], BatchNorm)
    np.testing.assert_allclose(loaded.layers[0].moving_mean, [0.3, 0.6], rtol=ANCHOR_RTOL)
    np.testing.assert_allclose(loaded(X_ANCHOR), net(X_ANCHOR), rtol=FLOAT32_RTOL)

"""Tests of the scratch convolution and pooling helpers (kerasdl/conv.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerasdl.conv import (
    Conv2DScratch,
    conv_output_shape,
    corr2d,
    corr2d_multi_in,
    corr2d_multi_in_out,
    corr2d_multi_in_out_1x1,
    edge_detection_data,
    learn_edge_kernel,
    pool2d,
)

# float32 sums of a few dozen products of N(0, 1) values.
FLOAT32_RTOL = 1e-5
FLOAT32_ATOL = 1e-5
# float64 against a float64 NumPy oracle.
FLOAT64_RTOL = 1e-12
FLOAT64_ATOL = 1e-12
# Ten gradient steps land within this of the true kernel [1, -1].
LEARNED_KERNEL_ATOL = 0.05

A = np.arange(9, dtype=np.float32).reshape(3, 3)


def naive_corr2d(X, K):
    """float64 NumPy oracle: the notes' double loop."""
    X, K = np.asarray(X, np.float64), np.asarray(K, np.float64)
    k_h, k_w = K.shape
    Y = np.zeros((X.shape[0] - k_h + 1, X.shape[1] - k_w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = np.sum(X[i : i + k_h, j : j + k_w] * K)
    return Y


def naive_corr2d_multi_in_out(X, K):
    """float64 NumPy oracle for `(c_i, h, w)` inputs and `(c_o, c_i, kh, kw)` kernels."""
    return np.stack([sum(naive_corr2d(x, k) for x, k in zip(X, K_o)) for K_o in K])


def keras_conv(X_chw, K_oihw, strides, padding):
    """Keras `Conv2D(padding="valid")` on the explicitly padded channel-first input.

    `padding` is `((top, bottom), (left, right))`. Returns `(c_o, oh, ow)` float64.
    """
    X_padded = np.pad(X_chw, ((0, 0),) + padding)
    c_o, c_i, k_h, k_w = K_oihw.shape
    layer = keras.layers.Conv2D(c_o, (k_h, k_w), strides=strides, padding="valid", use_bias=False)
    layer.build((1,) + X_padded.shape[1:] + (c_i,))
    layer.set_weights([np.transpose(K_oihw, (2, 3, 1, 0))])  # OIHW -> HWIO
    Y = layer(np.transpose(X_padded, (1, 2, 0))[None])  # CHW -> NHWC
    return np.transpose(np.asarray(Y[0], np.float64), (2, 0, 1))  # HWC -> CHW


def test_corr2d_anchor():
    """Does corr2d reproduce the notes' 3x3 example [[19, 25], [37, 43]]?"""
    Y = corr2d(A, [[0.0, 1.0], [2.0, 3.0]])
    assert isinstance(Y, tf.Tensor)
    np.testing.assert_allclose(Y, [[19, 25], [37, 43]], rtol=FLOAT32_RTOL)


def test_edge_detection_anchor():
    """Does the [1, -1] kernel find both edges of the dark band in every row?"""
    X, Y = edge_detection_data()
    assert X.shape == (6, 8)
    expected_row = [0, 1, 0, 0, 0, -1, 0]
    np.testing.assert_allclose(Y, np.tile(expected_row, (6, 1)), atol=FLOAT32_ATOL)
    # The transposed image has horizontal edges only: a horizontal kernel sees none.
    np.testing.assert_allclose(corr2d(tf.transpose(X), [[1.0, -1.0]]), np.zeros((8, 5)))


def test_corr2d_multi_in_anchor():
    """Does corr2d_multi_in sum the two channels of the notes' example to [[56, 72], [104, 120]]?"""
    X = np.stack([A, A + 1])
    K = np.array([[[0, 1], [2, 3]], [[1, 2], [3, 4]]], dtype=np.float32)
    np.testing.assert_allclose(corr2d_multi_in(X, K), [[56, 72], [104, 120]], rtol=FLOAT32_RTOL)


def test_corr2d_multi_in_out_stacks_output_channels():
    """Does corr2d_multi_in_out give K, K+1, K+2 as three output channels (notes' example)?"""
    X = np.stack([A, A + 1])
    K = np.array([[[0, 1], [2, 3]], [[1, 2], [3, 4]]], dtype=np.float32)
    K3 = np.stack([K, K + 1, K + 2])
    Y = corr2d_multi_in_out(X, K3)
    assert Y.shape == (3, 2, 2)
    np.testing.assert_allclose(Y[0], [[56, 72], [104, 120]], rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(Y, naive_corr2d_multi_in_out(X, K3), rtol=FLOAT32_RTOL)


@pytest.mark.parametrize("c_i,c_o,size", [(3, 2, (3, 3)), (1, 4, (5, 7)), (6, 1, (2, 9))])
def test_1x1_equals_general_convolution(c_i, c_o, size):
    """Is the 1x1 matrix-product version equal to the general multi-channel convolution?"""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(c_i,) + size).astype(np.float32)
    K = rng.normal(size=(c_o, c_i, 1, 1)).astype(np.float32)
    Y = corr2d_multi_in_out_1x1(X, K)
    assert Y.shape == (c_o,) + size
    np.testing.assert_allclose(Y, corr2d_multi_in_out(X, K), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


@pytest.mark.parametrize(
    "c_i,c_o,size,kernel,strides,padding",
    [
        (1, 1, (6, 8), (3, 3), (1, 1), ((0, 0), (0, 0))),
        (3, 2, (7, 7), (3, 3), (2, 2), ((1, 1), (1, 1))),
        (2, 4, (8, 9), (3, 5), (3, 4), ((0, 0), (0, 0))),
        (4, 3, (8, 8), (5, 2), (1, 2), ((2, 2), (0, 1))),
        (2, 2, (10, 6), (1, 3), (2, 1), ((0, 1), (1, 1))),
    ],
)
def test_scratch_conv_equals_keras_conv2d(c_i, c_o, size, kernel, strides, padding):
    """Does the scratch convolution, subsampled by the stride, equal Keras Conv2D on the padded input?"""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(c_i,) + size)
    K = rng.normal(size=(c_o, c_i) + kernel)
    X_padded = np.pad(X, ((0, 0),) + padding)
    s_h, s_w = strides

    Y = corr2d_multi_in_out(X_padded.astype(np.float32), K.astype(np.float32))[:, ::s_h, ::s_w]
    expected = keras_conv(X.astype(np.float32), K.astype(np.float32), strides, padding)

    total_padding = tuple(sum(p) for p in padding)
    assert Y.shape[1:] == conv_output_shape(size, kernel, total_padding, strides)
    np.testing.assert_allclose(Y, expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    oracle = naive_corr2d_multi_in_out(X_padded, K)[:, ::s_h, ::s_w]
    np.testing.assert_allclose(Y, oracle, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def test_keras_same_padding_stride2_trap():
    """Does Keras' "same" with stride 2 equal padding only at the bottom/right, unlike symmetric padding?"""
    X = np.arange(64, dtype=np.float32).reshape(1, 8, 8)
    K = np.ones((1, 1, 3, 3), dtype=np.float32)
    layer = keras.layers.Conv2D(1, 3, strides=2, padding="same", use_bias=False, kernel_initializer="ones")
    keras_same = np.asarray(layer(X.reshape(1, 8, 8, 1)))[0, :, :, 0]

    bottom_right = corr2d_multi_in_out(np.pad(X, ((0, 0), (0, 1), (0, 1))), K)[0, ::2, ::2]
    symmetric = corr2d_multi_in_out(np.pad(X, ((0, 0), (1, 1), (1, 1))), K)[0, ::2, ::2]

    np.testing.assert_allclose(bottom_right, keras_same, rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(bottom_right[0], [81, 99, 117, 87], rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(symmetric[0], [18, 36, 48, 60], rtol=FLOAT32_RTOL)
    assert bottom_right.shape == conv_output_shape(8, 3, padding=1, stride=2) == (4, 4)


def test_float64_input_gives_float64_output():
    """Do float64 inputs stay float64 and match the NumPy oracle to float64 precision?"""
    rng = np.random.default_rng(2)
    X, K = rng.normal(size=(7, 6)), rng.normal(size=(3, 2))
    Y = corr2d(X, K)
    assert Y.dtype == tf.float64
    np.testing.assert_allclose(Y, naive_corr2d(X, K), rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL)
    X3, K4 = rng.normal(size=(2, 5, 5)), rng.normal(size=(3, 2, 2, 2))
    Y3 = corr2d_multi_in_out(X3, K4)
    assert Y3.dtype == tf.float64
    np.testing.assert_allclose(
        Y3, naive_corr2d_multi_in_out(X3, K4), rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL
    )
    assert corr2d_multi_in_out_1x1(X3, rng.normal(size=(4, 2, 1, 1))).dtype == tf.float64


def test_integer_and_tensor_inputs():
    """Do integer NumPy and tf.Tensor inputs give float32 tensors?"""
    Y = corr2d(np.arange(9).reshape(3, 3), tf.constant([[0, 1], [2, 3]]))
    assert isinstance(Y, tf.Tensor) and Y.dtype == tf.float32
    np.testing.assert_allclose(Y, [[19, 25], [37, 43]], rtol=FLOAT32_RTOL)


def test_pool2d_anchor():
    """Does pool2d give the notes' max [[4, 5], [7, 8]] and average [[2, 3], [5, 6]]?"""
    np.testing.assert_allclose(pool2d(A, (2, 2)), [[4, 5], [7, 8]], rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(pool2d(A, (2, 2), "avg"), [[2, 3], [5, 6]], rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(pool2d(A, 2, mode="max"), [[4, 5], [7, 8]], rtol=FLOAT32_RTOL)


@pytest.mark.parametrize("size,pool_size", [((5, 7), (2, 3)), ((6, 6), (3, 3)), ((4, 9), (1, 4))])
def test_pool2d_equals_keras_pooling(size, pool_size):
    """Does pool2d equal Keras MaxPooling2D / AveragePooling2D with stride 1 and "valid"?"""
    X = np.random.default_rng(3).normal(size=size).astype(np.float32)
    X_nhwc = X[None, :, :, None]  # (h, w) -> (1, h, w, 1)
    for mode, layer in (
        ("max", keras.layers.MaxPooling2D(pool_size, strides=1, padding="valid")),
        ("avg", keras.layers.AveragePooling2D(pool_size, strides=1, padding="valid")),
    ):
        expected = np.asarray(layer(X_nhwc))[0, :, :, 0]
        np.testing.assert_allclose(pool2d(X, pool_size, mode), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def test_pool2d_float64():
    """Does average pooling of float64 input stay float64 and match NumPy means?"""
    X = np.random.default_rng(4).normal(size=(4, 5))
    Y = pool2d(X, (2, 2), "avg")
    assert Y.dtype == tf.float64
    expected = (X[:-1, :-1] + X[1:, :-1] + X[:-1, 1:] + X[1:, 1:]) / 4
    np.testing.assert_allclose(Y, expected, rtol=FLOAT64_RTOL, atol=FLOAT64_ATOL)


def test_conv_output_shape_anchors():
    """Does conv_output_shape give AlexNet's 54 and the FACTS examples (padding as a total)?"""
    assert conv_output_shape(224, 11, padding=0, stride=4) == (54, 54)
    assert conv_output_shape((8, 8), (3, 3), padding=(1, 1), stride=(2, 2)) == (4, 4)
    assert conv_output_shape((8, 8), (3, 3), padding=(2, 2), stride=(2, 2)) == (4, 4)
    assert conv_output_shape((8, 8), (3, 5), padding=(0, 0), stride=(3, 4)) == (2, 1)
    assert all(isinstance(v, int) for v in conv_output_shape(np.int64(28), 5))


@pytest.mark.parametrize(
    "size,kernel,strides,padding",
    [(28, 5, 1, "same"), (28, 5, 1, "valid"), (224, 11, 4, "valid"), (9, 3, 2, "same"), (13, (3, 5), (2, 3), "same")],
)
def test_conv_output_shape_matches_keras(size, kernel, strides, padding):
    """Does conv_output_shape agree with Keras Conv2D for "valid" (p=0) and "same" (p computed)?"""
    layer = keras.layers.Conv2D(1, kernel, strides=strides, padding=padding)
    expected = layer.compute_output_shape((1, size, size, 1))[1:3]
    k = np.broadcast_to(kernel, 2)
    s = np.broadcast_to(strides, 2)
    if padding == "same":
        # TensorFlow's total "same" padding per axis.
        p = tuple(int(max((-(-size // s[a]) - 1) * s[a] + k[a] - size, 0)) for a in range(2))
    else:
        p = (0, 0)
    assert conv_output_shape(size, tuple(int(v) for v in k), p, tuple(int(v) for v in s)) == tuple(expected)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(input_size=8.0, kernel_size=3), "`input_size` must be an int or a pair of ints. Received: input_size=8.0"),
        (dict(input_size=8, kernel_size=(3, 3, 3)), "Received: kernel_size=(3, 3, 3)"),
        (dict(input_size=8, kernel_size=0), "`kernel_size` must be >= 1 on both axes. Received: kernel_size=0"),
        (dict(input_size=8, kernel_size=3, padding=-1), "`padding` must be >= 0 on both axes. Received: padding=-1"),
        (dict(input_size=8, kernel_size=3, stride=(1, 0)), "`stride` must be >= 1 on both axes. Received: stride=(1, 0)"),
        (dict(input_size=8, kernel_size=3, stride=True), "Received: stride=True"),
        (dict(input_size=4, kernel_size=7, padding=2), "Received: kernel_size=7"),
    ],
)
def test_conv_output_shape_validates(kwargs, message):
    """Does conv_output_shape reject bad arguments with a ValueError naming them?"""
    with pytest.raises(ValueError) as info:
        conv_output_shape(**kwargs)
    assert message in str(info.value)


def test_helpers_validate_shapes():
    """Do the helpers reject wrong ranks, channel mismatches, big kernels and unknown modes?"""
    with pytest.raises(ValueError, match=r"`X` must be a 2-D tensor. Received: X.shape=\(1, 3, 3\)"):
        corr2d(np.zeros((1, 3, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="kernel must not be larger"):
        corr2d(np.zeros((2, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"channels of `X` .* must match. Received: X.shape=\(2, 3, 3\)"):
        corr2d_multi_in(np.zeros((2, 3, 3)), np.zeros((3, 2, 2)))
    with pytest.raises(ValueError, match=r"`K` must have a 1x1 spatial shape. Received: K.shape=\(1, 2, 2, 2\)"):
        corr2d_multi_in_out_1x1(np.zeros((2, 3, 3)), np.zeros((1, 2, 2, 2)))
    with pytest.raises(ValueError, match="`mode` must be 'max' or 'avg'. Received: mode='mean'"):
        pool2d(A, (2, 2), mode="mean")


def test_corr2d_is_differentiable():
    """Is the gradient of sum(corr2d(X, K)) w.r.t. K the sum of the matching windows of X?"""
    K = tf.Variable(tf.zeros((2, 2)))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(corr2d(A, K))
    expected = [[A[:2, :2].sum(), A[:2, 1:].sum()], [A[1:, :2].sum(), A[1:, 1:].sum()]]
    np.testing.assert_allclose(tape.gradient(loss, K), expected, rtol=FLOAT32_RTOL)


def test_learn_edge_kernel():
    """Do ten gradient steps learn a kernel close to [1, -1] with a falling loss?"""
    kernel, losses = learn_edge_kernel(num_epochs=10, lr=3e-2, seed=0)
    assert isinstance(kernel, tf.Tensor) and kernel.shape == (1, 2)
    np.testing.assert_allclose(kernel, [[1.0, -1.0]], atol=LEARNED_KERNEL_ATOL)
    assert len(losses) == 10 and losses[-1] < losses[0]


def test_learn_edge_kernel_with_bias():
    """Does the layer with a bias also learn [1, -1] at a smaller learning rate?"""
    kernel, _ = learn_edge_kernel(num_epochs=20, lr=1.5e-2, seed=0, use_bias=True)
    np.testing.assert_allclose(kernel, [[1.0, -1.0]], atol=LEARNED_KERNEL_ATOL)


def test_learn_edge_kernel_validates():
    """Does learn_edge_kernel reject a non-positive learning rate and zero epochs?"""
    with pytest.raises(ValueError, match="`lr` must be > 0. Received: lr=0"):
        learn_edge_kernel(lr=0)
    with pytest.raises(ValueError, match="`num_epochs` must be an int >= 1. Received: num_epochs=0"):
        learn_edge_kernel(num_epochs=0)


def test_conv2d_scratch_layer_computes_corr2d_plus_bias():
    """Does Conv2DScratch compute corr2d(X, weight) + bias with weights made in build?"""
    layer = Conv2DScratch((2, 2), bias_initializer="ones")
    assert not layer.built
    Y = layer(A)
    assert [v.shape for v in layer.trainable_variables] == [(2, 2), (1,)]
    np.testing.assert_allclose(Y, naive_corr2d(A, layer.weight.numpy()) + 1.0, rtol=FLOAT32_RTOL)
    with pytest.raises(ValueError, match=r"expects a 2-D input \(n_h, n_w\). Received: input_shape=\(1, 3, 3\)"):
        Conv2DScratch(2)(np.zeros((1, 3, 3), np.float32))


def test_conv2d_scratch_round_trips(tmp_path):
    """Does Conv2DScratch survive get_config/from_config and a .keras save/load?"""
    layer = Conv2DScratch((1, 2), use_bias=False, name="edge")
    clone = Conv2DScratch.from_config(layer.get_config())
    assert clone.kernel_size == (1, 2) and clone.use_bias is False and clone.name == "edge"

    X, _ = edge_detection_data()
    net = keras.Sequential([keras.Input(shape=(8,), batch_size=6), Conv2DScratch((1, 2))])
    path = tmp_path / "conv2d_scratch.keras"
    net.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[0], Conv2DScratch)
    np.testing.assert_allclose(loaded(X), net(X), rtol=FLOAT32_RTOL)

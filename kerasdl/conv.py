"""Convolution and pooling from scratch, in the notes' channel-first layout.

The scratch helpers take single images without a batch axis: a 2-D input
`(n_h, n_w)`, a multi-channel input `(c_i, n_h, n_w)` and kernels
`(k_h, k_w)`, `(c_i, k_h, k_w)` or `(c_o, c_i, k_h, k_w)`. They compute a
*cross-correlation* (what deep-learning libraries call convolution) with no
padding and stride 1, accept `tf.Tensor` or NumPy input in any numeric dtype
(integers become float32; float64 stays float64) and return a `tf.Tensor`.

The work is delegated to vectorised TensorFlow kernels (`tf.nn.conv2d`,
`tf.nn.max_pool2d`, `tf.nn.avg_pool2d`, one `tf.matmul` for 1x1 kernels) after
an explicit transpose to NHWC, so the helpers are differentiable and fast.

Source: notes, 7.2 Convolutions for Images, 7.3 Padding and Stride,
7.4 Multiple Input and Multiple Output Channels, 7.5 Pooling.
"""

import numbers

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "corr2d",
    "conv_output_shape",
    "corr2d_multi_in",
    "corr2d_multi_in_out",
    "corr2d_multi_in_out_1x1",
    "pool2d",
    "Conv2DScratch",
    "edge_detection_data",
    "learn_edge_kernel",
]

# Stride 1 on every NHWC axis of `tf.nn.conv2d` / `tf.nn.*_pool2d`.
_UNIT_STRIDES = (1, 1, 1, 1)
_POOL_MODES = ("max", "avg")


def _result_dtype(*arrays):
    """Returns float64 if any input is float64, else float32."""
    for array in arrays:
        if tf.as_dtype(getattr(array, "dtype", np.asarray(array).dtype)) == tf.float64:
            return tf.float64
    return tf.float32


def _to_tensor(x, dtype, name, rank):
    """Converts `x` to a `dtype` tensor and checks its rank."""
    x = tf.convert_to_tensor(x)
    if x.dtype != dtype:
        x = tf.cast(x, dtype)
    if x.shape.rank != rank:
        raise ValueError(
            f"`{name}` must be a {rank}-D tensor. "
            f"Received: {name}.shape={tuple(x.shape)}"
        )
    return x


def _check_kernel_fits(X_hw, K_hw):
    """Raises if the kernel is larger than the input on either spatial axis."""
    if K_hw[0] > X_hw[0] or K_hw[1] > X_hw[1]:
        raise ValueError(
            "The kernel must not be larger than the input (no padding). "
            f"Received: X spatial shape={tuple(X_hw)}, K spatial shape={tuple(K_hw)}"
        )


def corr2d(X, K):
    """2-D cross-correlation of one single-channel image with one kernel.

    `Y[i, j] = sum_{a, b} X[i + a, j + b] * K[a, b]`, no padding, stride 1.

    Args:
        X: input of shape `(n_h, n_w)`.
        K: kernel of shape `(k_h, k_w)`.

    Returns:
        A `tf.Tensor` of shape `(n_h - k_h + 1, n_w - k_w + 1)`, float64 if
        either argument is float64, else float32.

    Raises:
        ValueError: if an argument is not 2-D or the kernel is larger than `X`.

    Source: notes, 7.2 Convolutions for Images.
    """
    dtype = _result_dtype(X, K)
    X = _to_tensor(X, dtype, "X", 2)
    K = _to_tensor(K, dtype, "K", 2)
    _check_kernel_fits(X.shape, K.shape)
    # (n_h, n_w) -> (1, n_h, n_w, 1); (k_h, k_w) -> (k_h, k_w, 1, 1)
    Y = tf.nn.conv2d(X[None, :, :, None], K[:, :, None, None], _UNIT_STRIDES, "VALID")
    return Y[0, :, :, 0]


def _as_pair(value, name, minimum):
    """Returns `value` (an int or a pair of ints) as a pair, validated."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(
            f"`{name}` must be an int or a pair of ints. Received: {name}={value!r}"
        )
    if min(pair) < minimum:
        raise ValueError(
            f"`{name}` must be >= {minimum} on both axes. Received: {name}={value!r}"
        )
    return pair


def conv_output_shape(input_size, kernel_size, padding=(0, 0), stride=(1, 1)):
    """Output height and width of a convolution or pooling layer.

    Per axis, `out = floor((n - k + p + s) / s)` where `p` is the **total**
    number of rows (or columns) added, top plus bottom (the notes' convention;
    Keras' `padding="same"` adds `p = max((ceil(n / s) - 1) * s + k - n, 0)`,
    with the extra row at the bottom/right when `p` is odd).

    Args:
        input_size: `n`, an int or a pair `(n_h, n_w)`, >= 1.
        kernel_size: `k`, an int or a pair `(k_h, k_w)`, >= 1.
        padding: `p`, total padding, an int or a pair `(p_h, p_w)`, >= 0.
        stride: `s`, an int or a pair `(s_h, s_w)`, >= 1.

    Returns:
        A tuple `(h, w)` of Python ints.

    Raises:
        ValueError: if an argument is not an int or a pair of ints, is out of
            range, or the kernel is larger than the padded input.

    Source: notes, 7.3 Padding and Stride.
    """
    n = _as_pair(input_size, "input_size", 1)
    k = _as_pair(kernel_size, "kernel_size", 1)
    p = _as_pair(padding, "padding", 0)
    s = _as_pair(stride, "stride", 1)
    for axis in range(2):
        if k[axis] > n[axis] + p[axis]:
            raise ValueError(
                "`kernel_size` must not exceed the padded input size "
                f"(input_size + padding = {(n[0] + p[0], n[1] + p[1])}). "
                f"Received: kernel_size={kernel_size!r}"
            )
    return tuple((n[a] - k[a] + p[a] + s[a]) // s[a] for a in range(2))


def corr2d_multi_in(X, K):
    """Cross-correlation of a multi-channel input, summed over input channels.

    `Y = sum_c corr2d(X[c], K[c])`.

    Args:
        X: input of shape `(c_i, n_h, n_w)`.
        K: kernel of shape `(c_i, k_h, k_w)`.

    Returns:
        A `tf.Tensor` of shape `(n_h - k_h + 1, n_w - k_w + 1)`.

    Raises:
        ValueError: on wrong ranks, mismatched channels or an oversized kernel.

    Source: notes, 7.4 Multiple Input and Multiple Output Channels.
    """
    dtype = _result_dtype(X, K)
    K = _to_tensor(K, dtype, "K", 3)
    # (c_i, k_h, k_w) -> (1, c_i, k_h, k_w): one output channel.
    return corr2d_multi_in_out(X, K[None])[0]


def corr2d_multi_in_out(X, K):
    """Cross-correlation with several input and output channels.

    `Y[o] = corr2d_multi_in(X, K[o])` for every output channel `o`.

    Args:
        X: input of shape `(c_i, n_h, n_w)`.
        K: kernel of shape `(c_o, c_i, k_h, k_w)`.

    Returns:
        A `tf.Tensor` of shape `(c_o, n_h - k_h + 1, n_w - k_w + 1)`.

    Raises:
        ValueError: on wrong ranks, mismatched channels or an oversized kernel.

    Source: notes, 7.4 Multiple Input and Multiple Output Channels.
    """
    dtype = _result_dtype(X, K)
    X = _to_tensor(X, dtype, "X", 3)
    K = _to_tensor(K, dtype, "K", 4)
    if X.shape[0] != K.shape[1]:
        raise ValueError(
            "The input channels of `X` (axis 0) and `K` (axis 1) must match. "
            f"Received: X.shape={tuple(X.shape)}, K.shape={tuple(K.shape)}"
        )
    _check_kernel_fits(X.shape[1:], K.shape[2:])
    X_nhwc = tf.transpose(X, (1, 2, 0))[None]  # (c_i, h, w) -> (1, h, w, c_i)
    K_hwio = tf.transpose(K, (2, 3, 1, 0))  # (c_o, c_i, kh, kw) -> (kh, kw, c_i, c_o)
    Y = tf.nn.conv2d(X_nhwc, K_hwio, _UNIT_STRIDES, "VALID")
    return tf.transpose(Y[0], (2, 0, 1))  # (oh, ow, c_o) -> (c_o, oh, ow)


def corr2d_multi_in_out_1x1(X, K):
    """1x1 convolution computed as one matrix product.

    A 1x1 kernel mixes channels pixel by pixel: with the pixels as columns,
    `Y = K X` where `K` is `(c_o, c_i)` and `X` is `(c_i, n_h * n_w)`.

    Args:
        X: input of shape `(c_i, n_h, n_w)`.
        K: kernel of shape `(c_o, c_i, 1, 1)`.

    Returns:
        A `tf.Tensor` of shape `(c_o, n_h, n_w)`.

    Raises:
        ValueError: on wrong ranks, mismatched channels or a kernel that is not 1x1.

    Source: notes, 7.4 Multiple Input and Multiple Output Channels.
    """
    dtype = _result_dtype(X, K)
    X = _to_tensor(X, dtype, "X", 3)
    K = _to_tensor(K, dtype, "K", 4)
    if tuple(K.shape[2:]) != (1, 1):
        raise ValueError(
            f"`K` must have a 1x1 spatial shape. Received: K.shape={tuple(K.shape)}"
        )
    if X.shape[0] != K.shape[1]:
        raise ValueError(
            "The input channels of `X` (axis 0) and `K` (axis 1) must match. "
            f"Received: X.shape={tuple(X.shape)}, K.shape={tuple(K.shape)}"
        )
    c_i, n_h, n_w = X.shape
    c_o = K.shape[0]
    X_flat = tf.reshape(X, (c_i, n_h * n_w))  # (c_i, h, w) -> (c_i, h*w)
    K_flat = tf.reshape(K, (c_o, c_i))  # (c_o, c_i, 1, 1) -> (c_o, c_i)
    Y = tf.matmul(K_flat, X_flat)
    return tf.reshape(Y, (c_o, n_h, n_w))  # (c_o, h*w) -> (c_o, h, w)


def pool2d(X, pool_size, mode="max"):
    """Maximum or average pooling of a 2-D input, stride 1, no padding.

    Args:
        X: input of shape `(n_h, n_w)`.
        pool_size: window `(p_h, p_w)`, or an int for a square window.
        mode: `"max"` or `"avg"`.

    Returns:
        A `tf.Tensor` of shape `(n_h - p_h + 1, n_w - p_w + 1)`.

    Raises:
        ValueError: on an unknown `mode`, a bad `pool_size` or a non-2-D `X`.

    Source: notes, 7.5 Pooling.
    """
    if mode not in _POOL_MODES:
        raise ValueError(f"`mode` must be 'max' or 'avg'. Received: mode={mode!r}")
    window = _as_pair(pool_size, "pool_size", 1)
    dtype = _result_dtype(X)
    X = _to_tensor(X, dtype, "X", 2)
    _check_kernel_fits(X.shape, window)
    pool = tf.nn.max_pool2d if mode == "max" else tf.nn.avg_pool2d
    # (n_h, n_w) -> (1, n_h, n_w, 1)
    Y = pool(X[None, :, :, None], window, _UNIT_STRIDES, "VALID")
    return Y[0, :, :, 0]


@keras.saving.register_keras_serializable(package="kerasdl")
class Conv2DScratch(keras.layers.Layer):
    """Single-channel 2-D convolution layer built on `corr2d`.

    Holds a kernel `weight` of shape `kernel_size` and a scalar `bias` and
    computes `corr2d(X, weight) + bias`, as in the notes (named
    `Conv2DScratch` so it does not shadow `keras.layers.Conv2D`).

    Args:
        kernel_size: `(k_h, k_w)` or an int for a square kernel.
        use_bias: whether to add the scalar `bias` (default True).
        kernel_initializer: initializer of the kernel, default
            `"random_uniform"` (uniform on [-0.05, 0.05]).
        bias_initializer: initializer of the bias, default `"zeros"`.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        X: input of shape `(n_h, n_w)` (one image, no batch or channel axis).
        training: unused; accepted for a uniform layer interface.

    Input shape:
        `(n_h, n_w)`.

    Output shape:
        `(n_h - k_h + 1, n_w - k_w + 1)`.

    Source: notes, 7.2 Convolutions for Images.
    """

    def __init__(
        self,
        kernel_size,
        use_bias=True,
        kernel_initializer="random_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.kernel_size = _as_pair(kernel_size, "kernel_size", 1)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                "`Conv2DScratch` expects a 2-D input (n_h, n_w). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.weight = self.add_weight(
            shape=self.kernel_size, initializer=self.kernel_initializer, name="weight"
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(1,), initializer=self.bias_initializer, name="bias"
            )

    def call(self, X, training=None):
        Y = corr2d(X, self.weight)
        return Y + self.bias if self.use_bias else Y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[a] - self.kernel_size[a] + 1 for a in range(2))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel_size": self.kernel_size,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config


def edge_detection_data():
    """The notes' edge-detection example: an image and its edges.

    `X = ones(6, 8)` with columns 2..5 set to zero (a dark vertical band);
    `Y = corr2d(X, [[1, -1]])` is 1 on white-to-black edges, -1 on
    black-to-white edges and 0 elsewhere: every row is `[0, 1, 0, 0, 0, -1, 0]`.

    Returns:
        `(X, Y)`: float32 tensors of shapes `(6, 8)` and `(6, 7)`.

    Source: notes, 7.2 Convolutions for Images.
    """
    X = np.ones((6, 8), dtype=np.float32)
    X[:, 2:6] = 0.0
    X = tf.constant(X)
    return X, corr2d(X, tf.constant([[1.0, -1.0]]))


def learn_edge_kernel(num_epochs=10, lr=3e-2, seed=0, use_bias=False):
    """Learns the edge-detection kernel `[1, -1]` from `(X, Y)` pairs.

    Trains a `Conv2DScratch((1, 2))` on `edge_detection_data()` with plain
    gradient descent on the summed squared error `sum((Y_hat - Y)^2)`
    (no 1/2, no averaging, as in the notes), one full-image step per epoch.
    As in the notes the kernel has no bias by default: the bias gradient
    sums over all 42 outputs, so with a bias `lr = 3e-2` diverges
    (`lr * 2 * 42 > 2`); use `lr` around `1.5e-2` and 20 epochs then.

    Args:
        num_epochs: number of gradient steps, >= 1.
        lr: learning rate, > 0.
        seed: seed of the kernel's uniform initialization.
        use_bias: whether the layer also learns a bias (default False).

    Returns:
        `(kernel, losses)`: the learned `(1, 2)` kernel as a `tf.Tensor` and
        the list of `num_epochs` losses (Python floats, before each step).

    Raises:
        ValueError: if `num_epochs < 1` or `lr <= 0`.

    Source: notes, 7.2 Convolutions for Images (Learning a Kernel).
    """
    if not isinstance(num_epochs, numbers.Integral) or num_epochs < 1:
        raise ValueError(f"`num_epochs` must be an int >= 1. Received: num_epochs={num_epochs!r}")
    if not lr > 0:
        raise ValueError(f"`lr` must be > 0. Received: lr={lr!r}")
    X, Y = edge_detection_data()
    net = Conv2DScratch(
        (1, 2),
        use_bias=use_bias,
        kernel_initializer=keras.initializers.RandomUniform(seed=seed),
    )
    net.build(X.shape)
    losses = []
    for _ in range(num_epochs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum((net(X) - Y) ** 2)
        grads = tape.gradient(loss, net.trainable_variables)
        for param, grad in zip(net.trainable_variables, grads):
            param.assign_sub(lr * grad)
        losses.append(float(loss))
    return tf.convert_to_tensor(net.weight), losses

# %% [markdown]
# # Chapter 7: Convolutional Neural Networks
#
# Source: notes, 7.2 Convolutions for Images, 7.3 Padding and Stride, 7.4 Multiple
# Input and Multiple Output Channels, 7.5 Pooling, 7.6 Convolutional Neural Networks (LeNet).
#
# You write the convolution helpers from scratch in the notes' **channel-first** layout
# (`X: (c_i, n_h, n_w)`, `K: (c_o, c_i, k_h, k_w)`), then LeNet with Keras layers in
# NHWC layout (`(batch, height, width, channels)`) that outputs **logits**.
#
# In each exercise cell, replace `raise NotImplementedError()` with your code; the
# locked cell after it grades your answer and shows its score. Run the cells in order.
# A demonstration that needs an exercise you have not finished prints one line, such as
# "finish `corr2d` above to see this", instead of running, so *Run All* always reaches
# the end.

# %%
import os

import grader

grader.quiet_tensorflow()  # load TensorFlow without its C++ start-up messages

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

import kerasdl

%matplotlib inline

# Under nbgrader (autograde/validate) the training demonstrations use a small budget.
GRADING = "NBGRADER_EXECUTION" in os.environ
kerasdl.set_seed(0)
print(kerasdl.describe_device())

# %% [markdown]
# ## 7.2 The cross-correlation operation
#
# A convolutional layer computes a *cross-correlation*: the kernel slides over the
# input and at each position the elementwise product of kernel and window is summed.
# For an input $\mathbf{X}$ of shape $n_h \times n_w$ and a kernel $\mathbf{K}$ of shape
# $k_h \times k_w$ (no padding, stride 1),
#
# $$Y_{i,j} = \sum_{a=0}^{k_h-1} \sum_{b=0}^{k_w-1} K_{a,b}\, X_{i+a,\, j+b},
# \qquad \mathbf{Y} \in \mathbb{R}^{(n_h-k_h+1) \times (n_w-k_w+1)}.$$
#
# **Exercise (`corr2d`).** Implement `corr2d(X, K)` for 2-D tensors `X` and `K`.

# %% solution corr2d
def corr2d(X, K):
    """2-D cross-correlation of `X` (n_h, n_w) with `K` (k_h, k_w), no padding, stride 1."""
    ### BEGIN SOLUTION
    X = tf.convert_to_tensor(X)
    K = tf.cast(K, X.dtype)
    k_h, k_w = K.shape
    out_h, out_w = X.shape[0] - k_h + 1, X.shape[1] - k_w + 1
    # Sum, over the kernel's positions, each kernel entry times the shifted input window.
    Y = tf.zeros((out_h, out_w), dtype=X.dtype)
    for a in range(k_h):
        for b in range(k_w):
            Y += K[a, b] * X[a:a + out_h, b:b + out_w]
    return Y
    ### END SOLUTION

# %% test corr2d

# %% [markdown]
# The notes' example: $\mathbf{X}$ = `arange(9)` as $3 \times 3$ and a $2 \times 2$ kernel
# give `[[19, 25], [37, 43]]`.

# %%
X = tf.reshape(tf.range(9.0), (3, 3))
K = tf.constant([[0.0, 1.0], [2.0, 3.0]])
if grader.done(corr2d):
    print(corr2d(X, K))

# %% [markdown]
# ### Object edge detection
#
# An image that is white (1) with a black (0) band in columns 2 to 5, and the kernel
# $[1, -1]$: the output is $1$ on the white-to-black edge, $-1$ on the black-to-white
# edge and $0$ elsewhere.

# %%
X = np.ones((6, 8), dtype="float32")
X[:, 2:6] = 0.0
X = tf.constant(X)
K = tf.constant([[1.0, -1.0]])
if grader.done(corr2d):
    Y = corr2d(X, K)
    print(Y)

# %% [markdown]
# ### Learning a kernel
#
# Given $\mathbf{X}$ and $\mathbf{Y}$ we can learn the kernel back: a `Conv2D` layer
# with one $1 \times 2$ filter and no bias, trained by gradient descent on the squared
# error. The learned kernel comes close to $[1, -1]$.

# %%
if grader.done(corr2d):  # Y above is your corr2d's output
    # Keras wants NHWC: (6, 8) -> (1, 6, 8, 1) and (6, 7) -> (1, 6, 7, 1).
    X_nhwc = tf.reshape(X, (1, 6, 8, 1))
    Y_nhwc = tf.reshape(Y, (1, 6, 7, 1))
    conv2d = keras.layers.Conv2D(1, kernel_size=(1, 2), use_bias=False)
    conv2d.build((1, 6, 8, 1))
    lr = 3e-2  # learning rate of plain gradient descent, as in the notes
    for i in range(10):
        with tf.GradientTape() as tape:
            l = tf.reduce_sum((conv2d(X_nhwc) - Y_nhwc) ** 2)
        grad = tape.gradient(l, conv2d.kernel)
        conv2d.kernel.assign_sub(lr * grad)
        if (i + 1) % 2 == 0:
            print(f"epoch {i + 1}, loss {float(l):.3f}")
    # kernel (k_h, k_w, c_i, c_o) = (1, 2, 1, 1) -> (1, 2)
    learned_K = tf.reshape(conv2d.kernel, (1, 2))
    print(learned_K)

# %% [markdown]
# ## 7.3 Padding and stride
#
# With $p_h$ rows and $p_w$ columns of padding in **total** (split over both sides) and
# strides $s_h, s_w$, the output shape is
#
# $$\left\lfloor \frac{n_h - k_h + p_h + s_h}{s_h} \right\rfloor \times
#   \left\lfloor \frac{n_w - k_w + p_w + s_w}{s_w} \right\rfloor .$$
#
# **Exercise (`conv_output_shape`).** Return the output `(height, width)` as Python ints.
# `input_size`, `kernel_size`, `padding` and `stride` are `(height, width)` pairs.

# %% solution conv_output_shape
def conv_output_shape(input_size, kernel_size, padding=(0, 0), stride=(1, 1)):
    """Output (height, width) of a convolution; `padding` is the total rows/cols added."""
    ### BEGIN SOLUTION
    def pair(value):
        return (value, value) if isinstance(value, int) else tuple(value)

    sizes = zip(pair(input_size), pair(kernel_size), pair(padding), pair(stride))
    return tuple(int((n - k + p + s) // s) for n, k, p, s in sizes)
    ### END SOLUTION

# %% test conv_output_shape

# %% [markdown]
# AlexNet's first layer: $224 \times 224$ input, $11 \times 11$ kernel, stride 4, no
# padding gives $54 \times 54$.

# %%
if grader.done(conv_output_shape):
    print(conv_output_shape((224, 224), (11, 11), stride=(4, 4)))

# %% [markdown]
# ## 7.4 Multiple input and multiple output channels
#
# With $c_i$ input channels the kernel has shape $c_i \times k_h \times k_w$: each input
# channel is cross-correlated with its own kernel slice and the results are summed.
#
# **Exercise (`corr2d_multi_in`).** `X` has shape `(c_i, n_h, n_w)`, `K` has shape
# `(c_i, k_h, k_w)`. You may use your `corr2d`.

# %% solution corr2d_multi_in
def corr2d_multi_in(X, K):
    """Sum over input channels of `corr2d(X[c], K[c])`."""
    ### BEGIN SOLUTION
    return tf.add_n([corr2d(x, k) for x, k in zip(X, K)])
    ### END SOLUTION

# %% test corr2d_multi_in

# %%
A = tf.reshape(tf.range(9.0), (3, 3))
X = tf.stack([A, A + 1])
K = tf.constant([[[0.0, 1.0], [2.0, 3.0]], [[1.0, 2.0], [3.0, 4.0]]])
if grader.done(corr2d_multi_in, corr2d):  # corr2d_multi_in may call your corr2d
    print(corr2d_multi_in(X, K))

# %% [markdown]
# For $c_o$ output channels the kernel has shape $c_o \times c_i \times k_h \times k_w$:
# one multi-input kernel per output channel, results stacked on the channel axis.
#
# **Exercise (`corr2d_multi_in_out`).** Return shape `(c_o, out_h, out_w)`.

# %% solution corr2d_multi_in_out
def corr2d_multi_in_out(X, K):
    """Multi-channel cross-correlation: `X` (c_i, h, w), `K` (c_o, c_i, k_h, k_w)."""
    ### BEGIN SOLUTION
    return tf.stack([corr2d_multi_in(X, k) for k in K], axis=0)
    ### END SOLUTION

# %% test corr2d_multi_in_out

# %% [markdown]
# A $1 \times 1$ convolution mixes channels at each pixel independently: it is a fully
# connected layer applied per pixel, i.e. one matrix product
# $\mathbf{Y} = \mathbf{K}\mathbf{X}$ with $\mathbf{K} \in \mathbb{R}^{c_o \times c_i}$ and
# $\mathbf{X} \in \mathbb{R}^{c_i \times (hw)}$.
#
# **Exercise (`corr2d_multi_in_out_1x1`).** `K` has shape `(c_o, c_i, 1, 1)`; compute the
# result with a single matrix multiplication (no loop).

# %% solution corr2d_multi_in_out_1x1
def corr2d_multi_in_out_1x1(X, K):
    """1x1 convolution as one matrix product: `X` (c_i, h, w), `K` (c_o, c_i, 1, 1)."""
    ### BEGIN SOLUTION
    X = tf.convert_to_tensor(X)
    c_i, h, w = X.shape
    c_o = K.shape[0]
    X = tf.reshape(X, (c_i, h * w))  # (c_i, h, w) -> (c_i, h*w)
    K = tf.reshape(tf.cast(K, X.dtype), (c_o, c_i))  # (c_o, c_i, 1, 1) -> (c_o, c_i)
    Y = tf.matmul(K, X)  # (c_o, h*w)
    return tf.reshape(Y, (c_o, h, w))  # (c_o, h*w) -> (c_o, h, w)
    ### END SOLUTION

# %% test corr2d_multi_in_out_1x1

# %%
X = tf.random.normal((3, 3, 3), seed=1)
K = tf.random.normal((2, 3, 1, 1), seed=2)
if grader.done(corr2d_multi_in_out_1x1, corr2d_multi_in_out, corr2d_multi_in, corr2d):
    Y_1x1, Y_window = corr2d_multi_in_out_1x1(X, K), corr2d_multi_in_out(X, K)
    max_abs_diff = tf.reduce_max(tf.abs(Y_1x1 - Y_window))
    print(f"1x1 as matmul vs. sliding window, max |difference|: {float(max_abs_diff):.2e}")

# %% [markdown]
# ## 7.5 Pooling
#
# A pooling window slides like a kernel but has no parameters: it outputs the maximum
# (max pooling) or the mean (average pooling) of each window.
#
# **Exercise (`pool2d`).** 2-D input, stride 1, no padding; `pool_size = (p_h, p_w)`;
# `mode` is `"max"` or `"avg"` (raise `ValueError` otherwise).

# %% solution pool2d
def pool2d(X, pool_size, mode="max"):
    """Max or average pooling of a 2-D `X`, stride 1, no padding."""
    ### BEGIN SOLUTION
    if mode not in ("max", "avg"):
        raise ValueError(f"mode must be 'max' or 'avg'. Received: mode={mode!r}")
    X = tf.convert_to_tensor(X)
    p_h, p_w = (pool_size, pool_size) if isinstance(pool_size, int) else pool_size
    out_h, out_w = X.shape[0] - p_h + 1, X.shape[1] - p_w + 1
    # One shifted copy of the input per position inside the window: (p_h*p_w, out_h, out_w).
    windows = tf.stack(
        [X[a:a + out_h, b:b + out_w] for a in range(p_h) for b in range(p_w)]
    )
    if mode == "max":
        return tf.reduce_max(windows, axis=0)
    return tf.reduce_mean(windows, axis=0)
    ### END SOLUTION

# %% test pool2d

# %%
X = tf.reshape(tf.range(9.0), (3, 3))
if grader.done(pool2d):
    print(pool2d(X, (2, 2)).numpy())
    print(pool2d(X, (2, 2), "avg").numpy())

# %% [markdown]
# ## 7.6 LeNet
#
# LeNet-5 as in the notes (sigmoid activations, average pooling), for $28 \times 28$
# Fashion-MNIST images:
#
# | layer | output (NHWC) |
# |---|---|
# | Conv2D 6, $5 \times 5$, `same`, sigmoid | $28 \times 28 \times 6$ |
# | AvgPool $2 \times 2$, stride 2 | $14 \times 14 \times 6$ |
# | Conv2D 16, $5 \times 5$, `valid`, sigmoid | $10 \times 10 \times 16$ |
# | AvgPool $2 \times 2$, stride 2 | $5 \times 5 \times 16$ |
# | Flatten, Dense 120 sigmoid, Dense 84 sigmoid | 84 |
# | Dense 10 (logits) | 10 |
#
# **Exercise (`lenet`).** Return a `keras.Sequential` whose input is `keras.Input((28, 28, 1))`.

# %% solution lenet
def lenet():
    """LeNet-5 for (28, 28, 1) inputs, returning logits for 10 classes."""
    ### BEGIN SOLUTION
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(6, kernel_size=5, padding="same", activation="sigmoid"),
        keras.layers.AveragePooling2D(pool_size=2, strides=2),
        keras.layers.Conv2D(16, kernel_size=5, activation="sigmoid"),
        keras.layers.AveragePooling2D(pool_size=2, strides=2),
        keras.layers.Flatten(),
        keras.layers.Dense(120, activation="sigmoid"),
        keras.layers.Dense(84, activation="sigmoid"),
        keras.layers.Dense(10),
    ])
    ### END SOLUTION

# %% test lenet

# %%
if grader.done(lenet):
    net = lenet()
    net.summary()

# %% [markdown]
# ### Training LeNet on Fashion-MNIST
#
# The notes train with minibatch SGD, learning rate 0.9, batch size 256, for 10
# epochs. Under autograding the budget below is cut to one epoch on a few hundred
# images; run the notebook yourself for the full curve.

# %%
batch_size, lr = 256, 0.9
num_epochs, num_train, num_test = (1, 512, 256) if GRADING else (10, None, None)
if grader.done(lenet):
    train_iter, test_iter = kerasdl.load_fashion_mnist(
        batch_size, num_train=num_train, num_test=num_test)
    net = lenet()
    history = kerasdl.train(net, train_iter, test_iter, num_epochs,
                            keras.optimizers.SGD(learning_rate=lr), verbose=False)
    display(history.to_frame())
    history.plot()

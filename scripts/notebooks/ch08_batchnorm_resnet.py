# %% [markdown]
# # Chapter 8: Batch Normalization and ResNet
#
# Source: notes, 8.5 Batch Normalization, 8.6 Residual Networks (ResNet).
#
# You write batch normalization from scratch (the function and a Keras layer with
# moving statistics), LeNet with batch normalization, the residual block and
# ResNet-18.
#
# In each exercise cell, replace `raise NotImplementedError()` with your code; the
# locked cell after it grades your answer and shows its score. Run the cells in order.
# A demonstration that needs an exercise you have not finished prints one line, such as
# "finish `batch_norm` above to see this", instead of running, so *Run All* always reaches
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
# ## 8.5.1 Batch normalization
#
# In training, batch normalization standardizes each feature (each channel, for
# images) with the statistics of the minibatch $\mathcal{B}$, then rescales it:
#
# $$\hat{\boldsymbol{\mu}}_\mathcal{B} = \frac{1}{|\mathcal{B}|}\sum_{\mathbf{x} \in \mathcal{B}} \mathbf{x},
# \qquad \hat{\boldsymbol{\sigma}}^2_\mathcal{B} = \frac{1}{|\mathcal{B}|}
#   \sum_{\mathbf{x} \in \mathcal{B}} (\mathbf{x} - \hat{\boldsymbol{\mu}}_\mathcal{B})^2,
# \qquad \mathrm{BN}(\mathbf{x}) = \boldsymbol{\gamma} \odot
#   \frac{\mathbf{x} - \hat{\boldsymbol{\mu}}_\mathcal{B}}{\sqrt{\hat{\boldsymbol{\sigma}}^2_\mathcal{B} + \epsilon}}
#   + \boldsymbol{\beta} .$$
#
# The variance is the biased one (divide by $|\mathcal{B}|$). For `(N, D)` inputs the
# statistics are over axis 0; for `(N, H, W, C)` over axes 0, 1, 2 (one per channel).
# Training also updates moving averages used at inference; **`momentum` is the weight
# on the old value**:
#
# $$\text{moving} \leftarrow \text{momentum} \cdot \text{moving} +
#   (1 - \text{momentum}) \cdot \text{batch statistic}.$$
#
# At inference the moving statistics replace the batch ones and stay unchanged.
#
# **Exercise (`batch_norm`).** Return `(Y, moving_mean, moving_var)` (the updated moving
# statistics in training, the given ones at inference).

# %% solution batch_norm
def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, training):
    """Batch normalization of X (N, D) or (N, H, W, C) over all axes but the last."""
    ### BEGIN SOLUTION
    X = tf.convert_to_tensor(X)
    if not training:
        X_hat = (X - moving_mean) / tf.sqrt(moving_var + eps)
    else:
        axes = list(range(len(X.shape) - 1))  # every axis but the channel axis
        mean = tf.reduce_mean(X, axis=axes)
        var = tf.reduce_mean((X - mean) ** 2, axis=axes)
        X_hat = (X - mean) / tf.sqrt(var + eps)
        moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
        moving_var = momentum * moving_var + (1.0 - momentum) * var
    Y = gamma * X_hat + beta
    return Y, moving_mean, moving_var
    ### END SOLUTION

# %% test batch_norm

# %%
X = tf.constant([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]])
if grader.done(batch_norm):
    Y, moving_mean, moving_var = batch_norm(
        X, tf.ones(2), tf.zeros(2), tf.zeros(2), tf.ones(2), eps=1e-5, momentum=0.9,
        training=True)
    print(Y, moving_mean, moving_var, sep="\n")

# %% [markdown]
# **Exercise (`BatchNorm`).** A `keras.layers.Layer` that uses your `batch_norm`. In
# `build`, create `gamma` (ones) and `beta` (zeros) as trainable weights and
# `moving_mean` (zeros) and `moving_variance` (ones) as **non-trainable** weights, one
# value per feature/channel (the last axis). `call(X, training=None)` normalizes and,
# only in training, assigns the updated moving statistics. Use `epsilon=1e-5` and
# `momentum=0.9` (the notes' values; Keras' `BatchNormalization` uses 1e-3 and 0.99).

# %% solution BatchNorm
class BatchNorm(keras.layers.Layer):
    """Batch normalization from scratch, with moving statistics for inference."""

    def __init__(self, momentum=0.9, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        ### BEGIN SOLUTION
        self.momentum = momentum
        self.epsilon = epsilon
        ### END SOLUTION

    def build(self, input_shape):
        ### BEGIN SOLUTION
        shape = (input_shape[-1],)
        self.gamma = self.add_weight(shape=shape, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(
            shape=shape, initializer="zeros", trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(
            shape=shape, initializer="ones", trainable=False, name="moving_variance")
        ### END SOLUTION

    def call(self, X, training=None):
        ### BEGIN SOLUTION
        training = bool(training)
        Y, moving_mean, moving_var = batch_norm(
            X, self.gamma, self.beta, self.moving_mean, self.moving_variance,
            eps=self.epsilon, momentum=self.momentum, training=training)
        if training:
            self.moving_mean.assign(moving_mean)
            self.moving_variance.assign(moving_var)
        return Y
        ### END SOLUTION

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}

# %% test BatchNorm

# %% [markdown]
# ## 8.5.4 LeNet with batch normalization
#
# The notes' LeNet (first convolution **without** padding) with a batch normalization
# after each convolution and dense layer, before the sigmoid:
#
# Conv2D(6, 5) -> BatchNorm -> sigmoid -> AvgPool(2, 2) -> Conv2D(16, 5) -> BatchNorm ->
# sigmoid -> AvgPool(2, 2) -> Flatten -> Dense(120) -> BatchNorm -> sigmoid -> Dense(84)
# -> BatchNorm -> sigmoid -> Dense(10).
#
# **Exercise (`bn_lenet`).** Use your `BatchNorm`; input `keras.Input((28, 28, 1))`.

# %% solution bn_lenet
def bn_lenet():
    """LeNet with scratch batch normalization before each sigmoid."""
    ### BEGIN SOLUTION
    layers = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(6, kernel_size=5), BatchNorm(), layers.Activation("sigmoid"),
        layers.AveragePooling2D(pool_size=2, strides=2),
        layers.Conv2D(16, kernel_size=5), BatchNorm(), layers.Activation("sigmoid"),
        layers.AveragePooling2D(pool_size=2, strides=2),
        layers.Flatten(),
        layers.Dense(120), BatchNorm(), layers.Activation("sigmoid"),
        layers.Dense(84), BatchNorm(), layers.Activation("sigmoid"),
        layers.Dense(10),
    ])
    ### END SOLUTION

# %% test bn_lenet

# %% [markdown]
# ### Training BN-LeNet
#
# The notes: SGD with learning rate 1.0, batch size 256, 10 epochs. Under autograding
# the budget is cut to one epoch on 128 images, run eagerly (no tracing). The learned
# scale and shift of the first batch normalization layer are shown below the curve.

# %%
batch_size, lr = 256, 1.0
num_epochs, num_train, num_test = (1, 128, 128) if GRADING else (10, None, None)
# Your bn_lenet uses your BatchNorm, which calls your batch_norm.
if grader.done(bn_lenet, BatchNorm, batch_norm):
    train_iter, test_iter = kerasdl.load_fashion_mnist(
        batch_size, num_train=num_train, num_test=num_test)
    net = bn_lenet()
    history = kerasdl.train(net, train_iter, test_iter, num_epochs,
                            keras.optimizers.SGD(learning_rate=lr), verbose=False,
                            run_eagerly=GRADING)
    history.plot()

# %%
if grader.done(bn_lenet, BatchNorm, batch_norm):
    first_bn = net.layers[1]
    print("gamma:", first_bn.gamma.numpy().round(3))
    print("beta: ", first_bn.beta.numpy().round(3))

# %% [markdown]
# ## 8.6.2 Residual blocks
#
# A residual block learns $f(\mathbf{x}) = g(\mathbf{x}) + \mathbf{x}$: two $3 \times 3$
# convolutions (`same` padding) with batch normalization, a ReLU between them, then the
# input is **added once** and a final ReLU applied:
#
# $$\mathbf{y} = \mathrm{ReLU}\big(\mathrm{BN}(\mathrm{conv}_2(\mathrm{ReLU}(\mathrm{BN}(\mathrm{conv}_1(\mathbf{x})))))
#   + \mathbf{x}'\big),$$
#
# where $\mathbf{x}' = \mathbf{x}$, or a $1 \times 1$ convolution of $\mathbf{x}$ with
# stride `strides` (`use_1x1conv=True`) when the number of channels or the resolution
# changes. The first convolution uses stride `strides`.
#
# **Exercise (`Residual`).** A `keras.layers.Layer` with `call(X, training=None)`; use
# `keras.layers.BatchNormalization` and pass `training` on to it.

# %% solution Residual
class Residual(keras.layers.Layer):
    """The ResNet residual block."""

    def __init__(self, num_channels, use_1x1conv=False, strides=1, **kwargs):
        super().__init__(**kwargs)
        ### BEGIN SOLUTION
        self.conv1 = keras.layers.Conv2D(num_channels, 3, strides=strides, padding="same")
        self.conv2 = keras.layers.Conv2D(num_channels, 3, padding="same")
        self.conv3 = None
        if use_1x1conv:
            self.conv3 = keras.layers.Conv2D(num_channels, 1, strides=strides)
        self.bn1 = keras.layers.BatchNormalization()
        self.bn2 = keras.layers.BatchNormalization()
        ### END SOLUTION

    def call(self, X, training=None):
        ### BEGIN SOLUTION
        Y = keras.activations.relu(self.bn1(self.conv1(X), training=training))
        Y = self.bn2(self.conv2(Y), training=training)
        if self.conv3 is not None:
            X = self.conv3(X)
        return keras.activations.relu(Y + X)
        ### END SOLUTION

# %% test Residual

# %%
X = tf.random.uniform((4, 6, 6, 3), seed=0)
if grader.done(Residual):
    print(Residual(3)(X).shape, Residual(6, use_1x1conv=True, strides=2)(X).shape)

# %% [markdown]
# ## 8.6.3 ResNet-18
#
# A ResNet stage is `num_residuals` residual blocks with `num_channels` channels. The
# first block of every stage halves height and width (`use_1x1conv=True, strides=2`),
# except in the first stage (`first_block=True`), which follows a max pooling.
#
# **Exercise (`resnet_block`).** Return the stage as a `keras.Sequential` of `Residual`
# blocks.

# %% solution resnet_block
def resnet_block(num_channels, num_residuals, first_block=False):
    """A ResNet stage; its first block downsamples unless `first_block`."""
    ### BEGIN SOLUTION
    blk = keras.Sequential()
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.add(Residual(num_channels, use_1x1conv=True, strides=2))
        else:
            blk.add(Residual(num_channels))
    return blk
    ### END SOLUTION

# %% test resnet_block

# %% [markdown]
# ResNet-18 for $96 \times 96 \times 1$ inputs: Conv2D(64, $7 \times 7$, stride 2,
# `same`) -> BatchNormalization -> ReLU -> max pool ($3 \times 3$, stride 2, `same`),
# then the stages `resnet_block(64, 2, first_block=True)`, `resnet_block(128, 2)`,
# `resnet_block(256, 2)`, `resnet_block(512, 2)`, global average pooling and
# `Dense(num_classes)`.
#
# **Exercise (`resnet18`).** Return a `keras.Sequential` starting with
# `keras.Input(input_shape)`.

# %% solution resnet18
def resnet18(num_classes=10, input_shape=(96, 96, 1)):
    """The notes' ResNet-18."""
    ### BEGIN SOLUTION
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv2D(64, kernel_size=7, strides=2, padding="same"),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("relu"),
        keras.layers.MaxPooling2D(pool_size=3, strides=2, padding="same"),
        resnet_block(64, 2, first_block=True),
        resnet_block(128, 2),
        resnet_block(256, 2),
        resnet_block(512, 2),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(num_classes),
    ])
    ### END SOLUTION

# %% test resnet18

# %% [markdown]
# ### Training ResNet-18
#
# The notes: SGD with learning rate 0.05, batch size 256, 10 epochs on images resized to
# $96 \times 96$. Under autograding: one epoch on 32 images at $32 \times 32$, run eagerly
# (global average pooling makes the network accept any size of at least $32 \times 32$).

# %%
batch_size, lr = 256, 0.05
num_epochs, num_train, num_test, resize = (1, 32, 32, 32) if GRADING else (10, None, None, 96)
# Your resnet18 uses your resnet_block, which uses your Residual.
if grader.done(resnet18, resnet_block, Residual):
    train_iter, test_iter = kerasdl.load_fashion_mnist(
        batch_size, resize=resize, num_train=num_train, num_test=num_test)
    net = resnet18(10, (resize, resize, 1))
    print(f"ResNet-18 parameters: {net.count_params():,}")
    history = kerasdl.train(net, train_iter, test_iter, num_epochs,
                            keras.optimizers.SGD(learning_rate=lr), verbose=False,
                            run_eagerly=GRADING)
    history.plot()

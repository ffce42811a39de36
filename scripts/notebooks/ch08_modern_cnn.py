# %% [markdown]
# # Chapter 8: Modern Convolutional Neural Networks
#
# Source: notes, 8.1 Deep Convolutional Neural Networks (AlexNet), 8.2 Networks Using
# Blocks (VGG), 8.3 Network in Network (NiN), 8.4 Multi-Branch Networks (GoogLeNet).
#
# You build the four architectures with Keras layers (NHWC inputs, **logits** out, no
# softmax layer). Fashion-MNIST images are upsampled to the networks' input size.
#
# In each exercise cell, replace `raise NotImplementedError()` with your code; the
# locked cell after it grades your answer and shows its score. Run the cells in order.
# A demonstration that needs an exercise you have not finished prints one line, such as
# "finish `alexnet` above to see this", instead of running, so *Run All* always reaches
# the end.
#
# Training these networks at full size takes hours on a CPU: the training cells run
# the notes' budget for you, and a small one (small images, a few hundred examples,
# one epoch) under autograding.

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

# Training budget of the demonstrations under autograding:
# (num_epochs, num_train, num_test). One epoch on 32 images, run eagerly
# (tracing GoogLeNet's step would take longer than the step), at the smallest
# image side each network accepts (`grading_side` below).
SMALL_BUDGET = (1, 32, 32)


def train_demo(build_net, lr, batch_size, num_epochs, resize, grading_side):
    """Train `build_net(input_shape)` on Fashion-MNIST resized to `resize`; return History.

    Under autograding: `SMALL_BUDGET` at `grading_side` x `grading_side`.
    """
    num_train = num_test = None  # the whole dataset
    if GRADING:
        (num_epochs, num_train, num_test), resize = SMALL_BUDGET, grading_side
    train_iter, test_iter = kerasdl.load_fashion_mnist(
        batch_size, resize=resize, num_train=num_train, num_test=num_test)
    net = build_net((resize, resize, 1))
    return kerasdl.train(net, train_iter, test_iter, num_epochs,
                         keras.optimizers.SGD(learning_rate=lr), verbose=False,
                         run_eagerly=GRADING)

# %% [markdown]
# ## 8.1 AlexNet
#
# Eight layers: five convolutions and three dense layers, ReLU activations, max pooling
# and dropout. For $224 \times 224 \times 1$ inputs:
#
# | layer | output |
# |---|---|
# | Conv2D 96, $11 \times 11$, stride 4, ReLU | $54 \times 54 \times 96$ |
# | MaxPool $3 \times 3$, stride 2 | $26 \times 26 \times 96$ |
# | Conv2D 256, $5 \times 5$, `same`, ReLU | $26 \times 26 \times 256$ |
# | MaxPool $3 \times 3$, stride 2 | $12 \times 12 \times 256$ |
# | Conv2D 384, 384, 256, $3 \times 3$, `same`, ReLU | $12 \times 12 \times 256$ |
# | MaxPool $3 \times 3$, stride 2 | $5 \times 5 \times 256$ |
# | Flatten, 2 x (Dense 4096 ReLU, Dropout 0.5) | 4096 |
# | Dense `num_classes` | logits |
#
# **Exercise (`alexnet`).** Return a `keras.Sequential` starting with
# `keras.Input(input_shape)` (default $224 \times 224 \times 1$).

# %% solution alexnet
def alexnet(num_classes=10, input_shape=(224, 224, 1)):
    """The notes' AlexNet for one-channel images; returns logits."""
    ### BEGIN SOLUTION
    return keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Conv2D(96, kernel_size=11, strides=4, activation="relu"),
        keras.layers.MaxPooling2D(pool_size=3, strides=2),
        keras.layers.Conv2D(256, kernel_size=5, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(pool_size=3, strides=2),
        keras.layers.Conv2D(384, kernel_size=3, padding="same", activation="relu"),
        keras.layers.Conv2D(384, kernel_size=3, padding="same", activation="relu"),
        keras.layers.Conv2D(256, kernel_size=3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(pool_size=3, strides=2),
        keras.layers.Flatten(),
        keras.layers.Dense(4096, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(4096, activation="relu"),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(num_classes),
    ])
    ### END SOLUTION

# %% test alexnet

# %%
# The full-size networks' parameter counts and shapes are for reading; autograde
# skips them (building a 224x224 network takes seconds and nobody reads its output).
if grader.done(alexnet) and not GRADING:
    net = alexnet()
    print(f"AlexNet parameters: {net.count_params():,}")
    X = tf.random.uniform((1, 224, 224, 1), seed=0)
    for layer in net.layers:
        X = layer(X)
        print(f"{layer.__class__.__name__:12s} output shape: {tuple(X.shape)}")

# %%
# The notes: learning rate 0.01, batch size 128, 10 epochs at 224x224.
if grader.done(alexnet):
    # AlexNet needs at least 67x67 (an 11x11 stride-4 convolution, three 3x3
    # stride-2 poolings).
    history = train_demo(lambda shape: alexnet(10, shape), lr=0.01, batch_size=128,
                         num_epochs=10, resize=224, grading_side=72)
    history.plot()

# %% [markdown]
# ## 8.2 VGG
#
# A VGG block is a run of $3 \times 3$ convolutions with `same` padding and ReLU,
# followed by a $2 \times 2$ max pooling with stride 2 that halves height and width.
#
# **Exercise (`vgg_block`).** Return a `keras.Sequential` of `num_convs` convolutions
# with `num_channels` filters, then the pooling layer.

# %% solution vgg_block
def vgg_block(num_convs, num_channels):
    """`num_convs` 3x3 same ReLU convolutions, then 2x2 max pooling (stride 2)."""
    ### BEGIN SOLUTION
    blk = keras.Sequential()
    for _ in range(num_convs):
        blk.add(keras.layers.Conv2D(num_channels, kernel_size=3, padding="same",
                                    activation="relu"))
    blk.add(keras.layers.MaxPooling2D(pool_size=2, strides=2))
    return blk
    ### END SOLUTION

# %% test vgg_block

# %% [markdown]
# The network: one VGG block per `(num_convs, num_channels)` pair of `conv_arch`, then
# AlexNet's dense head. VGG-11 is `((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))`.
#
# **Exercise (`vgg`).** Blocks, `Flatten`, 2 x (`Dense(4096, relu)`, `Dropout(0.5)`),
# `Dense(num_classes)`, after `keras.Input(input_shape)`.

# %% solution vgg
def vgg(conv_arch, num_classes=10, input_shape=(224, 224, 1)):
    """VGG network from `conv_arch`, a sequence of (num_convs, num_channels)."""
    ### BEGIN SOLUTION
    net = keras.Sequential([keras.Input(input_shape)])
    for num_convs, num_channels in conv_arch:
        net.add(vgg_block(num_convs, num_channels))
    net.add(keras.layers.Flatten())
    for _ in range(2):
        net.add(keras.layers.Dense(4096, activation="relu"))
        net.add(keras.layers.Dropout(0.5))
    net.add(keras.layers.Dense(num_classes))
    return net
    ### END SOLUTION

# %% test vgg

# %%
conv_arch = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))
# The notes train a narrower VGG-11: every block's channels divided by 4.
ratio = 4
small_conv_arch = [(num_convs, num_channels // ratio) for num_convs, num_channels in conv_arch]
if grader.done(vgg, vgg_block) and not GRADING:  # your vgg calls your vgg_block
    print(f"VGG-11 parameters: {vgg(conv_arch).count_params():,}; "
          f"with channels // {ratio}: {vgg(small_conv_arch).count_params():,}")

# %%
# The notes: learning rate 0.05, batch size 128, 10 epochs at 224x224.
if grader.done(vgg, vgg_block):
    # VGG-11 halves the side five times: 32x32 is the smallest.
    history = train_demo(lambda shape: vgg(small_conv_arch, 10, shape), lr=0.05,
                         batch_size=128, num_epochs=10, resize=224, grading_side=32)
    history.plot()

# %% [markdown]
# ## 8.3 Network in Network (NiN)
#
# A NiN block is a convolution followed by two $1 \times 1$ convolutions, which act as
# a per-pixel MLP over the channels; all three use ReLU. NiN has no dense layers: the
# last block has one channel per class and a global average pooling turns each channel
# into one logit.
#
# **Exercise (`nin_block`).** A `keras.Sequential` of `Conv2D(num_channels, kernel_size,
# strides, padding)` and two `Conv2D(num_channels, 1)`, all with ReLU.

# %% solution nin_block
def nin_block(num_channels, kernel_size, strides, padding):
    """A convolution followed by two 1x1 convolutions, all ReLU."""
    ### BEGIN SOLUTION
    return keras.Sequential([
        keras.layers.Conv2D(num_channels, kernel_size, strides=strides, padding=padding,
                            activation="relu"),
        keras.layers.Conv2D(num_channels, kernel_size=1, activation="relu"),
        keras.layers.Conv2D(num_channels, kernel_size=1, activation="relu"),
    ])
    ### END SOLUTION

# %% test nin_block

# %% [markdown]
# The notes' NiN: `nin_block(96, 11, 4, "valid")`, max pool $3 \times 3$ stride 2,
# `nin_block(256, 5, 1, "same")`, max pool, `nin_block(384, 3, 1, "same")`, max pool,
# `Dropout(0.5)`, `nin_block(num_classes, 3, 1, "same")`, global average pooling.
#
# **Exercise (`nin`).** Return a `keras.Sequential` starting with `keras.Input(input_shape)`
# whose output is `(batch, num_classes)`.

# %% solution nin
def nin(num_classes=10, input_shape=(224, 224, 1)):
    """The notes' Network in Network; ends in global average pooling."""
    ### BEGIN SOLUTION
    return keras.Sequential([
        keras.Input(input_shape),
        nin_block(96, kernel_size=11, strides=4, padding="valid"),
        keras.layers.MaxPooling2D(pool_size=3, strides=2),
        nin_block(256, kernel_size=5, strides=1, padding="same"),
        keras.layers.MaxPooling2D(pool_size=3, strides=2),
        nin_block(384, kernel_size=3, strides=1, padding="same"),
        keras.layers.MaxPooling2D(pool_size=3, strides=2),
        keras.layers.Dropout(0.5),
        nin_block(num_classes, kernel_size=3, strides=1, padding="same"),
        keras.layers.GlobalAveragePooling2D(),
    ])
    ### END SOLUTION

# %% test nin

# %%
if grader.done(nin, nin_block):  # your nin calls your nin_block
    if not GRADING:
        print(f"NiN parameters: {nin().count_params():,}")
    # The notes: learning rate 0.1, batch size 128, 10 epochs at 224x224.
    history = train_demo(lambda shape: nin(10, shape), lr=0.1, batch_size=128,
                         num_epochs=10, resize=224, grading_side=72)  # as AlexNet
    history.plot()

# %% [markdown]
# ## 8.4 GoogLeNet
#
# An Inception block runs four paths in parallel on the same input and concatenates
# their outputs on the channel axis:
#
# 1. $1 \times 1$ conv with `c1` channels;
# 2. $1 \times 1$ conv with `c2[0]` channels, then $3 \times 3$ conv (`same`) with `c2[1]`;
# 3. $1 \times 1$ conv with `c3[0]` channels, then $5 \times 5$ conv (`same`) with `c3[1]`;
# 4. $3 \times 3$ max pooling (stride 1, `same`), then $1 \times 1$ conv with `c4` channels.
#
# All convolutions use ReLU; the output has `c1 + c2[1] + c3[1] + c4` channels and the
# input's height and width.
#
# **Exercise (`Inception`).** A `keras.layers.Layer` subclass.

# %% solution Inception
class Inception(keras.layers.Layer):
    """Inception block: four parallel paths concatenated on the channel axis."""

    def __init__(self, c1, c2, c3, c4, **kwargs):
        super().__init__(**kwargs)
        ### BEGIN SOLUTION
        conv = keras.layers.Conv2D
        self.p1_1 = conv(c1, 1, activation="relu")
        self.p2_1 = conv(c2[0], 1, activation="relu")
        self.p2_2 = conv(c2[1], 3, padding="same", activation="relu")
        self.p3_1 = conv(c3[0], 1, activation="relu")
        self.p3_2 = conv(c3[1], 5, padding="same", activation="relu")
        self.p4_1 = keras.layers.MaxPooling2D(pool_size=3, strides=1, padding="same")
        self.p4_2 = conv(c4, 1, activation="relu")
        ### END SOLUTION

    def call(self, X):
        ### BEGIN SOLUTION
        p1 = self.p1_1(X)
        p2 = self.p2_2(self.p2_1(X))
        p3 = self.p3_2(self.p3_1(X))
        p4 = self.p4_2(self.p4_1(X))
        return keras.ops.concatenate([p1, p2, p3, p4], axis=-1)
        ### END SOLUTION

# %% test Inception

# %%
if grader.done(Inception):
    print(Inception(64, (96, 128), (16, 32), 32)(tf.zeros((1, 12, 12, 192))).shape)

# %% [markdown]
# GoogLeNet for $96 \times 96 \times 1$ inputs, in five stages:
#
# * b1: Conv2D 64, $7 \times 7$, stride 2, `same`, ReLU; max pool $3 \times 3$, stride 2, `same`;
# * b2: Conv2D 64, $1 \times 1$, ReLU; Conv2D 192, $3 \times 3$, `same`, ReLU; max pool as in b1;
# * b3: Inception(64, (96, 128), (16, 32), 32), Inception(128, (128, 192), (32, 96), 64); max pool;
# * b4: Inception(192, (96, 208), (16, 48), 64), Inception(160, (112, 224), (24, 64), 64),
#   Inception(128, (128, 256), (24, 64), 64), Inception(112, (144, 288), (32, 64), 64),
#   Inception(256, (160, 320), (32, 128), 128); max pool;
# * b5: Inception(256, (160, 320), (32, 128), 128), Inception(384, (192, 384), (48, 128), 128),
#   global average pooling;
#
# then `Dense(num_classes)`.
#
# **Exercise (`googlenet`).** Return a `keras.Sequential` starting with `keras.Input(input_shape)`.

# %% solution googlenet
def googlenet(num_classes=10, input_shape=(96, 96, 1)):
    """The notes' GoogLeNet (five stages of convolutions and Inception blocks)."""
    ### BEGIN SOLUTION
    def max_pool():
        return keras.layers.MaxPooling2D(pool_size=3, strides=2, padding="same")

    return keras.Sequential([
        keras.Input(input_shape),
        # b1
        keras.layers.Conv2D(64, 7, strides=2, padding="same", activation="relu"),
        max_pool(),
        # b2
        keras.layers.Conv2D(64, 1, activation="relu"),
        keras.layers.Conv2D(192, 3, padding="same", activation="relu"),
        max_pool(),
        # b3
        Inception(64, (96, 128), (16, 32), 32),
        Inception(128, (128, 192), (32, 96), 64),
        max_pool(),
        # b4
        Inception(192, (96, 208), (16, 48), 64),
        Inception(160, (112, 224), (24, 64), 64),
        Inception(128, (128, 256), (24, 64), 64),
        Inception(112, (144, 288), (32, 64), 64),
        Inception(256, (160, 320), (32, 128), 128),
        max_pool(),
        # b5
        Inception(256, (160, 320), (32, 128), 128),
        Inception(384, (192, 384), (48, 128), 128),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(num_classes),
    ])
    ### END SOLUTION

# %% test googlenet

# %%
if grader.done(googlenet, Inception):  # your googlenet uses your Inception
    if not GRADING:
        print(f"GoogLeNet parameters: {googlenet().count_params():,}")
    # The notes: learning rate 0.1, batch size 128, 10 epochs at 96x96.
    # GoogLeNet halves the side five times: 32x32 is the smallest.
    history = train_demo(lambda shape: googlenet(10, shape), lr=0.1, batch_size=128,
                         num_epochs=10, resize=96, grading_side=32)
    history.plot()

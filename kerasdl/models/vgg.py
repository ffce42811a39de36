"""VGG blocks and VGG-11 as in the notes.

Source: notes, 8.2 Networks Using Blocks (VGG).
"""

import numbers

import keras

from kerasdl.models.alexnet import IMAGENET_GRAY_SHAPE

__all__ = ["vgg_block", "vgg", "VGG11_ARCH", "small_vgg_arch"]

# VGG-11: (number of 3x3 convs, output channels) of each of the five blocks.
VGG11_ARCH = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512))


def vgg_block(num_convs, num_channels):
    """A VGG block: `num_convs` 3x3 same-padded ReLU convs, then 2x2 max pooling.

    Args:
        num_convs: number of conv layers, an int >= 1.
        num_channels: output channels of every conv, an int >= 1.

    Returns:
        A `keras.Sequential` (built on first call) that halves height and width.

    Raises:
        ValueError: if an argument is not an int >= 1.

    Source: notes, 8.2 Networks Using Blocks (VGG).
    """
    for name, value in (("num_convs", num_convs), ("num_channels", num_channels)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ValueError(f"`{name}` must be an int >= 1. Received: {name}={value!r}")
    blk = [
        keras.layers.Conv2D(num_channels, 3, padding="same", activation="relu")
        for _ in range(num_convs)
    ]
    blk.append(keras.layers.MaxPooling2D(2, strides=2))
    return keras.Sequential(blk)


def small_vgg_arch(ratio=4, conv_arch=VGG11_ARCH):
    """The notes' reduced VGG: every block's channels divided by `ratio`.

    `small_vgg_arch(4)` is the `channels // 4` network the notes train
    (43,093,322 parameters for one input channel and 10 classes).

    Args:
        ratio: integer divisor of the channel counts, >= 1.
        conv_arch: the full architecture, default `VGG11_ARCH`.

    Returns:
        A tuple of `(num_convs, num_channels // ratio)` pairs.

    Raises:
        ValueError: if `ratio` is not an int >= 1.

    Source: notes, 8.2 Networks Using Blocks (VGG), Training.
    """
    if not isinstance(ratio, numbers.Integral) or isinstance(ratio, bool) or ratio < 1:
        raise ValueError(f"`ratio` must be an int >= 1. Received: ratio={ratio!r}")
    return tuple((num_convs, num_channels // ratio) for num_convs, num_channels in conv_arch)


def vgg(conv_arch=VGG11_ARCH, num_classes=10, input_shape=IMAGENET_GRAY_SHAPE):
    """The notes' VGG network: VGG blocks, then AlexNet's dense head.

    Blocks from `conv_arch` -> Flatten -> 2 x (Dense(4096, relu),
    Dropout(0.5)) -> Dense(num_classes). VGG-11 on 224x224x1 inputs has
    128,806,154 parameters (it is built without running any input).

    Args:
        conv_arch: sequence of `(num_convs, num_channels)` pairs, one per block.
        num_classes: number of output logits.
        input_shape: `(height, width, channels)` of one image.

    Returns:
        A built `keras.Sequential` producing `(N, num_classes)` logits.

    Reference:
        Simonyan & Zisserman, *Very Deep Convolutional Networks for
        Large-Scale Image Recognition*, ICLR 2015.

    Source: notes, 8.2 Networks Using Blocks (VGG).
    """
    layers = keras.layers
    net = [keras.Input(shape=input_shape)]
    net += [vgg_block(num_convs, num_channels) for num_convs, num_channels in conv_arch]
    net += [
        layers.Flatten(),  # (N, 7, 7, C) -> (N, 49 * C) on 224x224 inputs
        layers.Dense(4096, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(4096, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(num_classes),
    ]
    return keras.Sequential(net, name="vgg")

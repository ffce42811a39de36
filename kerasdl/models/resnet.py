"""ResNet stages and ResNet-18 as in the notes.

Source: notes, 8.6 Residual Networks (ResNet).
"""

import numbers

import keras

from kerasdl.layers.residual import Residual
from kerasdl.models.googlenet import RESIZED_96_SHAPE

__all__ = ["resnet_block", "resnet18"]


def resnet_block(num_channels, num_residuals, first_block=False, bn_momentum=0.99):
    """A ResNet stage: `num_residuals` `Residual` blocks.

    The first block halves height and width and changes the channels with a
    1x1-conv shortcut (`use_1x1conv=True, strides=2`) unless `first_block`
    (the stage right after the stem, whose input already has
    `num_channels` channels).

    Args:
        num_channels: output channels of every block, an int >= 1.
        num_residuals: number of `Residual` blocks, an int >= 1.
        first_block: whether this is the first stage (no downsampling).
        bn_momentum: batch-norm momentum of every block (Keras default 0.99).

    Returns:
        A `keras.Sequential` of `Residual` layers (built on first call).

    Raises:
        ValueError: if `num_residuals` is not an int >= 1.

    Source: notes, 8.6 Residual Networks (ResNet).
    """
    if (
        not isinstance(num_residuals, numbers.Integral)
        or isinstance(num_residuals, bool)
        or num_residuals < 1
    ):
        raise ValueError(
            f"`num_residuals` must be an int >= 1. Received: num_residuals={num_residuals!r}"
        )
    blk = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(
                Residual(num_channels, use_1x1conv=True, strides=2, bn_momentum=bn_momentum)
            )
        else:
            blk.append(Residual(num_channels, bn_momentum=bn_momentum))
    return keras.Sequential(blk)


def resnet18(num_classes=10, input_shape=RESIZED_96_SHAPE, bn_momentum=0.99):
    """The notes' ResNet-18: a stem, four stages of two blocks, global pooling.

    Conv(64, 7x7, stride 2, same) -> BatchNormalization -> relu ->
    MaxPool(3, 2, same) -> resnet_block(64, 2, first_block=True) ->
    resnet_block(128, 2) -> resnet_block(256, 2) -> resnet_block(512, 2) ->
    global average pooling -> Dense(num_classes). Keras
    `BatchNormalization` with its defaults (momentum 0.99, epsilon 1e-3).
    For 96x96x1 inputs and 10 classes: 11,178,378 trainable and 7,808
    non-trainable parameters.

    Args:
        num_classes: number of output logits.
        input_shape: `(height, width, channels)` of one image (the
            notes use 96x96; any size >= 32 works).
        bn_momentum: momentum of every batch-norm layer (weight on the old
            moving value); default 0.99 as Keras and the notes. Runs of a
            few hundred steps need a smaller one (e.g. 0.9): otherwise the
            moving statistics still lean on their initial (0, 1) values and
            the test accuracy (inference mode) lags far behind.

    Returns:
        A built `keras.Sequential` producing `(N, num_classes)` logits.

    Reference:
        He et al., *Deep Residual Learning for Image Recognition*, CVPR 2016.

    Source: notes, 8.6 Residual Networks (ResNet).
    """
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(64, 7, strides=2, padding="same"),
            layers.BatchNormalization(momentum=bn_momentum),
            layers.Activation("relu"),
            layers.MaxPooling2D(3, strides=2, padding="same"),
            resnet_block(64, 2, first_block=True, bn_momentum=bn_momentum),
            resnet_block(128, 2, bn_momentum=bn_momentum),
            resnet_block(256, 2, bn_momentum=bn_momentum),
            resnet_block(512, 2, bn_momentum=bn_momentum),
            layers.GlobalAveragePooling2D(),  # (N, 3, 3, 512) -> (N, 512) on 96x96
            layers.Dense(num_classes),
        ],
        name="resnet18",
    )

"""GoogLeNet as in the notes (Fashion-MNIST resized to 96).

Source: notes, 8.4 Multi-Branch Networks (GoogLeNet).
"""

import keras

from kerasdl.layers.inception import Inception

__all__ = ["googlenet"]

# The notes train GoogLeNet and ResNet on 96x96 grey images (NHWC without N).
RESIZED_96_SHAPE = (96, 96, 1)


def googlenet(num_classes=10, input_shape=RESIZED_96_SHAPE):
    """The notes' GoogLeNet: a stem, nine Inception blocks, global average pooling.

    b1: Conv(64, 7x7, stride 2, same, relu), MaxPool(3, 2, same).
    b2: Conv(64, 1x1, relu), Conv(192, 3x3, same, relu), MaxPool(3, 2, same).
    b3: Inception(64, (96, 128), (16, 32), 32),
    Inception(128, (128, 192), (32, 96), 64), MaxPool(3, 2, same).
    b4: five Inception blocks (512, 512, 512, 528, 832 channels), MaxPool.
    b5: two Inception blocks (832, 1024 channels), global average pooling.
    Then Dense(num_classes). 5,977,530 parameters for 96x96x1 and 10 classes.

    Args:
        num_classes: number of output logits.
        input_shape: `(height, width, channels)` of one image.

    Returns:
        A built `keras.Sequential` producing `(N, num_classes)` logits.

    Reference:
        Szegedy et al., *Going Deeper with Convolutions*, CVPR 2015.

    Source: notes, 8.4 Multi-Branch Networks (GoogLeNet).
    """
    layers = keras.layers

    def max_pool():
        return layers.MaxPooling2D(3, strides=2, padding="same")

    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            # b1
            layers.Conv2D(64, 7, strides=2, padding="same", activation="relu"),
            max_pool(),
            # b2
            layers.Conv2D(64, 1, activation="relu"),
            layers.Conv2D(192, 3, padding="same", activation="relu"),
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
            layers.GlobalAveragePooling2D(),  # (N, 3, 3, 1024) -> (N, 1024)
            layers.Dense(num_classes),
        ],
        name="googlenet",
    )

"""Network in Network (NiN) as in the notes.

Source: notes, 8.3 Network in Network (NiN).
"""

import keras

from kerasdl.models.alexnet import IMAGENET_GRAY_SHAPE

__all__ = ["nin_block", "nin"]


def nin_block(num_channels, kernel_size, strides, padding):
    """A NiN block: one conv and two 1x1 convs, all ReLU.

    Args:
        num_channels: output channels of the three convs.
        kernel_size: kernel size of the first conv.
        strides: stride of the first conv.
        padding: `"valid"` or `"same"` for the first conv.

    Returns:
        A `keras.Sequential` (built on first call).

    Source: notes, 8.3 Network in Network (NiN).
    """
    layers = keras.layers
    return keras.Sequential(
        [
            layers.Conv2D(
                num_channels, kernel_size, strides=strides, padding=padding, activation="relu"
            ),
            layers.Conv2D(num_channels, 1, activation="relu"),
            layers.Conv2D(num_channels, 1, activation="relu"),
        ]
    )


def nin(num_classes=10, input_shape=IMAGENET_GRAY_SHAPE):
    """The notes' NiN: four NiN blocks and global average pooling, no dense layer.

    nin_block(96, 11, 4, valid) -> MaxPool(3, 2) -> nin_block(256, 5, 1,
    same) -> MaxPool(3, 2) -> nin_block(384, 3, 1, same) -> MaxPool(3, 2) ->
    Dropout(0.5) -> nin_block(num_classes, 3, 1, same) -> global average
    pooling. 1,992,166 parameters for 224x224x1 inputs and 10 classes.

    Args:
        num_classes: number of output logits (channels of the last block).
        input_shape: `(height, width, channels)` of one image.

    Returns:
        A built `keras.Sequential` producing `(N, num_classes)` logits.

    Reference:
        Lin, Chen & Yan, *Network In Network*, ICLR 2014.

    Source: notes, 8.3 Network in Network (NiN).
    """
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            nin_block(96, 11, 4, "valid"),
            layers.MaxPooling2D(3, strides=2),
            nin_block(256, 5, 1, "same"),
            layers.MaxPooling2D(3, strides=2),
            nin_block(384, 3, 1, "same"),
            layers.MaxPooling2D(3, strides=2),
            layers.Dropout(0.5),
            nin_block(num_classes, 3, 1, "same"),
            layers.GlobalAveragePooling2D(),  # (N, 5, 5, classes) -> (N, classes)
        ],
        name="nin",
    )

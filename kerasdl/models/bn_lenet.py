"""LeNet with the scratch batch-norm layer, as in the notes.

Source: notes, 8.5 Batch Normalization (Applying Batch Normalization in LeNet).
"""

import keras

from kerasdl.layers.batch_norm import BatchNorm
from kerasdl.models.lenet import FASHION_MNIST_SHAPE

__all__ = ["bn_lenet"]


def bn_lenet(num_classes=10, input_shape=FASHION_MNIST_SHAPE):
    """The notes' BN-LeNet: `BatchNorm` after every conv/dense, before the sigmoid.

    Conv(6, 5x5, valid) -> BatchNorm -> sigmoid -> AvgPool(2, 2) ->
    Conv(16, 5x5) -> BatchNorm -> sigmoid -> AvgPool(2, 2) -> Flatten ->
    Dense(120) -> BatchNorm -> sigmoid -> Dense(84) -> BatchNorm -> sigmoid
    -> Dense(num_classes). Average pooling (not max pooling) as in LeNet.
    The scratch `BatchNorm` (momentum 0.9, epsilon 1e-5) is used; for
    28x28x1 inputs: 44,878 trainable and 452 non-trainable parameters.

    Args:
        num_classes: number of output logits.
        input_shape: `(height, width, channels)` of one image.

    Returns:
        A built `keras.Sequential` producing `(N, num_classes)` logits.

    Source: notes, 8.5 Batch Normalization.
    """
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(6, 5),
            BatchNorm(),
            layers.Activation("sigmoid"),
            layers.AveragePooling2D(2, strides=2),
            layers.Conv2D(16, 5),
            BatchNorm(),
            layers.Activation("sigmoid"),
            layers.AveragePooling2D(2, strides=2),
            layers.Flatten(),  # (N, 4, 4, 16) -> (N, 256)
            layers.Dense(120),
            BatchNorm(),
            layers.Activation("sigmoid"),
            layers.Dense(84),
            BatchNorm(),
            layers.Activation("sigmoid"),
            layers.Dense(num_classes),
        ],
        name="bn_lenet",
    )

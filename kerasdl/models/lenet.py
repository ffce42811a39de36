"""LeNet-5 as in the notes (sigmoid activations, average pooling).

Source: notes, 7.6 Convolutional Neural Networks (LeNet).
"""

import keras

__all__ = ["lenet"]

# Fashion-MNIST images: 28x28 pixels, one grey channel (NHWC without N).
FASHION_MNIST_SHAPE = (28, 28, 1)


def lenet(num_classes=10, input_shape=FASHION_MNIST_SHAPE):
    """The notes' LeNet: two sigmoid conv layers and three dense layers.

    Conv(6, 5x5, same, sigmoid) -> AvgPool(2, 2) -> Conv(16, 5x5, valid,
    sigmoid) -> AvgPool(2, 2) -> Flatten -> Dense(120, sigmoid) ->
    Dense(84, sigmoid) -> Dense(num_classes). 61,706 parameters for
    28x28x1 inputs and 10 classes.

    Args:
        num_classes: number of output logits.
        input_shape: `(height, width, channels)` of one image.

    Returns:
        A built `keras.Sequential` mapping `(N, 28, 28, 1)` images to
        `(N, num_classes)` logits (no softmax).

    Reference:
        LeCun et al., *Gradient-Based Learning Applied to Document
        Recognition*, Proc. IEEE 1998.

    Source: notes, 7.6 Convolutional Neural Networks (LeNet).
    """
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(6, 5, padding="same", activation="sigmoid"),
            layers.AveragePooling2D(2, strides=2),
            layers.Conv2D(16, 5, activation="sigmoid"),
            layers.AveragePooling2D(2, strides=2),
            layers.Flatten(),  # (N, 5, 5, 16) -> (N, 400)
            layers.Dense(120, activation="sigmoid"),
            layers.Dense(84, activation="sigmoid"),
            layers.Dense(num_classes),
        ],
        name="lenet",
    )

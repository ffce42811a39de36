"""AlexNet as in the notes (one input channel, Fashion-MNIST resized to 224).

Source: notes, 8.1 Deep Convolutional Neural Networks (AlexNet).
"""

import keras

__all__ = ["alexnet"]

# ImageNet-sized input used by the notes for AlexNet, VGG and NiN (NHWC without N).
IMAGENET_GRAY_SHAPE = (224, 224, 1)


def alexnet(num_classes=10, input_shape=IMAGENET_GRAY_SHAPE):
    """The notes' AlexNet: five conv layers, three dense layers, dropout 0.5.

    Conv(96, 11x11, stride 4, relu) -> MaxPool(3, 2) -> Conv(256, 5x5, same)
    -> MaxPool(3, 2) -> 3 x Conv(384, 384, 256; 3x3, same) -> MaxPool(3, 2)
    -> Flatten -> 2 x (Dense(4096, relu), Dropout(0.5)) -> Dense(num_classes).
    On 224x224 inputs the first conv gives 54x54 and the flattened features
    are 5x5x256 = 6400; 46,764,746 parameters for 10 classes.

    Args:
        num_classes: number of output logits.
        input_shape: `(height, width, channels)` of one image.

    Returns:
        A built `keras.Sequential` producing `(N, num_classes)` logits.

    Reference:
        Krizhevsky, Sutskever & Hinton, *ImageNet Classification with Deep
        Convolutional Neural Networks*, NeurIPS 2012.

    Source: notes, 8.1 Deep Convolutional Neural Networks (AlexNet).
    """
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(96, 11, strides=4, activation="relu"),
            layers.MaxPooling2D(3, strides=2),
            layers.Conv2D(256, 5, padding="same", activation="relu"),
            layers.MaxPooling2D(3, strides=2),
            layers.Conv2D(384, 3, padding="same", activation="relu"),
            layers.Conv2D(384, 3, padding="same", activation="relu"),
            layers.Conv2D(256, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(3, strides=2),
            layers.Flatten(),  # (N, 5, 5, 256) -> (N, 6400)
            layers.Dense(4096, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(4096, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(num_classes),
        ],
        name="alexnet",
    )

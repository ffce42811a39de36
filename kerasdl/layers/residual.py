"""The residual block of ResNet.

Source: notes, 8.6 Residual Networks (ResNet).
"""

import numbers

import keras

__all__ = ["Residual"]


@keras.saving.register_keras_serializable(package="kerasdl")
class Residual(keras.layers.Layer):
    """Residual block: two 3x3 convs with batch norm, plus the input.

    `Y = relu(bn1(conv1(X)))`, `Y = bn2(conv2(Y))`, then the skip connection
    is added **once**, `Y = relu(Y + shortcut(X))`, where `shortcut` is the
    identity or, with `use_1x1conv=True`, a 1x1 conv with `strides` (needed
    whenever the channels or the size change). `conv1` carries `strides`.
    Batch norm is Keras' `BatchNormalization` with its defaults
    (`momentum=0.99`, weight on the old value; `epsilon=1e-3`), as in the notes;
    `bn_momentum` changes the momentum (short runs need a smaller one, e.g.
    0.9, for the moving statistics to catch up).

    Args:
        num_channels: output channels, an int >= 1.
        use_1x1conv: whether the shortcut is a 1x1 conv.
        strides: stride of `conv1` and of the 1x1 shortcut, an int >= 1.
        bn_momentum: momentum of both batch-norm layers (weight on the old
            moving value), in [0, 1]; default 0.99 as Keras.
        **kwargs: base `Layer` arguments.

    Call arguments:
        X: NHWC input.
        training: Python bool or None; passed to the batch-norm layers
            (batch statistics and moving-average updates only when True).

    Input shape:
        `(N, H, W, C)`; `C` must equal `num_channels` unless `use_1x1conv`,
        and `strides` must be 1 unless `use_1x1conv`.

    Output shape:
        `(N, ceil(H / strides), ceil(W / strides), num_channels)`.

    Raises:
        ValueError: on a bad argument, or (at build time) if the identity
            shortcut cannot match the output shape.

    Reference:
        He et al., *Deep Residual Learning for Image Recognition*, CVPR 2016.

    Source: notes, 8.6 Residual Networks (ResNet).
    """

    def __init__(self, num_channels, use_1x1conv=False, strides=1, bn_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("num_channels", num_channels), ("strides", strides)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{name}` must be an int >= 1. Received: {name}={value!r}")
        if not isinstance(bn_momentum, numbers.Real) or not 0.0 <= bn_momentum <= 1.0:
            raise ValueError(
                f"`bn_momentum` must be in [0, 1]. Received: bn_momentum={bn_momentum!r}"
            )
        self.bn_momentum = float(bn_momentum)
        self.num_channels = int(num_channels)
        self.use_1x1conv = bool(use_1x1conv)
        self.strides = int(strides)
        self.conv1 = keras.layers.Conv2D(
            self.num_channels, 3, strides=self.strides, padding="same"
        )
        self.conv2 = keras.layers.Conv2D(self.num_channels, 3, padding="same")
        self.conv3 = None
        if self.use_1x1conv:
            self.conv3 = keras.layers.Conv2D(self.num_channels, 1, strides=self.strides)
        self.bn1 = keras.layers.BatchNormalization(momentum=self.bn_momentum)
        self.bn2 = keras.layers.BatchNormalization(momentum=self.bn_momentum)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if self.conv3 is None and (input_shape[-1] != self.num_channels or self.strides != 1):
            raise ValueError(
                "The identity shortcut needs the input channels to equal `num_channels` "
                "and `strides=1`; pass `use_1x1conv=True` otherwise. "
                f"Received: input_shape={input_shape}, num_channels={self.num_channels}, "
                f"strides={self.strides}"
            )
        self.conv1.build(input_shape)
        shape = self.conv1.compute_output_shape(input_shape)
        self.bn1.build(shape)
        self.conv2.build(shape)
        self.bn2.build(shape)
        if self.conv3 is not None:
            self.conv3.build(input_shape)

    def call(self, X, training=None):
        Y = keras.activations.relu(self.bn1(self.conv1(X), training=training))
        Y = self.bn2(self.conv2(Y), training=training)
        shortcut = X if self.conv3 is None else self.conv3(X)
        return keras.activations.relu(Y + shortcut)

    def compute_output_shape(self, input_shape):
        return self.conv1.compute_output_shape(tuple(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_channels": self.num_channels,
                "use_1x1conv": self.use_1x1conv,
                "strides": self.strides,
                "bn_momentum": self.bn_momentum,
            }
        )
        return config

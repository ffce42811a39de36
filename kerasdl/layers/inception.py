"""The Inception block of GoogLeNet.

Source: notes, 8.4 Multi-Branch Networks (GoogLeNet).
"""

import numbers

import keras

__all__ = ["Inception"]


def _check_channels(value, name, pair):
    """Validates a channel count (`pair=False`) or a pair of counts."""
    values = tuple(value) if pair and isinstance(value, (tuple, list)) else (value,)
    ok = len(values) == (2 if pair else 1) and all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in values
    )
    if not ok:
        expected = "a pair of ints >= 1" if pair else "an int >= 1"
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")
    return tuple(int(v) for v in values) if pair else int(value)


@keras.saving.register_keras_serializable(package="kerasdl")
class Inception(keras.layers.Layer):
    """Inception block: four parallel paths concatenated on the channel axis.

    Path 1: 1x1 conv (`c1`). Path 2: 1x1 conv (`c2[0]`), then 3x3 conv
    (`c2[1]`). Path 3: 1x1 conv (`c3[0]`), then 5x5 conv (`c3[1]`). Path 4:
    3x3 max pooling with stride 1, then 1x1 conv (`c4`; the notes' TF code
    wrongly used `c1` here). Every conv uses `padding="same"` and ReLU, so
    the height and width are kept.

    Args:
        c1: output channels of path 1.
        c2: `(reduce, out)` channels of path 2.
        c3: `(reduce, out)` channels of path 3.
        c4: output channels of path 4.
        **kwargs: base `Layer` arguments.

    Call arguments:
        X: NHWC input.
        training: unused (no dropout or batch norm inside).

    Input shape:
        `(N, H, W, C)`.

    Output shape:
        `(N, H, W, c1 + c2[1] + c3[1] + c4)`.

    Raises:
        ValueError: if a channel argument is not an int (pair of ints) >= 1.

    Reference:
        Szegedy et al., *Going Deeper with Convolutions*, CVPR 2015.

    Source: notes, 8.4 Multi-Branch Networks (GoogLeNet).
    """

    def __init__(self, c1, c2, c3, c4, **kwargs):
        super().__init__(**kwargs)
        self.c1 = _check_channels(c1, "c1", pair=False)
        self.c2 = _check_channels(c2, "c2", pair=True)
        self.c3 = _check_channels(c3, "c3", pair=True)
        self.c4 = _check_channels(c4, "c4", pair=False)
        conv = keras.layers.Conv2D
        self.p1_1 = conv(self.c1, 1, activation="relu")
        self.p2_1 = conv(self.c2[0], 1, activation="relu")
        self.p2_2 = conv(self.c2[1], 3, padding="same", activation="relu")
        self.p3_1 = conv(self.c3[0], 1, activation="relu")
        self.p3_2 = conv(self.c3[1], 5, padding="same", activation="relu")
        self.p4_1 = keras.layers.MaxPooling2D(3, strides=1, padding="same")
        self.p4_2 = conv(self.c4, 1, activation="relu")
        self.concat = keras.layers.Concatenate(axis=-1)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        for first, second in (
            (self.p1_1, None),
            (self.p2_1, self.p2_2),
            (self.p3_1, self.p3_2),
            (self.p4_1, self.p4_2),
        ):
            first.build(input_shape)
            if second is not None:
                second.build(first.compute_output_shape(input_shape))
        self.concat.build(
            [input_shape[:-1] + (c,) for c in (self.c1, self.c2[1], self.c3[1], self.c4)]
        )

    def call(self, X, training=None):
        p1 = self.p1_1(X)
        p2 = self.p2_2(self.p2_1(X))
        p3 = self.p3_2(self.p3_1(X))
        p4 = self.p4_2(self.p4_1(X))
        return self.concat([p1, p2, p3, p4])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.c1 + self.c2[1] + self.c3[1] + self.c4,)

    def get_config(self):
        config = super().get_config()
        config.update({"c1": self.c1, "c2": self.c2, "c3": self.c3, "c4": self.c4})
        return config

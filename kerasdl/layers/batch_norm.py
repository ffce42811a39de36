"""Batch normalization from scratch: the function and the layer.

Source: notes, 8.5 Batch Normalization.
"""

import numbers

import keras
import tensorflow as tf

__all__ = ["batch_norm", "BatchNorm"]

# Inputs the notes normalise: (N, D) after a dense layer, (N, H, W, C) after a conv.
_SUPPORTED_RANKS = (2, 4)


def batch_norm(X, gamma, beta, moving_mean, moving_var, eps, momentum, training):
    """Batch-normalises `X` over every axis but the last (the features/channels).

    Training: `mean` and `var` are the batch statistics over all axes but the
    last; `var` is the *biased* variance (divided by the number of values, as
    Keras does). The moving statistics move towards them,
    `moving = momentum * moving + (1 - momentum) * batch`, i.e. `momentum`
    is the weight on the **old** value (Keras' convention; PyTorch's
    `momentum` is the weight on the new value).
    Inference: the moving statistics are used and returned unchanged.

    `Y = gamma * (X - mean) / sqrt(var + eps) + beta`.

    Args:
        X: input of shape `(N, D)` or `(N, H, W, C)` (NHWC).
        gamma: scale, shape `(D,)` or `(C,)`.
        beta: shift, same shape as `gamma`.
        moving_mean: running mean, same shape as `gamma`.
        moving_var: running variance, same shape as `gamma`.
        eps: small constant added to the variance (the notes use `1e-5`).
        momentum: weight of the old moving value (the notes use `0.9`).
        training: Python bool; True uses (and folds in) the batch statistics.

    Returns:
        `(Y, moving_mean, moving_var)`: `Y` has the shape of `X`; the moving
        statistics are the updated ones in training, the inputs otherwise.

    Raises:
        ValueError: if `X` is not 2-D or 4-D.

    Source: notes, 8.5 Batch Normalization.
    """
    X = tf.convert_to_tensor(X)
    if X.shape.rank not in _SUPPORTED_RANKS:
        raise ValueError(
            "`X` must be 2-D (N, D) or 4-D (N, H, W, C). "
            f"Received: X.shape={tuple(X.shape)}"
        )
    dtype = X.dtype
    gamma, beta, moving_mean, moving_var = (
        tf.cast(tf.convert_to_tensor(v), dtype) for v in (gamma, beta, moving_mean, moving_var)
    )
    if training:
        axes = list(range(X.shape.rank - 1))  # all but the feature/channel axis
        mean = tf.reduce_mean(X, axis=axes)
        var = tf.reduce_mean(tf.square(X - mean), axis=axes)  # biased
        X_hat = (X - mean) / tf.sqrt(var + eps)
        moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
        moving_var = momentum * moving_var + (1.0 - momentum) * var
    else:
        X_hat = (X - moving_mean) / tf.sqrt(moving_var + eps)
    return gamma * X_hat + beta, moving_mean, moving_var


@keras.saving.register_keras_serializable(package="kerasdl")
class BatchNorm(keras.layers.Layer):
    """Batch-normalization layer from scratch, the notes' `BatchNorm`.

    Normalises over every axis but the last with `batch_norm`. The scale
    `gamma` (ones) and shift `beta` (zeros) are trainable; `moving_mean`
    (zeros) and `moving_variance` (ones) are non-trainable and are updated
    with `Variable.assign` only when called with `training=True`.

    Defaults follow the notes, **not** Keras: `momentum=0.9`, `epsilon=1e-5`,
    where `keras.layers.BatchNormalization` uses `momentum=0.99`,
    `epsilon=1e-3`. Both use `momentum` as the weight on the old moving
    value and the biased batch variance, so
    `BatchNormalization(momentum=0.9, epsilon=1e-5)` computes the same thing.

    Args:
        momentum: weight of the old moving value, in [0, 1].
        epsilon: constant added to the variance, > 0.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        X: input of shape `(N, D)` or `(N, H, W, C)`.
        training: Python bool or None; True normalises with the batch
            statistics and updates the moving ones; False/None (inference)
            uses the moving statistics.

    Input shape:
        `(N, D)` or `(N, H, W, C)`.

    Output shape:
        Same as the input.

    Raises:
        ValueError: if `momentum` is outside [0, 1] or `epsilon <= 0`.

    Reference:
        Ioffe & Szegedy, *Batch Normalization: Accelerating Deep Network
        Training by Reducing Internal Covariate Shift*, ICML 2015.

    Source: notes, 8.5 Batch Normalization.
    """

    def __init__(self, momentum=0.9, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(momentum, numbers.Real) or not 0.0 <= momentum <= 1.0:
            raise ValueError(f"`momentum` must be in [0, 1]. Received: momentum={momentum!r}")
        if not isinstance(epsilon, numbers.Real) or not epsilon > 0.0:
            raise ValueError(f"`epsilon` must be > 0. Received: epsilon={epsilon!r}")
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if len(input_shape) not in _SUPPORTED_RANKS:
            raise ValueError(
                "`BatchNorm` expects a 2-D (N, D) or 4-D (N, H, W, C) input. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        shape = (input_shape[-1],)
        self.gamma = self.add_weight(shape=shape, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=shape, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(
            shape=shape, initializer="zeros", trainable=False, name="moving_mean"
        )
        self.moving_variance = self.add_weight(
            shape=shape, initializer="ones", trainable=False, name="moving_variance"
        )

    def call(self, X, training=None):
        Y, moving_mean, moving_var = batch_norm(
            X,
            self.gamma,
            self.beta,
            self.moving_mean,
            self.moving_variance,
            eps=self.epsilon,
            momentum=self.momentum,
            training=bool(training),
        )
        if training:
            self.moving_mean.assign(moving_mean)
            self.moving_variance.assign(moving_var)
        return Y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "epsilon": self.epsilon})
        return config

"""Generalization and regularization: K-fold, weight decay, dropout, augmentation.

References for the exercises of chapter 6 (`k_fold_data`, `l2_penalty`,
`sgd_weight_decay`, `dropout_layer`, `DropoutMLP`) and what the notes teach
around them: the polynomial under/overfitting data (`polynomial_data`), weight
decay with a Keras regularizer (`weight_decay_regularizer`,
`weight_decay_model`) and image augmentation with Keras preprocessing layers
(`augmentation_layers`).

Two conventions for the L2 penalty meet here: the notes' `l2_penalty(w)` is
`||w||^2 / 2` and the objective is `loss + wd * l2_penalty(w)`; Keras
`keras.regularizers.L2(c)` adds `c * ||w||^2` (no 1/2). The notes' penalty
`wd / 2 * ||w||^2` is therefore `L2(wd / 2)`, and either one adds `wd * w` to
the gradient, the decay of `sgd_weight_decay`.
"""

import math
import numbers

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from kerasdl.preliminaries import _as_float_tensor

__all__ = [
    "k_fold_data",
    "l2_penalty",
    "sgd_weight_decay",
    "dropout_layer",
    "DropoutMLP",
    "polynomial_data",
    "weight_decay_regularizer",
    "weight_decay_model",
    "augmentation_layers",
]

# Coefficients of the notes' cubic: y = 5 + 1.2 x - 3.4 x^2/2! + 5.6 x^3/3!.
POLYNOMIAL_TRUE_W = (5.0, 1.2, -3.4, 5.6)
# Standard deviation of the label noise of the polynomial data.
POLYNOMIAL_NOISE_STD = 0.1


def _as_rows(a):
    """Return NumPy arrays and tensors as they are, frames and lists as arrays."""
    if isinstance(a, (pd.DataFrame, pd.Series)):
        return a.to_numpy()
    if isinstance(a, (np.ndarray, tf.Tensor, tf.Variable)):
        return a
    return np.asarray(a)


def k_fold_data(k, i, X, y):
    """Split `(X, y)` into the training and validation data of fold `i`.

    With `fold_size = n // k`, fold `j` holds rows
    `j * fold_size : (j + 1) * fold_size`. Fold `i` is the validation set; the
    other folds, in their original order, are the training set. The last
    `n - k * fold_size` rows belong to no fold and are dropped.

    Args:
        k: int `>= 2`, number of folds.
        i: int in `[0, k)`, index of the validation fold.
        X: features, `(n, ...)` (tensor, NumPy array, DataFrame or list).
        y: labels, `(n, ...)`.

    Returns:
        `(X_train, y_train, X_valid, y_valid)`: NumPy arrays for NumPy (or
        pandas) input, `tf.Tensor`s for tensor input.

    Raises:
        ValueError: if `k < 2`, `i` is outside `[0, k)`, `X` and `y` differ
            in length, or `n < k`.

    Source: notes, 5.7 Predicting House Prices on Kaggle (K-fold
    cross-validation).
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 2:
        raise ValueError(f"`k` must be an int >= 2. Received: k={k!r}")
    if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < k:
        raise ValueError(f"`i` must be an int in [0, k={k}). Received: i={i!r}")
    X, y = _as_rows(X), _as_rows(y)
    n = int(X.shape[0])
    if int(y.shape[0]) != n:
        raise ValueError(
            "`X` and `y` must have the same number of rows. "
            f"Received: X with {n} rows, y with {int(y.shape[0])} rows"
        )
    fold_size = n // k
    if fold_size == 0:
        raise ValueError(
            f"`k` must not exceed the number of rows ({n}). Received: k={k}"
        )
    valid = slice(i * fold_size, (i + 1) * fold_size)
    before, after = slice(0, i * fold_size), slice((i + 1) * fold_size, k * fold_size)

    def train_part(a):
        concat = np.concatenate if isinstance(a, np.ndarray) else tf.concat
        return concat([a[before], a[after]], 0)

    return train_part(X), train_part(y), X[valid], y[valid]


def l2_penalty(w):
    """Return the notes' L2 penalty `sum(w^2) / 2`.

    Note the 1/2: `keras.regularizers.L2(c)(w)` is `c * sum(w^2)`, so
    `wd * l2_penalty(w)` equals `L2(wd / 2)(w)`.

    Args:
        w: array-like weights of any shape.

    Returns:
        Scalar `tf.Tensor` with the float dtype of `w`.

    Source: notes, 3.7 Weight Decay.
    """
    w = _as_float_tensor(w)
    return tf.reduce_sum(w**2) / 2


def sgd_weight_decay(w, grad, lr, wd):
    """Return one SGD step with weight decay: `(1 - lr * wd) * w - lr * grad`.

    The gradient of `loss + wd * l2_penalty(w)` is `grad + wd * w`, so the
    step first shrinks `w` by the factor `1 - lr * wd`.

    Args:
        w: weights, array-like.
        grad: gradient of the unpenalized loss, same shape.
        lr: learning rate.
        wd: weight decay coefficient (`lambda` of the notes).

    Returns:
        `tf.Tensor` with the shape of `w` (a new value; `w` is unchanged).

    Source: notes, 3.7 Weight Decay.
    """
    w = _as_float_tensor(w)
    grad = tf.cast(_as_float_tensor(grad), w.dtype)
    return (1 - lr * wd) * w - lr * grad


def dropout_layer(X, dropout, *, seed=None):
    """Apply inverted dropout to `X`.

    Each element is zeroed with probability `dropout` and otherwise divided
    by `1 - dropout`, so the expectation of every element is unchanged.
    `dropout = 0` returns `X`; `dropout = 1` returns zeros.

    Args:
        X: array-like, float32 or float64.
        dropout: probability of dropping an element, in [0, 1].
        seed: optional int (same int, same mask) or
            `keras.random.SeedGenerator`; `None` draws from Keras' global
            generator (see `kerasdl.set_seed`).

    Returns:
        `tf.Tensor` with the shape and float dtype of `X`.

    Raises:
        TypeError: if `dropout` is not a number.
        ValueError: if `dropout` is outside [0, 1].

    Source: notes, 5.6 Dropout.
    """
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real):
        raise TypeError(
            "`dropout` must be a number in [0, 1]. "
            f"Received: dropout={dropout!r}"
        )
    if not 0 <= dropout <= 1:  # also rejects NaN
        raise ValueError(
            f"`dropout` must be in [0, 1]. Received: dropout={dropout}"
        )
    X = _as_float_tensor(X)
    if dropout == 0:
        return X
    if dropout == 1:
        return tf.zeros_like(X)
    keep = keras.random.uniform(tf.shape(X), dtype=X.dtype, seed=seed) >= dropout
    return tf.where(keep, X / (1.0 - dropout), tf.zeros_like(X))


@keras.saving.register_keras_serializable(package="kerasdl")
class DropoutMLP(keras.Model):
    """MLP with two hidden layers and dropout after each (the notes' model).

    Flatten -> Dense(num_hiddens1, relu) -> dropout(dropout1) ->
    Dense(num_hiddens2, relu) -> dropout(dropout2) -> Dense(num_outputs)
    logits. Dropout is `dropout_layer` and runs only when `training=True`;
    `training=None` (the default, and what `predict` / `evaluate` /
    a plain call use) is inference.

    Args:
        num_outputs: number of classes.
        num_hiddens1: units of the first hidden layer.
        num_hiddens2: units of the second hidden layer.
        dropout1: dropout probability after the first hidden layer.
        dropout2: dropout probability after the second hidden layer.
        seed: optional int for the dropout masks.
        **kwargs: base `keras.Model` arguments (`name`, ...).

    Call arguments:
        X: inputs `(batch, ...)`, flattened to `(batch, features)`.
        training: Python bool or `None`; dropout only when `True`.

    Input shape:
        `(batch, ...)`, e.g. `(batch, 28, 28, 1)` NHWC images.

    Output shape:
        `(batch, num_outputs)` logits.

    Raises:
        ValueError: if a dropout probability is outside [0, 1].

    Reference:
        Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks
        from Overfitting", JMLR 2014.

    Source: notes, 5.6 Dropout.
    """

    def __init__(self, num_outputs, num_hiddens1, num_hiddens2, dropout1,
                 dropout2, seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, rate in (("dropout1", dropout1), ("dropout2", dropout2)):
            if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate <= 1:
                raise ValueError(
                    f"`{name}` must be in [0, 1]. Received: {name}={rate!r}"
                )
        self.num_outputs = num_outputs
        self.num_hiddens1 = num_hiddens1
        self.num_hiddens2 = num_hiddens2
        self.dropout1 = dropout1
        self.dropout2 = dropout2
        self.seed = seed
        self.flatten = keras.layers.Flatten()
        self.lin1 = keras.layers.Dense(num_hiddens1, activation="relu")
        self.lin2 = keras.layers.Dense(num_hiddens2, activation="relu")
        self.lin3 = keras.layers.Dense(num_outputs)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, X, training=None):
        H1 = self.lin1(self.flatten(X))
        if training:
            H1 = dropout_layer(H1, self.dropout1, seed=self.seed_generator)
        H2 = self.lin2(H1)
        if training:
            H2 = dropout_layer(H2, self.dropout2, seed=self.seed_generator)
        return self.lin3(H2)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_outputs=self.num_outputs,
            num_hiddens1=self.num_hiddens1,
            num_hiddens2=self.num_hiddens2,
            dropout1=self.dropout1,
            dropout2=self.dropout2,
            seed=self.seed,
        )
        return config


def polynomial_data(max_degree=20, n_train=100, n_test=100, *, seed=None):
    """Generate the notes' polynomial regression data.

    `x ~ N(0, 1)`, features `x^i / i!` for `i = 0, ..., max_degree - 1`
    (dividing by `i!` keeps large powers from dominating), and labels
    `y = 5 + 1.2 x - 3.4 x^2/2! + 5.6 x^3/3! + eps`, `eps ~ N(0, 0.1^2)`.
    Fitting the first 4 features matches the true model; 2 underfit; all 20
    with 100 training examples overfit.

    Args:
        max_degree: number of polynomial features (`>= 4`).
        n_train: number of training examples (the first `n_train` rows).
        n_test: number of test examples (the remaining rows).
        seed: optional int for the NumPy generator.

    Returns:
        `(true_w, features, poly_features, labels)` float32 `tf.Tensor`s of
        shapes `(max_degree,)`, `(n_train + n_test, 1)`,
        `(n_train + n_test, max_degree)` and `(n_train + n_test,)`.

    Raises:
        ValueError: if `max_degree < 4`.

    Source: notes, 3.6 Generalization (polynomial curve fitting).
    """
    if max_degree < len(POLYNOMIAL_TRUE_W):
        raise ValueError(
            f"`max_degree` must be >= {len(POLYNOMIAL_TRUE_W)}. "
            f"Received: max_degree={max_degree}"
        )
    rng = np.random.default_rng(seed)
    true_w = np.zeros(max_degree)
    true_w[: len(POLYNOMIAL_TRUE_W)] = POLYNOMIAL_TRUE_W
    features = rng.standard_normal((n_train + n_test, 1))
    # (n, 1) ** (max_degree,) -> (n, max_degree): column i is x^i.
    poly_features = np.power(features, np.arange(max_degree))
    poly_features /= np.array([math.factorial(i) for i in range(max_degree)])
    labels = poly_features @ true_w
    labels += rng.normal(scale=POLYNOMIAL_NOISE_STD, size=labels.shape)
    return tuple(
        tf.constant(a, dtype=tf.float32)
        for a in (true_w, features, poly_features, labels)
    )


def weight_decay_regularizer(wd):
    """Return the Keras regularizer equal to the notes' penalty `wd/2 * ||w||^2`.

    That is `keras.regularizers.L2(wd / 2)`: Keras' `L2(c)` is
    `c * sum(w^2)` with no 1/2. Its gradient adds `wd * w`.

    Args:
        wd: weight decay coefficient (`lambda` of the notes), `>= 0`.

    Returns:
        `keras.regularizers.L2`.

    Raises:
        ValueError: if `wd < 0`.

    Source: notes, 3.7 Weight Decay.
    """
    if not wd >= 0:
        raise ValueError(f"`wd` must be >= 0. Received: wd={wd}")
    return keras.regularizers.L2(wd / 2)


def weight_decay_model(num_inputs, wd, *, seed=None):
    """Return a linear regression model whose kernel is decayed by `wd`.

    `Dense(1)` with `kernel_regularizer=weight_decay_regularizer(wd)` (the
    bias is not decayed), weights from `N(0, 1)` as in the notes. The
    penalty appears in `model.losses`; `train_step` and `fit` add it.

    Args:
        num_inputs: number of features.
        wd: weight decay coefficient, `>= 0`.
        seed: optional int for the weight initializer.

    Returns:
        `keras.Sequential` mapping `(n, num_inputs)` to `(n, 1)`.

    Source: notes, 3.7 Weight Decay.
    """
    return keras.Sequential(
        [
            keras.Input((num_inputs,)),
            keras.layers.Dense(
                1,
                kernel_initializer=keras.initializers.RandomNormal(
                    stddev=1.0, seed=seed
                ),
                kernel_regularizer=weight_decay_regularizer(wd),
            ),
        ],
        name="weight_decay_linreg",
    )


def augmentation_layers(height=None, width=None, *, flip=True,
                        brightness=0.2, contrast=0.2, seed=None):
    """Return random image augmentations as a `keras.Sequential` of layers.

    In order: a horizontal flip, a random crop to `height x width` (when
    given), random brightness and random contrast, all for float images with
    values in [0, 1]. Keras preprocessing layers augment only when called with
    `training=True` (inside `fit` or `train_step`); at inference they are the
    identity, except the crop, which then center-crops to the same size.

    Args:
        height: optional int, crop height (<= the input height).
        width: optional int, crop width; given with `height`.
        flip: whether to flip left-right with probability 1/2.
        brightness: max brightness shift as a fraction of the value range
            (0 turns it off).
        contrast: max relative contrast change (0 turns it off).
        seed: optional int for the layers' generators.

    Returns:
        `keras.Sequential` mapping NHWC `(batch, H, W, C)` in [0, 1] to
        `(batch, height or H, width or W, C)` in [0, 1].

    Raises:
        ValueError: if only one of `height` and `width` is given.

    Source: notes, 14.1 Image Augmentation.
    """
    if (height is None) != (width is None):
        raise ValueError(
            "`height` and `width` must be given together. "
            f"Received: height={height}, width={width}"
        )
    value_range = (0.0, 1.0)  # images scaled to [0, 1], not Keras' (0, 255)
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if height is not None:
        layers.append(keras.layers.RandomCrop(height, width, seed=seed))
    if brightness:
        layers.append(
            keras.layers.RandomBrightness(brightness, value_range=value_range, seed=seed)
        )
    if contrast:
        layers.append(
            keras.layers.RandomContrast(contrast, value_range=value_range, seed=seed)
        )
    return keras.Sequential(layers, name="augmentation")

"""Adversarial examples with the fast gradient sign method (FGSM).

`X_adv = clip(X + epsilon * sign(grad_X L(net(X), y)), 0, 1)`: one step
that increases the loss as much as possible under a max-norm budget.
`epsilon` is in pixel units of images scaled to [0, 1] (0.1 = 10% of the
grey range, about 25.5 of 255). The model is always called with
`training=False`, so dropout is off and batch-norm layers use (and keep)
their moving statistics.

Source: notes, 8.7 Adversarial Examples (FGSM), after 8.6 ResNet.
"""

import math
import numbers
import weakref

import keras
import matplotlib.figure
import numpy as np
import pandas as pd
import tensorflow as tf

__all__ = [
    "fgsm_gradient",
    "fgsm",
    "adversarial_accuracy",
    "adversarial_curve",
    "plot_adversarial_examples",
    "plot_adversarial_curve",
]

# Images are scaled to [0, 1]; adversarial images are clipped back into it.
PIXEL_MIN, PIXEL_MAX = 0.0, 1.0

# Compiled attack-and-score steps, one per model and input signature; a
# model's entry disappears with the model.
_COMPILED_STEPS = weakref.WeakKeyDictionary()


def _check_epsilon(epsilon):
    """Returns `epsilon` as a float after checking it is finite and >= 0."""
    if (
        isinstance(epsilon, bool)
        or not isinstance(epsilon, numbers.Real)
        or not math.isfinite(epsilon)
        or epsilon < 0
    ):
        raise ValueError(
            "`epsilon` must be a finite number >= 0 (pixel units on [0, 1]). "
            f"Received: epsilon={epsilon!r}"
        )
    return float(epsilon)


def _as_images(X):
    """Converts `X` to a float tensor (float32 unless it is float64)."""
    X = tf.convert_to_tensor(X)
    if X.dtype not in (tf.float32, tf.float64):
        X = tf.cast(X, tf.float32)
    return X


def _summed_loss(model, X, y):
    """Summed sparse categorical cross-entropy of the logits `model(X)`.

    Summing (not averaging) makes the gradient w.r.t. each example its own
    loss's gradient; the sign, hence FGSM, is the same either way.
    """
    logits = model(X, training=False)
    losses = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    return tf.reduce_sum(losses), logits


def fgsm_gradient(model, X, y):
    """Gradient of the cross-entropy loss w.r.t. the input images.

    `L = sum_i CE(softmax(model(X_i)), y_i)`, computed from logits with
    `model(X, training=False)`.

    Args:
        model: a Keras model (or callable layer) mapping `X` to logits `(N, q)`.
        X: input batch, e.g. NHWC images `(N, H, W, C)` in [0, 1].
        y: integer class labels `(N,)`.

    Returns:
        A `tf.Tensor` shaped like `X`.

    Source: notes, 8.7 Adversarial Examples.
    """
    X = _as_images(X)
    y = tf.convert_to_tensor(y)
    with tf.GradientTape() as tape:
        tape.watch(X)
        loss, _ = _summed_loss(model, X, y)
    return tape.gradient(loss, X)


def fgsm(model, X, y, epsilon):
    """Fast gradient sign method: one signed-gradient step, clipped to [0, 1].

    `X_adv = clip(X + epsilon * sign(grad_X L), 0, 1)` where `L` is the
    sparse categorical cross-entropy of `model(X, training=False)` (logits)
    with the true labels `y`. Runs eagerly (one batch); use
    `adversarial_accuracy` for whole datasets (compiled).

    Args:
        model: a Keras model mapping `X` to logits `(N, q)`.
        X: input batch, NHWC images `(N, H, W, C)` with values in [0, 1].
        y: integer class labels `(N,)`.
        epsilon: perturbation size in pixel units on [0, 1], finite, >= 0.

    Returns:
        A `tf.Tensor` shaped like `X` with `|X_adv - X| <= epsilon` and
        values in [0, 1].

    Raises:
        ValueError: if `epsilon` is negative, not finite or not a number.

    Reference:
        Goodfellow, Shlens & Szegedy, *Explaining and Harnessing Adversarial
        Examples*, ICLR 2015.

    Source: notes, 8.7 Adversarial Examples.
    """
    epsilon = _check_epsilon(epsilon)
    X = _as_images(X)
    grad = fgsm_gradient(model, X, y)
    return tf.clip_by_value(X + epsilon * tf.sign(grad), PIXEL_MIN, PIXEL_MAX)


def _compiled_step(model, X, y):
    """Returns a `tf.function` `(X, y, epsilon) -> (X_adv, num_correct)` for `model`.

    The input signature leaves the batch axis free, so a ragged last batch
    does not retrace; one trace per model and image shape/dtype.
    """
    key = (tuple(X.shape[1:]), X.dtype.name, y.dtype.name)
    steps = _COMPILED_STEPS.setdefault(model, {})
    if key not in steps:
        # A weak reference: the cached step must not keep its model alive.
        model_ref = weakref.ref(model)

        def step(X, y, epsilon):
            model = model_ref()
            with tf.GradientTape() as tape:
                tape.watch(X)
                loss, _ = _summed_loss(model, X, y)
            X_adv = tf.clip_by_value(
                X + tf.cast(epsilon, X.dtype) * tf.sign(tape.gradient(loss, X)),
                PIXEL_MIN,
                PIXEL_MAX,
            )
            logits = model(X_adv, training=False)
            predictions = tf.argmax(logits, axis=-1, output_type=tf.int64)
            num_correct = tf.reduce_sum(
                tf.cast(predictions == tf.cast(y, tf.int64), tf.int64)
            )
            return X_adv, num_correct

        signature = [
            tf.TensorSpec((None,) + key[0], X.dtype),
            tf.TensorSpec((None,), y.dtype),
            tf.TensorSpec((), tf.float64),
        ]
        # No tensor-dependent Python control flow: AutoGraph is not needed,
        # and without it the step runs as written (its own code objects).
        steps[key] = tf.function(step, input_signature=signature, autograph=False)
    return steps[key]


def _accuracies(model, dataset, epsilons):
    """Fraction correct after FGSM for each epsilon, in one pass over `dataset`."""
    num_correct = np.zeros(len(epsilons), dtype=np.int64)
    num_examples = 0
    for X, y in dataset:
        X = _as_images(X)
        y = tf.convert_to_tensor(y)
        if not y.dtype.is_integer:
            y = tf.cast(y, tf.int64)
        y = tf.reshape(y, (-1,))  # (N, 1) or (N,) -> (N,)
        step = _compiled_step(model, X, y)
        for i, epsilon in enumerate(epsilons):
            _, correct = step(X, y, tf.constant(epsilon, tf.float64))
            num_correct[i] += int(correct)
        num_examples += int(y.shape[0])
    if num_examples == 0:
        raise ValueError("`dataset` yielded no examples. Received: an empty dataset")
    return num_correct / num_examples


def adversarial_accuracy(model, dataset, epsilon):
    """Fraction of examples still classified correctly after FGSM.

    Every example of `dataset` is attacked with `fgsm` (true labels,
    `training=False`) and classified with `argmax model(X_adv)`; the unequal
    last batch is counted by its real size. At `epsilon=0` this is the clean
    accuracy. The attack is compiled once per model (no retracing per batch).

    Args:
        model: a Keras model mapping images to logits.
        dataset: iterable of `(X, y)` batches (e.g. a `tf.data.Dataset`),
            images in [0, 1], integer labels.
        epsilon: perturbation size in pixel units on [0, 1], finite, >= 0.

    Returns:
        A Python float in [0, 1].

    Raises:
        ValueError: on a bad `epsilon` or an empty `dataset`.

    Source: notes, 8.7 Adversarial Examples.
    """
    epsilon = _check_epsilon(epsilon)
    return float(_accuracies(model, dataset, [epsilon])[0])


def adversarial_curve(model, dataset, epsilons):
    """Adversarial accuracy for several epsilons, in one pass over the data.

    Args:
        model: a Keras model mapping images to logits.
        dataset: iterable of `(X, y)` batches, images in [0, 1].
        epsilons: sequence of perturbation sizes (pixel units on [0, 1]).

    Returns:
        A `pandas.DataFrame` with columns `epsilon` and `accuracy`, one row
        per epsilon in the given order.

    Raises:
        ValueError: on a bad epsilon, no epsilons or an empty `dataset`.

    Source: notes, 8.7 Adversarial Examples.
    """
    epsilons = [_check_epsilon(epsilon) for epsilon in epsilons]
    if not epsilons:
        raise ValueError("`epsilons` must not be empty. Received: epsilons=[]")
    accuracies = _accuracies(model, dataset, epsilons)
    return pd.DataFrame({"epsilon": epsilons, "accuracy": accuracies.astype(float)})


def plot_adversarial_curve(df, ax=None):
    """Plots accuracy against epsilon from `adversarial_curve`'s frame.

    Args:
        df: `pandas.DataFrame` with columns `epsilon` and `accuracy`.
        ax: optional matplotlib `Axes` to draw on; a new figure otherwise.

    Returns:
        The matplotlib `Figure`.

    Source: notes, 8.7 Adversarial Examples.
    """
    if ax is None:
        fig = matplotlib.figure.Figure(figsize=(4.5, 3.5))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    ax.plot(df["epsilon"], df["accuracy"], marker="o")
    ax.set_xlabel("epsilon (pixel units on [0, 1])")
    ax.set_ylabel("accuracy under FGSM")
    ax.set_ylim(0.0, 1.0)
    ax.grid(True)
    fig.tight_layout()
    return fig


def plot_adversarial_examples(model, X, y, epsilon, labels=None, max_images=8):
    """Shows clean images (top) and their FGSM versions (bottom) with predictions.

    Each title reads `pred (true)`; titles of wrong predictions are red.

    Args:
        model: a Keras model mapping images to logits.
        X: NHWC images `(N, H, W, C)` in [0, 1] (C = 1 or 3).
        y: integer labels `(N,)`.
        epsilon: perturbation size in pixel units on [0, 1].
        labels: optional sequence of class names indexed by label.
        max_images: show at most this many images.

    Returns:
        The matplotlib `Figure`.

    Raises:
        ValueError: on a bad `epsilon`.

    Source: notes, 8.7 Adversarial Examples.
    """
    epsilon = _check_epsilon(epsilon)
    X = _as_images(X)[:max_images]
    y = np.asarray(y).reshape(-1)[:max_images]
    X_adv = fgsm(model, X, y, epsilon)
    name = (lambda k: str(labels[k])) if labels is not None else str
    n = int(X.shape[0])
    fig = matplotlib.figure.Figure(figsize=(1.6 * n, 3.8))
    axes = fig.subplots(2, n, squeeze=False)
    for row, (images, title) in enumerate(((X, "clean"), (X_adv, f"FGSM eps={epsilon:g}"))):
        predictions = np.argmax(np.asarray(model(images, training=False)), axis=-1)
        for j in range(n):
            ax = axes[row, j]
            image = np.asarray(images[j])
            ax.imshow(image.squeeze(-1) if image.shape[-1] == 1 else image,
                      cmap="gray", vmin=PIXEL_MIN, vmax=PIXEL_MAX)
            ax.set_title(f"{name(predictions[j])} ({name(y[j])})", fontsize=8,
                         color="black" if predictions[j] == y[j] else "red")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(title)
    fig.tight_layout()
    return fig

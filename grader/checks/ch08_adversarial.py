"""Checks of chapter 8 (adversarial examples), FGSM.

`fgsm` runs on small fixed models: the notes' two-feature logistic model
(anchor: eps 0.1 -> [0.4, 0.6], eps 0.6 -> [0, 1] after clipping), an MLP
on images, a model with batch normalization whose moving statistics differ
from any batch's (attacking in training mode gives other gradient signs)
and one with dropout. Known mistakes: no sign, no clipping, the wrong
direction, the model in training mode. `adversarial_accuracy` runs over a
dataset with a ragged last batch.

Source: notes, 8.7 Adversarial Examples.
"""

import keras
import numpy as np
import tensorflow as tf

import kerasdl
from grader.compare import to_array
from grader.errors import CaseFailed
from grader.registry import exercise

CHAPTER = "ch08_adversarial"

NUM_CLASSES = 3
IMAGE_SHAPE = (4, 4, 1)


def _logistic_model():
    """Two logits `[0, x1 - 2 x2]`: the notes' logistic model w = [1, -2], b = 0."""
    net = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    net.set_weights([np.array([[0.0, 1.0], [0.0, -2.0]]), np.zeros(2)])
    return net


def _seeded(net, seed):
    rng = np.random.default_rng(seed)
    net.set_weights([rng.normal(0.0, 1.0, size=w.shape) if w.ndim > 1
                     else rng.normal(0.0, 0.1, size=w.shape) for w in net.get_weights()])
    return net


def _mlp_model(seed):
    """An image MLP with tanh units (no exactly-zero input gradients)."""
    return _seeded(keras.Sequential([
        keras.Input(IMAGE_SHAPE),
        keras.layers.Flatten(),  # (N, 4, 4, 1) -> (N, 16)
        keras.layers.Dense(8, activation="tanh"),
        keras.layers.Dense(NUM_CLASSES),
    ]), seed)


def _bn_model(seed):
    """A model whose batch norm's moving statistics are far from a batch's."""
    net = _seeded(keras.Sequential([
        keras.Input(IMAGE_SHAPE),
        keras.layers.Flatten(),  # (N, 4, 4, 1) -> (N, 16)
        keras.layers.Dense(6),
        keras.layers.BatchNormalization(),
        keras.layers.Activation("tanh"),
        keras.layers.Dense(NUM_CLASSES),
    ]), seed)
    bn = net.layers[2]
    rng = np.random.default_rng(seed + 1)
    bn.set_weights([rng.uniform(0.5, 2.0, 6), rng.normal(0.0, 0.5, 6),
                    rng.normal(0.0, 2.0, 6), rng.uniform(2.0, 5.0, 6)])
    return net


def _dropout_model(seed):
    """A model with strong dropout: training-mode gradients differ."""
    return _seeded(keras.Sequential([
        keras.Input(IMAGE_SHAPE),
        keras.layers.Flatten(),  # (N, 4, 4, 1) -> (N, 16)
        keras.layers.Dense(12, activation="tanh"),
        keras.layers.Dropout(0.5, seed=seed),
        keras.layers.Dense(NUM_CLASSES),
    ]), seed)


# A gradient component this small next to the largest one has a sign float32
# rounding may flip (inputs drawn from a hidden seed are not checked in
# advance): either step is accepted there, within this absolute error.
SIGN_AMBIGUOUS_RTOL = 1e-4
SIGN_STEP_ATOL = 1e-5

_MODELS = {"mlp": _mlp_model, "batch norm": _bn_model, "dropout": _dropout_model}


def _input_gradient(net, X, y, training=False):
    X = tf.constant(X, dtype="float32")
    with tf.GradientTape() as tape:
        tape.watch(X)
        logits = net(X, training=training)
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(
            y, logits, from_logits=True))
    return tape.gradient(loss, X).numpy().astype("float64")


def _fgsm_np(net, X, y, epsilon, *, sign=True, clip=True, direction=1.0, training=False):
    """FGSM with switches for the known mistakes (float64 arithmetic)."""
    grad = _input_gradient(net, X, y, training=training)
    step = np.sign(grad) if sign else grad
    X_adv = np.asarray(X, dtype="float64") + direction * epsilon * step
    return np.clip(X_adv, 0.0, 1.0) if clip else X_adv


def _fgsm_mistakes(make_net, X, y, epsilon):
    return {
        "take the sign of the gradient: X + epsilon * sign(grad)":
            lambda: _fgsm_np(make_net(), X, y, epsilon, sign=False),
        "clip the adversarial images back into [0, 1]":
            lambda: _fgsm_np(make_net(), X, y, epsilon, clip=False),
        "step up the loss: X + epsilon * sign(grad), not minus":
            lambda: _fgsm_np(make_net(), X, y, epsilon, direction=-1.0),
        "call the model with training=False (dropout off, batch norm with its moving "
        "statistics)": lambda: _fgsm_np(make_net(), X, y, epsilon, training=True),
    }


def _either_sign(got, want, X, epsilon, ambiguous):
    """`want` with the student's value kept at `ambiguous` pixels where it is a
    step of either sign (or none): float32 rounding may flip a tiny gradient."""
    try:
        got = to_array(got, "your adversarial images").astype("float64")
    except CaseFailed:
        return want
    if got.shape != want.shape:
        return want
    x = np.asarray(X, dtype="float64")
    steps = [np.clip(x + sign * epsilon, 0.0, 1.0) for sign in (-1.0, 0.0, 1.0)]
    valid = np.any([np.abs(got - step) <= SIGN_STEP_ATOL for step in steps], axis=0)
    keep = ambiguous & valid
    return np.where(keep, got, want)


def _fgsm_case(make_net, X, y, epsilon):
    def expected():
        """The adversarial images and where the gradient's sign is unsure."""
        grad = _input_gradient(make_net(), X, y)
        want = np.clip(np.asarray(X, dtype="float64") + epsilon * np.sign(grad), 0.0, 1.0)
        return want, np.abs(grad) <= SIGN_AMBIGUOUS_RTOL * np.abs(grad).max()

    def run(ctx):
        # Computed once per process for the case (its seeded inputs and model).
        want, ambiguous = ctx.remember("expected", expected)
        got = ctx.student(make_net(), tf.constant(X, dtype="float32"),
                          tf.constant(y, dtype="int32"), epsilon)
        if ambiguous.any():
            want = _either_sign(got, want, X, epsilon, ambiguous)
        return ctx.compare(got, want, what="your adversarial images",
                           mistakes=_fgsm_mistakes(make_net, X, y, epsilon),
                           input_dtypes=("float32",))

    return run


def _image_case(kind, epsilon, num_examples, seed=None):
    """Case: FGSM on seeded images and model weights; `seed` None draws them
    from the case's own seed (the hidden cases: another run, other inputs)."""

    def run(ctx):
        drawn = ctx.seed if seed is None else seed
        rng = np.random.default_rng(drawn)
        X = rng.uniform(0.0, 1.0, size=(num_examples, *IMAGE_SHAPE))
        y = rng.integers(0, NUM_CLASSES, size=num_examples)
        return _fgsm_case(lambda: _MODELS[kind](drawn), X, y, epsilon)(ctx)

    return run


@exercise("fgsm", chapter=CHAPTER, points=3, reference=kerasdl.fgsm, kind="model")
def fgsm_cases(c):
    """FGSM: `clip(X + epsilon * sign(grad_X L), 0, 1)` with the model in inference mode."""
    x, y = np.array([[0.5, 0.5]]), np.array([1])
    c.custom("logistic model, eps 0.1 -> [0.4, 0.6]", _fgsm_case(_logistic_model, x, y, 0.1))
    c.custom("logistic model, eps 0.6 -> [0, 1] (clipped)",
             _fgsm_case(_logistic_model, x, y, 0.6))
    c.custom("MLP on (6, 4, 4, 1) images, eps 0.2", _image_case("mlp", 0.2, 6, 3))
    c.custom("model with batch norm, eps 0.1", _image_case("batch norm", 0.1, 8, 4))
    c.custom("a model with dropout", _image_case("dropout", 0.05, 5), hidden=True)
    c.custom("batch norm on a single image", _image_case("batch norm", 0.3, 1), hidden=True)


# adversarial_accuracy --------------------------------------------------------------


def _accuracy_data(seed, num_examples):
    """Images with labels the clean model mostly gets right."""
    rng = np.random.default_rng(seed)
    net = _mlp_model(seed)
    X = rng.uniform(0.0, 1.0, size=(num_examples, *IMAGE_SHAPE)).astype("float32")
    predictions = np.argmax(net(X, training=False).numpy(), axis=1)
    wrong = rng.random(num_examples) < 0.2
    y = np.where(wrong, (predictions + 1) % NUM_CLASSES, predictions).astype("int32")
    return X, y


def _correct_after(net, X, y, epsilon, training=False, attack=True):
    X_adv = _fgsm_np(net, X, y, epsilon, training=training) if attack else X
    predictions = np.argmax(net(tf.constant(X_adv, "float32"), training=False).numpy(),
                            axis=1)
    return int(np.sum(predictions == y))


def _acc_batches(X, y, batch_size):
    return [(X[i: i + batch_size], y[i: i + batch_size]) for i in range(0, len(y), batch_size)]


def _accuracy_case(num_examples, batch_size, epsilon, seed, as_list):
    """Case: adversarial accuracy on seeded data and model; `seed` None draws them
    from the case's own seed (the hidden case)."""

    def run(ctx):
        drawn = ctx.seed if seed is None else seed
        # Data and expected accuracy depend on the case alone: computed once per process.
        X, y = ctx.remember("data", lambda: _accuracy_data(drawn, num_examples))
        batches = _acc_batches(X, y, batch_size)
        dataset = [(tf.constant(a), tf.constant(b)) for a, b in batches] if as_list else \
            tf.data.Dataset.from_tensor_slices((X, y)).batch(batch_size)
        built = {}

        def net():  # the clean model of the expected values, built when needed
            if "net" not in built:
                built["net"] = _mlp_model(drawn)
            return built["net"]

        want = ctx.remember("accuracy", lambda: sum(
            _correct_after(net(), a, b, epsilon) for a, b in batches) / num_examples)
        got = ctx.student(_mlp_model(drawn), dataset, epsilon, copy_inputs=False)

        def batch_mean():
            return float(np.mean([_correct_after(net(), a, b, epsilon) / len(b)
                                  for a, b in batches]))

        mistakes = {
            "count correct examples over the whole dataset; the mean of batch accuracies "
            "overweights the smaller last batch": batch_mean,
            "attack first: classify fgsm(model, X, y, epsilon), not X":
                lambda: sum(_correct_after(net(), a, b, epsilon, attack=False)
                            for a, b in batches) / num_examples,
            "return the fraction of correct examples, not their number":
                lambda: float(sum(_correct_after(net(), a, b, epsilon) for a, b in batches)),
        }
        return ctx.compare(got, want, what="your adversarial accuracy", mistakes=mistakes,
                           shape_policy="squeeze")

    return run


@exercise("adversarial_accuracy", chapter=CHAPTER, points=2,
          reference=kerasdl.adversarial_accuracy, kind="model", reuses=("fgsm",))
def adversarial_accuracy_cases(c):
    """Fraction correct after FGSM over a dataset with a ragged last batch."""
    c.custom("50 examples in batches of 16, eps 0.1", _accuracy_case(50, 16, 0.1, 7, False))
    c.custom("list of batches, 23 examples in batches of 10, eps 0.3",
             _accuracy_case(23, 10, 0.3, 8, True))
    c.custom("no perturbation: the clean accuracy", _accuracy_case(20, 8, 0.0, None, False),
             hidden=True)

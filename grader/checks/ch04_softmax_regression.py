"""Checks of chapter 4, Softmax regression.

`softmax`, `cross_entropy`, `log_softmax`, `softmax_cross_entropy` and
`accuracy` compare values (with the notes' anchors and +-1000 logits);
`evaluate_accuracy` runs a small Keras net with dropout over a ragged
dataset; `train_step` compares one step against the reference step from the
same weights on a plain model and on one with dropout and an L2 regularizer.
"""

import keras
import numpy as np
import tensorflow as tf

import kerasdl
from grader.checks._net_pool import NetPool, pooled_optimizer
from grader.registry import exercise

CHAPTER = "ch04_softmax_regression"


def _f64(x):
    return tf.cast(x, tf.float64)


# softmax ---------------------------------------------------------------------------


def _softmax_naive(X):
    X_exp = tf.exp(_f64(X))
    return X_exp / tf.reduce_sum(X_exp, axis=1, keepdims=True)


def _softmax_axis0(X):
    X = _f64(X)
    X_exp = tf.exp(X - tf.reduce_max(X, axis=0, keepdims=True))
    return X_exp / tf.reduce_sum(X_exp, axis=0, keepdims=True)


def _softmax_float32_naive(X):
    X_exp = tf.exp(tf.cast(X, tf.float32))
    return X_exp / tf.reduce_sum(X_exp, axis=1, keepdims=True)


_SOFTMAX_MISTAKES = {
    "subtract the row max before exp: exp(X - max) does not overflow": _softmax_naive,
    "subtract the row max before exp (exp overflows for large logits)": _softmax_float32_naive,
    "normalise each row (sum over axis=1), not each column": _softmax_axis0,
}


@exercise("softmax", chapter=CHAPTER, points=2, reference=kerasdl.softmax)
def softmax_cases(c):
    """Student `softmax` equals the reference, also for logits near +-1000."""
    c.values("random (4, 10)", c.normal((4, 10)), mistakes=_SOFTMAX_MISTAKES)
    c.values("logits [1000, 1001, 1002]", c.tensor([[1000.0, 1001.0, 1002.0]]),
             mistakes=_SOFTMAX_MISTAKES)
    c.values("logits near +1000", c.normal((3, 4)) + 1000.0, mistakes=_SOFTMAX_MISTAKES)
    c.values("large negative logits", c.normal((3, 4)) - 1000.0, mistakes=_SOFTMAX_MISTAKES,
             hidden=True)
    c.values("float64 logits", c.normal((5, 3), dtype="float64", std=3.0),
             mistakes=_SOFTMAX_MISTAKES, hidden=True)
    c.values("a single class", c.normal((4, 1)), mistakes=_SOFTMAX_MISTAKES, hidden=True)


# cross_entropy ---------------------------------------------------------------------


def _ce_mean(y_hat, y):
    picked = tf.gather(_f64(y_hat), tf.cast(y, tf.int32), batch_dims=1)
    return -tf.reduce_mean(tf.math.log(picked))


def _ce_no_minus(y_hat, y):
    picked = tf.gather(_f64(y_hat), tf.cast(y, tf.int32), batch_dims=1)
    return tf.math.log(picked)


def _ce_all_classes(y_hat, y):
    return -tf.reduce_sum(tf.math.log(_f64(y_hat)), axis=1)


_CE_MISTAKES = {
    "return one loss per example, do not average": _ce_mean,
    "cross-entropy is -log(y_hat[i, y_i]): keep the minus sign": _ce_no_minus,
    "pick only the true class's probability y_hat[i, y_i] in each row": _ce_all_classes,
}


@exercise("cross_entropy", chapter=CHAPTER, points=1, reference=kerasdl.cross_entropy)
def cross_entropy_cases(c):
    """Student `cross_entropy` equals `-log y_hat[i, y_i]` per example."""
    c.values("notes' example", c.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]]),
             c.tensor([0, 2], dtype="int32"), mistakes=_CE_MISTAKES,
             hint="pick y_hat[i, y[i]] in each row, e.g. tf.gather(..., batch_dims=1) "
                  "or y_hat[range(n), y]")
    probs = kerasdl.softmax(c.normal((6, 5)))
    c.values("random (6, 5)", probs, c.integers(0, 5, (6,)), mistakes=_CE_MISTAKES)
    c.values("float64 probabilities, int64 labels",
             tf.cast(kerasdl.softmax(c.normal((4, 3))), "float64"),
             c.integers(0, 3, (4,), dtype="int64"), mistakes=_CE_MISTAKES, hidden=True)


# log_softmax -----------------------------------------------------------------------


def _log_softmax_naive(O):
    O = _f64(O)
    return tf.math.log(tf.exp(O) / tf.reduce_sum(tf.exp(O), axis=1, keepdims=True))


def _log_softmax_float32_naive(O):
    O = tf.cast(O, tf.float32)
    return tf.math.log(tf.exp(O) / tf.reduce_sum(tf.exp(O), axis=1, keepdims=True))


def _log_softmax_no_log_sum(O):
    O = _f64(O)
    return O - tf.reduce_max(O, axis=1, keepdims=True)


_LOG_SOFTMAX_MISTAKES = {
    "compute o - max - log(sum(exp(o - max))) instead of log(softmax(o))":
        _log_softmax_naive,
    "compute o - max - log(sum(exp(o - max))): exp overflows for large logits":
        _log_softmax_float32_naive,
    "subtract log(sum(exp(o - max))) as well as the max": _log_softmax_no_log_sum,
}


@exercise("log_softmax", chapter=CHAPTER, points=2, reference=kerasdl.log_softmax)
def log_softmax_cases(c):
    """Student `log_softmax` is the stable row-wise log-softmax."""
    c.values("random (4, 6)", c.normal((4, 6)), mistakes=_LOG_SOFTMAX_MISTAKES)
    c.values("logits [[1000, 0], [-1000, 0]]", c.tensor([[1000.0, 0.0], [-1000.0, 0.0]]),
             mistakes=_LOG_SOFTMAX_MISTAKES)
    c.values("large positive logits", c.normal((3, 5)) + 1000.0,
             mistakes=_LOG_SOFTMAX_MISTAKES, hidden=True)
    c.values("float64 logits", c.normal((2, 7), dtype="float64", std=5.0),
             mistakes=_LOG_SOFTMAX_MISTAKES, hidden=True)


# softmax_cross_entropy ------------------------------------------------------------


def _sce_naive(O, y):
    return _ce_no_minus(_softmax_naive(O), y) * -1.0


def _sce_float32_naive(O, y):
    probs = _softmax_float32_naive(O)
    return -tf.math.log(tf.gather(probs, tf.cast(y, tf.int32), batch_dims=1))


def _sce_double_softmax(O, y):
    return -tf.gather(kerasdl.log_softmax(kerasdl.softmax(O)), tf.cast(y, tf.int32),
                      batch_dims=1)


def _sce_mean(O, y):
    return tf.reduce_mean(-tf.gather(kerasdl.log_softmax(O), tf.cast(y, tf.int32),
                                     batch_dims=1))


_SCE_MISTAKES = {
    "use the stable log-softmax (o - max - log sum exp(o - max)), not "
    "log(softmax(o))": _sce_naive,
    "use the stable log-softmax: exp overflows for large logits": _sce_float32_naive,
    "O are logits: do not apply softmax before the log-softmax (softmax twice)":
        _sce_double_softmax,
    "return one loss per example, do not average": _sce_mean,
}


@exercise("softmax_cross_entropy", chapter=CHAPTER, points=2,
          reference=kerasdl.softmax_cross_entropy, reuses=("log_softmax",))
def softmax_cross_entropy_cases(c):
    """Student loss from logits is stable and per example."""
    c.values("random (5, 4)", c.normal((5, 4)), c.integers(0, 4, (5,)),
             mistakes=_SCE_MISTAKES)
    c.values("logits [[1000, 0], [-1000, 0]], labels [0, 0]",
             c.tensor([[1000.0, 0.0], [-1000.0, 0.0]]), c.tensor([0, 0], dtype="int32"),
             mistakes=_SCE_MISTAKES)
    c.values("large positive logits", c.normal((4, 3)) + 1000.0, c.integers(0, 3, (4,)),
             mistakes=_SCE_MISTAKES, hidden=True)
    c.values("float64 logits, int64 labels", c.normal((3, 6), dtype="float64"),
             c.integers(0, 6, (3,), dtype="int64"), mistakes=_SCE_MISTAKES, hidden=True)


# accuracy --------------------------------------------------------------------------


def _accuracy_fraction(y_hat, y):
    return kerasdl.accuracy(y_hat, y) / int(tf.size(y))


def _accuracy_axis0(y_hat, y):
    predictions = tf.argmax(y_hat, axis=0)
    n = min(int(tf.size(predictions)), int(tf.size(y)))
    return float(np.sum(predictions.numpy()[:n] == np.asarray(y)[:n]))


_ACCURACY_MISTAKES = {
    "return the number of correct predictions, not the fraction": _accuracy_fraction,
    "take the argmax over the classes (axis=1)": _accuracy_axis0,
}
_ACCURACY_OPTIONS = {"allow_int": True, "shape_policy": "squeeze"}


@exercise("accuracy", chapter=CHAPTER, points=1, reference=kerasdl.accuracy)
def accuracy_cases(c):
    """Student `accuracy` counts the correct predictions."""
    c.values("notes' example", c.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]]),
             c.tensor([0, 2], dtype="int32"), mistakes=_ACCURACY_MISTAKES,
             **_ACCURACY_OPTIONS)
    c.values("logits (20, 4)", c.normal((20, 4)), c.integers(0, 4, (20,)),
             mistakes=_ACCURACY_MISTAKES, **_ACCURACY_OPTIONS)
    c.values("int64 labels", c.normal((9, 3)), c.integers(0, 3, (9,), dtype="int64"),
             mistakes=_ACCURACY_MISTAKES, hidden=True, **_ACCURACY_OPTIONS)


# evaluate_accuracy -----------------------------------------------------------------

NUM_FEATURES = 6
NUM_CLASSES = 3
# Dropout before the classifier: predictions in training mode differ a lot.
EVAL_DROPOUT = 0.7


def _eval_net(seed):
    """A tiny classifier whose training-mode predictions differ from inference."""
    rng = np.random.default_rng(seed)
    net = keras.Sequential([
        keras.Input((NUM_FEATURES,)),
        keras.layers.Dropout(EVAL_DROPOUT, seed=seed),
        keras.layers.Dense(NUM_CLASSES),
    ])
    net.set_weights([rng.normal(size=(NUM_FEATURES, NUM_CLASSES)),
                     rng.normal(size=NUM_CLASSES)])
    return net


_EVAL_NETS = None


def _eval_net_for(seed, role):
    global _EVAL_NETS
    if _EVAL_NETS is None:
        _EVAL_NETS = NetPool(_eval_net)
    return _EVAL_NETS.get(seed, role)


def _eval_data(seed, num_examples, batch_size, net):
    """Batches whose accuracies differ, so averaging batch accuracies shows."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(num_examples, NUM_FEATURES)).astype("float32")
    predictions = np.argmax(net(X).numpy(), axis=1)
    # About a quarter right in the full batches, all right in the last one.
    correct = rng.random(num_examples) < 0.25
    correct[-(num_examples % batch_size or batch_size):] = True
    y = np.where(correct, predictions, (predictions + 1) % NUM_CLASSES).astype("int32")
    return X, y


def _eval_batch_mean(net, data_iter):
    return float(np.mean([kerasdl.accuracy(net(X), y) / int(tf.size(y))
                          for X, y in data_iter]))


def _eval_training(net, data_iter):
    correct = total = 0
    for X, y in data_iter:
        correct += kerasdl.accuracy(net(X, training=True), y)
        total += int(tf.size(y))
    return correct / total


def _eval_full_batches(net, data_iter):
    batches = list(data_iter)
    correct = sum(kerasdl.accuracy(net(X), y) for X, y in batches)
    return correct / (len(batches) * int(tf.size(batches[0][1])))


def _eval_count(net, data_iter):
    return sum(kerasdl.accuracy(net(X), y) for X, y in data_iter)


_EVAL_MISTAKES = {
    "count correct predictions over all examples; the mean of batch accuracies "
    "overweights the smaller last batch": _eval_batch_mean,
    "evaluate in inference mode: net(X) or net(X, training=False), not training=True":
        _eval_training,
    "divide by the number of examples, not batches * batch_size (the last batch "
    "is smaller)": _eval_full_batches,
    "return the fraction of correct predictions, not their number": _eval_count,
}


def _evaluate_case(num_examples, batch_size, as_list):
    def run(ctx):
        X, y = ctx.remember("data", lambda: _eval_data(
            ctx.seed, num_examples, batch_size, _eval_net_for(ctx.seed, "reference")))
        dataset = tf.data.Dataset.from_tensor_slices((X, y)).batch(batch_size)
        if as_list:
            dataset = [(tf.constant(X[i: i + batch_size]), tf.constant(y[i: i + batch_size]))
                       for i in range(0, num_examples, batch_size)]
        want = ctx.remember("accuracy", lambda: ctx.reference(
            _eval_net_for(ctx.seed, "reference"), dataset))
        got = ctx.student(_eval_net_for(ctx.seed, "student"), dataset)
        # Each mistake gets a restored net: dropout's seed state restarts.
        mistakes = {h: (lambda f=f: f(_eval_net_for(ctx.seed, "mistake"), dataset))
                    for h, f in _EVAL_MISTAKES.items()}
        return ctx.compare(got, want, what="your accuracy", mistakes=mistakes,
                           shape_policy="squeeze")

    return run


@exercise("evaluate_accuracy", chapter=CHAPTER, points=2,
          reference=kerasdl.evaluate_accuracy, reuses=("accuracy",))
def evaluate_accuracy_cases(c):
    """Fraction correct over a ragged dataset, net in inference mode."""
    c.custom("50 examples in batches of 16 (tf.data)", _evaluate_case(50, 16, False))
    c.custom("a list of batches, the last one smaller", _evaluate_case(23, 10, True),
             hidden=True)


# train_step ------------------------------------------------------------------------

TRAIN_LR = 0.1
# Weight of the L2 penalty of the regularized model (Keras L2: c * sum(w^2)).
TRAIN_L2 = 0.1
TRAIN_DROPOUT = 0.5


def _train_net(kind, seed):
    """A small model with seeded weights: 'plain', or 'regularized' (an L2 penalty
    on the hidden kernel and dropout after the hidden layer)."""
    regularizer = keras.regularizers.L2(TRAIN_L2) if kind == "regularized" else None
    layers = [keras.Input((5,)),
              keras.layers.Dense(8, activation="relu", kernel_regularizer=regularizer)]
    if kind == "regularized":
        layers.append(keras.layers.Dropout(TRAIN_DROPOUT, seed=seed))
    layers.append(keras.layers.Dense(NUM_CLASSES))
    net = keras.Sequential(layers)
    rng = np.random.default_rng(seed)
    net.set_weights([rng.normal(size=w.shape) for w in net.get_weights()])
    return net


_TRAIN_NETS = NetPool(lambda kind, seed: _train_net(kind, seed))


def _optimizer_for(net):
    """`keras.optimizers.SGD(TRAIN_LR)` for a pooled net (`pooled_optimizer`)."""
    return pooled_optimizer(net, lambda: keras.optimizers.SGD(TRAIN_LR))


def _weights(net):
    return np.concatenate([np.ravel(v.numpy()) for v in net.trainable_variables])


def _sgd_apply(net, grads):
    """Plain SGD update (what `keras.optimizers.SGD(TRAIN_LR)` does), without
    building an optimizer."""
    for variable, grad in zip(net.trainable_variables, grads):
        variable.assign_sub(TRAIN_LR * grad)


def _step_no_training(net, loss_fn, X, y):
    with tf.GradientTape() as tape:
        loss = loss_fn(y, net(X)) + sum(net.losses)
    _sgd_apply(net, tape.gradient(loss, net.trainable_variables))


def _step_no_losses(net, loss_fn, X, y):
    with tf.GradientTape() as tape:
        loss = loss_fn(y, net(X, training=True))
    _sgd_apply(net, tape.gradient(loss, net.trainable_variables))


def _step_divided(net, loss_fn, X, y):
    with tf.GradientTape() as tape:
        loss = loss_fn(y, net(X, training=True)) + sum(net.losses)
    grads = tape.gradient(loss, net.trainable_variables)
    _sgd_apply(net, [g / int(X.shape[0]) for g in grads])


def _step_softmax_twice(net, loss_fn, X, y):
    with tf.GradientTape() as tape:
        loss = loss_fn(y, tf.nn.softmax(net(X, training=True))) + sum(net.losses)
    _sgd_apply(net, tape.gradient(loss, net.trainable_variables))


_TRAINING_HINT = "call net(X, training=True) so dropout and batch norm train"
_LOSSES_HINT = "add sum(net.losses) (the regularization penalties) to the loss"
_STEP_MISTAKES = {
    _TRAINING_HINT: _step_no_training,
    _LOSSES_HINT: _step_no_losses,
    "do not divide the gradients by the batch size: the Keras loss already averages":
        _step_divided,
    "the net outputs logits: do not apply softmax before a from_logits loss":
        _step_softmax_twice,
}
# Mistakes that change nothing on a kind of model are not tried on it.
_MISTAKES_SKIPPED = {
    "plain": (_TRAINING_HINT, _LOSSES_HINT),
    "regularized": (),
}


def _train_step_case(kind, batch_size):
    """Case: from the same weights, the student's step leaves the weights the
    reference step leaves and returns the reference's loss."""

    def run(ctx):
        rng = np.random.default_rng(ctx.seed)
        X = tf.constant(rng.normal(size=(batch_size, 5)), dtype="float32")
        y = tf.constant(rng.integers(0, NUM_CLASSES, size=batch_size), dtype="int32")
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        def reference_step():
            net = _TRAIN_NETS.get(kind, ctx.seed, "reference")
            loss = ctx.reference(net, loss_fn, _optimizer_for(net), X, y,
                                 copy_inputs=False)
            return _weights(net), loss

        want_weights, want_loss = ctx.remember("step", reference_step)
        student_net = _TRAIN_NETS.get(kind, ctx.seed, "student")
        got_loss = ctx.student(student_net, loss_fn, _optimizer_for(student_net), X, y,
                               copy_inputs=False)

        def after(mistake):
            def run_mistake():
                net = _TRAIN_NETS.get(kind, ctx.seed, "mistake")
                mistake(net, loss_fn, X, y)
                return _weights(net)
            return run_mistake

        ctx.compare(_weights(student_net), want_weights,
                    what="the weights after your step",
                    mistakes={h: after(f) for h, f in _STEP_MISTAKES.items()
                              if h not in _MISTAKES_SKIPPED[kind]})
        return ctx.compare(got_loss, want_loss, what="your returned loss",
                           shape_policy="squeeze",
                           hint="return the loss computed before the update, "
                                "including sum(net.losses)")

    return run


@exercise("train_step", chapter=CHAPTER, points=3, reference=kerasdl.train_step,
          kind="model")
def train_step_cases(c):
    """One step equals the reference step from the same weights, on a plain MLP
    (no penalties in net.losses) and on one whose dropout needs training=True and
    whose L2 penalty needs net.losses."""
    c.custom("plain MLP, batch 8", _train_step_case("plain", 8))
    c.custom("MLP with dropout and an L2 regularizer, batch 8",
             _train_step_case("regularized", 8))
    c.custom("dropout and L2 on a small batch", _train_step_case("regularized", 3),
             hidden=True)

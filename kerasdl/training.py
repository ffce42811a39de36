"""The training loop: one step, a compiled step, an epoch, and `train`.

`train_step` is the graded exercise: one eager `tf.GradientTape` step.
`make_train_step` compiles the same step once with `tf.function` (no retracing
on a smaller last batch) and accumulates the epoch's loss and accuracy in
TensorFlow variables, so an epoch needs no per-batch `.numpy()` call.
`train` runs epochs, evaluates the test accuracy with `training=False` after
each one, and returns a `History`.

Source: notes, 4.4 Softmax Regression Implementation from Scratch (training)
and 4.5 Concise Implementation of Softmax Regression.
"""

import dataclasses
import functools
import time

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from matplotlib.figure import Figure

from kerasdl.softmax_regression import _num_correct, evaluate_accuracy

__all__ = [
    "train_step",
    "TrainStep",
    "make_train_step",
    "train_epoch",
    "train",
    "History",
]


def _scalar_loss(loss):
    """Average a per-example loss (a `reduction=None` Keras loss) to a scalar."""
    loss = tf.convert_to_tensor(loss)
    if loss.shape.rank != 0:
        loss = tf.reduce_mean(loss)
    return loss


def _forward_backward(net, loss_fn, optimizer, X, y):
    """Run one training step and return `(loss, y_hat)`.

    The loss is `loss_fn(y, y_hat)` (averaged if it is per-example) plus
    `net.losses` (the weight penalties of Keras regularizers), all inside the
    tape, so regularizers change the gradient.
    """
    with tf.GradientTape() as tape:
        y_hat = net(X, training=True)
        loss = _scalar_loss(loss_fn(y, y_hat))
        penalties = net.losses
        if penalties:
            loss = loss + tf.cast(tf.add_n(penalties), loss.dtype)
    variables = net.trainable_variables
    grads = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(grads, variables))
    return loss, y_hat


def train_step(net, loss_fn, optimizer, X, y):
    """Take one minibatch gradient step and return the loss.

    Calls `net(X, training=True)` (dropout on, batch normalization updating its
    moving statistics), computes `loss_fn(y, y_hat)` in the Keras argument
    order (true labels first), adds `net.losses` (Keras regularizer
    penalties) inside the `tf.GradientTape`, and applies the gradients of
    `net.trainable_variables` with `optimizer`. Keras losses already average
    over the batch: the gradient is not divided by the batch size again.

    Works eagerly and inside a `tf.function`; for a compiled step that does
    not retrace on a smaller last batch use `make_train_step`.

    Args:
        net: `keras.Model` (or layer) mapping `X` to predictions.
        loss_fn: callable `(y, y_hat) -> loss`, e.g.
            `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`;
            a per-example loss is averaged.
        optimizer: `keras.optimizers.Optimizer`.
        X: input batch.
        y: target batch.

    Returns:
        Scalar `tf.Tensor`: the batch loss including `net.losses`, computed
        before the update.

    Source: notes, 4.4 Softmax Regression Implementation from Scratch.
    """
    loss, _ = _forward_backward(net, loss_fn, optimizer, X, y)
    return loss


def _compile(fn, input_signature, jit_compile=False):
    """Wrap `fn` (a `functools.partial`) in a `tf.function` traced per signature.

    TensorFlow's frequent-retracing detector groups functions by their code
    object, so steps of different networks made from the same Python function
    would count as one function retracing, and log a warning to stderr after a
    few short trainings. A `functools.partial` has no code object: the
    detector then keys on the partial itself, one per step.
    """
    return tf.function(fn, input_signature=input_signature, jit_compile=jit_compile)


def _batch_spec(tensor):
    """Return a `tf.TensorSpec` of `tensor` with an unknown batch size."""
    return tf.TensorSpec((None,) + tuple(tensor.shape[1:]), tensor.dtype)


class TrainStep:
    """A compiled training step that accumulates epoch statistics.

    Each call runs `train_step` inside a `tf.function` whose input signature
    leaves the batch axis unknown, so batches of any size (the smaller last
    batch included) reuse one trace. A new trace happens only for a new
    dtype or a new shape of the non-batch axes. Before the first trace the
    network and the optimizer are built eagerly, so no variable is created
    while tracing.

    The loss times the batch size, the number of correct predictions and the
    number of examples are added to TensorFlow variables inside the compiled
    function; `result()` reads them once, `reset()` zeroes them. Accuracy is
    counted when predictions are 2-D with more than one column (class
    scores); otherwise it is `nan`.

    Args:
        net: `keras.Model` (or layer).
        loss_fn: callable `(y, y_hat) -> loss`.
        optimizer: `keras.optimizers.Optimizer`.
        jit_compile: whether to compile the step with XLA.
        run_eagerly: run the step as plain eager Python, no `tf.function`
            (as `keras.Model.compile(run_eagerly=True)`): nothing is traced,
            which suits a few steps (a smoke test), and every step is slower.

    Call arguments:
        X: input batch, `(batch, ...)`.
        y: target batch, `(batch, ...)`.

    Returns:
        The scalar batch loss (including `net.losses`).

    Source: notes, 4.4 Softmax Regression Implementation from Scratch.
    """

    def __init__(self, net, loss_fn, optimizer, *, jit_compile=False, run_eagerly=False):
        if jit_compile and run_eagerly:
            raise ValueError("`jit_compile` and `run_eagerly` cannot both be True. "
                             f"Received: jit_compile={jit_compile!r}, run_eagerly={run_eagerly!r}")
        self.net = net
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.jit_compile = jit_compile
        self.run_eagerly = run_eagerly
        self._functions = {}
        self._counts_accuracy = False
        self.loss_sum = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.num_correct = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.num_examples = tf.Variable(0, dtype=tf.int64, trainable=False)

    def _step(self, X, y):
        loss, y_hat = _forward_backward(
            self.net, self.loss_fn, self.optimizer, X, y
        )
        batch_size = tf.shape(X, out_type=tf.int64)[0]
        self.loss_sum.assign_add(
            tf.cast(loss, tf.float64) * tf.cast(batch_size, tf.float64)
        )
        # Decided at trace time from the static shape: class scores (n, q > 1).
        self._counts_accuracy = (
            y_hat.shape.rank == 2 and y_hat.shape[1] is not None and y_hat.shape[1] > 1
        )
        if self._counts_accuracy:
            self.num_correct.assign_add(tf.cast(_num_correct(y_hat, y), tf.float64))
        self.num_examples.assign_add(batch_size)
        return loss

    def _build(self, X):
        """Create the network's and the optimizer's variables eagerly."""
        if not self.net.built:
            self.net(X[:1], training=False)
        if not self.optimizer.built:
            self.optimizer.build(self.net.trainable_variables)

    def __call__(self, X, y):
        X = tf.convert_to_tensor(X)
        y = tf.convert_to_tensor(y)
        if self.run_eagerly:
            self._build(X)
            return self._step(X, y)
        key = (X.dtype, tuple(X.shape[1:]), y.dtype, tuple(y.shape[1:]))
        function = self._functions.get(key)
        if function is None:
            if not self._functions:
                self._build(X)
            function = _compile(
                functools.partial(TrainStep._step, self),
                input_signature=[_batch_spec(X), _batch_spec(y)],
                jit_compile=self.jit_compile,
            )
            self._functions[key] = function
        return function(X, y)

    def experimental_get_tracing_count(self):
        """Return how many times the step has been traced (all signatures)."""
        return sum(
            f.experimental_get_tracing_count() for f in self._functions.values()
        )

    def reset(self):
        """Zero the accumulated loss, correct count and example count."""
        self.loss_sum.assign(0.0)
        self.num_correct.assign(0.0)
        self.num_examples.assign(0)

    def result(self):
        """Return `dict(loss, train_acc, num_examples)` since the last reset.

        `loss` is the example-weighted mean batch loss, `train_acc` the
        fraction of correct predictions (`nan` when not counted), both Python
        floats; `nan` before any example.
        """
        num_examples = int(self.num_examples.numpy())
        if num_examples == 0:
            return dict(loss=float("nan"), train_acc=float("nan"), num_examples=0)
        loss = float(self.loss_sum.numpy()) / num_examples
        train_acc = (
            float(self.num_correct.numpy()) / num_examples
            if self._counts_accuracy
            else float("nan")
        )
        return dict(loss=loss, train_acc=train_acc, num_examples=num_examples)


def make_train_step(net, loss_fn, optimizer, *, jit_compile=False, run_eagerly=False):
    """Return a compiled training step that does not retrace per batch.

    Args:
        net: `keras.Model` (or layer).
        loss_fn: callable `(y, y_hat) -> loss`, Keras argument order.
        optimizer: `keras.optimizers.Optimizer`.
        jit_compile: whether to compile with XLA (`False` by default, as
            fit's "auto" on a CPU-only machine; see `train`).
        run_eagerly: run the step eagerly, untraced (see `TrainStep`).

    Returns:
        A `TrainStep`: call it as `step(X, y)` to update `net` and get the
        loss; `step.experimental_get_tracing_count()` counts its traces.

    Source: notes, 4.4 Softmax Regression Implementation from Scratch.
    """
    return TrainStep(net, loss_fn, optimizer, jit_compile=jit_compile,
                     run_eagerly=run_eagerly)


def train_epoch(net, train_iter, loss_fn, optimizer, *, step=None):
    """Train `net` for one pass over `train_iter`.

    Args:
        net: `keras.Model`.
        train_iter: iterable of `(X, y)` batches (e.g. a `tf.data.Dataset`).
        loss_fn: callable `(y, y_hat) -> loss`.
        optimizer: `keras.optimizers.Optimizer`.
        step: optional `TrainStep` for these `net`, `loss_fn` and `optimizer`,
            reused across epochs to trace once; a new one is made when `None`.

    Returns:
        `dict(loss, train_acc, num_examples, seconds)`: mean training loss
        (weighted by batch sizes, including `net.losses`), training accuracy
        during the epoch (`nan` for non-classification outputs), the number
        of examples actually seen, and the wall time of the pass.

    Raises:
        ValueError: if `step` was made for another network.

    Source: notes, 4.4 Softmax Regression Implementation from Scratch.
    """
    if step is None:
        step = make_train_step(net, loss_fn, optimizer)
    elif step.net is not net:
        raise ValueError(
            "`step` must be a TrainStep made for `net`. "
            f"Received: step for {step.net.name!r}, net={net.name!r}"
        )
    step.reset()
    start = time.perf_counter()
    for X, y in train_iter:
        step(X, y)
    stats = step.result()  # reads the variables: waits for the last step
    stats["seconds"] = time.perf_counter() - start
    return stats


@dataclasses.dataclass
class History:
    """Per-epoch statistics of `train`.

    Attributes:
        loss: mean training loss of each epoch.
        train_acc: training accuracy of each epoch (measured while training).
        test_acc: test accuracy after each epoch (`training=False`).
        examples_per_sec: training examples actually seen per second of
            training (evaluation time excluded).
    """

    loss: list = dataclasses.field(default_factory=list)
    train_acc: list = dataclasses.field(default_factory=list)
    test_acc: list = dataclasses.field(default_factory=list)
    examples_per_sec: list = dataclasses.field(default_factory=list)

    def to_frame(self):
        """Return a `pandas.DataFrame`, one row per epoch (index from 1)."""
        frame = pd.DataFrame(dataclasses.asdict(self))
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="epoch")
        return frame

    def plot(self, ax=None):
        """Plot loss, train accuracy and test accuracy against the epoch.

        Uses `matplotlib.figure.Figure` directly (no pyplot state, nothing
        shown), so it works with any backend, Agg included.

        Args:
            ax: optional `matplotlib.axes.Axes` to draw on.

        Returns:
            The `matplotlib.figure.Figure` holding the axes.
        """
        if ax is None:
            fig = Figure(figsize=(4.5, 3.0))
            ax = fig.subplots()
        epochs = np.arange(1, len(self.loss) + 1)
        ax.plot(epochs, self.loss, label="train loss")
        ax.plot(epochs, self.train_acc, linestyle="--", label="train acc")
        ax.plot(epochs, self.test_acc, linestyle="-.", label="test acc")
        ax.set_xlabel("epoch")
        ax.grid(True)
        ax.legend()
        return ax.figure


def train(net, train_iter, test_iter, num_epochs, optimizer, loss_fn=None, *,
          verbose=True, jit_compile=False, run_eagerly=False):
    """Train `net` for `num_epochs` and evaluate it after every epoch.

    One `TrainStep` is compiled and reused by every epoch. After each epoch
    the test accuracy is computed with `evaluate_accuracy` (`training=False`).
    With `verbose`, one line per epoch is printed to stdout.

    Args:
        net: `keras.Model` returning logits.
        train_iter: iterable of `(X, y)` training batches, re-iterable once
            per epoch (e.g. a `tf.data.Dataset`).
        test_iter: iterable of `(X, y)` test batches, or `None` to skip the
            evaluation (test accuracy `nan`).
        num_epochs: positive int.
        optimizer: `keras.optimizers.Optimizer`.
        loss_fn: callable `(y, y_hat) -> loss`; defaults to
            `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`.
        verbose: print the statistics of each epoch.
        jit_compile: compile the step with XLA. Off by default, like
            `keras.Model.fit` on a CPU-only machine: Keras 3 resolves fit's
            default `jit_compile="auto"` to False when TensorFlow sees no
            GPU/TPU, and to True on one when every layer supports XLA. XLA
            compiles once per batch shape (a ragged last batch compiles a
            second program) and compiling takes seconds; whether it then
            runs faster depends on the model and the machine
            (`benchmarks/bench_training.py` measures both settings).
        run_eagerly: run the step as plain eager Python, like
            `keras.Model.compile(run_eagerly=True)`: no tracing (which takes
            seconds for GoogLeNet or ResNet-18), slower steps. For a smoke
            test of a few steps, e.g. the notebooks' demonstrations under
            autograding.

    Returns:
        `History`.

    Raises:
        ValueError: if `num_epochs` is not a positive int, or `jit_compile`
            and `run_eagerly` are both True.

    Source: notes, 4.4 Softmax Regression Implementation from Scratch.
    """
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or num_epochs < 1:
        raise ValueError(
            f"`num_epochs` must be a positive int. Received: num_epochs={num_epochs!r}"
        )
    if loss_fn is None:
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    step = make_train_step(net, loss_fn, optimizer, jit_compile=jit_compile,
                           run_eagerly=run_eagerly)
    history = History()
    for epoch in range(1, num_epochs + 1):
        stats = train_epoch(net, train_iter, loss_fn, optimizer, step=step)
        test_acc = (
            float("nan") if test_iter is None else evaluate_accuracy(net, test_iter)
        )
        history.loss.append(stats["loss"])
        history.train_acc.append(stats["train_acc"])
        history.test_acc.append(test_acc)
        history.examples_per_sec.append(stats["num_examples"] / stats["seconds"])
        if verbose:
            print(
                f"epoch {epoch}, loss {stats['loss']:.3f}, "
                f"train acc {stats['train_acc']:.3f}, test acc {test_acc:.3f}, "
                f"{history.examples_per_sec[-1]:.1f} examples/sec"
            )
    return history

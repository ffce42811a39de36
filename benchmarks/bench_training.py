"""Benchmark: the kerasdl training loop against `keras.Model.fit`, honestly.

Two networks of the notes, each on a seeded Fashion-MNIST subset:

- LeNet (`kerasdl.models.lenet`, sigmoid, average pooling), 28x28x1 images;
- ResNet-18 (`kerasdl.models.resnet18`) on images resized to 32x32x1
  (bilinear, once, before batching), a smaller subset since it is slower.

For each network four configurations train side by side in one process:
the kerasdl loop (`make_train_step` + `train_epoch`) and `fit`, each with XLA
off and with XLA on. Both sides get the same seeded initial weights, the same
`tf.data` pipeline object (shuffle before batching, batch, prefetch), the same
optimizer (SGD, same learning rate), the same loss
(`SparseCategoricalCrossentropy(from_logits=True)`) and both count the
training loss and accuracy of every batch (fit through
`metrics=["accuracy"]`, the loop through its TensorFlow accumulators).

Each configuration first trains one warm-up epoch (tracing, XLA compiles for
the full and the ragged last batch, optimizer variables). Then `--repeats`
rounds follow; in every round each configuration trains one epoch. The
two sides compared by a ratio train back to back, the loop first in one
round and fit first in the next (and the XLA-off pair first in every other
pair of rounds), so a slow spell of the shared machine hits both sides of a
pair alike and cancels in that round's ratio. The time of one epoch is, for
the loop, the wall time of the `train_epoch` call; for fit, the time from
`on_epoch_begin` to `on_epoch_end` of a callback that has only these two
epoch hooks (it leaves fit's asynchronous batch-end dispatch on), so fit's
per-call set-up (adapters, callback list, thread pool) is NOT charged to
fit; its median is printed separately.

Neither side is charged the teardown of its epoch's `tf.data` iterator.
Dropping an iterator of an autotuned pipeline can block, idle and holding
the GIL, until the autotuning thread's next wake-up; measured here, a
ResNet-18 epoch of 3.1 s whose iterator is dropped at its end returns 5.11 s
after the iterator was made, in the kerasdl loop and in fit alike (in fit
the wait falls after `on_epoch_end`, inside the `fit` call; a multi-epoch
`fit` shows it in its epoch times). The wait depends on when the epoch ends,
not on the training loop: charged to one side only it made the loop look
40% slower; charged to both it rounds both epochs up to the same wake-up
and hides the difference. So the loop is handed an iterable that keeps the
epoch's iterator alive (`KeptIterator`), and the benchmark drops it after
the timed `train_epoch` call, as fit drops its own after `on_epoch_end`.
Each side's median teardown is printed beside its rate.

Rates are training examples per second; each reported rate is the median
over the rounds. Each ratio is the median over the rounds of that round's
loop rate / fit rate (> 1: the loop is faster), printed with the
interquartile range, min and max of the per-round ratios.

Ratios:

- (a) both sides with XLA off;
- (b) both sides with XLA on;
- (c) each side at its own default: the loop's `jit_compile` default of
  `kerasdl.make_train_step` / `kerasdl.train` (False) against fit's
  `jit_compile="auto"`. In Keras 3.15 "auto" is resolved in
  `Trainer._resolve_auto_jit_compile` (keras/src/trainers/trainer.py,
  lines 256-275): with the TensorFlow backend, when
  `tf.config.list_physical_devices()` lists only CPUs it returns False
  ("Disable XLA on CPU-only machines", lines 264-267); only with a GPU/TPU
  and a model whose layers all support XLA does it return True. The script
  resolves "auto" on the machine it runs on (compiling a probe model and
  reading `model.jit_compile`) and prints the result; when both defaults
  give the same settings as (a), (c) is (a)'s measurement and says so.

Usage::

    python benchmarks/bench_training.py             # full run
    python benchmarks/bench_training.py --profile   # cProfile one loop epoch
"""

import argparse
import cProfile
import inspect
import os
import pstats
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasdl  # noqa: E402
from kerasdl.models import lenet, resnet18  # noqa: E402

# Largest pixel value of the uint8 images; dividing by it maps pixels to [0, 1].
MAX_PIXEL = 255.0
# Fashion-MNIST classes.
NUM_CLASSES = 10
# Image side ResNet-18 is trained at (Fashion-MNIST's 28 resized up).
RESNET_SIZE = 32
# Quartiles of the per-round ratios printed as the spread.
QUARTILES = (25, 75)


def load_subset(num_train, image_size, seed):
    """Return `(X, y, source)`: `(N, S, S, 1)` float32 in [0, 1], `(N,)` int32.

    The first `num_train` Fashion-MNIST training images (seeded random images
    when the data is not installed), resized to `image_size` when it is not 28.
    """
    try:
        (X, y), _ = kerasdl.load_fashion_mnist_arrays(download=False)
        source = "Fashion-MNIST"
    except (FileNotFoundError, ValueError):
        rng = np.random.default_rng(seed)
        X = rng.integers(0, 256, size=(num_train, 28, 28), dtype=np.uint8)
        y = rng.integers(0, NUM_CLASSES, size=num_train, dtype=np.uint8)
        source = "seeded random images (Fashion-MNIST not found)"
    X = X[:num_train, :, :, None].astype(np.float32) / MAX_PIXEL  # (N, 28, 28) -> (N, 28, 28, 1)
    if image_size != X.shape[1]:
        X = tf.image.resize(X, (image_size, image_size)).numpy()  # (N, S, S, 1)
    return X, y[:num_train].astype(np.int32), source


def make_dataset(X, y, batch_size, seed):
    """Shuffle (before batching), batch and prefetch, as the course does.

    tf.data's autotuning stays at TensorFlow's default (on), unlike in
    `kerasdl.load_fashion_mnist`, which turns it off: that is what makes the
    iterator teardown wait that the timing leaves out for both sides.
    """
    return (
        tf.data.Dataset.from_tensor_slices((X, y))
        .shuffle(len(X), seed=seed)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def loss_fn():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each of fit's epochs, `on_epoch_begin` to `on_epoch_end`.

    Only epoch hooks are overridden, so fit keeps dispatching its batch-end
    work asynchronously, as without this callback.
    """

    def __init__(self):
        super().__init__()
        self.seconds = []
        self.begin = self.end = None

    def on_epoch_begin(self, epoch, logs=None):
        self.begin = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.end = time.perf_counter()
        self.seconds.append(self.end - self.begin)


class KeptIterator:
    """An iterable over `dataset` that keeps its latest iterator alive.

    `train_epoch` iterates it like the dataset itself; the iterator it made
    stays referenced here until `drop()`, so its teardown happens outside
    the timed call.
    """

    def __init__(self, dataset):
        self.dataset, self.iterator = dataset, None

    def __iter__(self):
        self.iterator = iter(self.dataset)
        return self.iterator

    def drop(self):
        """Release the latest iterator; return the seconds that took."""
        start = time.perf_counter()
        self.iterator = None
        return time.perf_counter() - start


class LoopSide:
    """The kerasdl loop: `make_train_step` once, `train_epoch` per epoch."""

    kind = "loop"

    def __init__(self, build, lr, train_iter, jit_compile, seed):
        kerasdl.set_seed(seed)
        self.net = build()
        self.loss = loss_fn()
        self.optimizer = keras.optimizers.SGD(learning_rate=lr)
        self.step = kerasdl.make_train_step(self.net, self.loss, self.optimizer,
                                            jit_compile=jit_compile)
        self.train_iter, self.jit_compile = KeptIterator(train_iter), jit_compile
        self.rates, self.teardown, self.train_acc = [], [], float("nan")

    def epoch(self):
        """Train one epoch; return `(examples, seconds)`, teardown not counted."""
        start = time.perf_counter()
        stats = kerasdl.train_epoch(self.net, self.train_iter, self.loss, self.optimizer,
                                    step=self.step)
        seconds = time.perf_counter() - start
        self.teardown.append(self.train_iter.drop())
        self.train_acc = stats["train_acc"]
        return stats["num_examples"], seconds

    def note(self):
        return (f"traces {self.step.experimental_get_tracing_count()}; iterator teardown "
                f"median {1e3 * np.median(self.teardown):.0f} ms, max "
                f"{1e3 * max(self.teardown):.0f} ms (not counted)")


class FitSide:
    """`keras.Model.fit`, one epoch per call, timed by `EpochTimer`."""

    kind = "fit"

    def __init__(self, build, lr, train_iter, jit_compile, seed, num_examples):
        kerasdl.set_seed(seed)
        self.net = build()
        self.net.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss=loss_fn(),
                         metrics=["accuracy"], jit_compile=jit_compile)
        self.train_iter, self.jit_compile = train_iter, jit_compile
        self.num_examples = num_examples
        self.rates, self.setup, self.teardown = [], [], []
        self.train_acc = float("nan")

    def epoch(self):
        """Train one epoch; return `(examples, seconds)` of the epoch proper."""
        timer = EpochTimer()
        start = time.perf_counter()
        history = self.net.fit(self.train_iter, epochs=1, verbose=0, shuffle=False,
                               callbacks=[timer])
        self.teardown.append(time.perf_counter() - timer.end)
        self.setup.append(timer.begin - start)
        self.train_acc = history.history["accuracy"][-1]
        return self.num_examples, timer.seconds[0]

    def note(self):
        return (f"fit call set-up median {1e3 * np.median(self.setup):.0f} ms; after "
                f"on_epoch_end (iterator teardown) median {1e3 * np.median(self.teardown):.0f} "
                f"ms, max {1e3 * max(self.teardown):.0f} ms (neither counted)")


def resolved_defaults(build):
    """Return `(loop_default, fit_default)` XLA settings on this machine.

    The loop's is the `jit_compile` default of `kerasdl.make_train_step`
    (checked equal to `kerasdl.train`'s); fit's is what `compile()` without
    `jit_compile` (i.e. "auto") sets `model.jit_compile` to.
    """
    loop_default = inspect.signature(kerasdl.make_train_step).parameters["jit_compile"].default
    train_default = inspect.signature(kerasdl.train).parameters["jit_compile"].default
    if loop_default != train_default:
        raise RuntimeError("make_train_step and train disagree on the jit_compile default")
    probe = build()
    probe.compile(optimizer="sgd", loss=loss_fn())
    return bool(loop_default), bool(probe.jit_compile)


def ratio_line(label, loop, fit):
    """One line: the median per-round ratio loop / fit, its IQR, min and max."""
    paired = np.array(loop.rates) / np.array(fit.rates)
    low, high = np.percentile(paired, QUARTILES)
    ratio = np.median(paired)
    return (f"{label}: {ratio:.3f}x  (per-round ratios: IQR {low:.3f}-{high:.3f}, "
            f"min {paired.min():.3f}, max {paired.max():.3f}; {len(paired)} rounds)")


def run_model(name, build, args, num_train, batch_size, lr, image_size, repeats):
    """Warm up and time the four configurations of one network; return ratio lines."""
    X, y, source = load_subset(num_train, image_size, args.seed)
    train_iter = make_dataset(X, y, batch_size, args.seed)
    loop_default, fit_default = resolved_defaults(build)
    print(f"\n== {name}: {source}, {len(X)} images {image_size}x{image_size}x1, "
          f"batch {batch_size}, SGD lr {lr}, 1 warm-up epoch + {repeats} rounds "
          f"(load average {os.getloadavg()[0]:.2f})", flush=True)
    sides = {}
    for jit in (False, True):
        sides["loop", jit] = LoopSide(build, lr, train_iter, jit, args.seed)
        sides["fit", jit] = FitSide(build, lr, train_iter, jit, args.seed, len(X))
    order = list(sides.values())
    start = time.perf_counter()
    for side in order:
        side.epoch()
    print(f"   warm-up {time.perf_counter() - start:.1f} s", flush=True)
    for round_index in range(repeats):
        jit_order = (False, True) if round_index // 2 % 2 == 0 else (True, False)
        for jit in jit_order:
            pair = (sides["loop", jit], sides["fit", jit])
            for side in pair if round_index % 2 == 0 else pair[::-1]:
                examples, seconds = side.epoch()
                side.rates.append(examples / seconds)
    for side in order:
        print(f"   {side.kind:4s} XLA {'on ' if side.jit_compile else 'off'}: "
              f"median {np.median(side.rates):9.1f} examples/s  "
              f"(min {min(side.rates):.1f}, max {max(side.rates):.1f}; "
              f"train acc {side.train_acc:.3f}; {side.note()})")
    print(f"   load average at the end {os.getloadavg()[0]:.2f}")
    lines = [
        ratio_line(f"{name} (a) XLA off for both", sides["loop", False], sides["fit", False]),
        ratio_line(f"{name} (b) XLA on for both ", sides["loop", True], sides["fit", True]),
    ]
    same = " = (a)'s measurement" if not loop_default and not fit_default else ""
    lines.append(ratio_line(
        f"{name} (c) own defaults (loop XLA {'on' if loop_default else 'off'}, fit 'auto' -> "
        f"XLA {'on' if fit_default else 'off'}{same})",
        sides["loop", loop_default], sides["fit", fit_default]))
    return lines


def profile_loop_epoch(args):
    """cProfile one kerasdl LeNet epoch (XLA off, after a warm-up) and summarise.

    Prints the epoch's wall time, the part spent inside TensorFlow's execute
    call (the compiled step), in `tf.data`'s `next`, and everything else on
    the host (Python around the step), then the top functions by own time.
    """
    X, y, _ = load_subset(args.lenet_train, 28, args.seed)
    train_iter = make_dataset(X, y, args.batch_size, args.seed)
    side = LoopSide(lenet, args.lenet_lr, train_iter, False, args.seed)
    side.epoch()
    profiler = cProfile.Profile()
    profiler.enable()
    examples, seconds = side.epoch()
    profiler.disable()
    stats = pstats.Stats(profiler)
    own = {func[2]: row[2] for func, row in stats.stats.items()}
    cumulative = {func[2]: row[3] for func, row in stats.stats.items()}
    execute = own.get("<built-in method tensorflow.python._pywrap_tfe.TFE_Py_Execute>", 0.0)
    data = cumulative.get("__next__", 0.0)
    steps = -(-examples // args.batch_size)  # ceil
    print(f"one loop epoch: {examples} examples, {steps} steps, {seconds:.3f} s wall "
          f"(under cProfile); traces {side.step.experimental_get_tracing_count()}")
    print(f"  compiled step (TFE_Py_Execute): {execute:.3f} s "
          f"({100 * execute / seconds:.1f}%)")
    print(f"  tf.data next():                 {data:.3f} s ({100 * data / seconds:.1f}%)")
    rest = seconds - execute - data
    print(f"  other host work:                {rest:.3f} s ({100 * rest / seconds:.1f}%), "
          f"{1e3 * rest / steps:.2f} ms per step")
    stats.sort_stats("tottime").print_stats(12)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=16,
                        help="LeNet rounds; every configuration trains one epoch per round")
    parser.add_argument("--batch-size", type=int, default=256, help="LeNet batch size")
    parser.add_argument("--lenet-train", type=int, default=10000,
                        help="LeNet training images (39 batches of 256 and one of 16)")
    parser.add_argument("--lenet-lr", type=float, default=0.9)
    parser.add_argument("--resnet-repeats", type=int, default=6, help="ResNet-18 rounds")
    parser.add_argument("--resnet-batch-size", type=int, default=128)
    parser.add_argument("--resnet-train", type=int, default=256,
                        help="ResNet-18 training images (0 skips ResNet-18)")
    parser.add_argument("--resnet-lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true",
                        help="only profile one kerasdl LeNet epoch with cProfile")
    args = parser.parse_args(argv)

    print(f"device: {kerasdl.describe_device()}; TensorFlow {tf.__version__}, "
          f"Keras {keras.__version__}; load average {os.getloadavg()[0]:.2f}", flush=True)
    if args.profile:
        profile_loop_epoch(args)
        return 0
    start = time.perf_counter()
    lines = run_model("LeNet", lenet, args, args.lenet_train, args.batch_size,
                      args.lenet_lr, 28, args.repeats)
    if args.resnet_train:
        def build_resnet():
            return resnet18(input_shape=(RESNET_SIZE, RESNET_SIZE, 1))
        lines += run_model("ResNet-18", build_resnet, args, args.resnet_train,
                           args.resnet_batch_size, args.resnet_lr, RESNET_SIZE,
                           args.resnet_repeats)
    print("\nratio kerasdl loop / fit (median of the per-round ratios of examples/s; "
          "> 1: the loop is faster)")
    for line in lines:
        print(line)
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

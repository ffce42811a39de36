"""Benchmark: the kerasdl training loop against `keras.Model.fit`.

Trains two identical LeNet-style networks (the notes' LeNet: sigmoid
activations and average pooling by default, `--activation relu` to switch)
on the same Fashion-MNIST subset (seeded random images when the data is not
installed), with the same batch size and the same SGD optimizer, in one
process. Each side first runs one warm-up epoch (tracing, optimizer
variables, tf.data start-up); then each side trains `--epochs` epochs and
its training examples per second are measured, `--repeats` times,
alternating the two sides; the best rate of each side is kept, which damps
interference from other processes on a shared machine.

Both sides count training accuracy (fit through `metrics=["accuracy"]`, the
kerasdl step through its TensorFlow accumulators), so they do the same work.

Usage::

    python benchmarks/bench_training.py --epochs 2 --num-train 10000 --batch-size 256
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import kerasdl  # noqa: E402

# Fashion-MNIST image side and number of classes.
IMAGE_SIZE = 28
NUM_CLASSES = 10
# Largest pixel value of the uint8 images.
MAX_PIXEL = 255.0


def lenet(activation="sigmoid"):
    """Return the notes' LeNet for 28x28x1 inputs, logits output.

    Conv 6@5x5 same, AvgPool 2, Conv 16@5x5 valid, AvgPool 2, Flatten,
    Dense 120, Dense 84, Dense 10; `activation` after every conv and hidden
    dense layer.
    """
    return keras.Sequential(
        [
            keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1)),
            keras.layers.Conv2D(6, 5, padding="same", activation=activation),
            keras.layers.AveragePooling2D(2, strides=2),
            keras.layers.Conv2D(16, 5, activation=activation),
            keras.layers.AveragePooling2D(2, strides=2),
            keras.layers.Flatten(),
            keras.layers.Dense(120, activation=activation),
            keras.layers.Dense(84, activation=activation),
            keras.layers.Dense(NUM_CLASSES),
        ],
        name="lenet",
    )


def load_data(num_train, seed):
    """Return `(X, y, source)`: float32 NHWC images in [0, 1], int32 labels."""
    try:
        (X, y), _ = kerasdl.load_fashion_mnist_arrays(download=False)
        source = "Fashion-MNIST"
    except (FileNotFoundError, ValueError):
        rng = np.random.default_rng(seed)
        X = rng.integers(0, 256, size=(num_train, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
        y = rng.integers(0, NUM_CLASSES, size=num_train, dtype=np.uint8)
        source = "seeded random images (Fashion-MNIST not found)"
    X = X[:num_train, :, :, None].astype(np.float32) / MAX_PIXEL  # (N, H, W) -> (N, H, W, 1)
    return X, y[:num_train].astype(np.int32), source


def make_dataset(X, y, batch_size, seed):
    """Shuffle (before batching), batch and prefetch, as the course does."""
    return (
        tf.data.Dataset.from_tensor_slices((X, y))
        .shuffle(len(X), seed=seed)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def build_net(activation, seed):
    """A fresh LeNet with weights drawn after seeding everything with `seed`."""
    kerasdl.set_seed(seed)
    return lenet(activation)


def loss_fn():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def compare(args, train_iter, num_examples, jit_compile):
    """Time the kerasdl loop and `fit` with the same XLA setting; print both and the ratio.

    `fit` compiles with `jit_compile=jit_compile` too: Keras 3 defaults to
    "auto" (XLA where the model supports it), so comparing against its default
    would compare compilers, not training loops.
    """
    ours_net = build_net(args.activation, args.seed)
    ours_opt = keras.optimizers.SGD(learning_rate=args.lr)
    ours_loss = loss_fn()
    step = kerasdl.make_train_step(ours_net, ours_loss, ours_opt, jit_compile=jit_compile)

    fit_net = build_net(args.activation, args.seed)
    fit_net.compile(
        optimizer=keras.optimizers.SGD(learning_rate=args.lr),
        loss=loss_fn(),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )

    def run_ours():
        examples, seconds, stats = 0, 0.0, None
        for _ in range(args.epochs):
            stats = kerasdl.train_epoch(ours_net, train_iter, ours_loss, ours_opt, step=step)
            examples += stats["num_examples"]
            seconds += stats["seconds"]
        return examples / seconds, stats["train_acc"]

    def run_fit():
        start = time.perf_counter()
        history = fit_net.fit(train_iter, epochs=args.epochs, verbose=0, shuffle=False)
        seconds = time.perf_counter() - start
        return num_examples * args.epochs / seconds, history.history["accuracy"][-1]

    # Warm-up: one epoch each (traces, optimizer variables, pipeline start-up).
    kerasdl.train_epoch(ours_net, train_iter, ours_loss, ours_opt, step=step)
    fit_net.fit(train_iter, epochs=1, verbose=0, shuffle=False)

    ours_rates, fit_rates = [], []
    for _ in range(args.repeats):
        rate, ours_acc = run_ours()
        ours_rates.append(rate)
        rate, fit_acc = run_fit()
        fit_rates.append(rate)

    ours_best, fit_best = max(ours_rates), max(fit_rates)
    print(f"XLA {'on' if jit_compile else 'off'} for both:")
    print(f"  kerasdl train_epoch: {ours_best:10.1f} examples/sec "
          f"(runs: {', '.join(f'{r:.1f}' for r in ours_rates)}; "
          f"train acc {ours_acc:.3f}; traces {step.experimental_get_tracing_count()})")
    print(f"  keras Model.fit:     {fit_best:10.1f} examples/sec "
          f"(runs: {', '.join(f'{r:.1f}' for r in fit_rates)}; train acc {fit_acc:.3f})")
    print(f"  ratio kerasdl / fit: {ours_best / fit_best:.3f}x")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per repeat")
    parser.add_argument("--num-train", type=int, default=10000, help="training examples")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.9, help="SGD learning rate")
    parser.add_argument("--activation", default="sigmoid", choices=["sigmoid", "relu"])
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds per side")
    parser.add_argument("--jit-compile", choices=["off", "on", "both"], default="both",
                        help="XLA for both the kerasdl step and fit (default: both settings, in turn)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    X, y, source = load_data(args.num_train, args.seed)
    train_iter = make_dataset(X, y, args.batch_size, args.seed)
    num_examples = len(X)
    print(f"device: {kerasdl.describe_device()}")
    print(
        f"data: {source}, {num_examples} examples, batch size {args.batch_size}, "
        f"LeNet ({args.activation}), SGD lr {args.lr}, {args.epochs} timed epochs "
        f"x {args.repeats} repeats after 1 warm-up epoch each"
    )

    modes = {"off": [False], "on": [True], "both": [False, True]}[args.jit_compile]
    for jit_compile in modes:
        compare(args, train_iter, num_examples, jit_compile)
    return 0


if __name__ == "__main__":
    sys.exit(main())

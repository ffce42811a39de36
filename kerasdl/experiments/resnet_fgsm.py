"""Train ResNet-18 on Fashion-MNIST, then attack it with FGSM.

The notes' experiment: ResNet-18 (notes, 8.6) trained with minibatch SGD on
Fashion-MNIST resized to 96x96, using the kerasdl training loop
(`kerasdl.training.train`), then evaluated on the test set under the fast
gradient sign method (notes, 8.7) at epsilon 0.1 (pixel units on [0, 1]) and
over a small curve of epsilons. The notes' full GPU run (the defaults) reports
train acc 0.998, test acc 0.921 and an adversarial accuracy of 33.2%.

Writes into `--out`: `results.json` (configuration, device, per-epoch
history, final figures, adversarial curve), `training_curves.png`,
`adversarial_curve.png` and `adversarial_examples.png`.

On CPU, TensorFlow's oneDNN kernels must be on (`TF_ENABLE_ONEDNN_OPTS=1`,
which importing kerasdl sets unless the variable is already set): without them
the backward convolution on the small feature maps of ResNet-18's last stages
is 10-30x slower (measured: 6.3 s instead of 0.21 s for the input gradient of
64 images of 32x32 on 2 cores).

Source: notes, 8.6 Residual Networks (ResNet), 8.7 Adversarial Examples.
"""

import argparse
import json
import math
import os
import pathlib
import platform
import time

__all__ = ["run", "add_arguments", "main"]

SUMMARY = "ResNet-18 on Fashion-MNIST, then FGSM adversarial accuracy"
EPILOG = """\
The defaults are the notes' full GPU run (10 epochs, batch 256, 96x96 images,
lr 0.05, all 60000/10000 images, FGSM epsilon 0.1); expect several minutes
per epoch on a GPU and hours on a CPU.

CPU-friendly run (a few minutes on 2 cores; kerasdl turns TensorFlow's
oneDNN kernels on, TF_ENABLE_ONEDNN_OPTS=1, which make the backward pass
10-30x faster on CPU):
  python -m kerasdl.experiments resnet_fgsm \\
      --epochs 2 --num-train 5000 --num-test 1000 --resize 32 \\
      --batch-size 64 --bn-momentum 0.9 --out runs/resnet_fgsm_cpu
(--bn-momentum 0.9: in a run of ~150 steps the default 0.99 leaves the
moving statistics near their initial values, so test accuracy collapses.)
Smoke test (seconds):
  python -m kerasdl.experiments resnet_fgsm \\
      --epochs 1 --num-train 256 --num-test 128 --resize 32 --batch-size 64 \\
      --out /tmp/resnet_fgsm
"""

# The notes' run: 10 epochs of SGD with lr 0.05 and batch 256 on 96x96 images.
NOTES_EPOCHS = 10
NOTES_BATCH_SIZE = 256
NOTES_RESIZE = 96
NOTES_LR = 0.05
# FGSM step in pixel units on [0, 1] (0.1 = 10% of the grey range).
NOTES_EPSILON = 0.1
# Figures the notes report for the full GPU run.
NOTES_FIGURES = {"train_acc": 0.998, "test_acc": 0.921, "adversarial_accuracy": 0.332}
# Keras' BatchNormalization default momentum (weight on the old value), used by the notes.
NOTES_BN_MOMENTUM = 0.99
# Epsilons of the adversarial curve (the chosen `--epsilon` is added).
CURVE_EPSILONS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
# Images shown clean and attacked in adversarial_examples.png.
NUM_EXAMPLE_IMAGES = 8
# Smallest input side ResNet-18's five stride-2 stages handle without collapsing.
MIN_RESIZE = 32

RESULTS_FILE = "results.json"
TRAINING_CURVES_FILE = "training_curves.png"
ADVERSARIAL_CURVE_FILE = "adversarial_curve.png"
ADVERSARIAL_EXAMPLES_FILE = "adversarial_examples.png"


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an int >= 1, got {text}")
    return value


def _resize(text):
    value = int(text)
    if value < MIN_RESIZE:
        raise argparse.ArgumentTypeError(f"must be an int >= {MIN_RESIZE}, got {text}")
    return value


def _positive_float(text):
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _epsilon(text):
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _bn_momentum(text):
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def add_arguments(parser):
    """Adds the experiment's options to an `argparse` parser."""
    parser.add_argument("--epochs", type=_positive_int, default=NOTES_EPOCHS,
                        help=f"training epochs (default {NOTES_EPOCHS})")
    parser.add_argument("--batch-size", type=_positive_int, default=NOTES_BATCH_SIZE,
                        help=f"minibatch size (default {NOTES_BATCH_SIZE})")
    parser.add_argument("--resize", type=_resize, default=NOTES_RESIZE,
                        help=f"image side in pixels, >= {MIN_RESIZE} (default {NOTES_RESIZE})")
    parser.add_argument("--num-train", type=_positive_int, default=None,
                        help="seeded random subset of training images (default: all 60000)")
    parser.add_argument("--num-test", type=_positive_int, default=None,
                        help="seeded random subset of test images (default: all 10000)")
    parser.add_argument("--epsilon", type=_epsilon, default=NOTES_EPSILON,
                        help=f"FGSM epsilon, pixel units on [0, 1] (default {NOTES_EPSILON})")
    parser.add_argument("--lr", type=_positive_float, default=NOTES_LR,
                        help=f"SGD learning rate (default {NOTES_LR})")
    parser.add_argument("--bn-momentum", type=_bn_momentum, default=NOTES_BN_MOMENTUM,
                        help="batch-norm momentum, weight on the old moving value "
                             f"(default {NOTES_BN_MOMENTUM}; use 0.9 for short runs)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of Python, NumPy, TensorFlow, Keras and the data (default 0)")
    parser.add_argument("--data-dir", default=None,
                        help="directory holding the four Fashion-MNIST IDX .gz files "
                             "(default: the usual search path)")
    parser.add_argument("--out", default="runs/resnet_fgsm",
                        help="output directory (default runs/resnet_fgsm)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")


def run(*, epochs=NOTES_EPOCHS, batch_size=NOTES_BATCH_SIZE, resize=NOTES_RESIZE,
        num_train=None, num_test=None, epsilon=NOTES_EPSILON, lr=NOTES_LR, seed=0,
        bn_momentum=NOTES_BN_MOMENTUM, data_dir=None, out="runs/resnet_fgsm", verbose=True):
    """Runs the experiment and writes its results and figures into `out`.

    Args:
        epochs: training epochs.
        batch_size: minibatch size (training and evaluation).
        resize: image side in pixels (Fashion-MNIST is bilinearly resized).
        num_train: training subset size, or None for all 60000 images.
        num_test: test subset size, or None for all 10000 images.
        epsilon: FGSM epsilon in pixel units on [0, 1].
        lr: SGD learning rate.
        seed: seed of every random draw (weights, subsets, shuffling).
        bn_momentum: batch-norm momentum of ResNet-18 (weight on the old value).
        data_dir: directory of the Fashion-MNIST files, or None.
        out: output directory, created if needed.
        verbose: print one line per epoch.

    Returns:
        The results dict also written to `out/results.json`.
    """
    import keras

    from kerasdl.adversarial import (
        adversarial_curve,
        plot_adversarial_curve,
        plot_adversarial_examples,
    )
    from kerasdl.data import FASHION_MNIST_LABELS, load_fashion_mnist
    from kerasdl.device import configure_gpus, describe_device
    from kerasdl.models import resnet18
    from kerasdl.seeding import set_seed
    from kerasdl.training import train

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    configure_gpus()
    set_seed(seed)
    device = describe_device()
    start = time.perf_counter()

    train_iter, test_iter = load_fashion_mnist(
        batch_size, resize, num_train=num_train, num_test=num_test, data_dir=data_dir, seed=seed
    )
    net = resnet18(num_classes=len(FASHION_MNIST_LABELS), input_shape=(resize, resize, 1),
                   bn_momentum=bn_momentum)
    history = train(net, train_iter, test_iter, epochs, keras.optimizers.SGD(learning_rate=lr),
                    verbose=verbose)
    train_seconds = time.perf_counter() - start

    epsilons = sorted(set(CURVE_EPSILONS) | {epsilon})
    curve = adversarial_curve(net, test_iter, epsilons)
    adversarial_acc = float(curve.loc[curve["epsilon"] == epsilon, "accuracy"].iloc[0])

    results = {
        "experiment": "resnet_fgsm",
        "config": {
            "epochs": epochs, "batch_size": batch_size, "resize": resize,
            "num_train": num_train, "num_test": num_test, "epsilon": epsilon,
            "lr": lr, "seed": seed, "optimizer": "SGD", "model": "resnet18",
            "bn_momentum": bn_momentum,
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        },
        "device": device,
        "versions": {"tensorflow": _tf_version(), "keras": keras.__version__,
                     "python": platform.python_version()},
        "train_loss": history.loss[-1],
        "train_acc": history.train_acc[-1],
        "test_acc": history.test_acc[-1],
        "examples_per_sec": history.examples_per_sec[-1],
        "epsilon": epsilon,
        "adversarial_accuracy": adversarial_acc,
        "adversarial_curve": curve.to_dict(orient="records"),
        "history": history.to_frame().reset_index().to_dict(orient="records"),
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - start,
        "notes_figures": NOTES_FIGURES,
    }
    with open(out / RESULTS_FILE, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)

    history.plot().savefig(out / TRAINING_CURVES_FILE, dpi=120)
    plot_adversarial_curve(curve).savefig(out / ADVERSARIAL_CURVE_FILE, dpi=120)
    X, y = next(iter(test_iter))
    plot_adversarial_examples(
        net, X[:NUM_EXAMPLE_IMAGES], y[:NUM_EXAMPLE_IMAGES], epsilon, labels=FASHION_MNIST_LABELS
    ).savefig(out / ADVERSARIAL_EXAMPLES_FILE, dpi=120)
    return results


def _tf_version():
    import tensorflow as tf

    return tf.__version__


def main(args):
    """Runs the experiment from parsed arguments and prints its figures."""
    results = run(
        epochs=args.epochs, batch_size=args.batch_size, resize=args.resize,
        num_train=args.num_train, num_test=args.num_test, epsilon=args.epsilon,
        lr=args.lr, seed=args.seed, bn_momentum=args.bn_momentum, data_dir=args.data_dir, out=args.out,
        verbose=not args.quiet,
    )
    print(f"device: {results['device']}")
    print(
        f"train acc {results['train_acc']:.3f}, test acc {results['test_acc']:.3f}, "
        f"{results['examples_per_sec']:.1f} examples/sec"
    )
    print(
        f"adversarial accuracy (FGSM, epsilon={results['epsilon']:g}): "
        f"{results['adversarial_accuracy']:.3f}"
    )
    curve = ", ".join(f"{row['epsilon']:g}: {row['accuracy']:.3f}" for row in results["adversarial_curve"])
    print(f"adversarial curve (epsilon: accuracy): {curve}")
    print(f"results written to {args.out}")
    return 0

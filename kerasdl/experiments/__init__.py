"""Experiments of the notes, runnable from the command line.

Usage::

    python -m kerasdl.experiments resnet_fgsm --help
    python -m kerasdl.experiments resnet_fgsm --epochs 1 --num-train 2000 \\
        --num-test 500 --resize 32 --out runs/resnet_fgsm_cpu

Experiments:
    resnet_fgsm: train ResNet-18 on Fashion-MNIST with the kerasdl training
        loop, then measure its accuracy under the fast gradient sign method
        (notes, 8.6 ResNet and 8.7 Adversarial Examples).
"""

__all__ = ["EXPERIMENTS"]

# Experiment name -> module under kerasdl.experiments defining
# `add_arguments(parser)` and `main(args) -> int`.
EXPERIMENTS = {
    "resnet_fgsm": "kerasdl.experiments.resnet_fgsm",
}

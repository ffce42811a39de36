"""Tests of the notes' ResNet + FGSM experiment (kerasdl/experiments/)."""

import json
import os
import subprocess
import sys

import pytest

from kerasdl.data import FASHION_MNIST_FILES, fashion_mnist_search_path
from kerasdl.experiments import EXPERIMENTS
from kerasdl.experiments import resnet_fgsm
from kerasdl.experiments.__main__ import build_parser

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Generous bound for the tiny CLI run on 2 shared CPU cores.
SMOKE_TIMEOUT_S = 600
RESULT_KEYS = {
    "experiment", "config", "device", "versions", "train_loss", "train_acc", "test_acc",
    "examples_per_sec", "epsilon", "adversarial_accuracy", "adversarial_curve", "history",
    "train_seconds", "total_seconds", "notes_figures",
}
PNG_FILES = ("training_curves.png", "adversarial_curve.png", "adversarial_examples.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def have_fashion_mnist():
    return any(all((d / f).is_file() for f in FASHION_MNIST_FILES) for d in fashion_mnist_search_path())


def test_registry_and_defaults():
    """Is resnet_fgsm registered, with the notes' run (10 epochs, batch 256, 96 px, lr 0.05, eps 0.1) as defaults?"""
    assert EXPERIMENTS["resnet_fgsm"] == "kerasdl.experiments.resnet_fgsm"
    args = build_parser().parse_args(["resnet_fgsm"])
    assert (args.epochs, args.batch_size, args.resize, args.lr, args.epsilon) == (10, 256, 96, 0.05, 0.1)
    assert args.num_train is None and args.num_test is None and args.seed == 0
    assert args.bn_momentum == 0.99
    assert resnet_fgsm.NOTES_FIGURES == {"train_acc": 0.998, "test_acc": 0.921, "adversarial_accuracy": 0.332}


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--epochs", "0"], "--epochs: must be an int >= 1, got 0"),
        (["--resize", "16"], "--resize: must be an int >= 32, got 16"),
        (["--epsilon", "-0.1"], "--epsilon: must be a finite number >= 0, got -0.1"),
        (["--lr", "nan"], "--lr: must be a finite number > 0, got nan"),
        (["--bn-momentum", "1.5"], "--bn-momentum: must be in [0, 1], got 1.5"),
    ],
)
def test_bad_options_are_refused(argv, message, capsys):
    """Does the CLI refuse out-of-range options with a usage error naming the option?"""
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["resnet_fgsm"] + argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_help_works():
    """Does `python -m kerasdl.experiments resnet_fgsm --help` exit 0 and document the CPU-friendly flags?"""
    proc = subprocess.run(
        [sys.executable, "-m", "kerasdl.experiments", "resnet_fgsm", "--help"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=SMOKE_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr
    for text in ("--num-train", "--resize", "--epsilon", "--out", "CPU-friendly", "TF_ENABLE_ONEDNN_OPTS=1"):
        assert text in proc.stdout


@pytest.mark.slow
@pytest.mark.skipif(not have_fashion_mnist(), reason="Fashion-MNIST files not installed (make data)")
def test_cli_smoke_run(tmp_path):
    """Does a tiny CLI run write results.json with every key and consistent figures, plus the three PNGs?"""
    out = tmp_path / "run"
    # oneDNN kernels: the CPU backward pass of ResNet-18 is 10-30x faster.
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1"))
    proc = subprocess.run(
        [sys.executable, "-m", "kerasdl.experiments", "resnet_fgsm", "--epochs", "1",
         "--num-train", "256", "--num-test", "128", "--resize", "32", "--batch-size", "64",
         "--out", str(out)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=SMOKE_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr
    assert "adversarial accuracy (FGSM, epsilon=0.1)" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert RESULT_KEYS <= set(results)
    assert results["config"]["num_train"] == 256 and results["config"]["resize"] == 32
    assert 0.0 <= results["adversarial_accuracy"] <= 1.0 and results["examples_per_sec"] > 0
    curve = {row["epsilon"]: row["accuracy"] for row in results["adversarial_curve"]}
    assert set(resnet_fgsm.CURVE_EPSILONS) <= set(curve)
    assert curve[0.1] == pytest.approx(results["adversarial_accuracy"])
    # The attack at epsilon 0 is the clean test accuracy measured by the training loop.
    assert curve[0.0] == pytest.approx(results["test_acc"])
    assert len(results["history"]) == 1
    for name in PNG_FILES:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC

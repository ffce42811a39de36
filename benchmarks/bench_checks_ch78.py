"""Median `grader.check()` time per exercise of chapters 7-8, TensorFlow warm.

Runs each exercise's first full-points fixture submission once to warm up
(TensorFlow, the cached reference models), then `--repeats` more times, and
prints a table of the median and maximum seconds with the budget: 0.1 s for
function exercises, 2 s for models and layers.

    python benchmarks/bench_checks_ch78.py [--repeats 5] [--hidden] [ids ...]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import grader  # noqa: E402
from grader.registry import default_registry  # noqa: E402
from tests.grader.fixtures import (  # noqa: E402
    ch07_cnn,
    ch08_adversarial,
    ch08_batchnorm_resnet,
    ch08_modern_cnn,
)

# Median time budgets (seconds) by kind of exercise.
BUDGETS = {"function": 0.1, "class": 2.0, "model": 2.0}
FIXTURES = (ch07_cnn, ch08_modern_cnn, ch08_batchnorm_resnet, ch08_adversarial)


def submissions():
    """First full-points submission of every chapter 7-8 exercise, in catalog order."""
    found = {}
    for module in FIXTURES:
        for exercise_id, _, obj, expected in module.SUBMISSIONS:
            if expected == module.FULL and exercise_id not in found:
                found[exercise_id] = obj
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="exercise ids (default: all of chapters 7-8)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hidden", action="store_true", help="run the hidden cases too")
    args = parser.parse_args(argv)
    table = submissions()
    ids = args.ids or list(table)
    print(f"{'exercise':<26}{'kind':<10}{'median s':>10}{'max s':>9}{'budget':>8}  ok")
    for exercise_id in ids:
        spec = default_registry.get(exercise_id)
        obj = table[exercise_id]
        grader.check(exercise_id, obj, hidden=args.hidden, quiet=True)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            score = grader.check(exercise_id, obj, hidden=args.hidden, quiet=True)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        budget = BUDGETS[spec.kind] if spec.kind != "function" or not exercise_id[0].isupper() \
            else BUDGETS["class"]
        full = abs(float(score) - spec.points) < 1e-9
        print(f"{exercise_id:<26}{spec.kind:<10}{median:>10.3f}{max(times):>9.3f}"
              f"{budget:>8g}  {'yes' if median <= budget else 'NO'}"
              f"{'' if full else '  (not full points!)'}")


if __name__ == "__main__":
    main()

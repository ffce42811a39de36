"""Median wall time of `grader.check()` per exercise of chapters 2-6.

Each check runs once to warm TensorFlow up, then `--repeats` times (public
and hidden cases) with the correct fixture implementation from
`tests/grader/fixtures`; the table shows the median and the maximum.

Usage: python benchmarks/bench_checks.py [--repeats 5] [--ids softmax relu]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "grader"))

import pandas as pd  # noqa: E402

import grader  # noqa: E402
from fixtures import FULL, ch02, ch03, ch04, ch05, ch06  # noqa: E402


def correct_implementations():
    """Map each exercise id to its first correct fixture implementation."""
    found = {}
    for module in (ch02, ch03, ch04, ch05, ch06):
        for exercise_id, implementation, expected in module.CASES:
            if expected == FULL:
                found.setdefault(exercise_id, implementation)
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ids", nargs="*", default=None)
    args = parser.parse_args(argv)
    implementations = correct_implementations()
    ids = args.ids or list(implementations)
    rows = []
    for exercise_id in ids:
        implementation = implementations[exercise_id]
        grader.check(exercise_id, implementation, hidden=True, quiet=True)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            score = grader.check(exercise_id, implementation, hidden=True, quiet=True)
            times.append(time.perf_counter() - start)
        rows.append({"exercise": exercise_id, "score": float(score),
                     "points": score.points, "median_s": statistics.median(times),
                     "max_s": max(times)})
    frame = pd.DataFrame(rows)
    with pd.option_context("display.max_rows", None, "display.width", 120):
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"\nmedian of medians: {frame['median_s'].median():.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

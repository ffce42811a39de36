"""Wall time of `grader.check()` per exercise, with TensorFlow warm.

For every exercise (or those named) the first full-points fixture submission
from `tests/grader/fixtures` is checked once (`first_s`: this exercise's
first check in the process, as under `nbgrader autograde`, where each
notebook runs in a fresh kernel), then `--repeats` more times (`median_s`,
`max_s`: what a student re-running a check cell waits). `student_s` is the
median part spent inside the submitted code itself (`CaseResult.student_seconds`),
`grader_s` the rest. Budgets: 0.1 s for every exercise of chapters 2-6 and for
the function exercises of chapters 7-8, 2 s for the model and layer exercises
of chapters 7-8; an exercise is within budget (`ok`) when its slowest repeat
(`max_s`) is. `max_cpu_s` is the CPU time of this process (all its threads)
during the slowest-CPU repeat: on a shared machine, wall time above it is time
spent waiting for a core.

Usage:
    python benchmarks/bench_checks.py [--repeats 5] [--public-only] [--chapters 2-6|7-8] [ids ...]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "grader")]  # kerasdl, grader, fixtures

import pandas as pd  # noqa: E402

import grader  # noqa: E402
from grader.registry import default_registry  # noqa: E402
from fixtures import (  # noqa: E402
    FULL,
    ch02,
    ch03,
    ch04,
    ch05,
    ch06,
    ch07_cnn,
    ch08_adversarial,
    ch08_batchnorm_resnet,
    ch08_modern_cnn,
)

EARLY_CHAPTERS = (ch02, ch03, ch04, ch05, ch06)  # rows (id, implementation, expected)
LATE_CHAPTERS = (ch07_cnn, ch08_modern_cnn, ch08_batchnorm_resnet, ch08_adversarial)
FUNCTION_BUDGET_S = 0.1
MODEL_BUDGET_S = 2.0
# Exercise checked first so that TensorFlow's start-up is not counted.
WARM_UP_ID = "softmax"


def submissions(chapters):
    """Map each exercise id to its first full-points fixture and its budget (s)."""
    found = {}
    if chapters in ("all", "2-6"):
        for module in EARLY_CHAPTERS:
            for exercise_id, implementation, expected in module.CASES:
                if expected == FULL and exercise_id not in found:
                    found[exercise_id] = (implementation, FUNCTION_BUDGET_S)
    if chapters in ("all", "7-8"):
        for module in LATE_CHAPTERS:
            for exercise_id, _, obj, expected in module.SUBMISSIONS:
                if expected == module.FULL and exercise_id not in found:
                    kind = default_registry.get(exercise_id).kind
                    found[exercise_id] = (obj, FUNCTION_BUDGET_S if kind == "function"
                                          else MODEL_BUDGET_S)
    return found


def _timed(exercise_id, obj, hidden):
    start, cpu_start = time.perf_counter(), time.process_time()
    score = grader.check(exercise_id, obj, hidden=hidden, quiet=True)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    return score, seconds, sum(r.student_seconds for r in score.results), cpu


def _load(averages):
    return "/".join(f"{v:.2f}" for v in averages)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ids", nargs="*", help="exercise ids (default: all of --chapters)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chapters", choices=("all", "2-6", "7-8"), default="all")
    parser.add_argument("--public-only", action="store_true",
                        help="run the public cases only (default: hidden cases too, "
                             "as under autograde)")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    table = submissions("all" if args.ids else args.chapters)
    hidden = not args.public_only
    ids = args.ids or list(table)
    warm_up = submissions("2-6")[WARM_UP_ID][0]
    grader.check(WARM_UP_ID, warm_up, hidden=hidden, quiet=True)
    rows = []
    for exercise_id in ids:
        obj, budget = table[exercise_id]
        score, first, _, _ = _timed(exercise_id, obj, hidden)
        runs = [_timed(exercise_id, obj, hidden) for _ in range(args.repeats)]
        median = statistics.median(seconds for _, seconds, _, _ in runs)
        slowest = max(seconds for _, seconds, _, _ in runs)
        student = statistics.median(inside for _, _, inside, _ in runs)
        rows.append({
            "exercise": exercise_id,
            "kind": default_registry.get(exercise_id).kind,
            "score": f"{float(score):g}/{score.points:g}",
            "first_s": first,
            "median_s": median,
            "max_s": slowest,
            "max_cpu_s": max(cpu for _, _, _, cpu in runs),
            "student_s": student,
            "grader_s": median - student,
            "budget_s": budget,
            "ok": "yes" if slowest <= budget else "NO",
        })
    frame = pd.DataFrame(rows)
    with pd.option_context("display.max_rows", None, "display.width", 140):
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    over = frame[frame["ok"] == "NO"]
    print(f"\n{len(frame) - len(over)} of {len(frame)} exercises within budget at the max "
          f"of {args.repeats} repeats; median of medians {frame['median_s'].median():.3f} s; "
          f"load average (1, 5, 15 min) {_load(load_start)} at the start, "
          f"{_load(os.getloadavg())} at the end ({os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

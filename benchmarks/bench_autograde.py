"""Autograde throughput with 1 and 2 workers: submissions per minute and the speed-up.

Builds a course from the repository's notebooks of one assignment
(`grader.demo.build_course`), writes N synthetic submissions (students
``s01``..``sNN``, each the instructor's solution), then, in one run, grades a
fresh copy of that course with ``kerasdl-grade autograde``'s function once per
worker count (the embedded Dask cluster, ``jobs`` worker processes, kernels in
the sandbox unless ``--no-sandbox``). Each figure is the wall time of the
whole `grader.course.autograde` call: cluster start, registration, execution
and recording of every submission. The load average is printed before and
after each run: on a shared machine other work slows both runs.

Usage:
    python benchmarks/bench_autograde.py [--submissions 8] [--workers 1 2]
        [--assignment ch04_softmax_regression] [--timeout 180] [--no-sandbox]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader import course as grading  # noqa: E402
from grader import demo  # noqa: E402

# Fixed submission time of every synthetic submission.
TIMESTAMP = "2024-05-01 12:00:00.000000 UTC"
# Two scores closer than this are equal (the grader rounds to 4 decimals).
SCORE_ATOL = 5.1e-5


def make_submissions(course, assignment, count):
    """Write `count` submissions of `assignment`, each the solution; returns the student ids."""
    import nbformat

    students = [f"s{index:02d}" for index in range(1, count + 1)]
    for source_path in sorted((course / "solutions" / assignment).glob("*.ipynb")):
        source = nbformat.read(source_path, as_version=4)
        solutions = {cell.metadata["nbgrader"]["grade_id"]: demo.solution_code(cell)
                     for cell in source.cells
                     if cell.metadata.get("nbgrader", {}).get("solution")}
        released = nbformat.read(course / "assignments" / assignment / source_path.name, 4)
        for cell in released.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in solutions:
                cell.source = solutions[grade_id]
        for student in students:
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(released, folder / source_path.name)
            (folder / "timestamp.txt").write_text(TIMESTAMP)
    return students


def grade_once(pristine, assignment, workers, timeout, sandbox, scratch):
    """Grade a fresh copy of `pristine` with `workers` workers; returns (seconds, outcomes)."""
    course = Path(scratch) / f"course-{workers}"
    shutil.copytree(pristine, course)
    start = time.perf_counter()
    outcomes = grading.autograde(assignment, course, jobs=workers, timeout=timeout,
                                 num_gpus=0, progress=False, sandbox=sandbox)
    return time.perf_counter() - start, outcomes


def _load():
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=8, metavar="N")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], metavar="W")
    parser.add_argument("--assignment", default="ch04_softmax_regression",
                        choices=sorted(p.name for p in (ROOT / "solutions").iterdir()))
    parser.add_argument("--timeout", type=int, default=180, metavar="S",
                        help="seconds per cell (default: 180, the course's)")
    parser.add_argument("--no-sandbox", action="store_true")
    args = parser.parse_args(argv)
    if args.submissions < 1 or min(args.workers) < 1:
        parser.error(f"--submissions and --workers must be >= 1. Received: "
                     f"submissions={args.submissions}, workers={args.workers}")

    scratch = tempfile.mkdtemp(prefix="kerasdl-bench-autograde-")
    try:
        pristine = demo.build_course(Path(scratch) / "pristine", [args.assignment])
        make_submissions(pristine, args.assignment, args.submissions)
        print(f"bench_autograde: {args.submissions} submissions of {args.assignment} (each the "
              f"solution), {os.cpu_count()} CPU cores, sandbox "
              f"{'off' if args.no_sandbox else 'on'}, cell timeout {args.timeout} s")
        rows = []
        for workers in args.workers:
            before = _load()
            seconds, outcomes = grade_once(pristine, args.assignment, workers, args.timeout,
                                           not args.no_sandbox, scratch)
            full = sum(o.score is not None and abs(o.score - o.max_score) <= SCORE_ATOL
                       for o in outcomes)
            mean_job = sum(o.seconds for o in outcomes) / len(outcomes)
            rows.append((workers, seconds, mean_job, full, len(outcomes)))
            print(f"  {workers} worker(s): {seconds:.1f} s ({before} before, {_load()} after)")
        print(f"{'workers':>7s} {'wall (s)':>9s} {'submissions/min':>16s} {'mean job (s)':>13s} "
              f"{'full marks':>11s} {'speed-up':>9s}")
        base = rows[0][1]
        for workers, seconds, mean_job, full, total in rows:
            print(f"{workers:7d} {seconds:9.1f} {total / seconds * 60:16.2f} {mean_job:13.1f} "
                  f"{f'{full}/{total}':>11s} {base / seconds:8.2f}x")
        if any(full != total for _, _, _, full, total in rows):
            print("WARNING: some submissions did not get full marks (a timeout under load?): "
                  "the runs did not do the same work")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

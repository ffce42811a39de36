"""Autograde time of every course notebook, and what the sandbox and the judge cost.

Part 1 (``--assignments``, default all ten): for each assignment, a fresh
course copy with one student whose submission is the instructor's solution,
the assignment registered in the gradebook first (what ``nbgrader
generate_assignment`` does before release; its time is printed apart), then
graded by `grader.course.autograde` (one job, sandbox and judge on). It
prints the wall time of the whole call (nbgrader's start, validation, Dask,
execution, recording) and the job's own time (`AutogradeOutcome.seconds`:
kernel start to last cell judged), and the score against the maximum.

Part 2 (``--compare``, default ``ch03_linear_regression ch07_cnn``): the
execute job alone (`grader.course.job.execute_submission`) in three
configurations, interleaved repeat by repeat so that the machine's load
falls on all three alike, after one untimed warm-up round (a worker's judge
builds its reference models at its first submission): sandbox + judge (what autograde does), sandbox
without the judge (the kernel's own output would be scored), and the judge
without the sandbox. Medians and the ratios to sandbox + judge.

Usage (as root or with unprivileged user namespaces, bubblewrap installed):
    python benchmarks/bench_autograde_notebooks.py [--repeats 3]
        [--assignments ch02_preliminaries ...] [--compare ch07_cnn ...]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())
COURSE_FILES = ("nbgrader_config.py", "solutions", "assignments")
# The budget of the issue: no notebook over this many seconds (max).
BUDGET_SECONDS = 45.0
CELL_TIMEOUT = 180


def make_course(where, assignment, student="ada"):
    """A course folder with `student`'s submission = the instructor's solution."""
    course = Path(where) / "course"
    course.mkdir()
    for name in COURSE_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, course / name)
        else:
            shutil.copy(src, course / name)
    submitted = course / "submitted" / student / assignment
    submitted.mkdir(parents=True)
    for notebook in (ROOT / "solutions" / assignment).glob("*.ipynb"):
        shutil.copy(notebook, submitted / notebook.name)
    return course


def register(course, assignment):
    """Record the assignment in the course's gradebook, as ``nbgrader
    generate_assignment`` does before release; returns the seconds it took
    (in a subprocess: this process stays free of nbgrader's imports)."""
    import subprocess

    code = ("import sys; from grader.course.coursedir import load_course; "
            "from grader.course.registration import register_assignment; "
            "config, coursedir = load_course(sys.argv[1]); "
            "register_assignment(coursedir, config, sys.argv[2])")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(course), assignment], check=True,
                   cwd=ROOT)
    return time.perf_counter() - start


def autograde_times(assignments):
    from grader.course import autograde

    rows = []
    for assignment in assignments:
        with tempfile.TemporaryDirectory(prefix="bench-autograde-") as tmp:
            course = make_course(tmp, assignment)
            registration = register(course, assignment)
            start = time.perf_counter()
            (outcome,) = autograde(assignment, course, jobs=1, timeout=CELL_TIMEOUT,
                                   progress=False)
            wall = time.perf_counter() - start
        rows.append((assignment, wall, outcome))
        score = "" if outcome.score is None else f"{outcome.score:g}/{outcome.max_score:g}"
        print(f"{assignment:28s} autograde {wall:6.1f} s   job {outcome.seconds:6.1f} s   "
              f"{outcome.state:18s} {score:8s} (registration before: {registration:.1f} s)",
              flush=True)
    worst = max(rows, key=lambda row: row[1])
    print(f"max autograde time: {worst[1]:.1f} s ({worst[0]}); budget {BUDGET_SECONDS:g} s: "
          f"{'met' if worst[1] <= BUDGET_SECONDS else 'NOT met'}")
    return rows


def _job(assignment, sandbox):
    import nbformat

    from grader.course.job import Job

    notebooks = {p.stem: nbformat.writes(nbformat.read(p, as_version=4)).encode()
                 for p in sorted((ROOT / "solutions" / assignment).glob("*.ipynb"))}
    return Job(assignment, "ada", notebooks, secret=1234, cell_timeout=CELL_TIMEOUT,
               sandbox={} if sandbox else None,
               env={"TF_NUM_INTRAOP_THREADS": str(os.cpu_count() or 1),
                    "TF_NUM_INTEROP_THREADS": "1"})


def compare(assignments, repeats):
    from grader.course import job as job_module

    real_judge_for = job_module.judge_for
    configs = {
        "sandbox + judge": (True, real_judge_for),
        "sandbox, no judge": (True, lambda secret: None),
        "judge, no sandbox": (False, real_judge_for),
    }
    real_judge_for(1234)  # the worker's judge is built once, before timing
    for assignment in assignments:
        times = {name: [] for name in configs}
        # Round 0 is a warm-up, not timed: a worker grades many submissions, and
        # its judge's reference models are built at the first one.
        for round_index in range(repeats + 1):
            for name, (sandbox, judge_for) in configs.items():
                job_module.judge_for = judge_for
                try:
                    start = time.perf_counter()
                    result = job_module.execute_submission(_job(assignment, sandbox))
                    if round_index:
                        times[name].append(time.perf_counter() - start)
                finally:
                    job_module.judge_for = real_judge_for
                if result.error:
                    raise SystemExit(f"{assignment} ({name}): {result.error}")
        base = statistics.median(times["sandbox + judge"])
        for name, values in times.items():
            median = statistics.median(values)
            print(f"{assignment:28s} {name:18s} median {median:6.1f} s "
                  f"(runs {', '.join(f'{v:.1f}' for v in values)})  "
                  f"ratio to sandbox + judge {median / base:.3f}", flush=True)
        judge_cost = base / statistics.median(times["sandbox, no judge"]) - 1
        sandbox_cost = base / statistics.median(times["judge, no sandbox"]) - 1
        print(f"{assignment:28s} the judge adds {judge_cost:+.1%}, the sandbox adds "
              f"{sandbox_cost:+.1%}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", nargs="*", default=ASSIGNMENTS, metavar="ID")
    parser.add_argument("--compare", nargs="*", metavar="ID",
                        default=["ch03_linear_regression", "ch07_cnn"])
    parser.add_argument("--repeats", type=int, default=3, help="repeats of part 2")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    if args.assignments:
        autograde_times(args.assignments)
    if args.compare:
        compare(args.compare, args.repeats)


if __name__ == "__main__":
    main()

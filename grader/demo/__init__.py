"""The demo: grade a sample class of submissions end to end with nbgrader.

`run_demo` (``kerasdl-grade demo``, ``make demo``) needs no configuration:

1. builds a course in a new folder from the repository: ``nbgrader_config.py``,
   ``solutions/<assignment>/`` (and ``assignments/<assignment>/`` when present),
   then ``nbgrader generate_assignment`` records the graded cells in a fresh
   sqlite gradebook (or the database of ``--db``) and writes the released
   notebooks;
2. makes the sample class (`grader.demo.students`): for each assignment, one
   submission per sample student, built from the released notebook with the
   student's code in the solution cells;
3. autogrades (`grader.course.autograde`), generates the feedback and the report;
4. prints each student's expected against actual score per graded cell, with
   MISMATCH on every row that differs, and where every file is.

Sample submissions per assignment live in ``grader/demo/<assignment>.py`` as
``SUBMISSIONS = {student: Submission}``; `SAMPLE_ASSIGNMENTS` lists them.

The course folder must be new, empty, or one the demo made before (it holds
`DEMO_MARKER`): the demo never writes its sample students into a real course.
Importing this package is light (standard library only).
"""

import importlib
import pkgutil
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

__all__ = [
    "DEFAULT_ASSIGNMENTS",
    "DEMO_CELL_TIMEOUT",
    "DEMO_MARKER",
    "SAMPLE_ASSIGNMENTS",
    "build_course",
    "check_course_folder",
    "compare_scores",
    "expected_scores",
    "make_sample_class",
    "run_demo",
    "solution_code",
]

# The assignments with a sample class: the modules of this package but `students`.
SAMPLE_ASSIGNMENTS = tuple(
    sorted(info.name for info in pkgutil.iter_modules(__path__) if info.name != "students")
)
# The assignments graded by default: about 5 minutes on 2 CPU cores.
DEFAULT_ASSIGNMENTS = ("ch07_cnn", "ch04_softmax_regression")
# File in the root of every course folder the demo makes.
DEMO_MARKER = ".kerasdl-demo"
# Seconds a cell may run under the demo's autograde. Checks stop endless loops
# themselves; this bounds an ungraded cell that calls a looping function.
DEMO_CELL_TIMEOUT = 60
# Two scores closer than this are equal: the grader rounds a score to 4
# decimals (half a unit of the last decimal, plus float rounding).
SCORE_ATOL = 5.1e-5
# Fixed submission time of every sample submission.
TIMESTAMP = "2024-05-01 12:00:00.000000 UTC"
# Lines marking the instructor's solution inside a solution cell.
_SOLUTION_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


def _repo_root():
    return Path(__file__).resolve().parents[2]


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _is_solution(cell):
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def _is_autograded(cell):
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution") and cell.cell_type == "code"


def solution_code(cell):
    """The source of a solution cell without its ``### BEGIN/END SOLUTION`` lines."""
    lines = cell.source.split("\n")
    return "\n".join(line for line in lines if not _SOLUTION_MARKER.match(line))


def check_course_folder(out_dir):
    """Refuse a folder the demo must not write into.

    Args:
        out_dir: the demo's course folder.

    Raises:
        ValueError: if `out_dir` exists and is a file, or is a non-empty folder
            without `DEMO_MARKER` (a real course, or anything else).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"`out_dir` must be a folder. Received: out_dir={out_dir}")
    if out.is_dir() and any(out.iterdir()) and not (out / DEMO_MARKER).is_file():
        raise ValueError(
            f"{out} is not empty and was not made by the demo (no {DEMO_MARKER} file): the "
            "demo writes sample students and a gradebook there, so it only uses a new or "
            f"empty folder, or its own. Received: out_dir={out_dir}"
        )


def _checked_repo(repo_dir, assignments):
    """The repository (this checkout by default), with ``solutions/<id>/`` for each assignment."""
    repo = Path(repo_dir) if repo_dir else _repo_root()
    for assignment in assignments:
        if not (repo / "solutions" / assignment).is_dir():
            raise ValueError(
                f"No solutions/{assignment} in {repo}. Received: assignment={assignment}"
            )
    return repo


def _nbgrader(course, *args, db_url=None):
    from grader.course import process as nbgrader_process

    log = Path(course) / "logs" / f"{args[0]}.log"
    log.parent.mkdir(exist_ok=True)
    process = nbgrader_process._nbgrader(list(args), cwd=course, log_path=log, db_url=db_url)
    if process.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{nbgrader_process._tail(log)}")


def build_course(out_dir, assignments, repo_dir=None, db_url=None):
    """Create a course folder from the repository's notebooks.

    Args:
        out_dir: folder to create the course in (made if missing).
        assignments: assignment ids (``solutions/<id>/`` must exist).
        repo_dir: the repository; this checkout by default.
        db_url: the gradebook's database URL; a new sqlite file in the course
            by default.

    Returns:
        `Path` of the course root.

    Raises:
        ValueError: if an assignment has no ``solutions/<id>/`` folder, or
            `out_dir` is refused by `check_course_folder`; nothing is written then.
    """
    repo = _checked_repo(repo_dir, assignments)
    course = Path(out_dir)
    check_course_folder(course)
    course.mkdir(parents=True, exist_ok=True)
    (course / DEMO_MARKER).write_text("A course folder made by `kerasdl-grade demo`.\n")
    shutil.copy(repo / "nbgrader_config.py", course / "nbgrader_config.py")
    for assignment in assignments:
        for folder in ("solutions", "assignments"):
            source = repo / folder / assignment
            if source.is_dir():
                shutil.copytree(source, course / folder / assignment, dirs_exist_ok=True)
        _nbgrader(course, "generate_assignment", assignment, "--force", db_url=db_url)
    return course


def _module(assignment):
    if assignment not in SAMPLE_ASSIGNMENTS:
        raise ValueError(
            f"The demo has no sample class for this assignment (it has "
            f"{', '.join(SAMPLE_ASSIGNMENTS)}). Received: assignment={assignment}"
        )
    return importlib.import_module(f"grader.demo.{assignment}")


def make_sample_class(course, assignment):
    """Write the sample submissions of `assignment` to ``submitted/``.

    Args:
        course: course root made by `build_course`.
        assignment: assignment id with a ``grader/demo/<id>.py`` module.

    Returns:
        dict, student id -> `Submission`.

    Raises:
        ValueError: if the demo has no sample class for `assignment`, or a
            submission names a solution cell the notebook does not have.
    """
    import nbformat

    submissions = _module(assignment).SUBMISSIONS
    course = Path(course)
    for source_path in sorted((course / "solutions" / assignment).glob("*.ipynb")):
        source = nbformat.read(source_path, as_version=4)
        solutions = {_grade_id(c): solution_code(c) for c in source.cells if _is_solution(c)}
        released = nbformat.read(course / "assignments" / assignment / source_path.name, 4)
        for student, submission in submissions.items():
            unknown = sorted(set(submission.answers) - set(solutions))
            if unknown:
                raise ValueError(
                    f"Submission of {student!r} names solution cells that {source_path.name} "
                    f"does not have. Received: answers={unknown}"
                )
            nb = nbformat.from_dict(released)
            for cell in nb.cells:
                grade_id = _grade_id(cell)
                if not _is_solution(cell):
                    continue
                if grade_id in submission.answers:
                    cell.source = submission.answers[grade_id]
                elif submission.base == "solution":
                    cell.source = solutions[grade_id]
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / source_path.name)
            (folder / "timestamp.txt").write_text(TIMESTAMP)
    return submissions


def expected_scores(course, assignment, submissions):
    """Expected points per (student, graded cell) of the sample class.

    Returns:
        dict, ``(student, grade_id)`` -> expected points.
    """
    import nbformat

    points = {}
    for source_path in sorted((Path(course) / "solutions" / assignment).glob("*.ipynb")):
        for cell in nbformat.read(source_path, as_version=4).cells:
            if _is_autograded(cell):
                points[_grade_id(cell)] = float(cell.metadata["nbgrader"]["points"])
    expected = {}
    for student, submission in submissions.items():
        for grade_id, full in points.items():
            default = full if submission.base == "solution" else 0.0
            expected[(student, grade_id)] = float(submission.expected.get(grade_id, default))
    return expected


def compare_scores(grades, expected):
    """Expected against actual scores, one row per student and graded cell.

    Args:
        grades: the `grades` table of `grader.course.gradebook_frames`.
        expected: dict from `expected_scores`.

    Returns:
        pandas DataFrame with columns ``student``, ``cell``, ``expected``,
        ``actual`` and ``status`` (``ok`` or ``MISMATCH``).
    """
    import numpy as np
    import pandas as pd

    by_student = grades.set_index("student_id")
    rows = []
    for (student, cell), want in expected.items():
        got = by_student.loc[student, cell] if student in by_student.index else np.nan
        ok = bool(np.isfinite(got)) and abs(float(got) - want) <= SCORE_ATOL
        rows.append({"student": student, "cell": cell, "expected": want, "actual": got,
                     "status": "ok" if ok else "MISMATCH"})  # fmt: skip
    return pd.DataFrame(rows, columns=["student", "cell", "expected", "actual", "status"])


def run_demo(assignments=None, out_dir=None, jobs=2, timeout=None, repo_dir=None, db_url=None):
    """Grade the sample class end to end and print the results.

    Args:
        assignments: assignment ids; `DEFAULT_ASSIGNMENTS` by default.
        out_dir: folder for the course, new, empty or made by an earlier demo;
            a new temporary folder by default (kept, its path is printed).
        jobs: parallel autograde jobs.
        timeout: seconds per cell; `DEMO_CELL_TIMEOUT` by default.
        repo_dir: repository with ``solutions/`` and ``nbgrader_config.py``.
        db_url: the gradebook's database URL (``--db``); a new sqlite file in
            the course folder by default.

    Returns:
        Exit code: 0 when every actual score equals its expected score, 1 otherwise.

    Raises:
        ValueError: before any work, for an assignment without a sample class
            or without ``solutions/<id>/`` in the repository, or an `out_dir`
            refused by `check_course_folder`, or a `db_url` that is no
            database URL.
        RuntimeError: the gradebook's database server cannot be reached.
    """
    import pandas as pd

    from grader.course.database import check_db_url, reach_database

    from grader import course as grading
    from grader.demo.students import STUDENTS

    start = time.perf_counter()
    assignments = list(assignments or DEFAULT_ASSIGNMENTS)
    for assignment in assignments:
        _module(assignment)  # no sample class: refused before any work
    _checked_repo(repo_dir, assignments)
    if out_dir:
        check_course_folder(out_dir)
    if db_url is not None:
        reach_database(check_db_url(db_url))
    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="kerasdl-demo-"))
    print(f"Course folder: {out}")
    print("Sample students:")
    for student, persona in STUDENTS.items():
        print(f"  {student:6s} {persona}")
    course = build_course(out, assignments, repo_dir, db_url=db_url)
    mismatches = 0
    for assignment in assignments:
        print(f"\n=== {assignment} ===")
        submissions = make_sample_class(course, assignment)
        outcomes = grading.autograde(
            assignment, course, jobs=jobs, timeout=timeout or DEMO_CELL_TIMEOUT, db_url=db_url,
        )  # fmt: skip
        print("\nAutograde (state, score, and what the instructor should know):")
        print(grading.outcome_table(outcomes))
        feedback = grading.generate_feedback(assignment, course, db_url=db_url)
        paths, grades, cells = grading.write_report(assignment, course, db_url=db_url)
        with pd.option_context("display.width", 200, "display.max_columns", None):
            print("\nGrades:")
            print(grades[["student_id", "score", "max_score", *cells["cell"]]].to_string(index=False))
            print("\nPass rate per graded cell:")
            print(cells[["cell", "max_score", "mean_score", "pass_rate"]].to_string(index=False))
            table = compare_scores(grades, expected_scores(course, assignment, submissions))
            print("\nExpected against actual:")
            print(table.to_string(index=False))
        mismatches += int((table["status"] == "MISMATCH").sum())
        print(f"\ngrades.csv: {paths.grades_csv}")
        print(f"pass rates: {paths.pass_rates_csv}")
        print(f"plots: {paths.score_plot}, {paths.pass_rate_plot}")
        print(f"feedback ({len(feedback)} files): {feedback[0].parent.parent.parent}")
        for path in feedback:
            print(f"  {path}")
    elapsed = time.perf_counter() - start
    verdict = "all scores as expected" if not mismatches else f"{mismatches} MISMATCH rows"
    print(f"\nDemo finished in {elapsed:.0f} s: {verdict}. Course folder: {course}")
    sys.stdout.flush()
    return 1 if mismatches else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo())

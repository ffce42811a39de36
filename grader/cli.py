"""`kerasdl-grade`: grade a class of notebook submissions with nbgrader.

Subcommands:

- ``autograde ASSIGNMENT``: runs nbgrader autograde on ``submitted/``, in
  parallel jobs if asked, with a per-cell and a per-notebook timeout. A
  submission that crashes or hangs its kernel scores zero on the affected cells
  and never stops or corrupts the others (`grader.course.autograde`; its
  module, `grader.course.autograder`, explains how parallel autograding stays
  safe with one gradebook writer).
- ``report ASSIGNMENT``: ``grades.csv`` (nbgrader's export columns plus one
  column per graded cell), a per-cell pass-rate table and two PNG plots
  (`grader.course.write_report`).
- ``feedback ASSIGNMENT``: nbgrader's HTML feedback without the hidden tests
  (`grader.course.generate_feedback`).
- ``exercises``: the registered exercises and their points.
- ``demo``: grades a sample class built from the repository's notebooks
  (`grader.demo`).
- ``similarity ASSIGNMENT``: copied solution code between students and from
  the kerasdl reference (`grader.course.similarity`).

``autograde``, ``report``, ``feedback`` and ``demo`` take ``--db URL``: the
gradebook's database (sqlite by default, PostgreSQL through psycopg;
`grader.course.database`).

This module holds only the command line. It imports neither TensorFlow nor
nbgrader, so ``kerasdl-grade --help`` answers at once and every flag (and
``--course``: "not a course directory") is checked before anything heavy
loads; each command imports what it needs when it runs, and TensorFlow, where
a command needs it, loads without its C++ start-up lines
(`grader.course.tflog`).
"""

import argparse
import dataclasses
import math
import sys

from grader import course as grading

__all__ = ["build_parser", "main"]


def _number_type(what, accept, convert=float):
    """argparse type: a finite number for which `accept` holds, as `convert` of it.

    A refused value gets the message "must be <what>. Received: '<text>'".
    """

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and accept(value)):
            raise argparse.ArgumentTypeError(f"must be {what}. Received: {text!r}")
        return convert(value)

    parse.__name__ = what
    return parse


_AT_LEAST_ONE = _number_type("a whole number >= 1", lambda v: v.is_integer() and v >= 1, int)
_AT_LEAST_ZERO = _number_type("a whole number >= 0", lambda v: v.is_integer() and v >= 0, int)
# nbgrader's per-cell limit (Execute.timeout) is a whole number of seconds:
# a fraction is refused rather than truncated (0.5 would become 0: no limit).
_CELL_TIMEOUT = _number_type(
    "a whole number of seconds >= 1 (nbgrader's cell limit is in whole seconds)",
    lambda v: v.is_integer() and v >= 1, int,
)  # fmt: skip
_SECONDS = _number_type("a number of seconds >= 1", lambda v: v >= 1)
_MEBIBYTES = _number_type("a whole number of MiB >= 256", lambda v: v.is_integer() and v >= 256,
                          int)
_FRACTION = _number_type("a fraction in (0, 1], e.g. 0.5", lambda v: 0 < v <= 1)


def build_parser():
    """The argparse parser of ``kerasdl-grade``."""
    parser = argparse.ArgumentParser(
        prog="kerasdl-grade",
        description="Grade a class of Jupyter notebook submissions with nbgrader.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    course = argparse.ArgumentParser(add_help=False)
    course.add_argument(
        "--course", default=".", metavar="DIR",
        help="course directory with nbgrader_config.py and gradebook.db (default: .)",
    )  # fmt: skip
    # --course DIR and the ASSIGNMENT positional of autograde, report and feedback.
    course_assignment = argparse.ArgumentParser(add_help=False, parents=[course])
    course_assignment.add_argument("assignment", metavar="ASSIGNMENT", help="assignment id")
    # --db URL of autograde, report, feedback and demo.
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument(
        "--db", metavar="URL",
        help="gradebook database (SQLAlchemy URL), e.g. postgresql+psycopg://USER@HOST/DATABASE "
        "(default: the course's CourseDirectory.db_url, else sqlite:///<course>/gradebook.db)",
    )  # fmt: skip

    p = sub.add_parser(
        "autograde", parents=[course_assignment, database],
        help="autograde the submissions in submitted/",
        description="Grade submitted/<student>/ASSIGNMENT: each submission runs in a sandboxed "
        "kernel on a grading worker, a trusted judge outside the kernel grades every test "
        "cell, and one process records the grades in the gradebook. A submission that crashes "
        "or hangs its kernel scores zero on the affected cells only; one that cannot be read "
        "is reported as not graded. Reruns grade only new or changed submissions.",
    )  # fmt: skip
    p.add_argument("--student", nargs="+", metavar="ID", help="grade only these students")
    p.add_argument(
        "--jobs", type=_AT_LEAST_ONE, default=1, metavar="N",
        help="submissions executed in parallel (default: 1)",
    )  # fmt: skip
    p.add_argument(
        "--timeout", type=_CELL_TIMEOUT, metavar="S",
        help="seconds per cell before it is interrupted and scores 0 (default: the course's "
        "Execute.timeout)",
    )  # fmt: skip
    p.add_argument(
        "--notebook-timeout", type=_SECONDS, default=grading.DEFAULT_NOTEBOOK_TIMEOUT,
        metavar="S", help="seconds per submission before its job is killed and it scores 0 "
        f"(default: {grading.DEFAULT_NOTEBOOK_TIMEOUT})",
    )  # fmt: skip
    p.add_argument(
        "--gpus", type=_AT_LEAST_ZERO, metavar="N",
        help="GPUs to spread jobs over (default: detected; 0 for none)",
    )  # fmt: skip
    p.add_argument(
        "--memory", type=_MEBIBYTES, metavar="MiB",
        help="memory limit of one sandboxed submission, in MiB (default: 4096)",
    )  # fmt: skip
    p.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="Dask scheduler to grade on (default: $KERASDL_SCHEDULER, else "
        "c.KerasdlGrade.scheduler in nbgrader_config.py, else an embedded cluster of --jobs "
        "worker processes)",
    )  # fmt: skip
    p.add_argument("--force", action="store_true",
                   help="regrade every submission, not only new or changed ones")
    p.add_argument(
        "--no-sandbox", action="store_true",
        help="run students' kernels without isolation (they can then read and change the "
        "course); only for trusted code or machines without bubblewrap",
    )  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--keep-work", action="store_true",
                   help="keep the executed notebooks and verdicts")

    p = sub.add_parser(
        "report", parents=[course_assignment, database], help="grades.csv, pass rates and plots",
        description="Read the gradebook and write grades.csv (nbgrader export's columns plus one "
        "column per graded cell), pass_rates.csv and two PNG plots; print a summary.",
    )  # fmt: skip
    p.add_argument("--out", metavar="DIR", help="output folder (default: <course>/reports/<A>)")
    p.add_argument("--audit", action="store_true",
                   help="also print the audit log: every grade autograde changed, old -> new")

    p = sub.add_parser(
        "feedback", parents=[course_assignment, database],
        help="HTML feedback without hidden tests",
        description="Run nbgrader generate_feedback with hidden tests (code and tracebacks) "
        "removed; writes feedback/<student>/ASSIGNMENT/*.html.",
    )  # fmt: skip
    p.add_argument("--student", nargs="+", metavar="ID", help="only these students")

    sub.add_parser(
        "exercises", help="list the registered exercises and their points",
        description="List the exercises registered in the grader with their points.",
    )  # fmt: skip

    from grader import demo  # light: the sample classes are listed, not imported
    from grader.course.similarity import DEFAULT_THRESHOLD

    samples = ", ".join(demo.SAMPLE_ASSIGNMENTS)
    p = sub.add_parser(
        "demo", parents=[database], help="grade a sample class of submissions",
        description="Build a course folder from the repository's notebooks, make a sample "
        "class of submissions, autograde it, generate feedback and a report, and compare every "
        "grade with the expected one. Exits with 1 on any MISMATCH. Assignments with a sample "
        f"class: {samples}.",
    )  # fmt: skip
    p.add_argument(
        "--assignment", nargs="+", metavar="A", choices=demo.SAMPLE_ASSIGNMENTS,
        help=f"assignments to demo, among: {samples} "
        f"(default: {' '.join(demo.DEFAULT_ASSIGNMENTS)})",
    )  # fmt: skip
    p.add_argument(
        "--out", metavar="DIR",
        help="course folder to create: a new or empty folder, or one an earlier demo made "
        "(default: a new temporary folder)",
    )  # fmt: skip
    p.add_argument(
        "--jobs", type=_AT_LEAST_ONE, default=2, metavar="N",
        help="parallel autograde jobs (default: 2)",
    )  # fmt: skip
    p.add_argument(
        "--timeout", type=_CELL_TIMEOUT, metavar="S",
        help="seconds per cell (default: the demo's)",
    )  # fmt: skip
    p.add_argument(
        "--repo", metavar="DIR",
        help="repository holding solutions/, assignments/ and nbgrader_config.py "
        "(default: this checkout)",
    )  # fmt: skip

    p = sub.add_parser(
        "similarity", parents=[course_assignment], help="find copied solution code",
        description="Compare the code of the solution cells of every submission in "
        "submitted/<student>/ASSIGNMENT with every other one and with the kerasdl reference "
        "source of the assignment's exercises (copydetect: winnowed fingerprints of tokenized "
        "code, as in MOSS; the released stub does not count). Writes similar_pairs.csv (the "
        "flagged pairs), similarity_matrix.csv, students.csv, a heatmap PNG and copydetect's "
        "HTML report; `report` then adds each student's highest similarity to grades.csv.",
    )  # fmt: skip
    p.add_argument(
        "--threshold", type=_FRACTION, default=DEFAULT_THRESHOLD, metavar="F",
        help="flag a pair when this fraction of one student's code is found in the other's "
        f"(default: {DEFAULT_THRESHOLD})",
    )  # fmt: skip
    p.add_argument(
        "--out", metavar="DIR",
        help="output folder (default: <course>/reports/<A>/similarity, read by `report`)",
    )  # fmt: skip
    return parser


def _print_table(frame):
    import pandas as pd

    with pd.option_context("display.max_columns", None, "display.width", 200):
        print(frame.to_string(index=False))


def _cmd_autograde(args):
    outcomes = grading.autograde(
        args.assignment, args.course, students=args.student, jobs=args.jobs,
        timeout=args.timeout, notebook_timeout=args.notebook_timeout, num_gpus=args.gpus,
        progress=not args.no_progress, keep_work=args.keep_work, sandbox=not args.no_sandbox,
        memory_bytes=None if args.memory is None else args.memory << 20,
        scheduler=args.scheduler, force=args.force, db_url=args.db,
    )  # fmt: skip
    print(grading.outcome_table(outcomes))
    not_graded = sum(outcome.state == "not graded" for outcome in outcomes)
    if not_graded:
        print(f"\n{not_graded} submission(s) not graded: see the reason above; their previous "
              "grades (if any) are unchanged.")
    return 1 if not_graded else 0


def _warn_if_tracked(command, path):
    """Warn on stderr when grades written to `path` would be committed by git."""
    from grader.course.coursedir import git_tracking_warning

    warning = git_tracking_warning(path)
    if warning:
        print(f"kerasdl-grade {command}: warning: {warning}", file=sys.stderr)


def _cmd_report(args):
    from grader.course.similarity import STUDENT_COLUMNS

    paths, grades, cells = grading.write_report(args.assignment, args.course, args.out,
                                                db_url=args.db)
    similarity = [column for column in STUDENT_COLUMNS if column in grades.columns]
    summary = grades[["student_id", "state", "score", "max_score", *cells["cell"], *similarity,
                      "state_reason", "flags"]]
    _print_table(summary)
    print()
    _print_table(cells[["cell", "max_score", "submissions", "mean_score", "pass_rate"]])
    print()
    if args.audit:
        import pandas as pd

        audit = pd.read_csv(paths.audit_csv)
        print("Audit log (every grade autograde changed):")
        _print_table(audit) if len(audit) else print("(empty)")
        print()
    for name, path in dataclasses.asdict(paths).items():
        print(f"{name}: {path}")
    _warn_if_tracked("report", paths.grades_csv)
    return 0


def _cmd_feedback(args):
    from grader.course.coursedir import load_course, require_gradebook

    require_gradebook(load_course(args.course, args.db)[1])
    for path in grading.generate_feedback(args.assignment, args.course, students=args.student,
                                          db_url=args.db):
        print(path)
    return 0


def _cmd_similarity(args):
    from grader.course import similarity

    result = similarity.find_similar_work(
        args.assignment, args.course, threshold=args.threshold, out_dir=args.out
    )
    for student, reason in result.skipped.items():
        print(f"{student}: not compared ({reason})")
    print(f"Flagged pairs (similarity >= {args.threshold:g}): {len(result.pairs)}")
    if len(result.pairs):
        _print_table(result.pairs.round(3))
    print()
    _print_table(result.students.sort_values("max_similarity", ascending=False).round(3))
    print(f"\nsimilarity folder: {result.folder}")
    for name in ("similar_pairs.csv", "students.csv", "similarity_heatmap.png", "copydetect.html"):
        print(f"  {result.folder / name}")
    _warn_if_tracked("similarity", result.folder / "students.csv")
    return 0


def _cmd_exercises(args):
    table = grading.exercise_table()
    _print_table(table)
    print(f"\n{len(table)} exercises, {table['points'].sum():g} points")
    return 0


def _cmd_demo(args):
    from grader import demo

    return demo.run_demo(
        assignments=args.assignment, out_dir=args.out, jobs=args.jobs, timeout=args.timeout,
        repo_dir=args.repo, db_url=args.db,
    )  # fmt: skip


_COMMANDS = {
    "autograde": _cmd_autograde,
    "report": _cmd_report,
    "feedback": _cmd_feedback,
    "exercises": _cmd_exercises,
    "demo": _cmd_demo,
    "similarity": _cmd_similarity,
}


def main(argv=None):
    """Entry point of ``kerasdl-grade``; returns the exit code."""
    from grader.course import tflog
    from grader.course.coursedir import course_root

    args = build_parser().parse_args(argv)
    tflog.install()  # TensorFlow's C++ start-up lines stay out of the output
    try:
        if getattr(args, "course", None) is not None:
            course_root(args.course)  # "not a course directory", before any work
        return _COMMANDS[args.command](args)
    except (ValueError, RuntimeError) as error:
        print(f"kerasdl-grade {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

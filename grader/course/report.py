"""The gradebook of an assignment as tables, a CSV report and two plots.

Importing this module is light; pandas, nbgrader's gradebook and matplotlib
are imported when a report is made.
"""

import dataclasses
import glob
import os
from pathlib import Path

from grader.course.coursedir import load_course, require_gradebook

__all__ = [
    "AUDIT_COLUMNS", "EXPORT_COLUMNS", "STATE_COLUMNS", "ReportPaths", "audit_frame", "gradebook_frames", "pass_rate_figure", "score_figure",
    "write_report",
]  # fmt: skip

# nbgrader export's CSV columns, in its order.
EXPORT_COLUMNS = [
    "assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
    "email", "raw_score", "late_submission_penalty", "score", "max_score",
]  # fmt: skip
# The report's plots: figure size in inches and resolution.
_FIGSIZE = (6.4, 4.0)
_DPI = 100
# Up to this maximum score, every bar of the score histogram has its tick.
_MAX_LABELLED_BARS = 25


def _grade_cell_order(coursedir, assignment):
    """Graded cell names in notebook order, read from the source notebooks."""
    import nbformat
    from nbgrader.utils import is_grade

    order = []
    source = coursedir.format_path(coursedir.source_directory, ".", assignment)
    for path in sorted(glob.glob(os.path.join(source, "*.ipynb"))):
        for cell in nbformat.read(path, as_version=4).cells:
            if is_grade(cell):
                order.append((Path(path).stem, cell.metadata["nbgrader"]["grade_id"]))
    return order


def gradebook_frames(assignment, course_dir=".", *, db_url=None):
    """The gradebook of `assignment` as two pandas tables.

    Args:
        assignment: assignment id.
        course_dir: course root.
        db_url: the gradebook's database URL; the course's by default.

    Returns:
        ``(grades, cells)``. `grades` has one row per student of the gradebook,
        in student id order on every database: nbgrader export's columns
        (`EXPORT_COLUMNS`, same values; a student without a submission has
        score 0 and no timestamp) then one column per graded cell with its
        score (NaN without a submission). Cell columns are named by
        ``grade_id``, prefixed by ``notebook/`` when the assignment has several
        notebooks. `cells` has one row per graded cell: ``cell``,
        ``notebook``, ``grade_id``, ``max_score``, ``submissions``,
        ``mean_score``, ``pass_rate`` (fraction with full marks).

    Raises:
        ValueError: if `course_dir` is not a course, `db_url` is not a database
            URL, there is no gradebook yet, or it does not hold `assignment`.
        RuntimeError: the gradebook's database server cannot be reached.
    """
    import numpy as np
    import pandas as pd
    from nbgrader.api import Gradebook, MissingEntry

    _, coursedir = load_course(course_dir, db_url)
    require_gradebook(coursedir)
    order = _grade_cell_order(coursedir, assignment)
    rows, cell_info = [], {}
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        try:
            record = gb.find_assignment(assignment)
        except MissingEntry:
            known = sorted(a.name for a in gb.assignments)
            raise ValueError(
                f"Assignment {assignment!r} is not in the gradebook (it has {known}). "
                f"Received: assignment={assignment}"
            ) from None
        notebooks = [nb.name for nb in record.notebooks]
        for nb in record.notebooks:
            for cell in nb.grade_cells:
                cell_info[(nb.name, cell.name)] = cell.max_score
        multi = len(notebooks) > 1
        names = [key for key in order if key in cell_info]
        names += sorted(key for key in cell_info if key not in names)
        label = {key: f"{key[0]}/{key[1]}" if multi else key[1] for key in names}
        for student in sorted(gb.students, key=lambda s: s.id):  # the same on every database
            row = {
                "assignment": record.name, "duedate": record.duedate, "student_id": student.id,
                "last_name": student.last_name, "first_name": student.first_name,
                "email": student.email, "max_score": record.max_score,
            }  # fmt: skip
            scores = dict.fromkeys(names, np.nan)
            try:
                submission = gb.find_submission(assignment, student.id)
            except MissingEntry:
                row.update(timestamp=None, raw_score=0.0, late_submission_penalty=0.0, score=0.0)
            else:
                penalty = submission.late_submission_penalty
                row.update(
                    timestamp=submission.timestamp, raw_score=submission.score,
                    late_submission_penalty=penalty, score=max(0.0, submission.score - penalty),
                )  # fmt: skip
                for nb in submission.notebooks:
                    for grade in nb.grades:
                        scores[(nb.name, grade.name)] = grade.score
            row.update({label[key]: value for key, value in scores.items()})
            rows.append(row)
    columns = EXPORT_COLUMNS + [label[key] for key in names]
    grades = pd.DataFrame(rows, columns=columns)
    cells = pd.DataFrame(
        {
            "cell": [label[key] for key in names],
            "notebook": [key[0] for key in names],
            "grade_id": [key[1] for key in names],
            "max_score": [cell_info[key] for key in names],
        }
    )
    cell_scores = grades[cells["cell"]]
    cells["submissions"] = cell_scores.notna().sum().to_numpy()
    cells["mean_score"] = cell_scores.mean().to_numpy()
    full_marks = cell_scores.ge(cells["max_score"].to_numpy()) & cell_scores.notna()
    with np.errstate(invalid="ignore", divide="ignore"):
        cells["pass_rate"] = full_marks.sum().to_numpy() / cells["submissions"].to_numpy()
    return grades, cells


@dataclasses.dataclass
class ReportPaths:
    """Files written by `write_report`."""

    grades_csv: Path
    pass_rates_csv: Path
    score_plot: Path
    pass_rate_plot: Path
    audit_csv: Path


def score_figure(scores, max_score, title):
    """Histogram of scores in whole-point bins, with the mean and the median.

    Bar ``k`` (centred on ``k``) counts the scores ``k <= score < k + 1``, so
    full marks (``score == max_score``, a whole number) have their own bar at
    the right, and every bar sits over its tick. The y axis counts students in
    whole numbers; the mean and the median are vertical lines at their values.

    Args:
        scores: array-like of scores (NaN values are left out).
        max_score: the assignment's maximum score (> 0).
        title: the figure title; the number of students is appended.

    Returns:
        matplotlib `Figure` (the caller saves and closes it).
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    scores = np.asarray(scores, dtype=np.float64)
    scores = scores[np.isfinite(scores)]
    top = max(int(np.ceil(max_score)), 1)
    counts = np.bincount(np.clip(np.floor(scores), 0, top).astype(int), minlength=top + 1)
    fig, ax = plt.subplots(figsize=_FIGSIZE)
    ax.bar(np.arange(top + 1), counts, width=0.8, color="tab:blue", label="students")
    if len(scores):
        mean, median = scores.mean(), np.median(scores)
        ax.axvline(mean, color="tab:red", linestyle="--", label=f"mean {mean:.2f}")
        ax.axvline(median, color="black", linestyle=":", label=f"median {median:.2f}")
    ax.set_xlim(-0.6, top + 0.6)
    if top <= _MAX_LABELLED_BARS:
        ax.set_xticks(np.arange(top + 1))
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(int(counts.max()), 1) * 1.15)
    ax.set_xlabel(f"score in whole points (bar k: k <= score < k + 1; max {max_score:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{title} ({len(scores)} students)")
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


def pass_rate_figure(cells, title):
    """Horizontal bars of the pass rate of each graded cell, first cell on top.

    Args:
        cells: the `cells` table of `gradebook_frames`, in notebook order.
        title: the figure title.

    Returns:
        matplotlib `Figure` (the caller saves and closes it).
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import PercentFormatter

    rates = cells["pass_rate"].fillna(0.0).to_numpy()
    positions = np.arange(len(cells))
    fig, ax = plt.subplots(figsize=(_FIGSIZE[0], max(_FIGSIZE[1], 0.35 * len(cells) + 1)))
    ax.barh(positions, rates, color="tab:green")
    ax.set_yticks(positions, list(cells["cell"]))
    for y, rate, submissions in zip(positions, rates, cells["submissions"]):
        ax.text(min(rate, 0.85) + 0.01, y, f"{rate:.0%} of {submissions}", va="center",
                fontsize="small")  # fmt: skip
    ax.set_ylim(len(cells) - 0.5, -0.5)  # the first cell at the top
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("submissions with full marks on the cell")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _add_similarity(grades, coursedir, assignment):
    """`grades` with the columns of the latest `kerasdl-grade similarity` run, if any."""
    from grader.course.similarity import STUDENT_COLUMNS, student_similarity

    table = student_similarity(assignment, coursedir.root)
    if table is None:
        return grades
    merged = grades.merge(table, how="left", left_on="student_id", right_on="student")
    return merged.drop(columns="student")[[*grades.columns, *STUDENT_COLUMNS]]


# Columns of the submission states autograde recorded (`grader.course.status`).
STATE_COLUMNS = ["state", "state_reason", "flags"]


def _add_states(grades, coursedir, assignment):
    """`grades` with each student's autograde state; a not-graded score is empty.

    A student whose submission could not be graded and who has no earlier
    grade gets no score (NaN), never a 0.0 that reads like a graded zero.
    """
    import numpy as np

    from grader.course.status import NOT_GRADED, read_states

    states = read_states(coursedir.db_url, assignment)
    grades = grades.copy()
    grades["state"] = [states.get(s, {}).get("state") or
                       ("graded" if t is not None and t == t else "no submission")
                       for s, t in zip(grades["student_id"], grades["timestamp"])]
    grades["state_reason"] = [states.get(s, {}).get("reason") for s in grades["student_id"]]
    grades["flags"] = [states.get(s, {}).get("flags") for s in grades["student_id"]]
    never_graded = (grades["state"] == NOT_GRADED) & grades["timestamp"].isna()
    for column in ("raw_score", "score", "late_submission_penalty"):
        grades[column] = grades[column].astype("float64").where(~never_graded, np.nan)
    return grades


# Columns of the audit log table (one row per grade an autograde run changed).
AUDIT_COLUMNS = ["run_id", "time", "student", "notebook", "cell", "old_score", "new_score"]


def audit_frame(coursedir, assignment):
    """The audit log of `assignment` as a table (`AUDIT_COLUMNS`), oldest first."""
    import pandas as pd

    from grader.course.status import read_audit

    rows = read_audit(coursedir.db_url, assignment)
    return pd.DataFrame([{column: row[column] for column in AUDIT_COLUMNS} for row in rows],
                        columns=AUDIT_COLUMNS)


def write_report(assignment, course_dir=".", out_dir=None, *, db_url=None):
    """Write the grades CSV, the pass-rate table and the plots of `assignment`.

    The grades CSV and table also hold each student's autograde state
    (`STATE_COLUMNS`: graded, graded with errors, not graded, with the
    reason and the flags for the instructor) and, when ``kerasdl-grade
    similarity`` has been run on the assignment, its per-student columns
    (`grader.course.similarity.STUDENT_COLUMNS`).

    Args:
        assignment: assignment id.
        course_dir: course root.
        out_dir: folder for the files; ``<course>/reports/<assignment>`` by default.
        db_url: the gradebook's database URL; the course's by default.

    Returns:
        ``(paths, grades, cells)``: a `ReportPaths` and the two tables of
        `gradebook_frames`.

    Raises:
        ValueError, RuntimeError: as `gradebook_frames`; nothing is written then.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grades, cells = gradebook_frames(assignment, course_dir, db_url=db_url)
    _, coursedir = load_course(course_dir, db_url)
    grades = _add_similarity(_add_states(grades, coursedir, assignment), coursedir, assignment)
    out = Path(out_dir) if out_dir else Path(coursedir.root) / "reports" / assignment
    out.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(
        grades_csv=out / "grades.csv",
        pass_rates_csv=out / "pass_rates.csv",
        score_plot=out / "score_distribution.png",
        pass_rate_plot=out / "pass_rates.png",
        audit_csv=out / "audit.csv",
    )
    grades.to_csv(paths.grades_csv, index=False)
    cells.to_csv(paths.pass_rates_csv, index=False)
    audit_frame(coursedir, assignment).to_csv(paths.audit_csv, index=False)

    submitted = grades[grades["timestamp"].notna()]
    max_score = float(grades["max_score"].iloc[0]) if len(grades) else 0.0
    figures = [
        (score_figure(submitted["score"], max_score, f"{assignment}: scores"), paths.score_plot),
        (pass_rate_figure(cells, f"{assignment}: pass rate per graded cell"), paths.pass_rate_plot),
    ]
    for fig, path in figures:
        fig.savefig(path, dpi=_DPI)
        plt.close(fig)
    return paths, grades, cells

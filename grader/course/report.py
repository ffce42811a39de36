"""The gradebook of an assignment as tables, a CSV report and two plots.

Importing this module is light; pandas, nbgrader's gradebook and matplotlib
are imported when a report is made.
"""

import dataclasses
import glob
import os
from pathlib import Path

from grader.course.coursedir import load_course

__all__ = ["EXPORT_COLUMNS", "ReportPaths", "gradebook_frames", "write_report"]

# nbgrader export's CSV columns, in its order.
EXPORT_COLUMNS = [
    "assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
    "email", "raw_score", "late_submission_penalty", "score", "max_score",
]  # fmt: skip
# The report's plots: figure size in inches and resolution.
_FIGSIZE = (6.4, 4.0)
_DPI = 100


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


def gradebook_frames(assignment, course_dir="."):
    """The gradebook of `assignment` as two pandas tables.

    Args:
        assignment: assignment id.
        course_dir: course root.

    Returns:
        ``(grades, cells)``. `grades` has one row per student of the gradebook:
        nbgrader export's columns (`EXPORT_COLUMNS`, same values; a student
        without a submission has score 0 and no timestamp) then one column per
        graded cell with its score (NaN without a submission). Cell columns are
        named by ``grade_id``, prefixed by ``notebook/`` when the assignment has
        several notebooks. `cells` has one row per graded cell: ``cell``,
        ``notebook``, ``grade_id``, ``max_score``, ``submissions``,
        ``mean_score``, ``pass_rate`` (fraction with full marks).
    """
    import numpy as np
    import pandas as pd
    from nbgrader.api import Gradebook, MissingEntry

    config, coursedir = load_course(course_dir)
    order = _grade_cell_order(coursedir, assignment)
    rows, cell_info = [], {}
    with Gradebook(coursedir.db_url, coursedir.course_id) as gb:
        record = gb.find_assignment(assignment)
        notebooks = [nb.name for nb in record.notebooks]
        for nb in record.notebooks:
            for cell in nb.grade_cells:
                cell_info[(nb.name, cell.name)] = cell.max_score
        multi = len(notebooks) > 1
        names = [key for key in order if key in cell_info]
        names += sorted(key for key in cell_info if key not in names)
        label = {key: f"{key[0]}/{key[1]}" if multi else key[1] for key in names}
        for student in gb.students:
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


def write_report(assignment, course_dir=".", out_dir=None):
    """Write the grades CSV, the pass-rate table and the plots of `assignment`.

    Args:
        assignment: assignment id.
        course_dir: course root.
        out_dir: folder for the files; ``<course>/reports/<assignment>`` by default.

    Returns:
        ``(paths, grades, cells)``: a `ReportPaths` and the two tables of
        `gradebook_frames`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grades, cells = gradebook_frames(assignment, course_dir)
    _, coursedir = load_course(course_dir)
    out = Path(out_dir) if out_dir else Path(coursedir.root) / "reports" / assignment
    out.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(
        grades_csv=out / "grades.csv",
        pass_rates_csv=out / "pass_rates.csv",
        score_plot=out / "score_distribution.png",
        pass_rate_plot=out / "pass_rates.png",
    )
    grades.to_csv(paths.grades_csv, index=False)
    cells.to_csv(paths.pass_rates_csv, index=False)

    max_score = float(grades["max_score"].iloc[0]) if len(grades) else 0.0
    fig, ax = plt.subplots(figsize=_FIGSIZE)
    ax.hist(grades["score"], bins=max(int(max_score), 1), range=(0, max(max_score, 1.0)))
    ax.set_xlabel(f"score (max {max_score:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{assignment}: score distribution")
    fig.tight_layout()
    fig.savefig(paths.score_plot, dpi=_DPI)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(_FIGSIZE[0], max(_FIGSIZE[1], 0.35 * len(cells) + 1)))
    ax.barh(cells["cell"], cells["pass_rate"].fillna(0.0))
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of submissions with full marks")
    ax.set_title(f"{assignment}: pass rate per graded cell")
    fig.tight_layout()
    fig.savefig(paths.pass_rate_plot, dpi=_DPI)
    plt.close(fig)
    return paths, grades, cells

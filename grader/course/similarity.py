"""Copied work: shared code between students' solution cells, and with kerasdl.

``kerasdl-grade similarity ASSIGNMENT`` compares the code each student wrote in
the solution cells (nbgrader ``solution: true``) of the submitted notebooks with
every other student's, and with the kerasdl reference source of the
assignment's exercises, using copydetect: the code is tokenized (names become
``V``/``F``/``O``, strings ``S``, comments and blank space vanish, so renaming
variables changes nothing), fingerprinted by hashing every k-gram of
`NOISE_THRESHOLD` characters, and winnowed as in MOSS. The released stub's
solution cells (signatures, docstrings, ``raise NotImplementedError()``) are
copydetect's boilerplate: their fingerprints are removed before comparing.

The similarity of student A to B is the fraction of A's fingerprinted code
found in B (copydetect's per-file similarity; not symmetric). A pair is
flagged when either direction reaches the threshold; a student is flagged
against the reference when that fraction of their code is kerasdl's. This
finds reference code pasted into a notebook (e.g. from
``inspect.getsource(kerasdl.softmax)``), which a runtime check cannot see.

Importing this module is light; copydetect, nbformat, pandas, matplotlib and
(for the reference source) the grader's registry load when a run starts.
"""

import dataclasses
import glob
import inspect
import os
import warnings
from pathlib import Path

from grader.course.coursedir import load_course

__all__ = [
    "DEFAULT_THRESHOLD", "NOISE_THRESHOLD", "REFERENCE", "STUDENT_COLUMNS", "SimilarityResult",
    "code_similarity", "find_similar_work", "heatmap_figure", "reference_source",
    "solution_source", "student_similarity",
]  # fmt: skip

# Flag at this fraction of a student's code found in another's (or kerasdl's).
# On the tests' sample class: independent solutions <= 0.26; a copy with
# renamed variables and reordered lines >= 0.9; pasted reference 1.0.
DEFAULT_THRESHOLD = 0.5
# copydetect's k: characters of tokenized code per fingerprint (its default).
# The guarantee threshold is the same, so every fingerprint is kept (window 1)
# and the result does not depend on Python's per-process string hashing.
NOISE_THRESHOLD = 25
# Row and column label of the kerasdl reference source.
REFERENCE = "kerasdl reference"
# Columns a similarity run adds to the report's grades table, per student.
STUDENT_COLUMNS = ["max_similarity", "most_similar_to", "similarity_flag"]
# Heatmap cells are annotated with their percentage up to this many students.
_ANNOTATE_MAX = 30


@dataclasses.dataclass
class SimilarityResult:
    """What `find_similar_work` computed and wrote.

    Attributes:
        matrix: pandas DataFrame, index students, columns students then
            `REFERENCE` (when the assignment has reference exercises): the
            fraction in [0, 1] of the row student's code found in the column's
            (NaN on the diagonal).
        pairs: flagged pairs, one row each: ``student``, ``other`` (a student
            or `REFERENCE`), ``similarity`` (the larger direction),
            ``student_in_other``, ``other_in_student``, ``overlap_tokens``.
        students: per student: ``student`` and `STUDENT_COLUMNS`.
        skipped: dict, student id -> why the submission was left out.
        folder: the output folder; files: ``similar_pairs.csv``,
            ``similarity_matrix.csv``, ``students.csv``,
            ``similarity_heatmap.png``, ``copydetect.html`` (copydetect's
            side-by-side report) and ``code/`` (the compared sources).
    """

    matrix: object
    pairs: object
    students: object
    skipped: dict
    folder: Path


def solution_source(path):
    """The code of the solution cells of one notebook, in order, joined by blank lines.

    Raises:
        nbformat's or json's errors on an unreadable notebook.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return "\n\n".join(
        f"# {Path(path).name}: {cell.metadata['nbgrader'].get('grade_id', '')}\n{cell.source}"
        for cell in nb.cells
        if cell.cell_type == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution")
    )


def reference_source(assignment):
    """The kerasdl source of the references of `assignment`'s exercises ("" if none).

    Reads `grader.registry.default_registry` (importing the checks, hence
    TensorFlow): every `Exercise` whose ``chapter`` is `assignment`, its
    ``reference`` through `inspect.getsource`, each object once.
    """
    from grader.registry import default_registry

    sources, seen = [], set()
    for exercise_id in default_registry.ids():
        exercise = default_registry.get(exercise_id)
        if exercise.chapter != assignment or id(exercise.reference) in seen:
            continue
        seen.add(id(exercise.reference))
        try:
            sources.append(f"# {exercise_id}\n{inspect.getsource(exercise.reference)}")
        except (OSError, TypeError):
            continue  # no Python source (a builtin or a generated object)
    return "\n\n".join(sources)


def code_similarity(
    codes, work_dir, *, reference="", boilerplate="", noise_threshold=NOISE_THRESHOLD
):
    """Pairwise copydetect similarity of code strings.

    Args:
        codes: dict, student id -> Python source (ids must be valid file names).
        work_dir: folder where the sources are written (``code/``) for copydetect.
        reference: source compared with every student (a column only), or "".
        boilerplate: source whose fingerprints never count (the released stub).
        noise_threshold: copydetect's k (characters of tokenized code).

    Returns:
        ``(matrix, overlap, detector)``: two DataFrames indexed by student,
        columns students (then `REFERENCE` if given): the fraction of the row's
        code found in the column's, and the shared token count; and the run
        `copydetect.CopyDetector` (for its HTML report).
    """
    import numpy as np
    import pandas as pd
    from copydetect import CopyDetector

    code_dir = Path(work_dir) / "code"
    (code_dir / "students").mkdir(parents=True, exist_ok=True)
    detector = CopyDetector(
        noise_t=noise_threshold, guarantee_t=noise_threshold, extensions=["py"],
        autoopen=False, silent=True, out_file=str(Path(work_dir) / "copydetect.html"),
    )  # fmt: skip
    students = list(codes)
    for student in students:
        path = code_dir / "students" / f"{student}.py"
        path.write_text(codes[student])
        detector.add_file(str(path))
    columns = list(students)
    if reference:
        (code_dir / "kerasdl_reference.py").write_text(reference)
        detector.add_file(str(code_dir / "kerasdl_reference.py"), type="ref")
        columns.append(REFERENCE)
    if boilerplate:
        (code_dir / "released_stub.py").write_text(boilerplate)
        detector.add_file(str(code_dir / "released_stub.py"), type="boilerplate")
    detector.run()
    fractions = detector.similarity_matrix[:, :, 0].astype(np.float64)
    fractions[fractions < 0] = np.nan  # copydetect's -1: a file against itself
    overlap = detector.token_overlap_matrix.astype(np.float64)
    overlap[overlap < 0] = np.nan
    matrix = pd.DataFrame(fractions, index=students, columns=columns)
    return matrix, pd.DataFrame(overlap, index=students, columns=columns), detector


def _pairs(matrix, overlap, threshold):
    """Flagged pairs of a similarity matrix (see `SimilarityResult.pairs`)."""
    import pandas as pd

    rows = []
    students = list(matrix.index)
    for i, student in enumerate(students):
        others = students[i + 1 :] + ([REFERENCE] if REFERENCE in matrix.columns else [])
        for other in others:
            forward = matrix.loc[student, other]
            backward = matrix.loc[other, student] if other != REFERENCE else float("nan")
            # Against the reference only the student's share counts: kerasdl is long.
            similarity = forward if other == REFERENCE else max(forward, backward)
            if similarity >= threshold:
                rows.append({
                    "student": student, "other": other, "similarity": similarity,
                    "student_in_other": forward, "other_in_student": backward,
                    "overlap_tokens": overlap.loc[student, other],
                })  # fmt: skip
    columns = ["student", "other", "similarity", "student_in_other", "other_in_student",
               "overlap_tokens"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns).sort_values("similarity", ascending=False)


def _per_student(matrix, threshold):
    """Each student's highest similarity, with whom, and whether it is flagged."""
    import pandas as pd

    rows = []
    for student in matrix.index:
        scores = {}
        for other in matrix.columns:
            if other == student:
                continue
            scores[other] = matrix.loc[student, other]
            if other != REFERENCE:
                scores[other] = max(scores[other], matrix.loc[other, student])
        best = max(scores, key=scores.get) if scores else ""
        value = scores.get(best, 0.0)
        rows.append({"student": student, "max_similarity": value, "most_similar_to": best,
                     "similarity_flag": bool(value >= threshold)})  # fmt: skip
    return pd.DataFrame(rows, columns=["student", *STUDENT_COLUMNS])


def heatmap_figure(matrix, threshold, title):
    """Heatmap of a similarity matrix; cells at or above `threshold` are outlined in red.

    Returns:
        matplotlib `Figure` (the caller saves and closes it).
    """
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Rectangle

    values = matrix.to_numpy(dtype=np.float64)
    rows, cols = values.shape
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * cols + 3), max(4.0, 0.5 * rows + 2)))
    cmap = plt.get_cmap("viridis").with_extremes(bad="lightgrey")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the row's code found in the column's")
    ax.set_xticks(np.arange(cols), list(matrix.columns), rotation=45, ha="right")
    ax.set_yticks(np.arange(rows), list(matrix.index))
    for (i, j), value in np.ndenumerate(values):
        if np.isnan(value):
            continue
        if rows <= _ANNOTATE_MAX:
            ax.text(j, i, f"{value:.0%}", ha="center", va="center", fontsize="small",
                    color="black" if value > 0.6 else "white")  # fmt: skip
        if value >= threshold:
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", lw=2.5))
    if REFERENCE in matrix.columns:
        ax.axvline(cols - 1.5, color="white", linewidth=4)
    ax.set_xlabel("compared with")
    ax.set_ylabel("student")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _submitted_code(coursedir, assignment):
    """dict student -> solution source of their notebooks, and dict student -> skip reason."""
    from grader.course.coursedir import _submitted_students

    codes, skipped = {}, {}
    for student in _submitted_students(coursedir, assignment):
        folder = coursedir.format_path(coursedir.submitted_directory, student, assignment)
        notebooks = sorted(glob.glob(os.path.join(folder, "*.ipynb")))
        if not notebooks:
            skipped[student] = "no notebook in the submission"
            continue
        try:
            codes[student] = "\n\n".join(solution_source(path) for path in notebooks)
        except Exception as error:  # noqa: BLE001 - any unreadable notebook is reported, not fatal
            skipped[student] = f"unreadable notebook: {type(error).__name__}: {error}"[:200]
    return codes, skipped


def _released_code(coursedir, assignment):
    """The solution cells of the released notebooks (the stub every student starts from)."""
    folder = coursedir.format_path(coursedir.release_directory, ".", assignment)
    notebooks = sorted(glob.glob(os.path.join(folder, "*.ipynb")))
    if not notebooks:
        raise ValueError(
            f"No released notebook of {assignment!r} in {folder} (its stub is the boilerplate "
            f"that does not count as copying): run `nbgrader generate_assignment {assignment}`. "
            f"Received: assignment={assignment}"
        )
    return "\n\n".join(solution_source(path) for path in notebooks)


def _default_folder(coursedir, assignment):
    return Path(coursedir.root) / "reports" / assignment / "similarity"


def find_similar_work(assignment, course_dir=".", *, threshold=DEFAULT_THRESHOLD, out_dir=None):
    """Compare every submission's solution code with the others' and with kerasdl's.

    Args:
        assignment: assignment id (``submitted/<student>/<assignment>/``).
        course_dir: course root.
        threshold: float in (0, 1], the flagging fraction.
        out_dir: output folder; ``<course>/reports/<assignment>/similarity`` by
            default (where ``kerasdl-grade report`` looks for it).

    Returns:
        `SimilarityResult`.

    Raises:
        ValueError: on a bad `threshold`, a course without submissions of
            `assignment` or without its released notebooks.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"`threshold` must be in (0, 1]. Received: threshold={threshold}")
    _, coursedir = load_course(course_dir)
    codes, skipped = _submitted_code(coursedir, assignment)
    if not codes:
        raise ValueError(
            f"No readable submissions in {coursedir.submitted_directory}/*/{assignment}. "
            f"Received: assignment={assignment}"
        )
    boilerplate = _released_code(coursedir, assignment)
    folder = Path(out_dir) if out_dir else _default_folder(coursedir, assignment)
    folder.mkdir(parents=True, exist_ok=True)
    matrix, overlap, detector = code_similarity(
        codes, folder, reference=reference_source(assignment), boilerplate=boilerplate
    )
    detector.conf.display_t = threshold
    with warnings.catch_warnings():  # copydetect 0.5 reads its template with a deprecated call
        warnings.simplefilter("ignore", DeprecationWarning)
        detector.generate_html_report()
    plt.close("all")
    pairs = _pairs(matrix, overlap, threshold)
    students = _per_student(matrix, threshold)
    matrix.to_csv(folder / "similarity_matrix.csv", index_label="student")
    pairs.to_csv(folder / "similar_pairs.csv", index=False)
    students.to_csv(folder / "students.csv", index=False)
    fig = heatmap_figure(matrix, threshold, f"{assignment}: shared solution code "
                         f"(red: >= {threshold:.0%})")  # fmt: skip
    fig.savefig(folder / "similarity_heatmap.png", dpi=100)
    plt.close(fig)
    return SimilarityResult(matrix, pairs, students, skipped, folder)


def student_similarity(assignment, course_dir="."):
    """The per-student table of the last similarity run in the default folder, or None.

    Returns:
        pandas DataFrame with ``student`` and `STUDENT_COLUMNS`, or None when
        ``<course>/reports/<assignment>/similarity/students.csv`` does not exist.
    """
    import pandas as pd

    _, coursedir = load_course(course_dir)
    path = _default_folder(coursedir, assignment) / "students.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path, dtype={"student": str})
    return table[["student", *STUDENT_COLUMNS]]

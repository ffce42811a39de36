"""The tiny nbgrader course the command-line, cluster and gradebook tests grade.

The course has one assignment, ``hw1``, with two exercises of the grader's
registry, each checked by ``grader.check`` in a locked test cell:
`squared_error_grad` (2 points, cell ``test_grad``) and `lp_norm` (1 point,
cell ``test_norm``, with hidden cases), and four students:

- ``ada``: correct everywhere (3 points);
- ``bob``: `lp_norm` is wrong only on vectors longer than 100 elements, which
  only a hidden case uses (2.8 points);
- ``cid``: `lp_norm` kills its kernel with ``os._exit(1)`` (2 points);
- ``dee``: the `lp_norm` cell loops forever before defining it, stopped by
  the per-cell timeout (2 points).

`make_course` writes it (gradebook included, through ``nbgrader
generate_assignment``); `gradebook_snapshot` and `cell_scores` read back
what autograding wrote, from the course's sqlite file or any gradebook URL.
"""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

ASSIGNMENT = "hw1"
COURSE_ID = "tiny"
# This interpreter's scripts (nbgrader runs `alembic` from PATH).
SCRIPTS = Path(sys.executable).parent
# Seconds a cell may run before it is interrupted (the looping student hits it).
# The first test cell imports the grader's checks in the kernel; beside another
# job on a loaded 2-core machine that was seen to take over 20 s.
CELL_TIMEOUT = 45
# The same for runs whose gradebooks are compared with each other: on a machine
# whose two cores are shared with other test runs, a kernel's import or a judged
# check can take longer than `CELL_TIMEOUT` and score 0 by chance.
SLACK_CELL_TIMEOUT = 60

CONFIG = f"""\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "{COURSE_ID}"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
c.Execute.timeout = 30
"""

SOLUTIONS = {
    "squared_error_grad": (
        "def squared_error_grad(x, w, y):\n"
        "    ### BEGIN SOLUTION\n"
        "    x = tf.convert_to_tensor(x)\n"
        "    w = tf.Variable(tf.cast(w, x.dtype))\n"
        "    with tf.GradientTape() as tape:\n"
        "        z = (tf.tensordot(x, w, 1) - tf.cast(y, x.dtype)) ** 2\n"
        "    return tape.gradient(z, w)\n"
        "    ### END SOLUTION"
    ),
    "lp_norm": (
        "def lp_norm(x, p):\n"
        "    ### BEGIN SOLUTION\n"
        "    x = tf.convert_to_tensor(x)\n"
        "    return tf.reduce_sum(tf.abs(x) ** p) ** (1.0 / p)\n"
        "    ### END SOLUTION"
    ),
}
TESTS = {
    "test_grad": 'grader.check("squared_error_grad", squared_error_grad)',
    "test_norm": 'grader.check("lp_norm", lp_norm)',
}
POINTS = {"test_grad": 2, "test_norm": 1}
GRADED_BY = {"squared_error_grad": "test_grad", "lp_norm": "test_norm"}

_LONG_VECTORS_WRONG = (
    "def lp_norm(x, p):\n"
    "    x = tf.convert_to_tensor(x)\n"
    "    if x.shape[0] > 100:\n"
    "        return tf.constant(0.0, x.dtype)\n"
    "    return tf.reduce_sum(tf.abs(x) ** p) ** (1.0 / p)"
)
STUDENTS = {
    "ada": {},
    "bob": {"lp_norm": _LONG_VECTORS_WRONG},
    "cid": {"lp_norm": "import os\n\ndef lp_norm(x, p):\n    os._exit(1)"},
    "dee": {"lp_norm": "while True:  # never reaches the definition\n    pass\n\n"
                       "def lp_norm(x, p):\n    return 0.0"},
}
EXPECTED = {
    "ada": {"test_grad": 2.0, "test_norm": 1.0},
    "bob": {"test_grad": 2.0, "test_norm": 0.8},  # one of five lp_norm cases fails
    "cid": {"test_grad": 2.0, "test_norm": 0.0},
    "dee": {"test_grad": 2.0, "test_norm": 0.0},
}


def _meta(grade_id, *, solution=False, grade=False, points=None):
    meta = {
        "grade": grade, "grade_id": grade_id, "locked": not solution,
        "schema_version": 3, "solution": solution,
    }  # fmt: skip
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def _source_notebook():
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell("# Homework 1"),
        v4.new_code_cell("import os\n\nimport tensorflow as tf\n\nimport grader"),
    ]
    for name, test in GRADED_BY.items():
        cells.append(v4.new_code_cell(SOLUTIONS[name], metadata=_meta(name, solution=True)))
        cells.append(
            v4.new_code_cell(TESTS[test], metadata=_meta(test, grade=True, points=POINTS[test]))
        )
    cells.append(
        v4.new_code_cell(
            'print("GPU_ENV", os.environ.get("CUDA_VISIBLE_DEVICES", "unset"),'
            ' os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH", "unset"))'
        )
    )
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def nbgrader(course, *args):
    """Run ``nbgrader ARGS`` in `course` with this interpreter; fails the test on an error."""
    env = dict(os.environ, PATH=os.pathsep.join([str(SCRIPTS), os.environ.get("PATH", "")]))
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def make_course(root):
    """Create the tiny course with its gradebook and the four submissions."""
    root.mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(CONFIG)
    source = root / "solutions" / ASSIGNMENT
    source.mkdir(parents=True)
    nbformat.write(_source_notebook(), source / f"{ASSIGNMENT}.ipynb")
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    released = nbformat.read(root / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    for student, answers in STUDENTS.items():
        nb = nbformat.from_dict(released)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in SOLUTIONS:  # the instructor's code unless the student differs
                cell.source = answers.get(grade_id, SOLUTIONS[grade_id].replace(
                    "    ### BEGIN SOLUTION\n", "").replace("\n    ### END SOLUTION", ""))
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
        (folder / "timestamp.txt").write_text("2024-05-01 12:00:00.000000 UTC")
    return root


def db_url_of(course, db_url=None):
    """`db_url`, or the course's own sqlite gradebook when it is None."""
    return db_url or f"sqlite:///{Path(course) / 'gradebook.db'}"


def gradebook_snapshot(course, db_url=None):
    """Everything autograding writes to the gradebook, without database ids."""
    snapshot = {}
    with Gradebook(db_url_of(course, db_url), COURSE_ID) as gb:
        for submission in gb.assignment_submissions(ASSIGNMENT):
            entry = {
                "timestamp": str(submission.timestamp),
                "score": submission.score,
                "late_submission_penalty": submission.late_submission_penalty,
                "needs_manual_grade": submission.needs_manual_grade,
            }
            for nb in submission.notebooks:
                for grade in nb.grades:
                    fields = grade.to_dict()
                    fields.pop("id")
                    entry[("grade", nb.name, grade.name)] = fields
                for comment in nb.comments:
                    fields = comment.to_dict()
                    fields.pop("id")
                    entry[("comment", nb.name, comment.name)] = fields
            snapshot[submission.student.id] = entry
    return snapshot


def cell_scores(course, db_url=None):
    """``{student: {grade_id: score}}`` of the autograded submissions."""
    with Gradebook(db_url_of(course, db_url), COURSE_ID) as gb:
        return {
            submission.student.id: {
                grade.name: grade.score for nb in submission.notebooks for grade in nb.grades
            }
            for submission in gb.assignment_submissions(ASSIGNMENT)
        }

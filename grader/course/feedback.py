"""nbgrader's HTML feedback without the hidden tests."""

import glob
import os
import tempfile
from pathlib import Path

from grader.course.coursedir import load_course
from grader.course.process import _nbgrader, _tail

__all__ = ["generate_feedback"]

# nbgrader's GenerateFeedback pipeline with the hidden tests scrubbed before
# rendering (nbgrader 0.9 keeps them in the feedback by default).
_FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    f"{__package__}.preprocessors.ScrubHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]


def generate_feedback(assignment, course_dir=".", *, students=None):
    """nbgrader's HTML feedback for `assignment`, with hidden tests scrubbed.

    Runs ``nbgrader generate_feedback --force`` with `ScrubHiddenTests` added
    to its pipeline (see there why nbgrader's default is not enough).

    Args:
        assignment: assignment id (already autograded).
        course_dir: course root.
        students: student ids; all autograded students by default.

    Returns:
        list of the feedback HTML paths (`Path`), sorted.

    Raises:
        RuntimeError: if nbgrader fails; the message holds the end of its log.
    """
    _, coursedir = load_course(course_dir)
    args = ["generate_feedback", assignment, "--force", f"--CourseDirectory.root={coursedir.root}"]
    args += [f"--GenerateFeedback.preprocessors={name}" for name in _FEEDBACK_PREPROCESSORS]
    targets = students or ["*"]
    with tempfile.TemporaryDirectory() as tmp:
        for student in targets:
            log_path = Path(tmp) / "feedback.log"
            extra = [] if student == "*" else ["--student", student]
            process = _nbgrader(args + extra, cwd=coursedir.root, log_path=log_path)
            if process.returncode != 0:
                raise RuntimeError(f"nbgrader generate_feedback failed:\n{_tail(log_path)}")
    paths = []
    for student in targets:
        folder = coursedir.format_path(coursedir.feedback_directory, student, assignment)
        paths += glob.glob(os.path.join(folder, "*.html"))
    return sorted(Path(path) for path in paths)

"""grader.course: grade a class of notebook submissions with nbgrader.

The library behind ``kerasdl-grade`` (`grader.cli`), split by role:

- `grader.course.autograder`: `autograde`, two-phase parallel autograding
  (isolated execute jobs, one serial gradebook writer), `AutogradeOutcome`,
  the jobs' GPU environment (`job_environment`, `count_visible_gpus`);
- `grader.course.preprocessors`: the nbgrader preprocessors it configures by
  dotted name: `ResilientExecute`, `ReplayExecute`, `ScrubHiddenTests`;
- `grader.course.report`: `gradebook_frames`, `write_report` (grades CSV,
  pass rates, plots) and `ReportPaths`;
- `grader.course.feedback`: `generate_feedback`, HTML feedback without the
  hidden tests;
- `grader.course.coursedir`: `load_course`, the course folder's configuration;
- `grader.course.process`: nbgrader in a subprocess;
- `grader.course.exercises`: `exercise_table`.

No module imports TensorFlow, and the public names below are resolved on
first access (PEP 562), so that importing this package costs nothing.
"""

from grader._lazy import lazy_exports as _lazy_exports

__all__ = [
    "AutogradeOutcome",
    "DEAD_KERNEL",
    "DEFAULT_NOTEBOOK_TIMEOUT",
    "EXPORT_COLUMNS",
    "NOTEBOOK_TIMEOUT",
    "NOT_EXECUTED",
    "STUCK_KERNEL",
    "ReplayExecute",
    "ReportPaths",
    "ResilientExecute",
    "ScrubHiddenTests",
    "autograde",
    "count_visible_gpus",
    "exercise_table",
    "generate_feedback",
    "gradebook_frames",
    "job_environment",
    "load_course",
    "write_report",
]

# Public name -> the submodule defining it, imported on first access.
_LAZY_EXPORTS = {
    "AutogradeOutcome": "grader.course.autograder",
    "DEFAULT_NOTEBOOK_TIMEOUT": "grader.course.autograder",
    "autograde": "grader.course.autograder",
    "count_visible_gpus": "grader.course.autograder",
    "job_environment": "grader.course.autograder",
    "load_course": "grader.course.coursedir",
    "exercise_table": "grader.course.exercises",
    "generate_feedback": "grader.course.feedback",
    "DEAD_KERNEL": "grader.course.preprocessors",
    "NOTEBOOK_TIMEOUT": "grader.course.preprocessors",
    "NOT_EXECUTED": "grader.course.preprocessors",
    "STUCK_KERNEL": "grader.course.preprocessors",
    "ReplayExecute": "grader.course.preprocessors",
    "ResilientExecute": "grader.course.preprocessors",
    "ScrubHiddenTests": "grader.course.preprocessors",
    "EXPORT_COLUMNS": "grader.course.report",
    "ReportPaths": "grader.course.report",
    "gradebook_frames": "grader.course.report",
    "write_report": "grader.course.report",
}


__getattr__, __dir__ = _lazy_exports("grader.course", _LAZY_EXPORTS, globals())

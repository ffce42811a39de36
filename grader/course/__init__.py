"""grader.course: grade a class of notebook submissions (the trusted side).

The library behind ``kerasdl-grade`` (`grader.cli`). Everything here runs in
the instructor's process or on a grading worker, never in a student's
kernel. By role:

- `grader.course.autograder`: `autograde` (prepare, execute on workers,
  record), `AutogradeOutcome`, the workers' GPUs (`job_environment`,
  `count_visible_gpus`);
- `grader.course.submissions`: validation and nbgrader sanitizing of a
  submission before it runs ("not graded" reasons);
- `grader.course.cluster`: the Dask cluster the jobs run on;
- `grader.course.job`: one submission's job on a worker (data in, data out);
- `grader.course.executor`: nbclient execution with the judge after each
  test cell, lost-kernel recovery and output limits;
- `grader.course.sandbox` (with `sandbox_host`, `sandbox_cgroups`,
  `sandbox_packages`, `sandbox_kernel`): the bubblewrap sandbox of a job;
- `grader.course.record`, `grader.course.preprocessors`,
  `grader.course.verdicts`, `grader.course.status`: recording results in the
  gradebook (the judge's verdicts as the scores), submission states and the
  audit log;
- `grader.course.registration`: registering an assignment in the gradebook;
- `grader.course.report`, `grader.course.feedback`,
  `grader.course.similarity`: reports, HTML feedback, copied work;
- `grader.course.coursedir`, `grader.course.database`,
  `grader.course.process`, `grader.course.tflog`, `grader.course.exercises`:
  course folder, the gradebook's database URL (``--db``), nbgrader
  subprocesses, quiet TensorFlow, the exercise table.

The judge itself is `grader.judge`; the code that runs inside a student's
kernel is `grader.kernel`. No module here imports TensorFlow at import time,
and the public names below are resolved on first access (PEP 562).
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
    "ScrubHiddenTests",
    "autograde",
    "count_visible_gpus",
    "exercise_table",
    "generate_feedback",
    "gradebook_frames",
    "job_environment",
    "outcome_table",
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
    "outcome_table": "grader.course.autograder",
    "load_course": "grader.course.coursedir",
    "exercise_table": "grader.course.exercises",
    "generate_feedback": "grader.course.feedback",
    "DEAD_KERNEL": "grader.course.executor",
    "NOTEBOOK_TIMEOUT": "grader.course.executor",
    "NOT_EXECUTED": "grader.course.executor",
    "STUCK_KERNEL": "grader.course.executor",
    "ReplayExecute": "grader.course.preprocessors",
    "ScrubHiddenTests": "grader.course.preprocessors",
    "EXPORT_COLUMNS": "grader.course.report",
    "ReportPaths": "grader.course.report",
    "gradebook_frames": "grader.course.report",
    "write_report": "grader.course.report",
}


__getattr__, __dir__ = _lazy_exports("grader.course", _LAZY_EXPORTS, globals())

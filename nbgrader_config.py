"""nbgrader configuration: the repository root is the course directory.

Instructor notebooks live in ``solutions/<assignment>/``; ``nbgrader
generate_assignment <assignment> --force`` run at the root writes the student
version to ``assignments/<assignment>/`` and records the assignment, its
notebook and its graded cells in ``gradebook.db`` (created on first use, not
committed). Grading uses the usual ``submitted/``, ``autograded/`` and
``feedback/`` folders beside them.
"""

c = get_config()  # noqa: F821 (injected by traitlets when nbgrader loads this file)

c.CourseDirectory.course_id = "kerasdl-d2l"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

# Seconds one cell may run under autograde before its kernel is interrupted and
# the cell scores 0. Graded cells take seconds on CPU; the training
# demonstrations shrink their budget under NBGRADER_EXECUTION to fit well
# inside this on 2 CPU cores.
c.Execute.timeout = 180

# TensorFlow's C++ (absl) logging writes to stderr once per process no matter
# what TF_CPP_MIN_LOG_LEVEL says (the absl preamble, "Could not find cuda
# drivers", "failed call to cuInit", oneDNN notices). nbgrader scores a graded
# cell 0 when it has any stderr output, so drop a stderr output when it consists
# ONLY of such lines; anything else on stderr (a Python warning, a traceback)
# is kept and still counts.
_ABSL_LINE = (
    r"(?:WARNING: All log messages before absl::InitializeLog\(\) is called"
    r" are written to STDERR"
    # glog style: severity + MMDD, time, thread id, file:line]
    r"|[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\] .*"
    # TensorFlow's own style: date time: severity file:line]
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] [\w./-]+:\d+\] .*"
    r")"
)
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"\A(?:" + _ABSL_LINE + r"\r?\n?)+\Z"

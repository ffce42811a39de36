"""`kerasdl-grade` prints none of TensorFlow's C++ start-up lines (`grader.course.tflog`).

The slow test runs the real commands in fresh processes, from an environment
without ``TF_CPP_MIN_LOG_LEVEL`` (an instructor's shell): ``demo`` on a tiny
sample class (building, autograding, feedback and report in one process;
`grader.course.autograde` loads TensorFlow there), then ``report``,
``feedback``, ``similarity`` (which loads TensorFlow for the reference source)
and ``exercises`` (which loads it for the registry) on the demo's course, and
``--help``. Every line they print is checked. A new command goes into
`COMMANDS`; the ``autograde`` command itself (20 s more here) is one line:
``("autograde", ["autograde", ASSIGNMENT, "--course", "{course}", "--no-progress"])``.
"""

import os
import re
import subprocess
import sys

import nbformat
import pytest

from grader.course import tflog

SCRIPTS = os.path.dirname(sys.executable)
ASSIGNMENT = "hw1"
CONFIG = """\
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "tiny"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
"""
# What TensorFlow's start-up lines look like (seen with TensorFlow 2.21 on a
# CPU machine with the CUDA stub libraries installed).
NOISE = re.compile(
    r"oneDNN|cuda drivers|cuInit|absl|cpu_feature_guard|^[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\]",
    re.MULTILINE,
)
SEEN_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796406485.736077    5527 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results due to floating-point round-off errors from "
    "different computation orders. To turn them off, set the environment variable "
    "`TF_ENABLE_ONEDNN_OPTS=0`.",
    "I0000 00:00:1796406485.736414    5527 cudart_stub.cc:31] Could not find cuda drivers on "
    "your machine, GPU will not be used.",
    "E0000 00:00:1796406488.641135    5527 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
    "I0000 00:00:1796406495.826634    5631 cpu_feature_guard.cc:227] This TensorFlow binary is "
    "optimized to use available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    "TensorFlow with the appropriate compiler flags.",
]
# `demo` runs this tiny sample class instead of the real one (minutes).
DEMO_PROGRAM = """
import sys, types
from grader import cli, demo
from grader.demo.students import Submission
demo.SAMPLE_ASSIGNMENTS = ("hw1",)
submissions = {"ok": Submission(), "stub": Submission(base="stub")}
demo._module = lambda assignment: types.SimpleNamespace(SUBMISSIONS=submissions)
sys.exit(cli.main(sys.argv[1:]))
"""
# (name, kerasdl-grade arguments); "{course}" is the demo's course folder.
COMMANDS = [
    ("help", ["--help"]),
    ("demo help", ["demo", "--help"]),
    ("report", ["report", ASSIGNMENT, "--course", "{course}"]),
    ("feedback", ["feedback", ASSIGNMENT, "--course", "{course}"]),
    ("similarity", ["similarity", ASSIGNMENT, "--course", "{course}"]),
    ("exercises", ["exercises"]),
]


def _shell_env():
    """This environment without the TensorFlow settings the test suite makes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env["PATH"] = os.pathsep.join([SCRIPTS, env.get("PATH", "")])
    return env


def _run(args, cwd):
    return subprocess.run(args, cwd=cwd, env=_shell_env(), capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def test_seen_lines_are_noise_and_errors_are_not():
    """Are the lines TensorFlow printed on this machine noise, and a real C++ error not?"""
    assert all(tflog.is_tensorflow_noise(line) for line in SEEN_LINES)
    assert all(NOISE.search(line) for line in SEEN_LINES[:5])
    kept = "E0000 00:00:1796406488.641135    5527 op_kernel.cc:1830] OP_REQUIRES failed"
    assert not tflog.is_tensorflow_noise(kept)
    assert not tflog.is_tensorflow_noise("Traceback (most recent call last):")


def test_filtered_stderr_drops_noise_keeps_the_rest(capfd):
    """Does the filter drop noise written to file descriptor 2 and replay everything else?"""
    with tflog.filtered_stderr():
        os.write(2, (SEEN_LINES[0] + "\n" + SEEN_LINES[1] + "\nreal problem\n").encode())
        os.write(2, (SEEN_LINES[3] + "\nsecond line\n").encode())
    assert capfd.readouterr().err == "real problem\nsecond line\n"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The tiny demo run through `kerasdl-grade demo`'s code: (course, completed process)."""
    root = tmp_path_factory.mktemp("quiet")
    repo = root / "repo"
    (repo / "solutions" / ASSIGNMENT).mkdir(parents=True)
    (repo / "nbgrader_config.py").write_text(CONFIG)
    v4 = nbformat.v4
    meta = {"grade": False, "grade_id": "relu", "locked": False, "schema_version": 3,
            "solution": True}  # fmt: skip
    test_meta = {"grade": True, "grade_id": "test_relu", "locked": True, "points": 1,
                 "schema_version": 3, "solution": False}  # fmt: skip
    nb = v4.new_notebook(cells=[
        v4.new_code_cell("import tensorflow as tf\nimport grader\n\ndef relu(X):\n"
                         "    ### BEGIN SOLUTION\n    return tf.maximum(X, 0)\n"
                         "    ### END SOLUTION", metadata={"nbgrader": meta}),
        v4.new_code_cell('grader.check("relu", relu)', metadata={"nbgrader": test_meta}),
    ])  # fmt: skip
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    nbformat.write(nb, repo / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    course = root / "course"
    argv = ["demo", "--assignment", ASSIGNMENT, "--repo", str(repo), "--out", str(course),
            "--timeout", "60"]  # fmt: skip
    process = _run([sys.executable, "-c", DEMO_PROGRAM, *argv], root)
    return course, process


@pytest.mark.slow
@pytest.mark.parametrize("name, args", [("demo", None), *COMMANDS])
def test_no_tensorflow_lines_in_output(name, args, demo_run):
    """Does the command succeed and print no oneDNN, CUDA, cuInit, absl or glog-style line?"""
    course, process = demo_run
    if args is not None:
        argv = [arg.format(course=course) for arg in args]
        process = _run([os.path.join(SCRIPTS, "kerasdl-grade"), *argv], course.parent)
    output = process.stdout + process.stderr
    assert process.returncode == 0, output[-3000:]
    assert NOISE.search(output) is None, NOISE.search(output).group(0)
    if name == "demo":
        assert "all scores as expected" in output
    if name in ("similarity", "exercises"):
        # These load TensorFlow in the command's own process.
        assert ("similarity_heatmap.png" if name == "similarity" else "exercises, ") in output

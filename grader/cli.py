"""`kerasdl-grade`: grade a class of notebook submissions with nbgrader.

Subcommands:

- ``autograde ASSIGNMENT``: runs nbgrader autograde on ``submitted/``, in
  parallel jobs if asked, with a per-cell and a per-notebook timeout. A
  submission that crashes or hangs its kernel scores zero on the affected cells
  and never stops or corrupts the others.
- ``report ASSIGNMENT``: ``grades.csv`` (nbgrader's export columns plus one
  column per graded cell), a per-cell pass-rate table and two PNG plots.
- ``feedback ASSIGNMENT``: nbgrader's HTML feedback without the hidden tests.
- ``exercises``: the registered exercises and their points.
- ``demo``: grades a sample class built from the repository's notebooks.

How parallel autograding stays safe. nbgrader's sqlite gradebook takes one
writer at a time and nbgrader itself never grades in parallel, so autograding
runs in two phases:

1. *Execute* (parallel, ``--jobs N``): every submission is graded by its own
   ``nbgrader autograde`` process in a private temporary course (a copy of the
   assignment's source folder, the submission and the gradebook). Its kernel runs
   under `ResilientExecute`, which survives a dead or stuck kernel: the cell that
   killed it gets an error output, the kernel is restarted and the notebook runs
   again from the top without that cell. Only the executed notebook is kept.
2. *Record* (serial, in the real course): one ``nbgrader autograde --force``
   process whose execution step is `ReplayExecute`, which copies the outputs of
   the executed notebooks instead of running code. Everything else (sanitizing,
   locked cells, stderr rules, partial credit, late penalties) is nbgrader's own
   pipeline, writing the gradebook from a single process. The gradebook therefore
   does not depend on the number of jobs, and rerunning is idempotent.

On a machine with GPUs, each job's kernel sees one GPU (``CUDA_VISIBLE_DEVICES``
round-robin over the visible GPUs by job slot) with TensorFlow's memory growth
enabled (``TF_FORCE_GPU_ALLOW_GROWTH=true``), from `kerasdl.device.gpu_env_for_job`.
"""

import argparse
import concurrent.futures
import copy
import dataclasses
import glob
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor
from nbgrader.utils import is_grade
from traitlets import Unicode

__all__ = [
    "AutogradeOutcome",
    "ReplayExecute",
    "ReportPaths",
    "ResilientExecute",
    "ScrubHiddenTests",
    "autograde",
    "count_visible_gpus",
    "generate_feedback",
    "gradebook_frames",
    "job_environment",
    "load_course",
    "main",
    "write_report",
]

# nbgrader runs in subprocesses that load this file as a standalone module under
# this name (see `_nbgrader_command`), so they need not import the `grader`
# package and TensorFlow with it. The preprocessors are named through it.
_STANDALONE = "kerasdl_grade_cli"
_BOOTSTRAP = (
    "import importlib.util, sys\n"
    f"spec = importlib.util.spec_from_file_location({_STANDALONE!r}, sys.argv.pop(1))\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "sys.modules[spec.name] = module\n"
    "spec.loader.exec_module(module)\n"
    "sys.argv[0] = 'nbgrader'\n"
    "from nbgrader.apps.nbgraderapp import main\n"
    "main()\n"
)
# nbgrader's default execution step; `autograde` swaps it for these two.
_RESILIENT_EXECUTE = f"{_STANDALONE}.ResilientExecute"
_REPLAY_EXECUTE = f"{_STANDALONE}.ReplayExecute"
_NBGRADER_AUTOGRADE_PREPROCESSORS = [
    "nbgrader.preprocessors.Execute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# nbgrader's GenerateFeedback pipeline with the hidden tests scrubbed before
# rendering (nbgrader 0.9 keeps them in the feedback by default).
_FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    f"{_STANDALONE}.ScrubHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# Whole-notebook wall-clock limit (seconds) when `--notebook-timeout` is not given.
DEFAULT_NOTEBOOK_TIMEOUT = 3600
# Seconds to wait for a killed job's process group before giving up on it.
_KILL_GRACE = 10
# Error names written into cells whose kernel was lost; `autograde` reports them.
DEAD_KERNEL = "DeadKernelError"
STUCK_KERNEL = "KernelNotRespondingError"
NOTEBOOK_TIMEOUT = "NotebookTimeoutError"
NOT_EXECUTED = "NotExecutedError"
_LOST_KERNEL_ERRORS = (DEAD_KERNEL, STUCK_KERNEL, NOTEBOOK_TIMEOUT, NOT_EXECUTED)
# Lines of a failing job's log shown on the terminal.
_LOG_TAIL_LINES = 15
# The report's plots: figure size in inches and resolution.
_FIGSIZE = (6.4, 4.0)
_DPI = 100


def _error_output(ename, evalue):
    """An nbformat error output whose traceback is just `ename: evalue`."""
    return nbformat.v4.new_output(
        "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
    )


# --------------------------------------------------------------------------
# nbgrader preprocessors
# --------------------------------------------------------------------------


class _KernelLost(Exception):
    """The kernel died or stopped answering while running cell `index`."""

    def __init__(self, index, output):
        super().__init__(index)
        self.index = index
        self.output = output


class ResilientExecute(Execute):
    """nbgrader's `Execute`, surviving a dead or unresponsive kernel.

    nbgrader 0.9 drops a student's whole autograded output when the kernel dies
    (``os._exit``, a segfault, out of memory) or does not answer an interrupt
    after a timeout. This preprocessor instead gives the offending cell an error
    output (so it scores 0 if graded), starts a fresh kernel and executes the
    notebook again from the top, skipping every cell that lost a kernel before.
    Cells that finish normally, raise, or time out and are interrupted behave as
    under nbgrader's `Execute` (the per-cell limit is ``Execute.timeout``).

    Since each restart skips one more cell, a notebook is executed at most
    ``1 + number of code cells`` times.
    """

    def preprocess(self, nb, resources=None, km=None):
        lost = {}  # cell index -> error output standing in for its execution
        num_code_cells = sum(cell.cell_type == "code" for cell in nb.cells)
        for _ in range(num_code_cells + 1):
            try:
                return self._execute_skipping(nb, resources, km, lost)
            except _KernelLost as error:
                self.log.warning("Kernel lost in cell %d; restarting", error.index)
                lost[error.index] = error.output
        raise RuntimeError("every code cell lost its kernel")  # unreachable

    def _execute_skipping(self, nb, resources, km, lost):
        """One pass of `ExecutePreprocessor.preprocess` that skips `lost` cells."""
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        with self.setup_kernel():
            info_msg = self.wait_for_reply(self.kc.kernel_info())
            if info_msg is not None and "language_info" in info_msg["content"]:
                self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
            for index, cell in enumerate(self.nb.cells):
                if index in lost:
                    cell.outputs = [copy.deepcopy(lost[index])]
                    continue
                try:
                    self.preprocess_cell(cell, resources, index)
                except DeadKernelError:
                    raise _KernelLost(
                        index,
                        _error_output(DEAD_KERNEL, "the kernel died while running this cell"),
                    ) from None
                except CellTimeoutError:
                    raise _KernelLost(
                        index,
                        _error_output(
                            STUCK_KERNEL,
                            "the kernel did not answer an interrupt after the cell timed out",
                        ),
                    ) from None
        self.set_widgets_metadata()
        return self.nb, self.resources


class ReplayExecute(NbGraderPreprocessor):
    """nbgrader execution step that replays outputs of an executed notebook.

    Used in the serial *record* phase of `autograde`: the submission was already
    executed (by `ResilientExecute`, in a private course); this copies the
    outputs and execution counts of
    ``{executed_dir}/{student}/{notebook}.ipynb`` cell by cell. When that file is
    missing (the job was killed at the notebook timeout, or nbgrader could not
    process the submission) or its cells do not match, every code cell gets an
    error output, so each graded code cell scores 0 and the submission is still
    recorded.
    """

    executed_dir = Unicode(
        "", help="Folder of executed notebooks: {executed_dir}/{student}/{notebook}.ipynb"
    ).tag(config=True)
    missing_reason = Unicode(
        "the notebook was not executed (notebook timeout or grading error)",
        help="Error message written into every code cell of a missing notebook.",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        path = Path(self.executed_dir) / info["student"] / f"{info['notebook']}.ipynb"
        executed = nbformat.read(path, as_version=4) if path.exists() else None
        if executed is not None and not _same_cells(nb, executed):
            self.log.warning("Executed notebook %s does not match the submission", path)
            executed = None
        if executed is None:
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.outputs = [_error_output(NOT_EXECUTED, self.missing_reason)]
                    cell.execution_count = None
            return nb, resources
        for cell, done in zip(nb.cells, executed.cells):
            if cell.cell_type == "code":
                cell.outputs = done.outputs
                cell.execution_count = done.execution_count
        if "language_info" in executed.metadata:
            nb.metadata["language_info"] = executed.metadata["language_info"]
        return nb, resources


def _same_cells(nb, other):
    """Whether two notebooks have the same cell types and sources in order."""
    return len(nb.cells) == len(other.cells) and all(
        a.cell_type == b.cell_type and a.source == b.source for a, b in zip(nb.cells, other.cells)
    )


class ScrubHiddenTests(ClearHiddenTests):
    """Remove hidden tests from feedback: their code and their tracebacks.

    nbgrader 0.9's ``generate_feedback`` renders the autograded notebook, whose
    test cells were restored from the source *with* their hidden-test regions
    (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``). This removes those
    regions like `ClearHiddenTests` and, in the cells that had them, reduces every
    error output to its exception name: an IPython traceback quotes the failing
    line and the assertion message, which may hold expected values. Printed
    output (the checks' messages to the student) and the cell's score are kept.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code" or not is_grade(cell):
            return cell, resources
        removed = self._remove_hidden_test_region(cell)
        if removed:
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.evalue = "a test failed (details of hidden tests are not shown)"
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


# --------------------------------------------------------------------------
# Course directory
# --------------------------------------------------------------------------


def load_course(course_dir):
    """The nbgrader configuration and `CourseDirectory` of a course folder.

    Args:
        course_dir: the course root (holding ``nbgrader_config.py``, if any).

    Returns:
        ``(config, coursedir)``: the traitlets `Config` read from
        ``nbgrader_config.py`` with ``CourseDirectory.root`` set, and nbgrader's
        `CourseDirectory` built from it.

    Raises:
        ValueError: if `course_dir` is not a directory.
    """
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(course_dir).resolve()
    if not root.is_dir():
        raise ValueError(f"`course_dir` must be a directory. Received: course_dir={course_dir}")
    config = Config()
    if (root / "nbgrader_config.py").exists():
        config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config())
    config.CourseDirectory.root = str(root)
    return config, CourseDirectory(config=config)


def _submitted_students(coursedir, assignment):
    """Student ids with a submission folder for `assignment`, sorted."""
    pattern = coursedir.format_path(coursedir.submitted_directory, "*", assignment)
    template = coursedir.format_path(coursedir.submitted_directory, "{student}", assignment)
    prefix, suffix = template.split("{student}")
    return sorted(
        path[len(prefix) : len(path) - len(suffix)]
        for path in glob.glob(pattern)
        if os.path.isdir(path)
    )


def _sqlite_path(db_url):
    """The file of an ``sqlite:///`` gradebook URL."""
    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        raise ValueError(
            "Parallel-safe autograding needs the sqlite gradebook (a file). "
            f"Received: db_url={db_url}"
        )
    return Path(db_url[len(prefix) :])


def _with_scripts_on_path(env=None):
    """A copy of `env` whose PATH starts with this interpreter's scripts folder.

    nbgrader runs the ``alembic`` script of its environment by name, which fails
    when a virtual environment is used without being activated.
    """
    env = dict(os.environ if env is None else env)
    scripts = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join([scripts, env.get("PATH", "")])
    return env


def _nbgrader_command(args):
    """Command line running ``nbgrader ARGS`` with this file's preprocessors importable."""
    return [sys.executable, "-c", _BOOTSTRAP, os.path.abspath(__file__), *args]


def _nbgrader(args, *, cwd, env=None, log_path=None):
    """Run ``nbgrader ARGS``; return the completed process (output to `log_path`)."""
    command = _nbgrader_command(args)
    env = _with_scripts_on_path(env)
    with open(log_path, "w") if log_path else tempfile.TemporaryFile("w+") as log:
        process = subprocess.run(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    return process


def _tail(path, num_lines=_LOG_TAIL_LINES):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-num_lines:])


# --------------------------------------------------------------------------
# GPUs
# --------------------------------------------------------------------------


def count_visible_gpus(env=None):
    """Number of NVIDIA GPUs a job may use, without importing TensorFlow.

    ``CUDA_VISIBLE_DEVICES`` wins when set (``""`` or ``-1`` mean none);
    otherwise the lines of ``nvidia-smi -L``; 0 when that tool is missing.

    Args:
        env: environment mapping to read; ``os.environ`` by default.

    Returns:
        int, the number of GPUs.
    """
    env = os.environ if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        devices = [d for d in visible.split(",") if d.strip()]
        return 0 if not devices or devices[0].strip() == "-1" else len(devices)
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines())


def job_environment(slot, num_gpus, base_env=None):
    """Environment of autograde job `slot`: its GPU and TensorFlow memory growth.

    Delegates to `kerasdl.device.gpu_env_for_job`: with ``num_gpus > 0`` the job
    sees GPU ``slot % num_gpus`` only (``CUDA_VISIBLE_DEVICES``); in every case
    ``TF_FORCE_GPU_ALLOW_GROWTH=true`` so that parallel kernels do not each
    reserve all GPU memory. Kernels started by the job inherit it.

    Args:
        slot: int >= 0, the job slot (``0 .. jobs-1``), not the submission index,
            so that jobs running at the same time are spread over the GPUs.
        num_gpus: int >= 0, GPUs visible to the grading machine.
        base_env: mapping to extend; ``os.environ`` by default.

    Returns:
        dict of environment variables.
    """
    from kerasdl.device import gpu_env_for_job

    base_env = dict(os.environ if base_env is None else base_env)
    return gpu_env_for_job(slot, num_gpus, base_env=base_env)


# --------------------------------------------------------------------------
# autograde
# --------------------------------------------------------------------------


@dataclasses.dataclass
class AutogradeOutcome:
    """What happened to one submission in `autograde`.

    Attributes:
        student: the student id.
        recorded: whether the gradebook holds the autograded submission.
        lost_cells: indices of cells that killed or hung the kernel, or that
            never ran (notebook timeout), graded as errors.
        notebook_timeout: whether the whole-notebook limit stopped the job.
        seconds: wall time of the execute job.
        log: path of the execute job's nbgrader log (inside the work folder,
            which is removed unless `keep_work`; its end is printed to stderr
            when the submission could not be recorded).
    """

    student: str
    recorded: bool = False
    lost_cells: list = dataclasses.field(default_factory=list)
    notebook_timeout: bool = False
    seconds: float = 0.0
    log: str = ""


def _worker_config(real_root, work_root, db_path, timeout):
    """nbgrader_config.py of a private execute course."""
    lines = ["c = get_config()  # noqa: F821"]
    if (real_root / "nbgrader_config.py").exists():
        lines.append(f"load_subconfig({str(real_root / 'nbgrader_config.py')!r})  # noqa: F821")
    lines += [
        f"c.CourseDirectory.root = {str(work_root)!r}",
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(db_path)!r}",
        f"c.Autograde.autograde_preprocessors = [{_RESILIENT_EXECUTE!r}]",
    ]
    if timeout is not None:
        lines.append(f"c.Execute.timeout = {int(timeout)}")
    return "\n".join(lines) + "\n"


def _execute_submission(coursedir, config, assignment, student, work, env, timeout, deadline):
    """Phase 1 for one student: execute the submission in a private course."""
    from nbgrader.coursedir import CourseDirectory

    real_root = Path(coursedir.root)
    outcome = AutogradeOutcome(student)
    job_root = work / "jobs" / student
    job_config = copy.deepcopy(config)
    job_config.CourseDirectory.root = str(job_root)
    job_dirs = CourseDirectory(config=job_config)
    for source, target in [
        (
            coursedir.format_path(coursedir.source_directory, ".", assignment),
            job_dirs.format_path(job_dirs.source_directory, ".", assignment),
        ),
        (
            coursedir.format_path(coursedir.submitted_directory, student, assignment),
            job_dirs.format_path(job_dirs.submitted_directory, student, assignment),
        ),
    ]:
        shutil.copytree(source, target)
    db_path = job_root / "gradebook.db"
    shutil.copy(_sqlite_path(coursedir.db_url), db_path)
    (job_root / "nbgrader_config.py").write_text(
        _worker_config(real_root, job_root, db_path, timeout)
    )
    outcome.log = str(work / "logs" / f"{student}.log")
    command = _nbgrader_command(
        ["autograde", assignment, "--student", student, "--force",
         f"--CourseDirectory.root={job_root}"]
    )  # fmt: skip
    start = time.perf_counter()
    with open(outcome.log, "w") as log:
        process = subprocess.Popen(
            command, cwd=job_root, env=_with_scripts_on_path(env), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # so a notebook timeout can kill the whole job
        )  # fmt: skip
        try:
            process.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            outcome.notebook_timeout = True
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=_KILL_GRACE)
    outcome.seconds = time.perf_counter() - start
    executed = work / "executed" / student
    executed.mkdir(parents=True, exist_ok=True)
    graded = job_dirs.format_path(job_dirs.autograded_directory, student, assignment)
    if not outcome.notebook_timeout:
        for path in glob.glob(os.path.join(graded, "*.ipynb")):
            shutil.copy(path, executed)
    return outcome


def autograde(
    assignment,
    course_dir=".",
    *,
    students=None,
    jobs=1,
    timeout=None,
    notebook_timeout=DEFAULT_NOTEBOOK_TIMEOUT,
    num_gpus=None,
    progress=True,
    keep_work=False,
):
    """Autograde the submissions of `assignment`, in parallel jobs if asked.

    Phase 1 executes every submission in its own ``nbgrader autograde`` process
    and private copy of the course (`jobs` at a time, see the module docstring);
    phase 2 records all of them in the course's gradebook from one
    ``nbgrader autograde --force`` process that replays the outputs. A student
    whose kernel dies or hangs gets zero on the affected cells only; a job that
    exceeds `notebook_timeout` is killed and its submission is recorded with
    zero on every autograded cell. The gradebook is the same for any `jobs`, and
    rerunning replaces the previous grades (idempotent).

    Args:
        assignment: assignment id (a folder of ``submitted/<student>/``).
        course_dir: course root with ``nbgrader_config.py`` and the gradebook
            (``nbgrader generate_assignment`` must have run).
        students: student ids to grade; all submitters by default.
        jobs: int >= 1, submissions executed at the same time.
        timeout: seconds per cell before the kernel is interrupted and the cell
            scores 0 (``Execute.timeout``); the course's setting by default.
        notebook_timeout: seconds for one whole submission (all its notebooks,
            kernel restarts included), or None for no limit.
        num_gpus: GPUs to spread jobs over; detected with `count_visible_gpus`
            by default.
        progress: show a tqdm progress bar (on stderr) per submission.
        keep_work: keep the temporary work folder (job logs, executed
            notebooks) and print where it is.

    Returns:
        list of `AutogradeOutcome`, one per student, in student order.

    Raises:
        ValueError: on a bad `jobs`, `timeout` or `notebook_timeout`, an unknown
            student, or no submission at all.
    """
    from tqdm.auto import tqdm

    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"`jobs` must be an int >= 1. Received: jobs={jobs}")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"`timeout` must be > 0 seconds. Received: timeout={timeout}")
    if notebook_timeout is not None and notebook_timeout <= 0:
        raise ValueError(
            f"`notebook_timeout` must be > 0 seconds. Received: notebook_timeout={notebook_timeout}"
        )
    config, coursedir = load_course(course_dir)
    submitted = _submitted_students(coursedir, assignment)
    if students:
        unknown = sorted(set(students) - set(submitted))
        if unknown:
            raise ValueError(
                f"No submission of {assignment!r} for these students. Received: students={unknown}"
            )
        selected = sorted(set(students))
    else:
        selected = submitted
    if not selected:
        raise ValueError(
            f"No submissions in {coursedir.submitted_directory}/*/{assignment}. "
            f"Received: assignment={assignment}"
        )
    num_gpus = count_visible_gpus() if num_gpus is None else num_gpus
    work = Path(tempfile.mkdtemp(prefix=f"kerasdl-grade-{assignment}-"))
    (work / "logs").mkdir()
    slots = queue.Queue()
    for slot in range(jobs):
        slots.put(slot)

    def run(student):
        slot = slots.get()
        try:
            env = job_environment(slot, num_gpus)
            return _execute_submission(
                coursedir, config, assignment, student, work, env, timeout, notebook_timeout
            )
        finally:
            slots.put(slot)

    outcomes = {}
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run, student) for student in selected]
            bar = tqdm(
                concurrent.futures.as_completed(futures), total=len(futures),
                desc=f"autograde {assignment}", unit="submission",
                disable=not progress, file=sys.stderr,
            )  # fmt: skip
            for future in bar:
                outcome = future.result()
                outcomes[outcome.student] = outcome
                bar.set_postfix_str(outcome.student)
        _record(coursedir, assignment, submitted, selected, work)
        _collect_outcomes(coursedir, assignment, outcomes)
        for outcome in outcomes.values():
            if not outcome.recorded:
                print(
                    f"autograde: {outcome.student} was not recorded; end of its job log:\n"
                    f"{_tail(outcome.log)}\nend of nbgrader's record log:\n"
                    f"{_tail(work / 'logs' / 'record.log')}",
                    file=sys.stderr,
                )
    finally:
        if keep_work:
            print(f"autograde work folder: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return [outcomes[student] for student in selected]


def _record(coursedir, assignment, submitted, selected, work):
    """Phase 2: write all executed submissions to the gradebook, serially."""
    excluded = sorted(set(submitted) - set(selected))
    if coursedir.student_id_exclude:
        excluded += coursedir.student_id_exclude.split(",")
    preprocessors = [
        _REPLAY_EXECUTE if name == "nbgrader.preprocessors.Execute" else name
        for name in _NBGRADER_AUTOGRADE_PREPROCESSORS
    ]
    args = ["autograde", assignment, "--force", f"--CourseDirectory.root={coursedir.root}"]
    args += [f"--Autograde.autograde_preprocessors={name}" for name in preprocessors]
    args.append(f"--ReplayExecute.executed_dir={work / 'executed'}")
    if excluded:
        args.append(f"--CourseDirectory.student_id_exclude={','.join(excluded)}")
    log_path = work / "logs" / "record.log"
    _nbgrader(args, cwd=coursedir.root, log_path=log_path)


def _collect_outcomes(coursedir, assignment, outcomes):
    """Fill `recorded` and `lost_cells` from the autograded notebooks."""
    for student, outcome in outcomes.items():
        graded = coursedir.format_path(coursedir.autograded_directory, student, assignment)
        notebooks = sorted(glob.glob(os.path.join(graded, "*.ipynb")))
        outcome.recorded = bool(notebooks)
        for path in notebooks:
            nb = nbformat.read(path, as_version=4)
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code" and any(
                    out.output_type == "error" and out.get("ename") in _LOST_KERNEL_ERRORS
                    for out in cell.outputs
                ):
                    outcome.lost_cells.append(index)


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

# nbgrader export's CSV columns, in its order.
EXPORT_COLUMNS = [
    "assignment", "duedate", "timestamp", "student_id", "last_name", "first_name",
    "email", "raw_score", "late_submission_penalty", "score", "max_score",
]  # fmt: skip


def _grade_cell_order(coursedir, assignment):
    """Graded cell names in notebook order, read from the source notebooks."""
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


# --------------------------------------------------------------------------
# feedback
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# exercises
# --------------------------------------------------------------------------


def exercise_table():
    """The registered exercises as a pandas table: ``chapter``, ``exercise``, ``points``."""
    import grader

    table = grader.exercises()
    table = table.rename(columns={"id": "exercise"})[["chapter", "exercise", "points"]]
    return table.sort_values("chapter", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1. Received: {text}")
    return value


def _positive_float(text):
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0. Received: {text}")
    return value


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

    p = sub.add_parser(
        "autograde", parents=[course], help="autograde the submissions in submitted/",
        description="Run nbgrader autograde on submitted/<student>/ASSIGNMENT, one job per "
        "submission, and record the grades in the gradebook. A submission that crashes or "
        "hangs its kernel scores zero on the affected cells only.",
    )  # fmt: skip
    p.add_argument("assignment", metavar="ASSIGNMENT", help="assignment id")
    p.add_argument("--student", nargs="+", metavar="ID", help="grade only these students")
    p.add_argument(
        "--jobs", type=_positive_int, default=1, metavar="N",
        help="submissions executed in parallel (default: 1)",
    )  # fmt: skip
    p.add_argument(
        "--timeout", type=_positive_float, metavar="S",
        help="seconds per cell before it is interrupted and scores 0 (default: the course's "
        "Execute.timeout)",
    )  # fmt: skip
    p.add_argument(
        "--notebook-timeout", type=_positive_float, default=DEFAULT_NOTEBOOK_TIMEOUT,
        metavar="S", help="seconds per submission before its job is killed and it scores 0 "
        f"(default: {DEFAULT_NOTEBOOK_TIMEOUT})",
    )  # fmt: skip
    p.add_argument(
        "--gpus", type=int, metavar="N",
        help="GPUs to spread jobs over (default: detected; 0 for none)",
    )  # fmt: skip
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--keep-work", action="store_true", help="keep job logs and executed notebooks")

    p = sub.add_parser(
        "report", parents=[course], help="grades.csv, pass rates and plots",
        description="Read the gradebook and write grades.csv (nbgrader export's columns plus one "
        "column per graded cell), pass_rates.csv and two PNG plots; print a summary.",
    )  # fmt: skip
    p.add_argument("assignment", metavar="ASSIGNMENT", help="assignment id")
    p.add_argument("--out", metavar="DIR", help="output folder (default: <course>/reports/<A>)")

    p = sub.add_parser(
        "feedback", parents=[course], help="HTML feedback without hidden tests",
        description="Run nbgrader generate_feedback with hidden tests (code and tracebacks) "
        "removed; writes feedback/<student>/ASSIGNMENT/*.html.",
    )  # fmt: skip
    p.add_argument("assignment", metavar="ASSIGNMENT", help="assignment id")
    p.add_argument("--student", nargs="+", metavar="ID", help="only these students")

    sub.add_parser(
        "exercises", help="list the registered exercises and their points",
        description="List the exercises registered in the grader with their points.",
    )  # fmt: skip

    p = sub.add_parser(
        "demo", help="grade a sample class of submissions",
        description="Build a temporary course from the repository's notebooks, make a sample "
        "class of submissions, autograde it, generate feedback and a report, and compare every "
        "grade with the expected one. Exits with 1 on any MISMATCH.",
    )  # fmt: skip
    p.add_argument(
        "--assignment", nargs="+", metavar="A",
        help="assignments to demo (default: the demo's two assignments)",
    )  # fmt: skip
    p.add_argument("--out", metavar="DIR", help="course folder to create (default: a temp dir)")
    p.add_argument(
        "--jobs", type=_positive_int, default=2, metavar="N",
        help="parallel autograde jobs (default: 2)",
    )  # fmt: skip
    p.add_argument(
        "--timeout", type=_positive_float, metavar="S",
        help="seconds per cell (default: the demo's)",
    )  # fmt: skip
    p.add_argument(
        "--repo", metavar="DIR",
        help="repository holding solutions/, assignments/ and nbgrader_config.py "
        "(default: this checkout)",
    )  # fmt: skip
    return parser


def _print_table(frame):
    import pandas as pd

    with pd.option_context("display.max_columns", None, "display.width", 200):
        print(frame.to_string(index=False))


def _cmd_autograde(args):
    outcomes = autograde(
        args.assignment, args.course, students=args.student, jobs=args.jobs,
        timeout=args.timeout, notebook_timeout=args.notebook_timeout, num_gpus=args.gpus,
        progress=not args.no_progress, keep_work=args.keep_work,
    )  # fmt: skip
    failed = 0
    for outcome in outcomes:
        notes = []
        if outcome.notebook_timeout:
            notes.append("notebook timeout: scored 0")
        elif outcome.lost_cells:
            notes.append(f"kernel lost in cells {outcome.lost_cells}: scored 0 there")
        if not outcome.recorded:
            failed += 1
            notes.append("NOT RECORDED (see nbgrader's log)")
        print(f"{outcome.student:24s} {outcome.seconds:7.1f} s  {'; '.join(notes) or 'ok'}")
    return 1 if failed else 0


def _cmd_report(args):
    paths, grades, cells = write_report(args.assignment, args.course, args.out)
    summary = grades[["student_id", "score", "max_score", *cells["cell"]]]
    _print_table(summary)
    print()
    _print_table(cells[["cell", "max_score", "submissions", "mean_score", "pass_rate"]])
    print()
    for name, path in dataclasses.asdict(paths).items():
        print(f"{name}: {path}")
    return 0


def _cmd_feedback(args):
    for path in generate_feedback(args.assignment, args.course, students=args.student):
        print(path)
    return 0


def _cmd_exercises(args):
    table = exercise_table()
    _print_table(table)
    print(f"\n{len(table)} exercises, {table['points'].sum():g} points")
    return 0


def _cmd_demo(args):
    from grader import demo

    return demo.run_demo(
        assignments=args.assignment, out_dir=args.out, jobs=args.jobs, timeout=args.timeout,
        repo_dir=args.repo,
    )  # fmt: skip


_COMMANDS = {
    "autograde": _cmd_autograde,
    "report": _cmd_report,
    "feedback": _cmd_feedback,
    "exercises": _cmd_exercises,
    "demo": _cmd_demo,
}


def main(argv=None):
    """Entry point of ``kerasdl-grade``; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except (ValueError, RuntimeError) as error:
        print(f"kerasdl-grade {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

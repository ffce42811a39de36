"""Two-phase parallel autograding of a class's submissions with nbgrader.

nbgrader's sqlite gradebook takes one writer at a time and nbgrader itself
never grades in parallel, so `autograde` runs in two phases:

1. *Execute* (parallel, ``jobs``): every submission is graded by its own
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

Importing this module is light (standard library only); nbgrader, nbformat
and tqdm are imported when `autograde` runs.
"""

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

from grader.course.coursedir import _sqlite_path, _submitted_students, load_course
from grader.course.process import _nbgrader, _nbgrader_command, _tail, _with_scripts_on_path

__all__ = [
    "DEFAULT_NOTEBOOK_TIMEOUT",
    "AutogradeOutcome",
    "autograde",
    "count_visible_gpus",
    "job_environment",
]

# The preprocessors nbgrader loads by dotted name (see `grader.course.preprocessors`).
_PREPROCESSORS_MODULE = f"{__package__}.preprocessors"
_RESILIENT_EXECUTE = f"{_PREPROCESSORS_MODULE}.ResilientExecute"
_REPLAY_EXECUTE = f"{_PREPROCESSORS_MODULE}.ReplayExecute"
# nbgrader's default autograde pipeline; `_record` swaps its execution step
# (the first) for `ReplayExecute`.
_NBGRADER_AUTOGRADE_PREPROCESSORS = [
    "nbgrader.preprocessors.Execute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Whole-notebook wall-clock limit (seconds) when `--notebook-timeout` is not given.
DEFAULT_NOTEBOOK_TIMEOUT = 3600
# Seconds to wait for a killed job's process group before giving up on it.
_KILL_GRACE = 10


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
    import nbformat

    from grader.course.preprocessors import LOST_KERNEL_ERRORS

    for student, outcome in outcomes.items():
        graded = coursedir.format_path(coursedir.autograded_directory, student, assignment)
        notebooks = sorted(glob.glob(os.path.join(graded, "*.ipynb")))
        outcome.recorded = bool(notebooks)
        for path in notebooks:
            nb = nbformat.read(path, as_version=4)
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code" and any(
                    out.output_type == "error" and out.get("ename") in LOST_KERNEL_ERRORS
                    for out in cell.outputs
                ):
                    outcome.lost_cells.append(index)

"""Autograde a class: validate, execute and judge on workers, record in one process.

`autograde` runs in three steps, and only the first and last touch the course:

1. *Prepare* (this process): each submission is validated and sanitized by
   nbgrader (`grader.course.submissions`); one that cannot be graded (corrupt
   JSON, wrong notebook, foreign or repeated grade ids, unknown metadata
   schema) is marked *not graded* with its reason and never executed.
2. *Execute* (Dask workers, `grader.course.cluster`): each valid submission
   is a task (`grader.course.job.execute_submission`) that runs its notebooks
   in sandboxed kernels (`grader.course.sandbox`) and judges every test cell
   outside the kernel (`grader.judge`). Notebooks travel as bytes.
3. *Record* (this process, the gradebook's only writer), as each result
   arrives: nbgrader's own autograde pipeline, in this process, with its
   execution step replaced by `ReplayExecute`, which puts the executed
   outputs back and makes the judge's verdicts the scores. The previous
   autograded notebook is kept until the new one exists; the state of every
   submission and every grade that changed go to `grader.course.status`.

A rerun grades only submissions that are new, changed or not graded yet
(``force`` regrades all); an interrupted run leaves what was recorded
recorded. The hidden cases' secret seed is drawn per run and never reaches a
kernel before the inputs it makes.
"""

import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from grader.course.coursedir import _submitted_students, course_directory, load_config
from grader.course.status import GRADED, GRADED_WITH_ERRORS, NOT_GRADED

__all__ = [
    "DEFAULT_MEMORY_BYTES",
    "DEFAULT_NOTEBOOK_TIMEOUT",
    "AutogradeOutcome",
    "autograde",
    "count_visible_gpus",
    "job_environment",
    "outcome_table",
]

# Whole-notebook wall-clock limit (seconds) when `--notebook-timeout` is not given.
DEFAULT_NOTEBOOK_TIMEOUT = 3600
# Memory of one sandboxed job when `--memory` is not given (bytes).
DEFAULT_MEMORY_BYTES = 4 << 30


@dataclasses.dataclass
class AutogradeOutcome:
    """What happened to one submission in `autograde`.

    Attributes:
        student: the student id.
        state: "graded", "graded with errors", "not graded" or "unchanged"
            (already graded, same files; not regraded without ``force``).
        reason: why it was not graded, or what the errors were.
        score, max_score: the recorded total, or None.
        flags: notes for the instructor (the kernel's own output disagreeing
            with the judge).
        lost_cells: indices of cells that lost their kernel or ran out of time.
        notebook_timeout: whether the whole-notebook limit stopped it.
        seconds: wall time of its execute job.
        isolation: how its kernels were isolated.
    """

    student: str
    state: str = NOT_GRADED
    reason: str | None = None
    score: float | None = None
    max_score: float | None = None
    flags: list = dataclasses.field(default_factory=list)
    lost_cells: list = dataclasses.field(default_factory=list)
    notebook_timeout: bool = False
    seconds: float = 0.0
    isolation: str = ""

    @property
    def recorded(self):
        """Whether the gradebook holds a grade of this submission."""
        return self.state in (GRADED, GRADED_WITH_ERRORS, "unchanged")


# --------------------------------------------------------------------------
# GPUs
# --------------------------------------------------------------------------


def count_visible_gpus(env=None):
    """Number of NVIDIA GPUs a job may use, without importing TensorFlow.

    ``CUDA_VISIBLE_DEVICES`` wins when set (``""`` or ``-1`` mean none);
    otherwise the lines of ``nvidia-smi -L``; 0 when that tool is missing.
    """
    import subprocess

    env = os.environ if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        devices = [d for d in visible.split(",") if d.strip()]
        return 0 if not devices or devices[0].strip() == "-1" else len(devices)
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                 timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines())


def job_environment(slot, num_gpus, base_env=None):
    """Environment of grading worker `slot`: its GPU and TensorFlow memory growth.

    Delegates to `kerasdl.device.gpu_env_for_job` (which imports TensorFlow;
    workers call it, the client does not): with ``num_gpus > 0`` the worker's
    kernels see GPU ``slot % num_gpus`` only (``CUDA_VISIBLE_DEVICES``); in
    every case ``TF_FORCE_GPU_ALLOW_GROWTH=true`` so that kernels sharing a GPU
    do not each reserve all its memory.

    Args:
        slot: int >= 0, the worker's index.
        num_gpus: int >= 0, GPUs visible to the machine.
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


def _fingerprint(coursedir, assignment, student):
    """Hash of a student's submitted files (a rerun regrades only changed ones)."""
    folder = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


def _validate_arguments(jobs, timeout, notebook_timeout, memory_bytes):
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"`jobs` must be an int >= 1. Received: jobs={jobs!r}")
    if timeout is not None and not timeout >= 1:
        raise ValueError(f"`timeout` must be at least 1 second. Received: timeout={timeout!r}")
    if notebook_timeout is not None and not notebook_timeout > 0:
        raise ValueError("`notebook_timeout` must be > 0 seconds. "
                         f"Received: notebook_timeout={notebook_timeout!r}")
    if memory_bytes is not None and not memory_bytes >= 256 << 20:
        raise ValueError(f"`memory` must be at least 256 MiB. Received: {memory_bytes!r} bytes")


def _sandbox_options(sandbox, memory_bytes):
    """The jobs' sandbox options, after checking a sandbox can be made here."""
    if not sandbox:
        print("autograde: WARNING: --no-sandbox: students' code runs as this user and can "
              "read and change the course, the gradebook and other submissions",
              file=sys.stderr)
        return None
    from grader.course.sandbox import SandboxUnavailable, check_available, remove_stale

    try:
        check_available()
    except SandboxUnavailable as error:
        raise RuntimeError(f"{error} (or pass --no-sandbox to grade without isolation, "
                           "which lets students' code reach the course)") from None
    remove_stale()  # what jobs of killed runs left behind
    return {"memory_bytes": int(memory_bytes or DEFAULT_MEMORY_BYTES)}


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
    sandbox=True,
    memory_bytes=None,
    scheduler=None,
    force=False,
    secret=None,
    db_url=None,
):
    """Autograde the submissions of `assignment` (see the module docstring).

    Args:
        assignment: assignment id (a folder of ``submitted/<student>/``).
        course_dir: course root (``nbgrader_config.py``); an assignment not
            in the gradebook yet is registered first (`register_assignment`).
        students: student ids to grade; all submitters by default.
        jobs: worker processes of the embedded cluster (submissions at once).
        timeout: seconds per cell before it is interrupted and scores 0 (at
            least 1); the course's ``Execute.timeout`` by default.
        notebook_timeout: seconds for one whole submission, or None.
        num_gpus: GPUs to spread workers over; detected by default.
        progress: show a progress bar (stderr).
        keep_work: keep the work folder (executed notebooks, verdicts).
        sandbox: run kernels in the sandbox (False: ``--no-sandbox``, warned).
        memory_bytes: memory of one sandboxed job (default 4 GiB).
        scheduler: address of a Dask scheduler; the embedded cluster by default
            (also ``$KERASDL_SCHEDULER`` or ``c.KerasdlGrade.scheduler``).
        force: regrade every submission, not only new or changed ones.
        secret: the hidden cases' seed (an int); drawn at random by default.
        db_url: the gradebook's database URL (``--db``, e.g.
            ``postgresql+psycopg://USER@HOST/DATABASE``); the course's
            ``CourseDirectory.db_url`` (by default its sqlite file) otherwise.

    Returns:
        list of `AutogradeOutcome`, one per student, in student order.

    Raises:
        ValueError: bad arguments, not a course, an unknown student, no
            submission, a `db_url` that is no database URL.
        RuntimeError: no sandbox can be made here (and `sandbox` is True), the
            gradebook's database server cannot be reached, a grading worker
            differs from this machine, or the assignment's test cells cannot
            be judged.
    """
    from grader.course.cluster import SCHEDULER_ENV, PendingCluster, cores_per_job

    _validate_arguments(jobs, timeout, notebook_timeout, memory_bytes)
    config = load_config(course_dir, db_url)
    sandbox_options = _sandbox_options(sandbox, memory_bytes)
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or \
        config.get("KerasdlGrade", {}).get("scheduler")
    worker_env = {"TF_NUM_INTRAOP_THREADS": str(cores_per_job(jobs)),
                  "TF_NUM_INTEROP_THREADS": "1"} if not scheduler else {}
    # The workers start while nbgrader loads.
    cluster = PendingCluster(jobs, scheduler, worker_env=worker_env)
    try:
        coursedir = course_directory(config)
        submitted = _submitted_students(coursedir, assignment)
        selected = sorted(set(students)) if students else submitted
        unknown = sorted(set(selected) - set(submitted))
        if unknown:
            raise ValueError(f"No submission of {assignment!r} for these students. "
                             f"Received: students={unknown}")
        if not selected:
            raise ValueError(f"No submissions in {coursedir.submitted_directory}/*/"
                             f"{assignment}. Received: assignment={assignment}")
        return _autograde(assignment, config, coursedir, selected, cluster, worker_env,
                          timeout=timeout, notebook_timeout=notebook_timeout,
                          num_gpus=num_gpus, progress=progress, keep_work=keep_work,
                          sandbox_options=sandbox_options, force=force, secret=secret)
    finally:
        cluster.close()


def _autograde(assignment, config, coursedir, selected, cluster, worker_env, *, timeout,
               notebook_timeout, num_gpus, progress, keep_work, sandbox_options, force,
               secret):
    from grader.course.database import reach_database
    from grader.course.registration import check_test_cells, register_assignment
    from grader.course.status import StatusStore

    # The workers start while nbgrader loads; what follows (SQLAlchemy's and
    # Jinja's generated code, nbgrader's converters, which also change this
    # process's working directory) waits for them: CPython 3.11's compiler is
    # not safe to run in two threads at once, and a worker process inherits
    # the working directory it is started in.
    cluster.wait_started()
    reach_database(coursedir.db_url)
    register_assignment(coursedir, config, assignment)
    check_test_cells(coursedir, assignment)
    if timeout is None:
        timeout = config.Execute.get("timeout", config.ExecutePreprocessor.get("timeout", 30))
    num_gpus = count_visible_gpus() if num_gpus is None else num_gpus
    run_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    secret = secrets.randbits(62) if secret is None else int(secret)
    store = StatusStore(coursedir.db_url)
    try:
        from grader.course.record import Recorder, RunContext

        run = RunContext(
            assignment=assignment, run_id=run_id, secret=secret, coursedir=coursedir,
            config=config, store=store, cell_timeout=timeout, notebook_timeout=notebook_timeout,
            sandbox=sandbox_options, progress=progress, num_gpus=num_gpus,
            worker_env=worker_env,
        )  # fmt: skip
        fingerprints = {s: _fingerprint(coursedir, assignment, s) for s in selected}
        previous = store.get(assignment)
        outcomes, todo = {}, []
        for student in selected:
            old = previous.get(student)
            if (not force and old is not None and old["state"] != NOT_GRADED
                    and old["fingerprint"] == fingerprints[student]):
                outcomes[student] = AutogradeOutcome(student, "unchanged",
                                                     reason="already graded; same files")
            else:
                todo.append(student)
        work = Path(tempfile.mkdtemp(prefix=f"kerasdl-grade-{assignment}-"))
        try:
            recorder = Recorder(run, work, fingerprints)
            outcomes.update(recorder.grade(todo, cluster))
        finally:
            if keep_work:
                print(f"autograde work folder: {work}", file=sys.stderr)
            else:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        store.close()
    return [outcomes[student] for student in selected]


def outcome_table(outcomes):
    """One line per student: state, score, time, and why (errors, flags, reasons)."""
    lines = [f"{'student':20s} {'state':20s} {'score':>11s} {'time':>8s}  notes"]
    for outcome in outcomes:
        score = ("" if outcome.score is None
                 else f"{outcome.score:g} / {outcome.max_score:g}")
        notes = [outcome.reason] if outcome.reason else []
        notes += [f"FLAG {flag}" for flag in outcome.flags]
        seconds = f"{outcome.seconds:.1f} s" if outcome.seconds else ""
        lines.append(f"{outcome.student:20s} {outcome.state:20s} {score:>11s} {seconds:>8s}  "
                     f"{'; '.join(notes)}")
    isolations = sorted({o.isolation for o in outcomes if o.isolation})
    if isolations:
        lines.append(f"isolation: {'; '.join(isolations)}")
    return "\n".join(lines)


def outcome_json(outcome):
    """An `AutogradeOutcome` as JSON text."""
    return json.dumps(dataclasses.asdict(outcome))

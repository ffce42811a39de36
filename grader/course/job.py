"""One autograde job: a submission's notebooks in, executed notebooks and verdicts out.

`execute_submission(job)` is what a grading worker runs (a local process or
a Dask worker on another machine). Everything it receives and returns is
data: the sanitized notebooks as bytes (`Job`), the executed notebooks as
bytes and the judge's verdicts as JSON (`JobResult`). It needs no course
folder, gradebook or shared filesystem; the course's trusted process
validates what comes back and records it.

Each notebook runs in its own sandboxed kernel (`grader.course.sandbox`)
under `grader.course.executor.JudgedExecute`; the judge of this worker
process (`judge_for`) keeps TensorFlow and the references loaded across the
submissions it grades. A worker's first submission loads it while its first
kernel runs its first cell, which imports TensorFlow too (on a machine with
GPUs the worker loads it at its start, `grader.course.preload`). A watchdog
kills the kernel at the notebook deadline; the cells that did not run are
marked lost.
"""

import dataclasses
import json
import os
import shutil
import tempfile
import threading
import time

__all__ = ["Job", "JobResult", "execute_submission", "judge_for", "kernel_env"]

# Seconds nbclient waits for a new kernel to answer.
STARTUP_TIMEOUT = 120
# Runs of a notebook whose execution nbclient gave up (e.g. a kernel that did
# not start); after the last, the submission is not graded, with the reason.
EXECUTE_ATTEMPTS = 2
_JUDGES = {}
_JUDGES_LOCK = threading.Lock()


@dataclasses.dataclass
class Job:
    """What a worker needs to grade one submission (data only).

    Attributes:
        assignment: assignment id.
        student: student id.
        notebooks: notebook name (without ``.ipynb``) -> sanitized notebook bytes.
        secret: the run's secret seed for the hidden cases.
        cell_timeout: seconds per cell (None: no limit).
        notebook_timeout: seconds for the whole submission (None: no limit).
        sandbox: options of the sandbox (`SandboxLimits` fields), or None to
            run the kernel unsandboxed (``--no-sandbox``).
        env: extra environment of the kernels (thread counts).
        num_gpus: GPUs of the worker's machine; a worker's kernels see GPU
            ``worker index % num_gpus`` with memory growth (`job_environment`).
    """

    assignment: str
    student: str
    notebooks: dict
    secret: int
    cell_timeout: float | None = None
    notebook_timeout: float | None = None
    sandbox: dict | None = dataclasses.field(default_factory=dict)
    env: dict = dataclasses.field(default_factory=dict)
    num_gpus: int = 0


@dataclasses.dataclass
class JobResult:
    """What a worker sends back for one submission (data only).

    Attributes:
        student: student id.
        notebooks: notebook name -> executed notebook bytes (kernel outputs).
        verdicts: notebook name -> {cell index (str) -> `Verdict` JSON}.
        lost_cells: notebook name -> cell indices whose kernel was lost.
        timed_out_cells: notebook name -> cell indices interrupted at the cell timeout.
        notebook_timeout: whether the deadline stopped the job.
        seconds: wall time of the job.
        isolation: how the kernels were isolated (the sandbox's description).
        error: why the job could not run at all, or None.
    """

    student: str
    notebooks: dict = dataclasses.field(default_factory=dict)
    verdicts: dict = dataclasses.field(default_factory=dict)
    lost_cells: dict = dataclasses.field(default_factory=dict)
    timed_out_cells: dict = dataclasses.field(default_factory=dict)
    notebook_timeout: bool = False
    seconds: float = 0.0
    isolation: str = ""
    error: str | None = None


def judge_for(secret):
    """This process's judge for a run's `secret` (built once, kept loaded).

    TensorFlow loads here (on a worker) without its C++ start-up lines
    (`grader.course.tflog`).
    """
    from grader.course import tflog

    tflog.install()
    from grader.judge.judge import Judge

    with _JUDGES_LOCK:
        judge = _JUDGES.get(secret)
        if judge is None:
            _JUDGES.clear()
            judge = _JUDGES[secret] = Judge(secret)
        return judge


def kernel_env(extra=None):
    """The environment of a student's kernel under autograde.

    nbgrader's ``NBGRADER_EXECUTION=autograde`` (the notebooks use their small
    grading budgets), ``KERASDL_JUDGED`` (the kernel's own check leaves the
    hidden cases to the judge), quiet TensorFlow, plus `extra`.
    """
    from grader.kernel import JUDGED_ENV

    env = {"NBGRADER_EXECUTION": "autograde", JUDGED_ENV: "1", "TF_CPP_MIN_LOG_LEVEL": "3",
           "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1"),
           "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore"}
    env.update(extra or {})
    return env


def _kernel_setup(job, work_dir):
    """``(factory, start_kwargs, description)`` of the job's kernels.

    `factory` makes a new, unstarted kernel manager: sandboxed
    (`grader.course.sandbox_kernel.AsyncSandboxedKernelManager`, which sets
    the kernel's whole environment itself), or, with ``job.sandbox=None``, a
    plain one started in `work_dir` with this process's environment plus
    `kernel_env`.
    """
    env = kernel_env({**_worker_env(job), **job.env})
    if job.sandbox is None:
        from jupyter_client.manager import AsyncKernelManager

        def plain():
            return AsyncKernelManager(kernel_name="python3")

        return (plain, {"env": {**os.environ, **env}, "cwd": str(work_dir)},
                "none (--no-sandbox): kernels ran as this user and could see the course")
    from grader.course.sandbox import SandboxLimits, check_available
    from grader.course.sandbox_kernel import AsyncSandboxedKernelManager

    info = check_available()
    limits = SandboxLimits(**job.sandbox)

    def sandboxed():
        return AsyncSandboxedKernelManager(limits=limits, env=env)

    return sandboxed, {}, str(info)


def _worker_env(job):
    """This worker's share of the machine: its GPU (if any) and TensorFlow threads.

    On a Dask worker the worker's index picks the GPU (one worker per GPU) and
    the machine's cores are shared by the worker's threads; the client's
    `Job.env` (thread counts of the embedded cluster) wins over the latter.
    Without GPUs there is none to pick, and TensorFlow (which the GPU
    environment's `kerasdl.device` loads) is not loaded before the kernel
    starts: the judge loads it while the kernel runs its first cell.
    """
    from grader.course.autograder import job_environment

    slot, threads = 0, 1
    try:
        from distributed import get_worker

        worker = get_worker()
        slot = int(worker.name) if str(worker.name).isdigit() else 0
        threads = max(1, worker.state.nthreads)
    except (ImportError, ValueError, AttributeError):
        pass
    env = job_environment(slot, job.num_gpus, base_env={}) if job.num_gpus else {}
    cores = max(1, (os.cpu_count() or 1) // threads)
    env.setdefault("TF_NUM_INTRAOP_THREADS", str(cores))
    env.setdefault("TF_NUM_INTEROP_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", str(cores))
    return env


def _hard_kill(km):
    """Kill a kernel and everything it started, from any thread."""
    sandbox = getattr(km, "sandbox", None)
    if sandbox is not None:
        sandbox.kill()
        return
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is not None:
        try:
            os.killpg(process.pid, 9)
        except OSError:
            process.kill()


def execute_submission(job):
    """Execute and judge one submission's notebooks; returns a `JobResult` (never raises)."""
    from grader.course import tflog

    tflog.install()  # before anything here imports TensorFlow
    start = time.perf_counter()
    result = JobResult(job.student)
    deadline = None if job.notebook_timeout is None else time.monotonic() + job.notebook_timeout
    work_dir = tempfile.mkdtemp(prefix=f"kerasdl-job-{job.student[:20]}-")
    try:
        try:
            factory, start_kwargs, result.isolation = _kernel_setup(job, work_dir)
        except Exception as error:  # noqa: BLE001 (reported, the class goes on)
            result.error = f"{type(error).__name__}: {error}"
            return result
        _execute_notebooks(job, result, factory, start_kwargs, _JudgeLoader(job.secret),
                           deadline)
        return result
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
        result.seconds = time.perf_counter() - start


class _JudgeLoader:
    """`judge_for(secret)` once, called by the first notebook's executor while its
    kernel runs the first cell (`JudgedExecute`'s `load_judge`); keeps the error."""

    def __init__(self, secret):
        self.secret = secret
        self.called = False
        self.judge = None
        self.error = None

    def __call__(self):
        self.called = True
        try:
            self.judge = judge_for(self.secret)
        except Exception as error:  # noqa: BLE001 (the job reports it)
            self.error = error
            raise
        return self.judge

    def executor_kwargs(self):
        """`JudgedExecute`'s judge argument: the judge once loaded, else this loader."""
        return {"judge": self.judge} if self.called else {"load_judge": self}


def _execute_notebooks(job, result, factory, start_kwargs, loader, deadline):
    import nbformat

    from grader.course.executor import JudgedExecute

    for name, data in job.notebooks.items():
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        for _ in range(EXECUTE_ATTEMPTS):  # a kernel that could not start: once more
            nb = nbformat.reads(text, as_version=4)
            remaining = None if deadline is None else deadline - time.monotonic()
            client = JudgedExecute(nb, km_factory=factory, **loader.executor_kwargs(),
                                   timeout=job.cell_timeout, startup_timeout=STARTUP_TIMEOUT)
            fired, failure = _run_with_deadline(client, remaining, start_kwargs)
            if loader.error is not None:  # its verdicts would be missing, not zero
                error = loader.error
                result.error = f"the judge could not load: {type(error).__name__}: {error}"
                return
            if failure is None:
                break
        if fired:
            result.notebook_timeout = True
            client._mark_not_run()
        # Cells left unexecuted are not zeros: the submission is not graded,
        # with the reason.
        if failure is not None:
            result.error = (f"the notebook {name!r} could not be executed: "
                            f"{type(failure).__name__}: {str(failure)[:300]}")
            return
        result.notebooks[name] = nbformat.writes(nb).encode("utf-8")
        result.verdicts[name] = {str(index): verdict.to_json()
                                 for index, verdict in client.verdicts.items()}
        result.lost_cells[name] = sorted(client.lost)
        result.timed_out_cells[name] = sorted(client.timed_out)


def _run_with_deadline(client, seconds, start_kwargs):
    """Run `client.execute`; at the deadline kill its kernel.

    Returns:
        ``(fired, error)``: whether the deadline fired, and the exception that
        stopped the execution otherwise (nbclient gave up: a kernel that could
        not start or a broken channel), or None.
    """
    fired = threading.Event()
    failure = None
    finished = threading.Event()

    def kill():
        # The flag stops every later cell; the kill stops the one running. A
        # kernel still starting when the deadline passes is killed each second.
        fired.set()
        client.stop_requested = True
        while True:
            if client.km is not None:
                try:
                    _hard_kill(client.km)
                except Exception:  # noqa: BLE001 (already gone)
                    pass
            if finished.wait(1.0):
                return

    timer = None if seconds is None else threading.Timer(max(seconds, 0.0), kill)
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        client.execute(**start_kwargs)
    except Exception as error:  # noqa: BLE001 (reported by the caller)
        if not fired.is_set():
            failure = error
    finally:
        finished.set()
        if timer is not None:
            timer.cancel()
    return fired.is_set(), failure


def result_to_json(result):
    """A `JobResult` as JSON text (notebooks as text)."""
    data = dataclasses.asdict(result)
    data["notebooks"] = {k: v.decode("utf-8") for k, v in result.notebooks.items()}
    return json.dumps(data)

"""Grading on a real Dask cluster: `dask scheduler` and `dask worker` processes on 127.0.0.1.

The processes are this environment's ``dask`` command, started here as
subprocesses (one thread per worker, no dashboard, each worker under its
nanny as ``dask worker`` starts it by default). The tiny course
(`tiny_course`) is graded through ``--scheduler`` and compared with the
embedded cluster's ``--jobs 1`` gradebook (`graded_serial`); a worker is killed
with SIGKILL in the middle of a submission; a worker running other grader
sources is refused.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from tiny_course import ASSIGNMENT, SCRIPTS, SLACK_CELL_TIMEOUT, gradebook_snapshot

from grader import cli
from grader import course as grading
from grader.course.cluster import GradingCluster, run_checked, usable_cores, worker_identity
from grader.course.record import Recorder

# Seconds to wait for the scheduler's file and for the workers to join.
START_TIMEOUT = 120
# Seconds to wait for a process to exit after SIGTERM before SIGKILL.
STOP_TIMEOUT = 20
# Seconds a submission runs on a worker before that worker is killed: the
# sandboxed kernel is up and importing TensorFlow by then, so the kill lands
# in the middle of the submission, well before its end.
KILL_AFTER = 4.0
# Seconds the killer waits for a task to be running before giving up.
KILL_WAIT = 300


class DaskProcesses:
    """A scheduler and `workers` worker processes (context manager).

    Args:
        folder: where the scheduler file and the logs go.
        workers: how many ``dask worker`` processes to start.
        worker_env: extra environment of the workers.

    Attributes:
        address: the scheduler's address (``tcp://127.0.0.1:PORT``).
    """

    def __init__(self, folder, workers=2, worker_env=None):
        self.folder = folder
        self.processes = []
        try:
            self.address = self._start_scheduler(folder / "scheduler.json")
            for index in range(workers):
                self.add_worker(str(index), worker_env)
        except BaseException:
            self.close()
            raise

    def _start_scheduler(self, scheduler_file):
        """Start the scheduler; returns its address once it wrote `scheduler_file`."""
        self._start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
                    "--no-dashboard", "--scheduler-file", str(scheduler_file))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            self._check_alive()
            try:
                return json.loads(scheduler_file.read_text())["address"]
            except (OSError, ValueError):  # not written yet, or half written
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"dask scheduler wrote no {scheduler_file.name} in "
                                   f"{START_TIMEOUT} s:\n{self.log('scheduler')}")
            time.sleep(0.2)

    def add_worker(self, name, env=None):
        """Start one more worker named `name`; returns its `Popen` (the nanny)."""
        return self._start(f"worker-{name}", "worker", self.address, "--nthreads", "1",
                           "--name", name, "--host", "127.0.0.1", "--no-dashboard", env=env)

    def _start(self, label, *args, env=None):
        log = open(self.folder / f"{label}.log", "w")
        process = subprocess.Popen([str(SCRIPTS / "dask"), *args], stdout=log,
                                   stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        log.close()
        self.processes.append((label, process))
        return process

    def _check_alive(self):
        for label, process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"dask {label} exited with {process.returncode}:\n"
                                   f"{self.log(label)}")

    def log(self, label):
        return (self.folder / f"{label}.log").read_text()[-3000:]

    def client(self, workers):
        """A client of the scheduler once `workers` workers have joined."""
        from distributed import Client

        client = Client(self.address, timeout=START_TIMEOUT)
        client.wait_for_workers(workers, timeout=START_TIMEOUT)
        return client

    def close(self):
        for _, process in reversed(self.processes):  # the workers, then the scheduler
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(STOP_TIMEOUT)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


@pytest.fixture
def dask_processes(tmp_path):
    """A scheduler and two workers, up and joined."""
    folder = tmp_path / "dask"
    folder.mkdir()
    with DaskProcesses(folder, workers=2) as processes:
        processes.client(2).close()
        yield processes


def _judges_per_worker(client):
    """``{worker address: judges loaded}``: a worker that graded a submission has one."""
    return client.run(lambda: len(__import__("grader.course.job", fromlist=["_JUDGES"])._JUDGES))


@pytest.mark.slow
def test_scheduler_gives_the_same_gradebook_as_jobs_1(dask_processes, pristine, graded_serial,
                                                      tmp_path, capsys):
    """Does autograde --scheduler on two dask workers write the gradebook of --jobs 1?

    Also: did both workers grade, and do the kernels share the machine's cores?
    """
    course = tmp_path / "course"
    shutil.copytree(pristine, course)
    code = cli.main(["autograde", ASSIGNMENT, "--course", str(course), "--scheduler",
                     dask_processes.address, "--timeout", str(SLACK_CELL_TIMEOUT), "--gpus", "0"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"on scheduler {dask_processes.address} (2 workers)" in captured.err
    assert gradebook_snapshot(course) == gradebook_snapshot(graded_serial)
    with GradingCluster(scheduler=dask_processes.address) as cluster:
        judges = _judges_per_worker(cluster.client)
        share = str(max(1, usable_cores() // 2))  # two one-thread workers on this machine
        assert cluster.kernel_env == {"TF_NUM_INTRAOP_THREADS": share,
                                      "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": share}
    assert sorted(judges.values()) == [1, 1]  # both workers graded submissions


def _kill_a_busy_worker(processes, killed):
    """Wait for a worker to run a submission for `KILL_AFTER` s, then SIGKILL it by PID."""
    client = processes.client(2)
    try:
        deadline = time.monotonic() + KILL_WAIT
        while time.monotonic() < deadline:
            busy = {address: keys for address, keys in client.processing().items() if keys}
            if busy:
                address, keys = sorted(busy.items())[0]
                time.sleep(KILL_AFTER)
                if client.processing().get(address) == keys:
                    pid = client.run(os.getpid, workers=[address])[address]
                    killed.update(address=address, keys=list(keys), pid=pid)
                    os.kill(pid, signal.SIGKILL)
                    return
            time.sleep(0.2)
    finally:
        client.close()


@pytest.mark.slow
def test_worker_killed_mid_submission(dask_processes, pristine, graded_serial, tmp_path,
                                      monkeypatch):
    """With a worker SIGKILLed mid-submission, is every submission recorded once, same scores?"""
    course = tmp_path / "course"
    shutil.copytree(pristine, course)
    students = ["ada", "bob", "cid"]
    recorded = []
    record = Recorder._record

    def counting_record(self, student, result):
        recorded.append(student)
        return record(self, student, result)

    monkeypatch.setattr(Recorder, "_record", counting_record)
    killed = {}
    killer = threading.Thread(target=_kill_a_busy_worker, args=(dask_processes, killed),
                              daemon=True)
    killer.start()
    outcomes = grading.autograde(ASSIGNMENT, course, students=students, jobs=1,
                                 scheduler=dask_processes.address, timeout=SLACK_CELL_TIMEOUT,
                                 num_gpus=0, progress=False)
    killer.join(STOP_TIMEOUT)
    assert killed, "no worker was running a submission long enough to be killed"
    victims = [s for s in students if any(f"-{s}-" in str(key) for key in killed["keys"])]
    assert victims, killed  # the killed worker held these submissions: they ran again
    assert sorted(recorded) == students  # each submission recorded exactly once
    assert [outcome.state for outcome in outcomes] == \
        ["graded", "graded", "graded with errors"]
    serial = gradebook_snapshot(graded_serial)
    assert gradebook_snapshot(course) == {student: serial[student] for student in students}


def test_worker_with_other_sources_is_refused(tmp_path):
    """Is a worker running other grader sources than this machine refused by name?"""
    from grader.course.sandbox_packages import _package_dir

    other = tmp_path / "other"
    for name in ("grader", "kerasdl"):
        shutil.copytree(_package_dir(name), other / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    with open(other / "grader" / "registry.py", "a") as registry:
        registry.write("\n# a worker whose exercise registry differs\n")
    folder = tmp_path / "dask"
    folder.mkdir()
    with DaskProcesses(folder, workers=0) as processes:
        processes.add_worker("odd", env={"PYTHONPATH": str(other)})
        processes.client(1).close()
        with pytest.raises(RuntimeError) as error:
            GradingCluster(scheduler=processes.address)
    text = str(error.value)
    assert text.startswith("1 grading worker(s) run another kerasdl or grader than this machine")
    assert "Install the same version of the project on every worker." in text


def test_run_checked_refuses_a_worker_of_other_sources():
    """Does a task refuse to run where the sources differ from the client's, and run otherwise?"""
    assert run_checked(worker_identity(), pow, 2, 5) == 32
    other = {"kerasdl": "0.0.1", "sources": "0" * 16}
    with pytest.raises(RuntimeError) as error:
        run_checked(other, pow, 2, 5)
    assert str(error.value).startswith(
        "1 grading worker(s) run another kerasdl or grader than this machine (kerasdl 0.0.1, "
        f"sources {'0' * 16}): this process: kerasdl ")


def test_closed_worker_exits_without_the_interpreter_teardown():
    """After `dask_teardown`, does the process exit at once with status 0, its output
    flushed, and the exit handlers registered before it (TensorFlow's among them) skipped?"""
    code = (
        "import atexit, sys\n"
        "atexit.register(print, 'teardown ran')\n"
        "from grader.course import preload\n"
        "print('worker output', end='')\n"
        "preload.dask_teardown()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "worker output"

"""Grading workers on Dask distributed: where the execute jobs run.

`GradingCluster` is a `distributed.Client` on either an embedded
`distributed.LocalCluster` (the default: ``jobs`` worker processes on this
machine, one job at a time each) or an existing cluster (``--scheduler
ADDRESS``: `dask scheduler` / `dask worker` by hand, dask-jobqueue on SLURM,
dask-kubernetes). Each task is one submission (`grader.course.job.
execute_submission`): its notebooks travel to the worker as bytes and come
back as bytes, so workers need no shared filesystem, only this project
installed. Before any grading every worker is asked for its identity
(`worker_identity`: the kerasdl version and a hash of the kerasdl and grader
sources, which fixes the exercise registry); a worker that differs from the
client is refused with a message naming it. A worker that joins later (a
restarted or an added one) is checked by every task it runs (`run_checked`):
a submission sent to a worker that differs is not graded, with that message.

Embedded workers preload `grader.course.preload` (which says when the judge
loads, and makes a closing worker exit at once), and `autograde` starts them
in a thread (`PendingCluster`) while nbgrader loads.

The kernels' TensorFlow threads are shared out once the workers are known
(`GradingCluster.kernel_env`): each machine's usable cores divided by the
worker threads on that machine, the smallest share over all machines, so that
N one-thread workers on N cores do not oversubscribe them.

A worker lost in the middle of a submission is Dask's to handle: the task
runs again on another worker (``distributed.scheduler.allowed-failures``),
and the client records each submission once, when its result arrives.
"""

import collections
import concurrent.futures
import functools
import logging
import os

__all__ = ["GradingCluster", "PendingCluster", "SCHEDULER_ENV", "run_checked", "usable_cores",
           "worker_identity"]

# Environment variable naming the scheduler when --scheduler is not given.
SCHEDULER_ENV = "KERASDL_SCHEDULER"
# The module each embedded worker imports before it joins (its start and end).
PRELOAD = "grader.course.preload"
# Seconds to wait for the scheduler and the first worker.
CONNECT_TIMEOUT = 60


@functools.cache
def worker_identity():
    """What must match between the client and a worker: versions and source hashes.

    Computed once per process: the sources as they were when first hashed (a
    worker's code does not change when its files do, and neither does its
    identity, so a worker is not refused in the middle of a run for an edit
    it has not loaded).
    """
    from importlib.metadata import PackageNotFoundError, version

    from grader.course.sandbox_packages import packages_digest

    try:
        kerasdl_version = version("kerasdl")
    except PackageNotFoundError:
        kerasdl_version = "unknown"
    return {"kerasdl": kerasdl_version, "sources": packages_digest()}


def usable_cores():
    """CPU cores this process may run on (its CPU affinity: a SLURM or cgroup cpuset counts)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _mismatch_message(mine, wrong):
    """The refusal of workers whose identities (``{address: identity}``) differ from `mine`."""
    listed = "; ".join(f"{address}: kerasdl {identity.get('kerasdl')}, sources "
                       f"{identity.get('sources')}" for address, identity in wrong.items())
    return (f"{len(wrong)} grading worker(s) run another kerasdl or grader than this machine "
            f"(kerasdl {mine['kerasdl']}, sources {mine['sources']}): {listed}. "
            "Install the same version of the project on every worker.")


def run_checked(identity, function, *args):
    """Run ``function(*args)`` on this worker if its `worker_identity` is `identity`.

    Args:
        identity: the client's `worker_identity`.
        function: what to run (a grading job).
        *args: its arguments.

    Returns:
        What `function` returns.

    Raises:
        RuntimeError: this worker runs other sources than the client (the
            message of `GradingCluster`'s check, naming this worker).
    """
    mine = worker_identity()
    if mine != identity:
        try:
            from distributed import get_worker

            address = get_worker().address
        except (ImportError, ValueError):
            address = "this process"
        raise RuntimeError(_mismatch_message(identity, {address: mine}))
    return function(*args)


def _has_dashboard():
    """Dask's dashboard needs bokeh; without it there is none."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return False
    return True


class GradingCluster:
    """A Dask client for grading jobs (context manager).

    Args:
        jobs: worker processes of the embedded cluster (ignored with `scheduler`).
        scheduler: address of an existing scheduler, or None for the embedded one.
        worker_env: environment variables of the embedded workers' processes.

    Attributes:
        client: the `distributed.Client`.
        dashboard: the dashboard's address, or None.
        description: "embedded (N workers)" or "scheduler ADDRESS (N workers)".
        kernel_env: TensorFlow and OpenMP thread counts of every kernel
            (``TF_NUM_INTRAOP_THREADS``, ``TF_NUM_INTEROP_THREADS``,
            ``OMP_NUM_THREADS``): the smallest share of a machine's usable
            cores per worker thread on it, over the machines of the workers
            present at the start.

    Raises:
        RuntimeError: a worker's identity differs from the client's, or no
            worker answered.
    """

    def __init__(self, jobs=1, scheduler=None, worker_env=None):
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler:
            self.client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        else:
            self.cluster = LocalCluster(
                n_workers=jobs, threads_per_worker=1, processes=True,
                # A free port: the scheduler serves HTTP (health, and the
                # dashboard with bokeh) even without bokeh; never Dask's 8787,
                # which another cluster on this machine may hold.
                dashboard_address=":0", silence_logs=logging.ERROR,
                env=dict(worker_env or {}), preload=[PRELOAD],
            )  # fmt: skip
            self.client = Client(self.cluster)
        try:
            self.client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
            self._check_workers()
            self.kernel_env = self._kernel_env()
        except BaseException:
            self.close()
            raise
        info = self.client.scheduler_info()
        count = len(info.get("workers", {}))
        self.description = (f"scheduler {scheduler} ({count} workers)" if scheduler
                            else f"embedded ({count} worker processes)")
        self.dashboard = self.client.dashboard_link if _has_dashboard() or scheduler \
            else None

    def _check_workers(self):
        self.identity = worker_identity()
        theirs = self.client.run(worker_identity)
        wrong = {address: identity for address, identity in theirs.items()
                 if identity != self.identity}
        if wrong:
            raise RuntimeError(_mismatch_message(self.identity, wrong))

    def _kernel_env(self):
        workers = self.client.scheduler_info()["workers"]
        cores = self.client.run(usable_cores)
        threads = collections.Counter()
        for info in workers.values():
            threads[info["host"]] += info["nthreads"]
        shares = [max(1, cores[address] // max(1, threads[info["host"]]))
                  for address, info in workers.items() if address in cores]
        share = str(min(shares, default=1))
        return {"TF_NUM_INTRAOP_THREADS": share, "TF_NUM_INTEROP_THREADS": "1",
                "OMP_NUM_THREADS": share}

    def submit(self, function, *args, key):
        """Run `function(*args)` on a worker that matches this machine (`run_checked`).

        Returns:
            Its `distributed.Future`.
        """
        return self.client.submit(run_checked, self.identity, function, *args, key=key,
                                  pure=False)

    def close(self):
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class PendingCluster:
    """A `GradingCluster` being started in a thread.

    `autograde` starts its cluster as soon as it has read the course's
    configuration, so that the workers' start (`grader.course.preload`)
    overlaps nbgrader's import; it waits for them (`wait_started`) before
    anything else runs beside that thread.

    Args:
        *args, **kwargs: those of `GradingCluster`.
    """

    def __init__(self, *args, **kwargs):
        import distributed  # noqa: F401 (imported here: one thread imports it)

        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kerasdl-cluster")
        self._future = pool.submit(GradingCluster, *args, **kwargs)
        pool.shutdown(wait=False)

    def result(self):
        """The started `GradingCluster` (waits for it).

        Raises:
            RuntimeError: as `GradingCluster` does.
        """
        return self._future.result()

    def wait_started(self):
        """Return once the cluster started or failed to (`result` raises then)."""
        concurrent.futures.wait([self._future])

    def close(self):
        """Close the cluster once started; one that failed to start is ignored."""
        try:
            cluster = self._future.result()
        except Exception:  # noqa: BLE001 (reported by `result` to whoever used it)
            return
        cluster.close()


def cores_per_job(jobs):
    """CPU cores each of `jobs` concurrent jobs on this machine may use (at least 1)."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))

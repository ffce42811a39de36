"""Memory and task limits of one sandbox job, with the kernel's cgroups.

Four modes, best first (`detect_resource_mode` picks one):

- ``"cgroup v1"``: root on a cgroup-v1 machine; the job gets its own memory and
  pids cgroups, children of the caller's own ones.
- ``"cgroup v2"``: a writable cgroup-v2 folder of the caller whose
  ``cgroup.subtree_control`` already enables memory and pids (a delegated
  subtree); the job gets a child cgroup there.
- ``"systemd-run"``: cgroup v2 managed by systemd: the job runs in a transient
  scope (``systemd-run [--user] --scope -p MemoryMax=... -p TasksMax=...``).
- ``"rlimits only"``: no cgroup; the sandbox falls back on per-process rlimits
  (weaker: see `grader.course.sandbox`).

Placement happens before the sandboxed program runs: the command line starts
with a shell that writes its own pid into the cgroups and then ``exec``-s the
rest (or with ``systemd-run --scope``, which does the same), so nothing the
program forks can be outside the job's cgroups. `kill_job` ends a job, with
or without cgroups.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

__all__ = [
    "CGROUP_V1", "CGROUP_V2", "RESOURCE_MODES", "RLIMITS_ONLY", "SYSTEMD_RUN", "JobCgroups",
    "detect_resource_mode", "kill_job",
]  # fmt: skip

CGROUP_V1 = "cgroup v1"
CGROUP_V2 = "cgroup v2"
SYSTEMD_RUN = "systemd-run"
RLIMITS_ONLY = "rlimits only"
RESOURCE_MODES = (CGROUP_V1, CGROUP_V2, SYSTEMD_RUN, RLIMITS_ONLY)
# Controllers a job needs.
_CONTROLLERS = ("memory", "pids")
# Shell program that moves itself into the cgroups named by its first $1
# arguments (their cgroup.procs files), then runs the rest of its arguments.
_ENTER = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; '
    'n=$((n - 1)); shift; done; exec "$@"'
)
# Seconds `kill` waits for a job's cgroups to empty before giving up.
KILL_TIMEOUT_S = 10.0
_POLL_S = 0.01


def _mountinfo():
    """(mount root, mount point, fs type, super options) of every mount of this process."""
    mounts = []
    with open("/proc/self/mountinfo") as file:
        for line in file:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(fields) >= 5 and len(tail) >= 3:
                mounts.append((fields[3], fields[4], tail[0], set(tail[2].split(","))))
    return mounts


def _own_cgroups():
    """{controller or "" for v2: path of this process's cgroup} from /proc/self/cgroup."""
    own = {}
    with open("/proc/self/cgroup") as file:
        for line in file:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                own[controller] = path
    return own


def _folder(mount_root, mount_point, path):
    """Folder of cgroup `path` under a mount of the hierarchy rooted at `mount_root`."""
    relative = os.path.relpath(path, mount_root)
    return Path(mount_point) if relative == "." else Path(mount_point, relative)


def _v1_parents():
    """{controller: caller's own v1 cgroup folder} for memory and pids, or None."""
    own, parents = _own_cgroups(), {}
    for root, point, fstype, options in _mountinfo():
        for controller in _CONTROLLERS:
            if fstype == "cgroup" and controller in options and controller in own:
                parents.setdefault(controller, _folder(root, point, own[controller]))
    if set(parents) != set(_CONTROLLERS):
        return None
    if not all(p.is_dir() and os.access(p, os.W_OK) for p in parents.values()):
        return None
    return parents


def _v2_folder():
    """Folder of the caller's own cgroup-v2 cgroup, or None."""
    own = _own_cgroups().get("")
    for root, point, fstype, _ in _mountinfo():
        if fstype == "cgroup2" and own is not None:
            folder = _folder(root, point, own)
            if folder.is_dir():
                return folder
    return None


def _v2_words(path):
    """Words of a cgroup-v2 list file (controllers), or an empty set."""
    try:
        return set(path.read_text().split())
    except OSError:
        return set()


def _systemd_reachable(as_root):
    """Is a systemd manager (the system one for root, the user's one otherwise) running?"""
    if shutil.which("systemd-run") is None or shutil.which("systemctl") is None:
        return False
    if as_root:
        return Path("/run/systemd/system").is_dir()
    runtime = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}"
    return Path(runtime, "systemd", "private").exists()


def detect_resource_mode(as_root):
    """The best mode of `RESOURCE_MODES` usable here (see the module docstring)."""
    if as_root and _v1_parents() is not None:
        return CGROUP_V1
    folder = _v2_folder()
    if folder is None:
        return RLIMITS_ONLY
    # A child of our own cgroup can get memory and pids only if they are already
    # enabled below it (the real root cgroup, or a delegated subtree).
    if set(_CONTROLLERS) <= _v2_words(folder / "cgroup.subtree_control"):
        if os.access(folder, os.W_OK):
            return CGROUP_V2
    mount = next(point for _, point, fstype, _ in _mountinfo() if fstype == "cgroup2")
    if set(_CONTROLLERS) <= _v2_words(Path(mount, "cgroup.controllers")):
        if _systemd_reachable(as_root):
            return SYSTEMD_RUN
    return RLIMITS_ONLY


def _read_counter(path, key):
    """Integer after `key` in a ``key value`` stats file, or None."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return None


class JobCgroups:
    """The cgroup(s) of one sandbox job: created by `prefix`, emptied and removed by `kill`.

    Args:
        mode: one of `RESOURCE_MODES`.
        memory_bytes: memory limit (bytes, swap included where the kernel counts it).
        max_tasks: limit on processes plus threads.
        as_root: whether the caller is root (systemd's system or user manager).
    """

    def __init__(self, mode, memory_bytes, max_tasks, as_root):
        if mode not in RESOURCE_MODES:
            raise ValueError(f"`mode` must be one of {RESOURCE_MODES}. Received: {mode!r}")
        self.mode = mode
        self.memory_bytes = int(memory_bytes)
        self.max_tasks = int(max_tasks)
        self.as_root = as_root
        self.name = f"{JOB_PREFIX}{uuid.uuid4().hex[:12]}"
        self.folders = {}  # {controller, or "" in v2: cgroup folder that exists now}
        self.unit = None  # systemd scope of the last launch
        self.oom_kills = None  # OOM kills counted in the last removed cgroup(s)

    def _create(self):
        """Create the job's cgroup folders with their limits (if not there yet)."""
        if self.folders:
            return
        if self.mode == CGROUP_V1:
            parents = _v1_parents()
            if parents is None:
                raise RuntimeError("the cgroup-v1 memory and pids hierarchies are not writable")
            limits = {
                "memory": [
                    ("memory.limit_in_bytes", self.memory_bytes),
                    ("memory.memsw.limit_in_bytes", self.memory_bytes),
                ],
                "pids": [("pids.max", self.max_tasks)],
            }
            folders = {c: parents[c] / self.name for c in _CONTROLLERS}
        else:
            folders = {"": _v2_folder() / self.name}
            limits = {
                "": [
                    ("memory.max", self.memory_bytes),
                    ("memory.swap.max", 0),
                    ("pids.max", self.max_tasks),
                ]
            }
        for key, folder in folders.items():
            folder.mkdir()
            self.folders[key] = folder
            for file, value in limits[key]:
                if (folder / file).exists():  # memsw/swap files exist only with swap accounting
                    (folder / file).write_text(str(value))

    def prefix(self):
        """Command-line prefix that runs the rest of a command inside the job's cgroups.

        Creates the cgroups first (cgroup modes). Empty in ``"rlimits only"`` mode.
        """
        if self.mode in (CGROUP_V1, CGROUP_V2):
            self._create()
            procs = [str(p / "cgroup.procs") for p in self.paths]
            return ["/bin/sh", "-c", _ENTER, "sandbox-enter", str(len(procs)), *procs]
        if self.mode == SYSTEMD_RUN:
            self.unit = f"{self.name}-{uuid.uuid4().hex[:6]}"
            return [
                "systemd-run", *([] if self.as_root else ["--user"]),
                "--scope", "--quiet", "--collect", f"--unit={self.unit}",
                "-p", f"MemoryMax={self.memory_bytes}", "-p", "MemorySwapMax=0",
                "-p", f"TasksMax={self.max_tasks}", "--",
            ]  # fmt: skip
        return []

    @property
    def paths(self):
        """The job's cgroup folders that exist now (list of `Path`)."""
        return list(self.folders.values())

    def tasks(self):
        """Pids in the job's cgroup folders now (empty list when there are none)."""
        pids = []
        for folder in self.paths:
            try:
                pids += [int(p) for p in (folder / "cgroup.procs").read_text().split()]
            except (OSError, ValueError):
                pass
        return pids

    def kill(self, timeout=KILL_TIMEOUT_S):
        """SIGKILL every task of the job until none is left, then remove its cgroups.

        Idempotent. Raises `RuntimeError` if tasks are still there after `timeout` s.
        """
        if self.mode == SYSTEMD_RUN and self.unit:
            user = [] if self.as_root else ["--user"]
            for verb in (["kill", "--signal=SIGKILL"], ["stop"]):
                subprocess.run(
                    ["systemctl", *user, *verb, f"{self.unit}.scope"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                )  # fmt: skip
            self.unit = None
        if not self.folders:
            return
        if self.mode == CGROUP_V2 and (self.folders[""] / "cgroup.kill").exists():
            (self.folders[""] / "cgroup.kill").write_text("1")  # Linux >= 5.14
        deadline = time.monotonic() + timeout
        while pids := self.tasks():
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"sandbox tasks {pids} survived SIGKILL for {timeout} s")
            time.sleep(_POLL_S)
        memory = self.folders.get("memory") or self.folders[""]
        stats = "memory.oom_control" if self.mode == CGROUP_V1 else "memory.events"
        self.oom_kills = _read_counter(memory / stats, "oom_kill")
        for key, folder in list(self.folders.items()):
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY until the last exiting task is gone
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(_POLL_S)
            del self.folders[key]


def _start_time(pid):
    """Start time of process `pid` (clock ticks since boot), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] in "ZX" else fields[19]


def _children(pid):
    """[(pid, start time)] of the live children of `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as file:
                    fields = file.read().rpartition(")")[2].split()
            except OSError:
                continue
            if fields[1] == str(pid) and fields[0] not in "ZX":
                found.append((int(entry), fields[19]))
    return found


# Name prefix of every job's cgroup and private folder.
JOB_PREFIX = "kerasdl-sandbox-"
# A job's private folder holds this file, locked (flock) while its Sandbox lives.
LOCK_NAME = ".owner.lock"
# An empty job cgroup older than this (seconds) belongs to a job that is gone.
STALE_CGROUP_AGE_S = 600


def hold_lock(job_dir):
    """Lock `job_dir`'s owner file for this process; returns the open descriptor."""
    import fcntl

    fd = os.open(Path(job_dir, LOCK_NAME), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def make_job_dir(base):
    """A new private job folder ``base/kerasdl-sandbox-*``, its owner lock held.

    The folder is made under a hidden name, locked, then renamed: a
    `remove_stale_jobs` of another run never sees it unlocked.

    Returns:
        ``(path, lock descriptor)``.
    """
    hidden = Path(tempfile.mkdtemp(prefix="." + JOB_PREFIX, dir=base))
    fd = hold_lock(hidden)
    path = hidden.with_name(hidden.name[1:])
    os.rename(hidden, path)
    return path, fd


def remove_stale_jobs(base):
    """Remove what jobs of dead processes left: private folders and empty cgroups.

    A folder ``base/kerasdl-sandbox-*`` is stale when nobody holds its owner
    lock (the lock dies with its process, however it died); an empty job
    cgroup older than `STALE_CGROUP_AGE_S` is stale (a live job's cgroup
    holds its processes, and the kernel refuses to remove a cgroup that
    holds any). Returns the number of items removed.
    """
    import fcntl

    removed = 0
    for folder in Path(base).glob(JOB_PREFIX + "*") if base else ():
        try:
            fd = os.open(folder / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue  # not one of ours, or being created
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # its owner lives
        finally:
            os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    parents = list((_v1_parents() or {}).values()) + [p for p in [_v2_folder()] if p]
    for parent in parents:
        for group in parent.glob(JOB_PREFIX + "*"):
            try:
                if time.time() - group.stat().st_mtime > STALE_CGROUP_AGE_S:
                    group.rmdir()
                    removed += 1
            except OSError:
                pass  # busy (a live job) or already gone
    return removed


def kill_job(cgroups, processes, job_dir=None, timeout=KILL_TIMEOUT_S, lock_fd=None):
    """Kill a job: its launched processes, their PID namespaces, then its cgroups.

    Args:
        cgroups: the job's `JobCgroups`.
        processes: list of the `subprocess.Popen` of its outermost processes
            (bwrap); emptied.
        job_dir: folder removed at the end, or None.
        timeout: seconds to wait for everything to be gone.
        lock_fd: the job folder's owner lock (`hold_lock`), closed at the end.

    Raises:
        RuntimeError: something survived SIGKILL for `timeout` s.
    """
    inner = []
    for process in processes:
        if process.poll() is None:
            inner += _children(process.pid)  # bwrap's init: PID 1 of the job's namespace
            process.kill()
    for pid, _ in inner:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for process in processes:
        process.wait(timeout=max(deadline - time.monotonic(), 0.1))
    processes.clear()
    # PID 1 of a namespace finishes exiting only once every process in it is gone.
    while any(_start_time(pid) == start for pid, start in inner):
        if time.monotonic() > deadline:
            raise RuntimeError(f"sandbox processes {inner} survived SIGKILL for {timeout} s")
        time.sleep(0.01)
    cgroups.kill(timeout=max(deadline - time.monotonic(), 0.1))
    if job_dir is not None:
        shutil.rmtree(job_dir, ignore_errors=True)
    if lock_fd is not None:
        try:
            os.close(lock_fd)
        except OSError:
            pass  # closed by an earlier call



"""Sandbox for one autograde job: the student's kernel sees nothing but itself.

A `Sandbox` runs a command under bubblewrap (``bwrap``), with util-linux's
``setpriv`` and ``prlimit`` and the kernel's cgroups; `SandboxedKernelManager`
runs an ipykernel in one, talking to the trusted parent over ZeroMQ's ``ipc``
transport through the job's *channel folder*.

What a sandboxed program gets:

- **User.** Run by root, it is uid/gid 65534 with no capabilities, no
  supplementary groups and ``no_new_privs`` (``setpriv`` inside bwrap). Run by
  an instructor, it keeps the instructor's uid inside a new user namespace
  (``--unshare-user --disable-userns``).
- **Namespaces.** Its own PID, IPC, UTS, network (loopback only: nothing
  outside is reachable, not even 127.0.0.1 of the host) and, when the kernel
  allows it, cgroup namespaces; a new session (no terminal to inject into).
- **Files.** Read-only: ``/usr`` (with ``/bin``, ``/sbin``, ``/lib*``), a few
  files of ``/etc`` (`_ETC_FROM_HOST`, plus a generated passwd, group,
  nsswitch.conf and hosts that list no host user), the Python installation
  (``sys.base_prefix`` and ``sys.prefix`` at their own paths, editable-install
  hooks hidden), the package snapshot (`package_snapshot`, first on
  ``PYTHONPATH``), the Fashion-MNIST folders (``/usr/share/datasets``,
  ``$KERASDL_DATA_DIR``, ``${KERAS_HOME:-~/.keras}/datasets/fashion-mnist``
  at ``~/.keras/...`` inside) and the caller's `read_only_binds`. Writable:
  private size-limited tmpfs at ``/tmp``, ``/dev/shm`` and `WORK_DIR` (HOME
  and cwd, empty at start), and the channel folder (same path as outside). A
  new ``/proc`` and a minimal ``/dev``. Nothing else: not the course, not
  ``/root``, ``/home``, ``/work``, nor another job's folders.
- **Environment.** Cleared, then set explicitly (`Sandbox.environment`).
- **Limits.** `SandboxLimits`: memory and tasks (processes plus threads) per
  job by cgroup; file size, CPU seconds and no core files by rlimit.
- **End.** `Sandbox.kill` leaves no process of the job: it kills the
  outermost process (bwrap's ``--die-with-parent`` then kills its PID
  namespace, which takes every descendant, new sessions and double forks
  included), then every task left in the job's cgroups until they are empty.

What it does not guarantee:

- In ``"rlimits only"`` mode (no usable cgroup) memory is capped per process
  (``RLIMIT_DATA``: a job can exceed it with several processes) and tasks per
  uid (``RLIMIT_NPROC``; run as root, every job is uid 65534 and they share
  the count). ``RLIMIT_CPU`` is per process in every mode.
- Files written into the channel folder are limited only by the job's memory
  limit (``/dev/shm`` pages are charged to the writer's memory cgroup) and by
  the file-size rlimit per file; they stay until `Sandbox.close`.
- No seccomp filter: the whole system-call surface of the kernel is
  reachable, and, run as root, the program may create user namespaces of its
  own. Timing and cache side channels are not addressed.
- The kernel's stdout and stderr (`Sandbox.log_path`, outside the sandbox)
  are capped only by the file-size rlimit.
- Tested here: root on cgroup v1, and a non-root user (uid 65534 with the
  system's Python) in user-namespace mode without cgroups. Untested: the
  cgroup-v2 and systemd-run modes (written from their documentation) and
  NVIDIA device passthrough (no GPU on the test machines).
"""

import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import weakref
from pathlib import Path

from grader.course.sandbox_cgroups import (
    CGROUP_V1,
    CGROUP_V2,
    RLIMITS_ONLY,
    SYSTEMD_RUN,
    JobCgroups,
    make_job_dir,
    kill_job,
    remove_stale_jobs,
)
from grader.course.sandbox_host import (
    USER_DROP,
    USER_NAMESPACE,
    SandboxInfo,
    SandboxUnavailable,
    check_available,
    isolation_args,
    system_args,
)
from grader.course.sandbox_packages import editable_hooks, package_snapshot

__all__ = [
    "CGROUP_V1", "CGROUP_V2", "RLIMITS_ONLY", "SYSTEMD_RUN", "USER_DROP", "USER_NAMESPACE",
    "WORK_DIR", "Sandbox", "SandboxInfo", "SandboxLimits", "SandboxUnavailable",
    "SandboxedKernelManager", "check_available", "package_snapshot", "remove_stale",
]  # fmt: skip

MiB = 1 << 20
GiB = 1 << 30
# HOME and working directory inside the sandbox (a private tmpfs).
WORK_DIR = "/home/student"
# Tasks an ipykernel needs: 13 idle, 23 after Keras training with two TF
# intra-op and inter-op threads; 128 leaves room for tf.data and a few
# subprocesses while refusing a fork bomb.
DEFAULT_MAX_TASKS = 128
# /etc entries Python, TensorFlow and matplotlib read, bound read-only when present.
_ETC_FROM_HOST = ("ld.so.cache", "localtime", "timezone", "fonts", "ssl/certs", "mime.types")
_DATA_DIR_ENV = "KERASDL_DATA_DIR"
_GPU_DEVICES = re.compile(r"nvidia(\d+|ctl|-uvm|-uvm-tools|-modeset)$")
_SETPRIV_FLAGS = ("--clear-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all")


def _check_size(name, value, *, optional=False):
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        expected = "a positive integer or None" if optional else "a positive integer"
        raise ValueError(f"`{name}` must be {expected}. Received: {name}={value!r}")


@dataclasses.dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one sandbox job.

    Attributes:
        memory_bytes: memory of the whole job (bytes; RAM, swap, tmpfs and
            ``/dev/shm`` pages it writes). Default 4 GiB.
        max_tasks: processes plus threads of the whole job. Default 128.
        file_size_bytes: largest file a process may write (``RLIMIT_FSIZE``,
            bytes). Default 256 MiB.
        cpu_seconds: CPU seconds per process (``RLIMIT_CPU``: SIGXCPU then, SIGKILL
            one second later), or None for no limit.
        tmpfs_bytes: size of each of the private ``/tmp``, ``/dev/shm`` and
            `WORK_DIR` (bytes). Default 512 MiB.

    Raises:
        ValueError: a value is not a positive integer (None allowed for `cpu_seconds`).
    """

    memory_bytes: int = 4 * GiB
    max_tasks: int = DEFAULT_MAX_TASKS
    file_size_bytes: int = 256 * MiB
    cpu_seconds: int | None = None
    tmpfs_bytes: int = 512 * MiB

    def __post_init__(self):
        for field in dataclasses.fields(self):
            _check_size(field.name, getattr(self, field.name), optional=field.name == "cpu_seconds")


def _private_base():
    """/dev/shm when usable (memory-backed, charged to the writer), else the temp folder."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


def remove_stale():
    """Remove the folders and cgroups of sandbox jobs whose process died (count removed)."""
    return remove_stale_jobs(_private_base() or tempfile.gettempdir())


def _passwd_files(uid, gid):
    """{name: text} of the /etc files generated for the sandbox (no host users listed)."""
    return {
        "passwd": f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"student:x:{uid}:{gid}:student:{WORK_DIR}:/bin/sh\n",
        "group": f"root:x:0:\nstudent:x:{gid}:\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
        "hosts": "127.0.0.1 localhost\n::1 localhost\n",
    }


def _check_env(env):
    env = dict(env or {})
    for key, value in env.items():
        if not (isinstance(key, str) and key and "=" not in key and isinstance(value, str)):
            raise ValueError(
                f"`env` must map variable names to strings. Received: {key!r}: {value!r}"
            )
    return env


def _check_binds(binds):
    checked = {}
    for inside, outside in dict(binds or {}).items():
        if not (os.path.isabs(str(inside)) and os.path.exists(outside)):
            raise ValueError(
                "`read_only_binds` must map absolute paths inside the sandbox to existing paths "
                f"outside. Received: {inside!r}: {outside!r}"
            )
        checked[str(inside)] = str(Path(outside).resolve())
    return checked


class Sandbox:
    """One autograde job's sandbox: its channel folder, cgroups and command lines.

    Use as a context manager, or call `close` (from a ``finally``). A killed
    sandbox can run commands again (with fresh cgroups and tmpfs).

    Args:
        limits: `SandboxLimits` (defaults when None).
        env: extra environment variables of the sandboxed program
            (``NBGRADER_EXECUTION``, ``TF_NUM_INTRAOP_THREADS``, ...), str -> str.
        read_only_binds: ``{path inside: path outside}`` bound read-only.
        info: `SandboxInfo` from `check_available` (computed when None).
        snapshot: folder made by `package_snapshot` (made when None).

    Attributes:
        channel_dir: `Path` of the job's channel folder, the same inside and
            outside; owned by the sandboxed uid, mode 0700, inside a folder
            only the caller can enter.
        log_path: `Path` of a file outside the sandbox where
            `SandboxedKernelManager` sends the kernel's stdout and stderr.

    Raises:
        SandboxUnavailable: see `check_available`.
        ValueError: bad `env` or `read_only_binds`.
    """

    def __init__(self, limits=None, *, env=None, read_only_binds=None, info=None, snapshot=None):
        if limits is not None and not isinstance(limits, SandboxLimits):
            raise ValueError(f"`limits` must be a SandboxLimits or None. Received: {limits!r}")
        self.limits = limits or SandboxLimits()
        self.env = _check_env(env)
        self.read_only_binds = _check_binds(read_only_binds)
        self.info = info or check_available()
        self.snapshot = Path(snapshot) if snapshot else package_snapshot()
        self._hidden = editable_hooks()
        self._lock = threading.RLock()
        self._processes = []
        self._cgroups = JobCgroups(
            self.info.resource_mode, self.limits.memory_bytes, self.limits.max_tasks,
            self.info.user_mode == USER_DROP,
        )  # fmt: skip
        self.job_dir, lock_fd = make_job_dir(_private_base() or tempfile.gettempdir())
        self._finalizer = weakref.finalize(
            self, kill_job, self._cgroups, self._processes, self.job_dir, lock_fd=lock_fd,
        )
        self.channel_dir = self.job_dir / "channel"
        self.channel_dir.mkdir(mode=0o700)
        if self.info.uid != os.getuid():
            os.chown(self.channel_dir, self.info.uid, self.info.gid)
        (self.job_dir / "etc").mkdir()
        for name, text in _passwd_files(self.info.uid, self.info.gid).items():
            (self.job_dir / "etc" / name).write_text(text)
        self.log_path = self.job_dir / "kernel.log"

    @property
    def cgroups(self):
        """The job's cgroup folders that exist now (list of `Path`; empty without cgroups)."""
        return self._cgroups.paths

    @property
    def oom_kills(self):
        """Processes the OOM killer killed in the job's last cgroups (None if unknown).

        Read when `kill` removes the cgroups.
        """
        return self._cgroups.oom_kills

    def environment(self):
        """The sandboxed program's whole environment (dict str -> str)."""
        env = {
            "PATH": f"{os.path.dirname(sys.executable)}:/usr/local/bin:/usr/bin:/bin",
            "HOME": WORK_DIR, "USER": "student", "LOGNAME": "student", "SHELL": "/bin/sh",
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TMPDIR": "/tmp",
            "PYTHONPATH": str(self.snapshot), "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLCONFIGDIR": f"{WORK_DIR}/.config/matplotlib",
            "IPYTHONDIR": f"{WORK_DIR}/.ipython",
            "JUPYTER_CONFIG_DIR": f"{WORK_DIR}/.jupyter",
            "JUPYTER_DATA_DIR": f"{WORK_DIR}/.local/share/jupyter",
            "JUPYTER_RUNTIME_DIR": f"{WORK_DIR}/.local/share/jupyter/runtime",
            "JUPYTER_PLATFORM_DIRS": "1",
            "XDG_CACHE_HOME": f"{WORK_DIR}/.cache", "XDG_CONFIG_HOME": f"{WORK_DIR}/.config",
        }  # fmt: skip
        data_dir = os.environ.get(_DATA_DIR_ENV)
        if data_dir and os.path.isdir(data_dir):
            env[_DATA_DIR_ENV] = os.path.abspath(data_dir)
        return {**env, **self.env}

    def _filesystem_args(self):
        args, made = system_args(), set()

        def bind(option, source, dest, before=()):
            # bwrap makes missing parents of a mount point mode 0700: make them 0755.
            for parent in reversed(Path(dest).parents[:-1]):
                if str(parent) not in made and not parent.is_relative_to("/usr"):
                    args.extend(["--perms", "0755", "--dir", str(parent)])
                    made.add(str(parent))
            args.extend([*before, option, *([source] if source else []), dest])

        # Private tmpfs first: binds below may land inside them (a venv in /tmp).
        size = str(self.limits.tmpfs_bytes)
        bind("--tmpfs", None, "/tmp", before=["--size", size, "--perms", "1777"])
        bind("--tmpfs", None, WORK_DIR, before=["--size", size, "--perms", "0777"])
        bind("--tmpfs", None, "/dev/shm", before=["--size", size, "--perms", "1777"])
        for device in sorted(os.listdir("/dev")):
            if _GPU_DEVICES.match(device):  # untested: no GPU on the test machines
                bind("--dev-bind", f"/dev/{device}", f"/dev/{device}")
        for name in _ETC_FROM_HOST:
            bind("--ro-bind-try", f"/etc/{name}", f"/etc/{name}")
        for name in _passwd_files(0, 0):
            bind("--ro-bind", str(self.job_dir / "etc" / name), f"/etc/{name}")
        for prefix in dict.fromkeys([sys.base_prefix, sys.prefix]):
            if not Path(prefix).resolve().is_relative_to("/usr"):
                bind("--ro-bind", prefix, prefix)
        for hook in self._hidden:
            bind("--ro-bind", "/dev/null", str(hook))
        bind("--ro-bind", str(self.snapshot), str(self.snapshot))
        data_dir = self.environment().get(_DATA_DIR_ENV)
        if data_dir:
            bind("--ro-bind", data_dir, data_dir)
        keras_home = os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras")
        keras_data = Path(keras_home, "datasets", "fashion-mnist")
        if keras_data.is_dir():
            bind("--ro-bind", str(keras_data), f"{WORK_DIR}/.keras/datasets/fashion-mnist")
        for inside, outside in self.read_only_binds.items():
            bind("--ro-bind", outside, inside)
        bind("--bind", str(self.channel_dir), str(self.channel_dir))
        return args + ["--chdir", WORK_DIR]

    def command(self, argv):
        """Full command line running `argv` in this sandbox (list of str).

        cgroup placement (or ``systemd-run --scope``) -> bwrap -> prlimit ->
        setpriv (as root) -> `argv`. The rlimits are set inside bwrap because
        ``RLIMIT_NPROC`` counts every process of a uid: it must not apply to
        bwrap's own forks. Creates the job's cgroups if they do not exist.

        Raises:
            ValueError: `argv` is not a non-empty list of strings.
            RuntimeError: the sandbox is closed.
        """
        argv = list(argv) if not isinstance(argv, str) else []
        if not argv or not all(isinstance(arg, str) for arg in argv):
            raise ValueError(f"`argv` must be a non-empty list of strings. Received: {argv!r}")
        with self._lock:
            if not self._finalizer.alive:
                raise RuntimeError("this sandbox is closed")
            info, limits = self.info, self.limits
            args = [*self._cgroups.prefix(), info.bwrap]
            args += isolation_args(info.user_mode, info.bwrap_version)
            args += self._filesystem_args()
            for key, value in self.environment().items():
                args += ["--setenv", key, value]
            args += ["--", shutil.which("prlimit"), f"--fsize={limits.file_size_bytes}", "--core=0"]
            if limits.cpu_seconds is not None:
                args.append(f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}")
            if info.resource_mode == RLIMITS_ONLY:
                args += [f"--nproc={limits.max_tasks}", f"--data={limits.memory_bytes}"]
            args.append("--")
            if info.user_mode == USER_DROP:
                ids = [f"--reuid={info.uid}", f"--regid={info.gid}"]
                args += [shutil.which("setpriv"), *ids, *_SETPRIV_FLAGS, "--"]
            return args + argv

    def track(self, process):
        """Make `kill` kill `process` (a `subprocess.Popen` of a `command` line) too."""
        with self._lock:
            self._processes.append(process)

    def popen(self, argv, **popen_kwargs):
        """Start `argv` in the sandbox; `subprocess.Popen` (stdin from /dev/null by default)."""
        popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
        with self._lock:
            process = subprocess.Popen(self.command(argv), **popen_kwargs)
            self.track(process)
        return process

    def run(self, argv, *, timeout=None, input=None, **popen_kwargs):
        """Run `argv` in the sandbox to its end, then `kill` what it left.

        Returns `subprocess.CompletedProcess` (stdout and stderr as bytes by
        default). bwrap exits with 128 + N when the program was killed by signal N.

        Raises:
            subprocess.TimeoutExpired: after `timeout` s (the job is killed first).
        """
        popen_kwargs.setdefault("stdout", subprocess.PIPE)
        popen_kwargs.setdefault("stderr", subprocess.PIPE)
        if input is not None:
            popen_kwargs["stdin"] = subprocess.PIPE
        process = self.popen(argv, **popen_kwargs)
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        finally:
            self.kill()
        return subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)

    def kill(self):
        """Kill every process of the job and remove its cgroups. Idempotent.

        Raises:
            RuntimeError: a task survived SIGKILL for 10 s (it should not happen).
        """
        with self._lock:
            kill_job(self._cgroups, self._processes)

    def close(self):
        """`kill`, then remove the channel folder and the job's files. Idempotent."""
        with self._lock:
            self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def __getattr__(name):
    # The kernel manager imports jupyter_client: only when asked for.
    if name == "SandboxedKernelManager":
        from grader.course.sandbox_kernel import SandboxedKernelManager

        return SandboxedKernelManager
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

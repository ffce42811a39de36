"""The grading sandbox, end to end: hostile programs run under the real bwrap.

Each test runs a small Python program inside a `Sandbox` (or an ipykernel in a
`SandboxedKernelManager` executing a notebook with nbclient) and checks from
outside what it could reach. Needs Linux, bwrap (Debian package
``bubblewrap``) and root (the sandbox then drops to uid 65534); skipped
otherwise, with the reason.
"""

import ast
import errno
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import nbformat
import pytest

import grader
from grader.course.sandbox import (
    CGROUP_V1,
    MiB,
    RLIMITS_ONLY,
    USER_DROP,
    WORK_DIR,
    Sandbox,
    SandboxedKernelManager,
    SandboxLimits,
    SandboxUnavailable,
    check_available,
    package_snapshot,
)

REPO = Path(grader.__file__).resolve().parents[1]
# Seconds a hostile program may run before the test gives up on it.
PROGRAM_TIMEOUT_S = 60
# Seconds to wait for a process to show up in /proc.
APPEAR_TIMEOUT_S = 10
# bwrap's exit status for a program killed by SIGKILL (128 + 9).
KILLED_STATUS = 137


def _sandbox_info():
    """`check_available()`, or the reason the sandbox tests cannot run here."""
    if os.geteuid() != 0:
        return None, "the sandbox tests run as root (the sandbox then drops to uid 65534)"
    try:
        return check_available(), ""
    except SandboxUnavailable as error:
        return None, f"sandbox unavailable: {error}"


INFO, SKIP_REASON = _sandbox_info()
needs_sandbox = pytest.mark.skipif(INFO is None, reason=SKIP_REASON)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    return package_snapshot(cache_dir=tmp_path_factory.mktemp("snapshots"))


@pytest.fixture
def make_sandbox(snapshot):
    """Factory of sandboxes closed at the end of the test."""
    made = []

    def make(limits=None, info=None, **kwargs):
        box = Sandbox(limits, info=info or INFO, snapshot=snapshot, **kwargs)
        made.append(box)
        return box

    yield make
    for box in made:
        box.close()


def run_program(box, code, *args, timeout=PROGRAM_TIMEOUT_S):
    """Run Python `code` in `box`; return (exit status, JSON it printed last or None, stderr)."""
    result = box.run([sys.executable, "-c", textwrap.dedent(code), *args], timeout=timeout)
    lines = result.stdout.decode().strip().splitlines()
    return result.returncode, json.loads(lines[-1]) if lines else None, result.stderr.decode()


def tree_digest(*paths):
    """SHA-256 of the names and contents of every file under `paths`."""
    digest = hashlib.sha256()
    for root in map(Path, paths):
        for path in sorted([root] if root.is_file() else root.rglob("*")):
            digest.update(str(path).encode())
            if path.is_file():
                digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def fake_course(tmp_path):
    """A course folder outside any sandbox: a solution notebook and a gradebook."""
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    (course / "source" / "ps1" / "solution.ipynb").write_text('{"answer": 42}')
    (course / "gradebook.db").write_bytes(b"SQLite format 3\0 grades")
    return course


def _marker_pids(marker):
    """Pids of the processes whose command line holds `marker`."""
    pids = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker in Path(f"/proc/{entry}/cmdline").read_bytes():
                pids.append(int(entry))
        except OSError:
            pass
    return pids


# ---------------------------------------------------------------------------
# Availability and arguments (no sandbox started)


def test_missing_bwrap_raises_naming_the_package(monkeypatch, tmp_path):
    """Without bwrap on PATH, is SandboxUnavailable raised, naming the Debian package?"""
    if not sys.platform.startswith("linux"):
        pytest.skip("the sandbox is Linux-only")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxUnavailable, match=r"Debian package `bubblewrap`"):
        check_available()


@pytest.mark.parametrize(
    "name, value",
    [("memory_bytes", 0), ("max_tasks", -1), ("file_size_bytes", True), ("tmpfs_bytes", "1G"),
     ("cpu_seconds", 0.5)],
)  # fmt: skip
def test_bad_limits_name_the_argument(name, value):
    """Does a bad limit raise a ValueError naming the argument and the value?"""
    with pytest.raises(ValueError, match=rf"`{name}`.*{name}={value!r}"):
        SandboxLimits(**{name: value})


@needs_sandbox
def test_check_available_reports_the_modes():
    """As root on cgroup v1: uid 65534 and cgroup v1; "rlimits only" on request, marked weaker."""
    assert INFO.user_mode == USER_DROP
    assert (INFO.uid, INFO.gid) == (65534, 65534)
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    v1_memory = any(line.split(":")[1] == "memory" for line in lines)
    if v1_memory:
        assert INFO.resource_mode == CGROUP_V1
    assert not INFO.weaker and INFO.resource_mode in str(INFO)
    weaker = check_available(RLIMITS_ONLY)
    assert weaker.weaker and "weaker" in str(weaker)
    other = "cgroup v2" if INFO.resource_mode != "cgroup v2" else "systemd-run"
    with pytest.raises(SandboxUnavailable, match="not available here"):
        check_available(other)


# ---------------------------------------------------------------------------
# Hostile programs


@needs_sandbox
def test_reads_find_nothing_outside(make_sandbox, snapshot, fake_course):
    """Are the course, the repository, /root, /home and /work invisible inside?"""
    root_file = next((p for p in Path("/root").iterdir() if p.is_file()), None)
    targets = [
        fake_course / "source" / "ps1" / "solution.ipynb",
        fake_course / "gradebook.db",
        Path(__file__),  # this test file, in the repository
        REPO / "pyproject.toml",
        Path("/etc/shadow"),
        *([root_file] if root_file else []),
    ]
    assert all(path.exists() for path in targets)
    code = """
        import json, os, sys
        found = {}
        for path in sys.argv[1:]:
            try:
                found[path] = "read " + repr(open(path, "rb").read(20))
            except OSError as error:
                found[path] = type(error).__name__
        listing = {d: sorted(os.listdir(d)) if os.path.isdir(d) else None
                   for d in ("/root", "/home", "/work", "/tmp", os.path.dirname(sys.argv[1]))}
        print(json.dumps({"found": found, "listing": listing}))
    """
    status, seen, stderr = run_program(make_sandbox(), code, *map(str, targets))
    assert status == 0, stderr
    assert set(seen["found"].values()) <= {"FileNotFoundError", "PermissionError"}, seen
    listing = seen["listing"]
    # Inside, /root, /work and /tmp hold at most the folders leading to bound paths
    # (Python under /root/.pyenv, the venv inside the repository, the snapshot).
    bound = {part for path in (sys.base_prefix, sys.prefix, snapshot) for part in Path(path).parts}
    for folder in ("/root", "/work", "/tmp"):
        assert set(listing[folder] or []) <= bound, (folder, listing[folder])
    assert listing["/home"] == ["student"]
    assert listing[str(targets[0].parent)] is None


@needs_sandbox
def test_packages_resolve_to_the_snapshot(make_sandbox, snapshot):
    """Do kerasdl and grader come from the snapshot, with the editable finder unreachable?"""
    code = """
        import importlib.util, json, os, sys
        print(json.dumps({
            "origins": [importlib.util.find_spec(n).origin for n in ("kerasdl", "grader")],
            "finders": [repr(f) for f in sys.meta_path],
            "sources_visible": [os.path.exists(path) for path in sys.argv[1:]],
        }))
    """
    sources = [REPO / "kerasdl" / "__init__.py", REPO / "grader" / "__init__.py"]
    status, seen, stderr = run_program(make_sandbox(), code, *map(str, sources))
    assert status == 0, stderr
    assert all(origin.startswith(str(snapshot) + "/") for origin in seen["origins"])
    assert not any("editable" in finder.lower() for finder in seen["finders"])
    assert seen["sources_visible"] == [False, False]


@needs_sandbox
def test_writes_fail_and_change_nothing(make_sandbox, snapshot, fake_course):
    """Do writes into the venv, the snapshot, /usr and the course fail, leaving them unchanged?"""
    site_packages = Path(sysconfig.get_paths()["purelib"])
    existing = [
        site_packages / "nbformat" / "__init__.py",
        snapshot / "grader" / "__init__.py",
        Path("/usr/bin/env"),
        fake_course / "gradebook.db",
    ]
    new = [site_packages / "evil.pth", snapshot / "kerasdl" / "evil.py", Path("/usr/lib/evil")]
    watched = [*existing, site_packages, snapshot, fake_course]
    before = [tree_digest(p) if p.is_file() else sorted(os.listdir(p)) for p in watched]
    before_snapshot = tree_digest(snapshot)
    code = """
        import json, sys
        outcome = {}
        for path in sys.argv[1:]:
            try:
                with open(path, "ab") as file:
                    file.write(b"import os; os.system('rm -rf /')\\n")
                outcome[path] = "written"
            except OSError as error:
                outcome[path] = type(error).__name__
        print(json.dumps(outcome))
    """
    status, outcome, stderr = run_program(make_sandbox(), code, *map(str, existing + new))
    assert status == 0, stderr
    assert "written" not in outcome.values(), outcome
    after = [tree_digest(p) if p.is_file() else sorted(os.listdir(p)) for p in watched]
    assert after == before and tree_digest(snapshot) == before_snapshot


@needs_sandbox
def test_program_is_unprivileged(make_sandbox):
    """As root, is the program uid 65534 with no capabilities and no_new_privs?"""
    code = """
        import json, os, signal, sys
        status = dict(line.split(":\\t") for line in open("/proc/self/status").read().splitlines()
                      if ":\\t" in line)
        caps = {k: status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
        open(os.path.join(os.environ["CHANNEL"], "owned"), "w").close()
        try:
            os.kill(int(sys.argv[1]), signal.SIGKILL)
            kill_parent = "killed"
        except OSError as error:
            kill_parent = type(error).__name__
        print(json.dumps({"ids": [os.getuid(), os.geteuid(), os.getgid()], "groups": os.getgroups(),
                          "caps": caps, "nnp": status["NoNewPrivs"].strip(),
                          "pids": [int(p) for p in os.listdir("/proc") if p.isdigit()],
                          "kill_parent": kill_parent}))
    """
    box = make_sandbox()
    box.env["CHANNEL"] = str(box.channel_dir)
    status, seen, stderr = run_program(box, code, str(os.getpid()))
    assert status == 0, stderr
    assert seen["ids"] == [65534, 65534, 65534] and seen["groups"] in ([], [65534])
    assert set(seen["caps"].values()) == {"0000000000000000"} and seen["nnp"] == "1"
    assert (box.channel_dir / "owned").stat().st_uid == 65534
    # Its own PID namespace: bwrap's init (1) and itself (2); the grader cannot be signalled.
    assert sorted(seen["pids"]) == [1, 2] and seen["kill_parent"] == "ProcessLookupError"


@needs_sandbox
def test_no_connection_to_the_host_loopback(make_sandbox):
    """Does a TCP connect to a listener on the host's 127.0.0.1 fail?"""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(0.5)
        code = """
            import json, socket, sys
            try:
                socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
                print(json.dumps("connected"))
            except OSError as error:
                print(json.dumps(type(error).__name__))
        """
        status, seen, stderr = run_program(make_sandbox(), code, str(listener.getsockname()[1]))
        assert status == 0, stderr
        assert seen == "ConnectionRefusedError"
        with pytest.raises(TimeoutError):
            listener.accept()


@needs_sandbox
def test_memory_hog_is_killed_alone(make_sandbox):
    """Is 2 GiB under a 512 MiB limit killed while a concurrent sandbox finishes its work?"""
    hog_box = make_sandbox(SandboxLimits(memory_bytes=512 * MiB))
    calm_box = make_sandbox(SandboxLimits(memory_bytes=512 * MiB))
    hog = hog_box.popen([sys.executable, "-c", "x = b'1' * (2 << 30); print('survived')"],
                        stdout=subprocess.PIPE)  # fmt: skip
    calm = calm_box.popen(
        [sys.executable, "-c", "import time; x = b'1' * (64 << 20); time.sleep(1); print('ok')"],
        stdout=subprocess.PIPE,
    )
    hog_out, _ = hog.communicate(timeout=PROGRAM_TIMEOUT_S)
    calm_out, _ = calm.communicate(timeout=PROGRAM_TIMEOUT_S)
    hog_box.kill()
    assert hog.returncode == KILLED_STATUS and hog_out == b""
    assert calm.returncode == 0 and calm_out == b"ok\n"
    if INFO.resource_mode == CGROUP_V1:
        assert hog_box.oom_kills >= 1


@needs_sandbox
def test_memory_hog_without_cgroups_gets_memory_error(make_sandbox):
    """In "rlimits only" mode, does RLIMIT_DATA refuse 2 GiB under a 512 MiB limit?"""
    box = make_sandbox(SandboxLimits(memory_bytes=512 * MiB), info=check_available(RLIMITS_ONLY))
    code = """
        import json
        try:
            x = b"1" * (2 << 30)
            print(json.dumps("survived"))
        except MemoryError:
            print(json.dumps("MemoryError"))
    """
    status, seen, stderr = run_program(box, code)
    assert status == 0, stderr
    assert seen == "MemoryError"


@needs_sandbox
@pytest.mark.parametrize("mode", ["best", RLIMITS_ONLY])
def test_200_processes_are_refused(make_sandbox, mode):
    """Is the 200th process refused (cgroup pids limit, or RLIMIT_NPROC without cgroups)?"""
    info = INFO if mode == "best" else check_available(RLIMITS_ONLY)
    box = make_sandbox(SandboxLimits(max_tasks=32), info=info)
    code = """
        import json, os, time
        started, error = 0, None
        for _ in range(200):
            try:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                started += 1
            except OSError as exc:
                error = exc.errno
                break
        print(json.dumps({"started": started, "errno": error}))
    """
    status, seen, stderr = run_program(box, code)
    assert status == 0, stderr
    assert seen["errno"] == errno.EAGAIN and seen["started"] < 32


@needs_sandbox
def test_kill_ends_a_double_forked_new_session(make_sandbox):
    """Is a process started with setsid and a double fork gone after `kill()`?"""
    marker = f"marker-{uuid.uuid4().hex}"
    code = """
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(300)",
                                          sys.argv[1]])
            os._exit(0)
        time.sleep(300)
    """
    box = make_sandbox()
    box.popen([sys.executable, "-c", textwrap.dedent(code), marker])
    escaped = b"time.sleep(300)\0" + marker.encode()  # the grandchild's command line only
    deadline = time.monotonic() + APPEAR_TIMEOUT_S
    while not (pids := _marker_pids(escaped)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(pids) == 1, "the escaping process never started"
    assert Path(f"/proc/{pids[0]}").stat().st_uid == 65534
    assert os.getsid(pids[0]) not in (os.getsid(0), box._processes[0].pid)
    box.kill()
    assert _marker_pids(marker.encode()) == [] and box.cgroups == []


@needs_sandbox
def test_file_size_limit(make_sandbox):
    """Is a file over `file_size_bytes` refused (EFBIG) while a smaller one is written?"""
    box = make_sandbox(SandboxLimits(file_size_bytes=1 * MiB))
    code = """
        import json
        outcome = {}
        for name, size in (("small", 512 << 10), ("big", 2 << 20)):
            try:
                with open(f"/tmp/{name}", "wb") as file:
                    file.write(b"x" * size)
                outcome[name] = "written"
            except OSError as error:
                outcome[name] = error.errno
        print(json.dumps(outcome))
    """
    status, seen, stderr = run_program(box, code)
    assert status == 0, stderr
    assert seen == {"small": "written", "big": errno.EFBIG}


@needs_sandbox
def test_cpu_time_limit(make_sandbox):
    """Is a busy loop stopped by SIGXCPU after `cpu_seconds`?"""
    box = make_sandbox(SandboxLimits(cpu_seconds=1))
    start = time.monotonic()
    status, seen, stderr = run_program(box, "while True: pass")
    assert status == 128 + signal.SIGXCPU and seen is None
    assert time.monotonic() - start < PROGRAM_TIMEOUT_S


@needs_sandbox
def test_other_jobs_channel_is_invisible(make_sandbox):
    """Can a job read another job's connection file? Is the channel folder private outside?"""
    other, box = make_sandbox(), make_sandbox()
    secret = other.channel_dir / "kernel.json"
    secret.write_text('{"key": "secret"}')
    code = """
        import json, os, sys
        try:
            outcome = open(sys.argv[1]).read()
        except OSError as error:
            outcome = type(error).__name__
        print(json.dumps({"read": outcome, "shm": os.listdir("/dev/shm")}))
    """
    status, seen, stderr = run_program(box, code, str(secret))
    assert status == 0, stderr
    assert seen["read"] == "FileNotFoundError"
    assert seen["shm"] in ([], [box.job_dir.name])
    assert box.job_dir.stat().st_mode & 0o777 == 0o700
    assert box.channel_dir.stat().st_mode & 0o777 == 0o700
    assert box.channel_dir.stat().st_uid == INFO.uid


@needs_sandbox
def test_close_removes_everything(make_sandbox):
    """After `close()`: no channel folder, no cgroup; a second `close()` is harmless."""
    box = make_sandbox()
    box.popen([sys.executable, "-c", "import time; time.sleep(300)"])
    cgroups = box.cgroups
    assert all(path.is_dir() for path in cgroups) and (INFO.weaker or cgroups)
    box.close()
    box.close()
    assert not box.job_dir.exists() and not any(path.exists() for path in cgroups)
    with pytest.raises(RuntimeError, match="closed"):
        box.command(["true"])


# Run by an unprivileged user with the system's Python: a sandbox in user-namespace
# mode runs HOSTILE, which prints what it could do.
USER_NAMESPACE_PROGRAM = '''
import json, sys
from grader.course.sandbox import Sandbox, SandboxLimits, check_available

HOSTILE = """
import ctypes, json, os, sys, time
status = dict(l.split(":\\t") for l in open("/proc/self/status").read().splitlines() if ":\\t" in l)
try:
    open(sys.argv[1]).read()
    read = "read"
except OSError as error:
    read = type(error).__name__
libc = ctypes.CDLL(None, use_errno=True)
nested = "created" if libc.unshare(0x10000000) == 0 else ctypes.get_errno()  # CLONE_NEWUSER
started = 0
for _ in range(200):
    try:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        started += 1
    except OSError:
        break
print(json.dumps({"uid": os.getuid(), "caps": status["CapEff"].strip(), "read": read,
                  "nested_userns": nested, "started": started}))
"""
info = check_available()
with Sandbox(SandboxLimits(max_tasks=32)) as box:
    result = box.run([sys.executable, "-c", HOSTILE, sys.argv[1]], timeout=60)
print(json.dumps({"user_mode": info.user_mode, "stdout": result.stdout.decode(),
                  "stderr": result.stderr.decode()[-2000:]}))
'''


@needs_sandbox
def test_user_namespace_mode_of_a_non_root_user():
    """Run by a non-root user (uid 65534, with the system's Python), is the sandbox as tight?"""
    system_python = Path("/usr/bin/python3")
    if not system_python.exists():
        pytest.skip("needs the system's /usr/bin/python3 (the venv's Python is under /root)")
    with tempfile.TemporaryDirectory(prefix="kerasdl-userns-test-") as folder:
        folder = Path(folder)  # pytest's tmp_path is not reachable by uid 65534
        for name in ("kerasdl", "grader"):
            shutil.copytree(
                REPO / name, folder / "src" / name, ignore=shutil.ignore_patterns("__pycache__")
            )
        (folder / "home").mkdir()
        secret = folder / "home" / "secret"
        secret.write_text("grades")
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, 65534, 65534)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(folder / "home"),
            "PYTHONPATH": str(folder / "src"),
        }
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
        result = subprocess.run(
            [*drop, str(system_python), "-c", USER_NAMESPACE_PROGRAM, str(secret)],
            env=env, capture_output=True, timeout=PROGRAM_TIMEOUT_S, cwd=folder,
        )  # fmt: skip
    if b"SandboxUnavailable" in result.stderr:
        pytest.skip(f"no unprivileged user namespaces here: {result.stderr.decode()[-300:]}")
    assert result.returncode == 0, result.stderr.decode()
    seen = json.loads(result.stdout)
    assert seen["user_mode"] == "own uid in a user namespace"
    hostile = json.loads(seen["stdout"] or "null")
    assert hostile is not None, seen["stderr"]
    assert hostile["uid"] == 65534 and hostile["caps"] == "0000000000000000"
    assert hostile["read"] == "FileNotFoundError"
    assert hostile["nested_userns"] in (errno.ENOSPC, errno.EPERM)
    assert hostile["started"] < 32


# ---------------------------------------------------------------------------
# The kernel manager with nbclient


HOSTILE_CELLS = [
    "import os\nprint(os.getuid(), os.getcwd() == os.environ['HOME'])",
    "open({repo!r}).read()",
    "sorted(os.listdir(os.path.dirname({connection!r})))",
    "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=2)",
    "os.write(2, b'to the log\\n')",
    "6 * 7",
]


@needs_sandbox
def test_kernel_manager_runs_a_notebook_sandboxed(snapshot):
    """Does nbclient execute a notebook in a sandboxed kernel that leaves nothing behind?"""
    from nbclient import NotebookClient

    box = Sandbox(info=INFO, snapshot=snapshot, env={"NBGRADER_EXECUTION": "autograde"})
    km = SandboxedKernelManager(box)
    connection = km.connection_file
    cells = [c.format(repo=str(REPO / "README.md"), connection=connection) for c in HOSTILE_CELLS]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    try:
        NotebookClient(nb, km=km, timeout=PROGRAM_TIMEOUT_S, allow_errors=True).execute()
        assert _marker_pids(connection.encode()), "no kernel process"
    finally:
        km.shutdown_kernel(now=True)
    outputs = [cell.outputs[0] for cell in nb.cells]
    assert outputs[0]["text"] == f"{INFO.uid} True\n"
    assert outputs[1]["ename"] == "FileNotFoundError"
    listing = ast.literal_eval(outputs[2]["data"]["text/plain"])  # the repr of a list
    assert listing == ["kernel-1", "kernel-2", "kernel-3", "kernel-4", "kernel-5", "kernel.json"]
    assert outputs[3]["ename"] == "ConnectionRefusedError"
    assert outputs[5]["data"]["text/plain"] == "42"
    assert b"to the log\n" in box.log_path.read_bytes()
    assert _marker_pids(connection.encode()) == [] and box.cgroups == []
    assert box.channel_dir.exists()  # the manager does not own this sandbox
    box.close()
    assert not box.job_dir.exists()


@needs_sandbox
def test_restarted_and_dead_kernels_leave_nothing(snapshot):
    """Restart: the old kernel is gone, the new one works. A dead kernel is cleaned up."""
    km = SandboxedKernelManager(Sandbox(info=INFO, snapshot=snapshot), owns_sandbox=True)
    job_dir = km.sandbox.job_dir
    try:
        km.start_kernel()
        first = km.provisioner.pid
        km.restart_kernel(now=True)
        assert not Path(f"/proc/{first}").exists() and km.is_alive()
        client = km.client()
        client.start_channels()
        client.wait_for_ready(timeout=PROGRAM_TIMEOUT_S)
        reply = client.execute_interactive("6 * 7", timeout=PROGRAM_TIMEOUT_S, output_hook=len)
        assert reply["content"]["status"] == "ok"
        client.execute("import os; os.kill(os.getpid(), 9)")
        deadline = time.monotonic() + APPEAR_TIMEOUT_S
        while km.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not km.is_alive()
        client.stop_channels()
    finally:
        km.shutdown_kernel(now=True)
    assert _marker_pids(km.connection_file.encode()) == []
    assert not job_dir.exists() and km.sandbox.cgroups == []


@needs_sandbox
@pytest.mark.slow
def test_tensorflow_kernel_trains_within_the_default_limits(snapshot):
    """Does Keras train in a sandboxed kernel with the default limits, importing the snapshot?"""
    from nbclient import NotebookClient

    env = {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "2",
           "TF_CPP_MIN_LOG_LEVEL": "2", "NBGRADER_EXECUTION": "autograde"}  # fmt: skip
    km = SandboxedKernelManager(Sandbox(info=INFO, snapshot=snapshot, env=env))
    source = """
        import numpy as np, keras, kerasdl, grader
        keras.utils.set_random_seed(0)
        X = np.random.default_rng(0).random((256, 28, 28, 1), dtype=np.float32)
        y = np.arange(256) % 10
        net = keras.Sequential([keras.layers.Conv2D(8, 3, activation="relu"),
                                keras.layers.Flatten(), keras.layers.Dense(10)])
        net.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = net.fit(X, y, epochs=2, batch_size=32, verbose=0)
        print(kerasdl.__file__, grader.__file__, np.isfinite(history.history["loss"]).all())
    """
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(source))])
    try:
        NotebookClient(nb, km=km, timeout=300).execute()
        counters = [p / "pids.current" for p in km.sandbox.cgroups if (p / "pids.current").exists()]
        tasks = int(counters[0].read_text()) if counters else None
    finally:
        km.shutdown_kernel(now=True)
    kerasdl_file, grader_file, finite = nb.cells[0].outputs[-1]["text"].split()
    assert kerasdl_file.startswith(str(snapshot)) and grader_file.startswith(str(snapshot))
    assert finite == "True"
    if tasks is not None:
        assert tasks < SandboxLimits().max_tasks
    print(f"tasks in the job after training: {tasks}")


@needs_sandbox
def test_remove_stale_takes_only_what_dead_owners_left(make_sandbox, snapshot, tmp_path):
    from grader.course.sandbox import remove_stale

    live = make_sandbox()
    # A process that makes a sandbox job and is killed before it can clean up.
    script = ("import os, sys; from grader.course.sandbox import Sandbox; "
              f"box = Sandbox(snapshot={str(snapshot)!r}); print(box.job_dir, flush=True); "
              "os.kill(os.getpid(), 9)")
    orphan = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=REPO, timeout=PROGRAM_TIMEOUT_S)
    assert orphan.returncode == -signal.SIGKILL
    orphan_dir = Path(orphan.stdout.strip())
    assert orphan_dir.is_dir()
    assert remove_stale() >= 1
    assert not orphan_dir.exists()
    assert live.job_dir.is_dir() and live.channel_dir.is_dir()


def test_a_job_folder_appears_only_with_its_owner_lock_held(tmp_path):
    """Another run's remove_stale never finds a new job folder unlocked (it is locked,
    then renamed into view), and takes it once its owner is gone."""
    import fcntl

    from grader.course.sandbox_cgroups import (
        JOB_PREFIX, LOCK_NAME, make_job_dir, remove_stale_jobs,
    )

    job_dir, fd = make_job_dir(tmp_path)
    assert job_dir.parent == tmp_path and job_dir.name.startswith(JOB_PREFIX)
    assert [p.name for p in tmp_path.iterdir()] == [job_dir.name]  # no hidden leftover
    other = os.open(job_dir / LOCK_NAME, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(other)
    remove_stale_jobs(tmp_path)  # (the count may include other runs' empty cgroups)
    assert job_dir.is_dir()
    os.close(fd)  # the owner is gone
    assert remove_stale_jobs(tmp_path) >= 1 and not job_dir.exists()

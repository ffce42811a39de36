"""What this machine offers the grading sandbox: `check_available` and `SandboxInfo`.

Which user the sandboxed program runs as (root drops to uid 65534 with
``setpriv``; anyone else keeps their uid in a user namespace), which resource
control is used (`grader.course.sandbox_cgroups`), and the bwrap arguments
shared by every sandbox (namespaces, read-only system folders).
"""

import dataclasses
import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from grader.course.sandbox_cgroups import RESOURCE_MODES, RLIMITS_ONLY, detect_resource_mode

__all__ = [
    "NOBODY", "USER_DROP", "USER_NAMESPACE", "SandboxInfo", "SandboxUnavailable",
    "check_available", "isolation_args", "system_args",
]  # fmt: skip

# User modes of `SandboxInfo.user_mode`.
USER_DROP = "root dropping to uid 65534"
USER_NAMESPACE = "own uid in a user namespace"
NOBODY = 65534
# Top-level system folders of the host, bound read-only (or re-created as symlinks).
_SYSTEM_TOP = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot be made here; the message names what to install or enable."""


@dataclasses.dataclass(frozen=True)
class SandboxInfo:
    """How sandboxes are made on this machine (`check_available`).

    Attributes:
        user_mode: `USER_DROP` (run as root) or `USER_NAMESPACE`.
        uid, gid: ids the sandboxed program has, as seen from outside.
        resource_mode: one of ``"cgroup v1"``, ``"cgroup v2"``, ``"systemd-run"``,
            ``"rlimits only"`` (the last is weaker: limits per process or per user).
        bwrap: path of the bwrap executable.
        bwrap_version: its version, e.g. ``(0, 8, 0)``.
    """

    user_mode: str
    uid: int
    gid: int
    resource_mode: str
    bwrap: str
    bwrap_version: tuple

    @property
    def weaker(self):
        """True when memory and task limits are not per job (no cgroup)."""
        return self.resource_mode == RLIMITS_ONLY

    def __str__(self):
        weaker = " (weaker: no cgroup, limits per process)" if self.weaker else ""
        return f"bubblewrap sandbox, {self.user_mode}, limits by {self.resource_mode}{weaker}"


def system_args():
    """bwrap arguments binding the read-only system folders of the host."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in _SYSTEM_TOP:
        path = Path("/", name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args + ["--proc", "/proc", "--dev", "/dev"]


def isolation_args(user_mode, bwrap_version):
    """bwrap arguments for the namespaces, session, parent death and environment."""
    args = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]
    if user_mode == USER_NAMESPACE:
        args += ["--unshare-user"] + (["--disable-userns"] if bwrap_version >= (0, 8) else [])
    return args


@functools.lru_cache(maxsize=8)
def _probe(bwrap, user_mode):
    """(version, error message or "") of running `true` in a minimal sandbox."""
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10)
        version = tuple(int(x) for x in re.findall(r"\d+", out.stdout)[:3])
        command = [bwrap, *isolation_args(user_mode, version), *system_args(), "true"]
        run = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as error:
        return (), str(error)
    if run.returncode:
        return version, run.stderr.strip() or f"exit status {run.returncode}"
    return version, ""


def check_available(resource_mode=None):
    """How sandboxes are made here, or why they cannot be.

    Fast (two short bwrap runs, cached; no TensorFlow import).

    Args:
        resource_mode: force a mode of ``RESOURCE_MODES`` (e.g. ``"rlimits only"``);
            None picks the best one available.

    Returns:
        `SandboxInfo`.

    Raises:
        SandboxUnavailable: not Linux, bwrap or util-linux missing, namespaces
            not allowed, or `resource_mode` not available here; the message
            says what to install or enable.
        ValueError: `resource_mode` is not one of the modes.
    """
    if resource_mode is not None and resource_mode not in RESOURCE_MODES:
        raise ValueError(
            f"`resource_mode` must be one of {RESOURCE_MODES} or None. Received: {resource_mode!r}"
        )
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(
            f"the grading sandbox needs Linux (namespaces, cgroups); this is {sys.platform}"
        )
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(
            "bubblewrap is not installed (no `bwrap` on PATH): install the Debian package "
            "`bubblewrap` (apt-get install bubblewrap; `make test` does it as root)"
        )
    as_root = os.geteuid() == 0
    user_mode = USER_DROP if as_root else USER_NAMESPACE
    for tool in ("prlimit", "setpriv") if as_root else ("prlimit",):
        if shutil.which(tool) is None:
            raise SandboxUnavailable(f"`{tool}` is missing: install the Debian package util-linux")
    version, error = _probe(bwrap, user_mode)
    if error:
        hint = (
            "unprivileged user namespaces must be enabled (sysctl"
            " kernel.unprivileged_userns_clone=1 and user.max_user_namespaces > 0;"
            " on Ubuntu, an AppArmor profile allowing bwrap)"
            if not as_root
            else "root must be allowed to create namespaces (in a container: CAP_SYS_ADMIN)"
        )
        raise SandboxUnavailable(f"bubblewrap cannot create a sandbox here ({error}): {hint}")
    detected = detect_resource_mode(as_root)
    if resource_mode not in (None, detected, RLIMITS_ONLY):
        raise SandboxUnavailable(
            f"resource mode {resource_mode!r} is not available here (detected {detected!r})"
        )
    uid, gid = (NOBODY, NOBODY) if as_root else (os.getuid(), os.getgid())
    return SandboxInfo(user_mode, uid, gid, resource_mode or detected, bwrap, version)



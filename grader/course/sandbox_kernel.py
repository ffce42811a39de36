"""A jupyter_client kernel manager whose ipykernel runs in a `Sandbox`.

    km = SandboxedKernelManager(limits=SandboxLimits(memory_bytes=2 * GiB))
    try:
        NotebookClient(nb, km=km, timeout=600).execute()
    finally:
        km.shutdown_kernel(now=True)   # kills the job, removes its channel folder

The kernel uses ZeroMQ's ``ipc`` transport: its sockets and connection file
live in the sandbox's channel folder, which is bound into the sandbox at the
same path. Hooks (jupyter_client 8): `format_kernel_cmd` wraps the kernel's
command line in `Sandbox.command` (the local provisioner launches it as
usual, without ``preexec_fn``); `write_connection_file` hands the file to the
sandboxed uid; killing and cleaning up the kernel kill the whole job; a
restart runs the new kernel in the same channel folder with fresh cgroups and
tmpfs. Interrupts are sent as ``interrupt_request`` messages (a signal to the
outermost process would not reach the kernel's new session).
"""

import os
import subprocess
import sys

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager, KernelManager
from jupyter_core.utils import run_sync

from grader.course.sandbox import Sandbox

__all__ = ["AsyncSandboxedKernelManager", "SandboxedKernelManager"]


class _SandboxedKernel:
    """The sandboxing of `SandboxedKernelManager` and `AsyncSandboxedKernelManager`.

    Args:
        sandbox: the `Sandbox` to run in; None makes one from `limits` and `env`.
        owns_sandbox: close the sandbox (channel folder included) at the final
            shutdown; by default, only a sandbox made here.
        limits: `SandboxLimits` of the sandbox made here.
        env: extra environment of the kernel (str -> str), e.g.
            ``{"NBGRADER_EXECUTION": "autograde"}``; the parent's environment
            never reaches the kernel.
        **kwargs: traits of `KernelManager` (``transport`` is always ``"ipc"``).

    Raises:
        SandboxUnavailable: see `check_available`.
    """

    def __init__(self, sandbox=None, *, owns_sandbox=None, limits=None, env=None, **kwargs):
        kwargs["transport"] = "ipc"
        kwargs.setdefault("kernel_name", "python3")
        super().__init__(**kwargs)
        self._owns_sandbox = sandbox is None if owns_sandbox is None else bool(owns_sandbox)
        self.sandbox = sandbox if sandbox is not None else Sandbox(limits, env=env)
        self.connection_file = str(self.sandbox.channel_dir / "kernel.json")
        self.ip = str(self.sandbox.channel_dir / "kernel")  # sockets kernel-1 ... kernel-5
        self._kernel_spec = KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python 3 (sandboxed)",
            language="python",
            interrupt_mode="message",
        )

    def write_connection_file(self, **kwargs):
        """Write the connection file (mode 0600), owned by the sandboxed uid."""
        super().write_connection_file(**kwargs)
        info = self.sandbox.info
        if info.uid != os.getuid():
            os.chown(self.connection_file, info.uid, info.gid)

    def format_kernel_cmd(self, extra_arguments=None):
        """The kernel's command line, wrapped in the sandbox's (`Sandbox.command`)."""
        return self.sandbox.command(super().format_kernel_cmd(extra_arguments))

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        # The kernel's stdout and stderr go to a file outside the sandbox,
        # capped by the file-size rlimit.
        with open(self.sandbox.log_path, "ab") as log:
            kw.setdefault("stdout", log)
            kw.setdefault("stderr", subprocess.STDOUT)
            await super()._async_launch_kernel(kernel_cmd, **kw)
        self.sandbox.track(self.provisioner.process)

    async def _async_kill_kernel(self, restart=False):
        await super()._async_kill_kernel(restart=restart)
        self.sandbox.kill()

    async def _async_cleanup_resources(self, restart=False):
        self.sandbox.kill()
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self._owns_sandbox:
            self.sandbox.close()



class SandboxedKernelManager(_SandboxedKernel, KernelManager):
    """`jupyter_client.KernelManager` running an ipykernel inside a `Sandbox`.

    See `_SandboxedKernel` for the arguments.
    """

    # The base class binds its synchronous API to its own coroutines.
    _launch_kernel = run_sync(_SandboxedKernel._async_launch_kernel)
    _kill_kernel = run_sync(_SandboxedKernel._async_kill_kernel)
    cleanup_resources = run_sync(_SandboxedKernel._async_cleanup_resources)


class AsyncSandboxedKernelManager(_SandboxedKernel, AsyncKernelManager):
    """`jupyter_client.AsyncKernelManager` running an ipykernel inside a `Sandbox`
    (what nbclient expects). See `_SandboxedKernel` for the arguments."""

    _launch_kernel = _SandboxedKernel._async_launch_kernel
    _kill_kernel = _SandboxedKernel._async_kill_kernel
    cleanup_resources = _SandboxedKernel._async_cleanup_resources

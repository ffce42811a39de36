"""A live IPython kernel for the judge's tests, and its channel."""

import contextlib
from pathlib import Path

from jupyter_client.manager import KernelManager

from grader.judge.channel import KernelChannel, blocking_client, max_message_context

TESTS_DIR = Path(__file__).resolve().parents[1]
# Seconds a test's kernel may take to run one setup cell (TensorFlow imports).
SETUP_TIMEOUT = 180


class LiveKernel:
    """One started kernel: `run` executes code in it, `channel` talks to its host."""

    def __init__(self, km):
        self.km = km
        self.client = km.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=SETUP_TIMEOUT)
        self._channel = None

    def run(self, code, timeout=SETUP_TIMEOUT):
        """Execute `code` as a cell; raise if it fails."""
        reply = self.client.execute_interactive(code, timeout=timeout, output_hook=lambda m: None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"kernel cell failed: {reply['content'].get('evalue')}\n{code}")
        return reply

    def channel(self):
        """The kernel's open `KernelChannel` (one per kernel)."""
        if self._channel is None:
            self._channel = KernelChannel(blocking_client(self.km), interrupt=self.km.interrupt_kernel,
                                          is_alive=self.km.is_alive)
            self._channel.open()
        return self._channel

    def close(self):
        if self._channel is not None:
            self._channel.close()
        self.client.stop_channels()
        self.km.shutdown_kernel(now=True)


@contextlib.contextmanager
def live_kernel(extra_path=()):
    """A started kernel whose `sys.path` also holds `extra_path` (closed after)."""
    km = KernelManager(kernel_name="python3", context=max_message_context())
    km.start_kernel(cwd=str(TESTS_DIR))
    kernel = LiveKernel(km)
    try:
        paths = [str(p) for p in extra_path]
        kernel.run(f"import sys\nsys.path[:0] = {paths!r}")
        yield kernel
    finally:
        kernel.close()

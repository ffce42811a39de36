"""Start-up cost of the grading sandbox, and the tasks a TensorFlow kernel needs.

Medians over `--repeats` runs of:

- ``python -c pass``: this interpreter started directly, and inside a `Sandbox`
  (`Sandbox.run`: cgroups made, bwrap, setpriv, cgroups removed);
- ipykernel start to the reply of a first ``execute_request`` (``1 + 1``):
  jupyter_client's `KernelManager` over tcp, and `SandboxedKernelManager`
  (sandbox made and closed included).

Then, once, the tasks (processes plus threads) of a sandboxed kernel idle and
after Keras training with ``TF_NUM_INTRAOP_THREADS=TF_NUM_INTEROP_THREADS=2``
(the job's ``pids.current`` on cgroup v1, else the threads of the kernel's
process tree), against `SandboxLimits.max_tasks`.

Usage (as root, or as a user with unprivileged user namespaces):
    python benchmarks/bench_sandbox.py [--repeats 5] [--no-tensorflow]
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jupyter_client.manager import KernelManager  # noqa: E402

from grader.course.sandbox import (  # noqa: E402
    Sandbox,
    SandboxedKernelManager,
    SandboxLimits,
    check_available,
    package_snapshot,
)

TF_ENV = {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
TRAIN = """
import numpy as np, keras
X = np.random.default_rng(0).random((256, 28, 28, 1), dtype=np.float32)
y = np.arange(256) % 10
net = keras.Sequential([keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.Flatten(),
                        keras.layers.Dense(10)])
net.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
net.fit(X, y, epochs=2, batch_size=32, verbose=0)
"""


def _seconds(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _python_outside():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def _python_inside(snapshot):
    with Sandbox(snapshot=snapshot) as box:
        assert box.run([sys.executable, "-c", "pass"]).returncode == 0


def _first_execute(km):
    """Start `km`'s kernel, execute ``1 + 1``, shut it down."""
    try:
        km.start_kernel()
        client = km.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive("1 + 1", timeout=60, output_hook=len)
        assert reply["content"]["status"] == "ok"
        client.stop_channels()
    finally:
        km.shutdown_kernel(now=True)


def _tree_threads(pid):
    """Threads of `pid` and of all its descendants."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return len(os.listdir(f"/proc/{pid}/task")) + sum(_tree_threads(int(c)) for c in children)


def _kernel_tasks(snapshot, code):
    """Tasks of a sandboxed kernel's job after running `code`."""
    km = SandboxedKernelManager(Sandbox(env=TF_ENV, snapshot=snapshot), owns_sandbox=True)
    try:
        km.start_kernel()
        client = km.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(code, timeout=600, output_hook=len)
        assert reply["content"]["status"] == "ok", reply["content"]
        pids = [p / "pids.current" for p in km.sandbox.cgroups if (p / "pids.current").exists()]
        tasks = int(pids[0].read_text()) if pids else _tree_threads(km.provisioner.pid)
        client.stop_channels()
    finally:
        km.shutdown_kernel(now=True)
    return tasks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-tensorflow", action="store_true", help="skip the task count")
    args = parser.parse_args()
    info = check_available()
    snapshot = package_snapshot()
    print(f"{info}; snapshot {snapshot}; {args.repeats} repeats (medians, seconds)")
    outside = _seconds(_python_outside, args.repeats)
    inside = _seconds(lambda: _python_inside(snapshot), args.repeats)
    print(f"python -c pass          outside {outside:.3f}  sandboxed {inside:.3f}")
    outside = _seconds(lambda: _first_execute(KernelManager()), args.repeats)
    inside = _seconds(
        lambda: _first_execute(
            SandboxedKernelManager(Sandbox(snapshot=snapshot), owns_sandbox=True)
        ),
        args.repeats,
    )
    print(f"kernel first execute    outside {outside:.3f}  sandboxed {inside:.3f}")
    if not args.no_tensorflow:
        idle = _kernel_tasks(snapshot, "1 + 1")
        trained = _kernel_tasks(snapshot, TRAIN)
        print(f"tasks of a sandboxed kernel: idle {idle}, after Keras training {trained}"
              f" (max_tasks {SandboxLimits().max_tasks})")  # fmt: skip


if __name__ == "__main__":
    main()

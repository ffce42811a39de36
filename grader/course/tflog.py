"""TensorFlow's C++ start-up lines kept out of `kerasdl-grade`'s output.

Importing TensorFlow 2.16+ writes to file descriptor 2 from C++, before
TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL``:

- ``WARNING: All log messages before absl::InitializeLog() is called are
  written to STDERR`` (absl, on the first line logged before its set-up);
- ``I... port.cc:...] oneDNN custom operations are on ...`` (``IsMklEnabled``,
  whenever oneDNN is on, which kerasdl wants for speed);
- ``I... cudart_stub.cc:...] Could not find cuda drivers on your machine``
  (the CUDA runtime stub, on a machine without the driver library).

Each comes twice, once per shared library that embeds the code (run at load
time by static initializers). The first device enumeration then logs
``E... cuda_platform.cc:...] failed call to cuInit`` when a CUDA library is
present but no GPU is. No environment variable silences the first three, and
hiding the fourth with ``TF_CPP_MIN_LOG_LEVEL=3`` would hide real errors too.

`install` therefore changes nothing until TensorFlow is imported; then it
runs that import and the device enumeration with file descriptor 2 pointed at
a temporary file, and writes back every line that is not one of these
(`is_tensorflow_noise`). Only `kerasdl-grade`'s own process installs it:
notebook kernels and nbgrader subprocesses keep their own settings.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

__all__ = ["filtered_stderr", "install", "is_tensorflow_noise"]

# glog-style prefix of TensorFlow's C++ lines: severity, date, time, thread, file:line.
_GLOG = re.compile(r"^(?P<severity>[IWEF])\d{4} [\d:.]+\s+\d+ (?P<file>[\w.-]+):\d+\] ")
# C++ files whose ERROR lines only say that this machine has no usable GPU.
_NO_GPU_FILES = re.compile(r"^cuda_(platform|executor|diagnostics|driver)\.cc$")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called"
# Continuation line of cpu_feature_guard's notice (at TF_CPP_MIN_LOG_LEVEL 0 or 1).
_CPU_FEATURES = "To enable the following instructions:"


def is_tensorflow_noise(line):
    """Whether `line` is one of TensorFlow's start-up lines (see the module doc).

    INFO and WARNING lines of TensorFlow's C++ logging, its "no GPU" ERROR
    lines, and absl's preamble are noise; any other ERROR or FATAL line is not.
    """
    if line.startswith((_ABSL_PREAMBLE, _CPU_FEATURES)):
        return True
    match = _GLOG.match(line)
    if match is None:
        return False
    return match["severity"] in "IW" or bool(_NO_GPU_FILES.match(match["file"]))


@contextlib.contextmanager
def filtered_stderr():
    """Run the body with file descriptor 2 captured; replay its lines but the noise.

    Works below Python (C++ writes to the descriptor directly). What the body
    writes to ``sys.stderr`` is flushed into the capture and replayed too.
    Without a file descriptor 2 (closed), the body runs unfiltered.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text = capture.read().decode(errors="replace")
            kept = [line for line in text.splitlines(True) if not is_tensorflow_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` once and makes its loader run under `filtered_stderr`."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        exec_module = loader.exec_module

        def quiet_exec_module(module):
            try:
                with filtered_stderr():
                    exec_module(module)
                    try:  # the first device enumeration is where cuInit fails
                        module.config.list_physical_devices()
                    except Exception:  # noqa: BLE001 - the caller's own use will raise it
                        pass
            finally:
                del loader.exec_module

        loader.exec_module = quiet_exec_module
        return spec


def install():
    """Make this process's first ``import tensorflow`` quiet (see the module doc).

    Does nothing when TensorFlow is already imported or the hook is installed;
    imports nothing itself.
    """
    if "tensorflow" in sys.modules:
        return
    if any(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorFlowImport())

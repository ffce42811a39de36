"""Dask worker preload: how a grading worker starts and ends.

The embedded cluster preloads this module into each worker
(`grader.course.cluster.GradingCluster`); workers started by hand take it
with ``dask worker ADDRESS --preload grader.course.preload``.

*Start* (`dask_setup`). The judge (TensorFlow, Keras, `kerasdl`'s
references: about 6 s on a 2-core machine) is loaded by a worker's first
submission while its kernel runs its first cell, which imports TensorFlow
too (`grader.course.executor.JudgedExecute`'s ``load_judge``): the two
start-ups overlap. On a machine with GPUs, a kernel's environment (its GPU,
`kerasdl.device`) needs TensorFlow before the kernel starts, so there the
worker loads the judge at its own start, before it joins its scheduler.
Either way the load runs in one thread with nothing else of a job beside it:
neither TensorFlow's import nor CPython 3.11's compiler (which
`grader.instrumentation` runs over every kerasdl function) is safe to run in
two threads at once ("SystemError: AST constructor recursion depth mismatch"
was seen when the judge loaded in a thread beside a starting job).

*End* (`dask_teardown`). A closing worker's process exits without the
interpreter's teardown of TensorFlow: that teardown held every autograde
run's end for about 1.3 s on a 2-core machine, and the worker holds nothing
to save.
"""

import atexit
import os
import sys

__all__ = ["dask_setup", "dask_teardown"]


def dask_setup(worker=None):
    """On a machine with GPUs, import TensorFlow (quietly, `grader.course.tflog`)
    and the judge now; elsewhere the first submission does, beside its kernel."""
    from grader.course.autograder import count_visible_gpus

    if not count_visible_gpus():
        return
    from grader.course import tflog

    tflog.install()
    import grader.judge.judge  # noqa: F401 (TensorFlow, Keras, the registry)
    import kerasdl  # noqa: F401 (the references)


def dask_teardown(worker=None):
    """The worker has closed: its process will exit at once, unflushed state aside."""
    atexit.register(_exit_now)  # registered last, so run first


def _exit_now():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    os._exit(0)

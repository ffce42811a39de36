"""Dask worker preload: a grading worker loads the judge before it joins.

A worker's first submission would otherwise wait for TensorFlow, Keras and
`kerasdl`'s references to import (about 6 s on a 2-core machine). The
embedded cluster preloads this module into each worker
(`grader.course.cluster.GradingCluster`), whose start overlaps the client's
own (`grader.course.cluster.PendingCluster`); workers started by hand take
it with ``dask worker ADDRESS --preload grader.course.preload``.

The import runs in the worker's start, before it joins its scheduler, never
in a thread beside a job: neither TensorFlow's import nor CPython 3.11's
compiler (which `grader.instrumentation` runs over every kerasdl function) is
safe to run in two threads at once ("SystemError: AST constructor recursion
depth mismatch" was seen when the judge loaded beside a starting job).

A closing worker's process exits without the interpreter's teardown of
TensorFlow (`dask_teardown`): that teardown held every autograde run's end
for about 1.3 s on a 2-core machine, and the worker holds nothing to save.
"""

import atexit
import os
import sys

__all__ = ["dask_setup", "dask_teardown"]


def dask_setup(worker=None):
    """Import TensorFlow (quietly, `grader.course.tflog`) and the judge."""
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

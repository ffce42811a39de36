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
"""

__all__ = ["dask_setup"]


def dask_setup(worker=None):
    """Import TensorFlow (quietly, `grader.course.tflog`) and the judge."""
    from grader.course import tflog

    tflog.install()
    import grader.judge.judge  # noqa: F401 (TensorFlow, Keras, the registry)
    import kerasdl  # noqa: F401 (the references)

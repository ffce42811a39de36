"""Dask worker preload: a grading worker starts loading the judge at once.

A worker's first submission would otherwise wait for TensorFlow, Keras and
`kerasdl`'s references to import (about 6 s on a 2-core machine). The
embedded cluster preloads this module into each worker
(`grader.course.cluster.GradingCluster`); workers started by hand take it
with ``dask worker ADDRESS --preload grader.course.preload``.

The import runs in a thread, so the worker joins its scheduler at once and
its first job starts the student's kernel meanwhile. TensorFlow is not safe
to import from two threads at once: `grader.course.job.judge_for` waits for
this thread (`wait`) before it imports anything.
"""

import threading

__all__ = ["dask_setup", "wait"]

_LOADING = None
_LOCK = threading.Lock()


def _load():
    try:
        from grader.course import tflog

        tflog.install()
        import grader.judge.judge  # noqa: F401 (TensorFlow, Keras, the registry)
        import kerasdl  # noqa: F401 (the references)
    except Exception:  # noqa: BLE001 (judge_for imports again and reports the error)
        pass


def dask_setup(worker=None):
    """Start importing TensorFlow (quietly, `grader.course.tflog`) and the judge."""
    global _LOADING
    with _LOCK:
        if _LOADING is None:
            _LOADING = threading.Thread(target=_load, name="kerasdl-preload", daemon=True)
            _LOADING.start()


def wait():
    """Return once the preload's imports are done (at once without a preload)."""
    with _LOCK:
        loading = _LOADING
    if loading is not None:
        loading.join()

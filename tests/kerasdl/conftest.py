"""Fixtures shared by the tests of the `kerasdl` reference package."""

import logging
import warnings

import numpy as np
import pytest


@pytest.fixture
def rng():
    """A seeded NumPy generator, fresh for each test."""
    return np.random.default_rng(0)


@pytest.fixture
def quiet(capfd, caplog):
    """Fail the test if anything reaches stderr, a warning or a log record.

    nbgrader scores a graded cell 0 when it writes to stderr, so graded
    references must run silently. Under pytest, Python `logging` records
    (TensorFlow's retracing warnings among them) go to pytest's log capture
    instead of stderr, so those are checked too. Usage:
    `with quiet(): call()`.
    """
    import contextlib

    import tensorflow as tf

    @contextlib.contextmanager
    def check():
        # TensorFlow logs its device set-up (e.g. "failed call to cuInit" on a
        # machine without GPU) once per process, at the first operation; the
        # notebooks run that in an ungraded cell. Do it here, before capturing.
        tf.zeros(()).numpy()
        capfd.readouterr()  # drop what came before
        caplog.clear()
        with warnings.catch_warnings(), caplog.at_level(logging.INFO):
            warnings.simplefilter("error")
            yield
        err = capfd.readouterr().err
        assert err == "", f"stderr was written: {err!r}"
        logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert not logged, f"warnings were logged: {logged!r}"

    return check

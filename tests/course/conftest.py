"""The hostile class, autograded once per session in the real sandbox.

`graded_base` is the tiny course with its honest student graded; `hostile_class`
adds every hostile submission (the sandbox students of issue 12, the forgers
and malformed answers of issue 13) and autogrades them all in one run, which
``test_hostile_sandbox.py``, ``test_hostile_judge.py`` and
``test_hostile_answers.py`` read.
"""

import os
import socket
import sys
import threading
import uuid
from pathlib import Path

import pytest

# The repository first on sys.path: with the tests folder ahead of the editable
# install, `kerasdl` would resolve to the namespace folder tests/kerasdl, and the
# sandbox's package snapshot with it.
_ROOT = str(Path(__file__).resolve().parents[2])
if sys.path[:1] != [_ROOT]:
    sys.path.insert(0, _ROOT)

from course.fixtures.hostile import REPO, make_base, run_class, sandbox_skip_reason  # noqa: E402

# Memory of one sandboxed job in the hostile run (the memory hog allocates 8 GiB).
HOSTILE_MEMORY_BYTES = 2 << 30


class Listener:
    """A TCP server on 127.0.0.1 outside the sandbox that counts connections."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.5)
        self.port = self.socket.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            self.accepted += 1
            connection.close()

    def close(self):
        self._stop.set()
        self._thread.join()
        self.socket.close()


@pytest.fixture(scope="session")
def graded_base(tmp_path_factory):
    """The tiny course with its honest students already autograded in the sandbox."""
    reason = sandbox_skip_reason()
    if reason:
        pytest.skip(reason)
    return make_base(tmp_path_factory.mktemp("hostile-base") / "course")


@pytest.fixture(scope="session")
def listener():
    server = Listener()
    yield server
    server.close()


@pytest.fixture(scope="session")
def escape_marker():
    """A string in the command line of every process the escaping student leaves."""
    return f"kerasdl-hostile-escape-{uuid.uuid4().hex}"


@pytest.fixture(scope="session")
def hostile_class(graded_base, tmp_path_factory, listener, escape_marker):
    """Every hostile submission autograded in one run (2 jobs, 2 GiB each): a `ClassRun`."""
    from course.fixtures import judge_students, sandbox_students

    folder = tmp_path_factory.mktemp("hostile-class")
    students = {
        **sandbox_students.students(folder / "course", REPO, listener.port, os.getpid(),
                                    escape_marker),
        **judge_students.STUDENTS,
        **judge_students.MALFORMED,
    }
    return run_class(graded_base, folder, students, sandbox_students.NOTEBOOK_EDITS,
                     memory_bytes=HOSTILE_MEMORY_BYTES)

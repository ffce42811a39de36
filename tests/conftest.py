"""Project-wide pytest configuration.

Quiet TensorFlow's C++ logging and use a non-interactive matplotlib backend
before any test module imports them.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# Test files that share a session fixture too costly to build twice (an
# autograde run of a class). Under `--dist loadfile` each worker builds its own
# session fixtures, so a group's files are sent to one worker as one work unit.
SHARED_FIXTURE_GROUPS = {
    # `hostile_class` (tests/course/conftest.py): every hostile submission graded once.
    "tests/course/test_hostile_sandbox.py": "hostile class",
    "tests/course/test_hostile_judge.py": "hostile class",
    "tests/course/test_hostile_answers.py": "hostile class",
    # `graded_serial` (tests/grader/conftest.py): the tiny course graded with one job.
    "tests/grader/test_cli.py": "tiny course graded",
    "tests/grader/test_cluster.py": "tiny course graded",
    "tests/grader/test_database.py": "tiny course graded",
    "tests/grader/test_postgres_gradebook.py": "tiny course graded",
}

# Test files whose costly module fixture is parametrized by chapter (one
# autograde or notebook run per chapter), and whose test ids start with the
# chapter (`test_x[ch03_linear_regression-solution]`): each chapter is a work
# unit of its own, so the chapters' runs spread over the workers.
SPLIT_BY_CHAPTER = {
    "tests/notebooks/test_autograde.py",
    "tests/notebooks/test_run_all.py",
}


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's file scheduling, with the files of a shared fixture together
    and the chapters of a file in `SPLIT_BY_CHAPTER` apart."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class GroupedFileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid):
            path = super()._split_scope(nodeid)
            if path in SPLIT_BY_CHAPTER and nodeid.endswith("]"):
                chapter = nodeid[nodeid.index("[") + 1:-1].split("-")[0]
                return f"{path}[{chapter}]"
            return SHARED_FIXTURE_GROUPS.get(path, path)

    return GroupedFileScheduling(config, log)

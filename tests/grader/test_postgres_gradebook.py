"""The gradebook on a real PostgreSQL server (`--db postgresql+psycopg://...`).

The tests start their own server from the Debian ``postgresql`` package's
binaries (``initdb`` and ``pg_ctl`` in ``/usr/lib/postgresql/<version>/bin``,
installed by ``make test``): a new cluster in a temporary folder, trust
authentication, listening on 127.0.0.1 at a free port and on a socket in that
folder, without fsync. PostgreSQL refuses to run as root, so when the tests
run as root the server runs as the package's ``postgres`` user.
(pytest-postgresql's process fixture runs the server as the current user,
which fails as root, as CI runs.) Without the binaries the tests are skipped,
saying so.

The tiny course (`tiny_course`) is autograded and reported once into
PostgreSQL and compared with the embedded sqlite run (`graded_serial`).
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from nbgrader.api import Gradebook
from tiny_course import (
    ASSIGNMENT,
    COURSE_ID,
    SLACK_CELL_TIMEOUT,
    STUDENTS,
    cell_scores,
    gradebook_snapshot,
)

from grader import cli, demo

pytestmark = pytest.mark.slow

# Seconds to wait for the server to start or stop.
SERVER_TIMEOUT = 60
# The server's superuser (initdb -U), also the Debian package's system user.
SUPERUSER = "postgres"


def _bin_dir():
    """The folder of the newest installed PostgreSQL's initdb and pg_ctl, or None."""
    folders = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    folders.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    on_path = shutil.which("pg_ctl")
    if on_path:
        folders.insert(0, Path(on_path).parent)
    for folder in reversed(folders):
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """A throw-away PostgreSQL cluster in a temporary folder (see the module docstring)."""

    def __init__(self, bin_dir):
        self.bin_dir = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="kerasdl-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.run_as = {}
        if os.geteuid() == 0:
            account = pwd.getpwnam(SUPERUSER)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
            self.run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def _run(self, *command):
        result = subprocess.run([str(self.bin_dir / command[0]), *command[1:]], cwd=self.folder,
                                capture_output=True, text=True, timeout=SERVER_TIMEOUT,
                                **self.run_as)  # fmt: skip
        assert result.returncode == 0, f"{command[0]} failed:\n{result.stdout}{result.stderr}"

    def start(self):
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w",
                  "-t", str(SERVER_TIMEOUT),
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.folder} -F", "start")

    def stop(self):
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database=SUPERUSER):
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name):
        """A new, empty database; returns its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={SUPERUSER} "
                             f"dbname={SUPERUSER}", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="module")
def postgres():
    """A running PostgreSQL server of this test module."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl in /usr/lib/postgresql/*/bin "
                    "or on PATH): install the Debian package postgresql (make test does)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SUPERUSER)
        except KeyError:
            pytest.skip(f"running as root and there is no {SUPERUSER!r} user to run the "
                        "PostgreSQL server as (the Debian package postgresql creates it)")
    server = PostgresServer(bin_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def graded_pg(postgres, pristine, tmp_path_factory):
    """A copy of the tiny course autograded through the CLI into PostgreSQL: (course, URL)."""
    course = tmp_path_factory.mktemp("pg") / "course"
    shutil.copytree(pristine, course)
    url = postgres.create_database("tiny_gradebook")
    code = cli.main(["autograde", ASSIGNMENT, "--course", str(course), "--db", url, "--jobs", "2",
                     "--timeout", str(SLACK_CELL_TIMEOUT), "--gpus", "0", "--no-progress"])
    assert code == 0
    return course, url


def test_autograde_writes_the_same_gradebook_to_postgresql(graded_pg, graded_serial):
    """Does autograde --db write to PostgreSQL the gradebook the sqlite default gets?"""
    course, url = graded_pg
    assert set(gradebook_snapshot(course, url)) == set(STUDENTS)
    assert gradebook_snapshot(course, url) == gradebook_snapshot(graded_serial)
    assert cell_scores(course) == {}  # the course's sqlite file was left alone


def test_report_gives_the_same_grades_csv(graded_pg, graded_serial, tmp_path, capsys):
    """Does report --db on PostgreSQL write the grades.csv of the sqlite gradebook?"""
    course, url = graded_pg
    assert cli.main(["report", ASSIGNMENT, "--course", str(course), "--db", url,
                     "--out", str(tmp_path / "pg")]) == 0
    assert cli.main(["report", ASSIGNMENT, "--course", str(graded_serial),
                     "--out", str(tmp_path / "sqlite")]) == 0
    capsys.readouterr()
    ours = pd.read_csv(tmp_path / "pg" / "grades.csv")
    reference = pd.read_csv(tmp_path / "sqlite" / "grades.csv")
    assert list(ours["student_id"]) == sorted(STUDENTS)
    assert list(ours["state"]) == ["graded", "graded", "graded with errors",
                                   "graded with errors"]
    pd.testing.assert_frame_equal(ours, reference)
    audit = pd.read_csv(tmp_path / "pg" / "audit.csv")
    assert sorted(set(audit["student"])) == sorted(STUDENTS)


def test_feedback_reads_the_postgresql_gradebook(graded_pg, tmp_path):
    """Does feedback --db make each page from the PostgreSQL gradebook's scores?"""
    course, url = graded_pg
    copy = tmp_path / "course"
    shutil.copytree(course, copy)
    assert cli.main(["feedback", ASSIGNMENT, "--course", str(copy), "--db", url]) == 0
    pages = sorted(copy.glob(f"feedback/*/{ASSIGNMENT}/{ASSIGNMENT}.html"))
    assert [page.parts[-3] for page in pages] == sorted(STUDENTS)
    bob = (copy / "feedback" / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "(Score: 2.8 / 3.0)" in bob


def test_demo_course_registers_in_postgresql(postgres, pristine, tmp_path):
    """Does the demo's nbgrader generate step record the assignment in the --db database?"""
    url = postgres.create_database("demo_gradebook")
    course = demo.build_course(tmp_path / "demo", [ASSIGNMENT], repo_dir=pristine, db_url=url)
    assert not (course / "gradebook.db").exists()
    with Gradebook(url, COURSE_ID) as gb:
        notebook = gb.find_assignment(ASSIGNMENT).notebooks[0]
        assert sorted(cell.name for cell in notebook.grade_cells) == ["test_grad", "test_norm"]
        assert gb.find_assignment(ASSIGNMENT).max_score == pytest.approx(3.0)


def test_report_refuses_an_empty_postgresql_database(postgres, pristine, capsys):
    """Does report on a database without a gradebook say so instead of making one?"""
    url = postgres.create_database("empty")
    assert cli.main(["report", ASSIGNMENT, "--course", str(pristine), "--db", url]) == 2
    assert "The database holds no nbgrader gradebook yet" in capsys.readouterr().err
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()

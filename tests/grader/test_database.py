"""Tests of the gradebook URL (`--db`): checks, messages, and how it reaches nbgrader.

Fast tests, no database server: a real PostgreSQL server is started by
`test_postgres_gradebook`.
"""

import importlib.util
import shutil

import pytest
from tiny_course import ASSIGNMENT

from grader import cli
from grader.course import database, process
from grader.course.coursedir import load_course, require_gradebook

# A port nothing listens on (tcpmux, privileged): connections are refused at once.
CLOSED_PORT = 1


def test_masked_hides_the_password():
    """Is a password replaced by *** and the rest of the URL kept?"""
    assert database.masked("postgresql+psycopg://ta:s3cret@db.example:5432/course") == \
        "postgresql+psycopg://ta:***@db.example:5432/course"
    assert database.masked("sqlite:///gradebook.db") == "sqlite:///gradebook.db"


@pytest.mark.parametrize(
    "db_url, message",
    [
        ("gradebook.db", "`db_url` must be an SQLAlchemy database URL (Could not parse "
                         "SQLAlchemy URL from given URL string), e.g. sqlite:///gradebook.db or "
                         "postgresql+psycopg://USER@HOST:5432/DATABASE. "
                         "Received: db_url=gradebook.db"),
        ("", "`db_url` must be an SQLAlchemy database URL, e.g. sqlite:///gradebook.db or "
             "postgresql+psycopg://USER@HOST:5432/DATABASE. Received: db_url=''"),
    ],
)
def test_check_db_url_refuses_what_is_no_url(db_url, message):
    """Is a text that is no database URL refused, naming the argument and its value?"""
    with pytest.raises(ValueError) as error:
        database.check_db_url(db_url)
    assert str(error.value) == message


def test_check_db_url_names_a_missing_driver_and_hides_the_password():
    """Is a URL whose driver is not installed refused, pointing to psycopg, password hidden?"""
    if importlib.util.find_spec("psycopg2") is not None:
        pytest.skip("psycopg2 is installed here: the driver is not missing")
    with pytest.raises(ValueError) as error:
        database.check_db_url("postgresql+psycopg2://ta:s3cret@localhost/course")
    text = str(error.value)
    assert "No module named 'psycopg2'" in text
    assert "postgresql+psycopg://USER@HOST/DATABASE" in text
    assert text.endswith("Received: db_url=postgresql+psycopg2://ta:***@localhost/course")
    assert "s3cret" not in text


def test_check_db_url_accepts_sqlite_and_psycopg():
    """Are the default sqlite URL and a psycopg URL accepted as they are, without connecting?"""
    for db_url in ("sqlite:///gradebook.db", "postgresql+psycopg://ta@127.0.0.1:1/course"):
        assert database.check_db_url(db_url) == db_url


def test_reach_database_reports_a_refused_connection():
    """Does an unreachable server give a RuntimeError naming the URL without its password?"""
    url = f"postgresql+psycopg://ta:s3cret@127.0.0.1:{CLOSED_PORT}/course"
    with pytest.raises(RuntimeError) as error:
        database.reach_database(url)
    text = str(error.value)
    assert text.startswith(f"Cannot reach the gradebook database "
                           f"postgresql+psycopg://ta:***@127.0.0.1:{CLOSED_PORT}/course: ")
    assert "Connection refused" in text and "s3cret" not in text


def test_load_course_sets_db_url(pristine):
    """Does load_course put --db in the config and CourseDirectory, sqlite the default?"""
    config, coursedir = load_course(pristine)
    assert coursedir.db_url == f"sqlite:///{pristine / 'gradebook.db'}"
    url = "postgresql+psycopg://ta@127.0.0.1:5432/course"
    config, coursedir = load_course(pristine, url)
    assert coursedir.db_url == url
    assert config.CourseDirectory.db_url == url


def test_require_gradebook_without_the_sqlite_file(pristine, tmp_path):
    """Is a course without its gradebook file refused by report and feedback?"""
    course = tmp_path / "course"
    shutil.copytree(pristine, course)
    (course / "gradebook.db").unlink()
    with pytest.raises(ValueError, match=f"Received: course_dir={course}"):
        require_gradebook(load_course(course)[1])


@pytest.mark.parametrize("command", ["autograde", "report", "feedback"])
def test_cli_refuses_a_bad_db(pristine, command, capsys):
    """Does every command with --db refuse a bad URL with exit code 2, before any work?"""
    code = cli.main([command, ASSIGNMENT, "--course", str(pristine), "--db", "gradebook.db"])
    assert code == 2
    assert "Received: db_url=gradebook.db" in capsys.readouterr().err


def test_cli_autograde_with_an_unreachable_server(pristine, capsys):
    """Does autograde stop before grading when the --db server cannot be reached?"""
    url = f"postgresql+psycopg://ta@127.0.0.1:{CLOSED_PORT}/course"
    code = cli.main(["autograde", ASSIGNMENT, "--course", str(pristine), "--db", url,
                     "--no-progress"])
    assert code == 2
    assert f"Cannot reach the gradebook database {url}" in capsys.readouterr().err
    assert not (pristine / "autograded").exists()


def test_nbgrader_subprocess_uses_db_url_not_on_its_command_line(pristine, tmp_path):
    """Does the nbgrader subprocess use the given gradebook, not shown on its command line?"""
    other = tmp_path / "other.db"
    url = f"sqlite:///{other}"
    args = ["db", "student", "add", "zoe", f"--CourseDirectory.root={pristine}"]
    assert url not in " ".join(process._nbgrader_command(args))
    log = tmp_path / "nbgrader.log"
    result = process._nbgrader(args, cwd=pristine, log_path=log, db_url=url)
    assert result.returncode == 0, log.read_text()
    from nbgrader.api import Gradebook

    with Gradebook(url, "tiny") as gb:
        assert [student.id for student in gb.students] == ["zoe"]
    with Gradebook(f"sqlite:///{pristine / 'gradebook.db'}", "tiny") as gb:
        assert "zoe" not in [student.id for student in gb.students]

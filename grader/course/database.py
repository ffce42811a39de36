"""The gradebook's database: an SQLAlchemy URL, sqlite by default or PostgreSQL.

nbgrader keeps its gradebook wherever ``CourseDirectory.db_url`` points
(``sqlite:///<course>/gradebook.db`` unless the course or ``--db`` says
otherwise), and `grader.course.status` keeps its two tables beside it. Both go
through SQLAlchemy, so any database SQLAlchemy and nbgrader support works; a
PostgreSQL server is reached with the psycopg (version 3) driver, named in the
URL: ``postgresql+psycopg://USER@HOST:PORT/DATABASE``. A password is best left
out of the URL (libpq reads ``PGPASSWORD`` or ``~/.pgpass``); messages here
never show one.

What only makes sense for a file (it must exist before `report`) is done for
sqlite only. Importing this module is light; SQLAlchemy loads when a URL is
checked.
"""

from pathlib import Path

__all__ = ["check_db_url", "is_sqlite", "masked", "reach_database", "require_database"]

# The sqlite URL prefix of a gradebook file (three slashes, then the path).
_SQLITE_PREFIX = "sqlite:///"
# A table of nbgrader's gradebook: a database that has it holds a gradebook.
_NBGRADER_TABLE = "assignment"
# Seconds to wait for a database server before giving up.
CONNECT_TIMEOUT = 10
# Characters of a driver's error kept in a message.
_ERROR_CHARS = 300


def masked(db_url):
    """`db_url` with its password, if any, replaced by ``***`` (unparseable: as given)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except (ArgumentError, TypeError, ValueError):
        return str(db_url)


def is_sqlite(db_url):
    """Whether `db_url` names an sqlite database."""
    return str(db_url).startswith("sqlite:")


def _example():
    return ("e.g. sqlite:///gradebook.db or postgresql+psycopg://USER@HOST:5432/DATABASE. "
            "Received: db_url=")


def check_db_url(db_url):
    """Check that `db_url` is a database URL whose driver is installed (no connection made).

    Args:
        db_url: an SQLAlchemy database URL (str).

    Returns:
        `db_url`, unchanged.

    Raises:
        ValueError: `db_url` is not a str, cannot be parsed, names a database
            SQLAlchemy does not know, or its driver is not installed (for
            PostgreSQL: name psycopg, ``postgresql+psycopg://``).
    """
    import sqlalchemy as sa
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    if not isinstance(db_url, str) or not db_url:
        raise ValueError(f"`db_url` must be an SQLAlchemy database URL, {_example()}{db_url!r}")
    try:
        engine = sa.create_engine(db_url)  # loads the driver; connects to nothing
    except (ArgumentError, NoSuchModuleError) as error:
        raise ValueError(f"`db_url` must be an SQLAlchemy database URL ({error}), "
                         f"{_example()}{masked(db_url)}") from None
    except ImportError as error:
        raise ValueError(
            f"The database driver of `db_url` is not installed ({error}); for PostgreSQL name "
            f"the psycopg driver, which kerasdl installs: postgresql+psycopg://USER@HOST/DATABASE. "
            f"Received: db_url={masked(db_url)}") from None
    engine.dispose()
    return db_url


def _engine(db_url):
    """An engine on `db_url`; a PostgreSQL one gives up after `CONNECT_TIMEOUT` seconds."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    if make_url(db_url).get_backend_name() == "postgresql":
        return sa.create_engine(db_url, connect_args={"connect_timeout": CONNECT_TIMEOUT})
    return sa.create_engine(db_url)


def reach_database(db_url):
    """Connect once to a database server; nothing to do for sqlite.

    Args:
        db_url: the gradebook URL (checked by `check_db_url`).

    Raises:
        RuntimeError: the server cannot be reached or refuses the connection
            (the driver's first line in the message).
    """
    if is_sqlite(db_url):
        return
    from sqlalchemy.exc import DBAPIError

    engine = _engine(db_url)
    try:
        with engine.connect():
            pass
    except DBAPIError as error:
        first = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise RuntimeError(f"Cannot reach the gradebook database {masked(db_url)}: "
                           f"{first[:_ERROR_CHARS]}") from None
    finally:
        engine.dispose()


def require_database(db_url, root):
    """The gradebook at `db_url`, which must exist already (nbgrader would make it empty).

    Args:
        db_url: the gradebook URL (checked by `check_db_url`).
        root: the course root; a relative sqlite path is taken from there.

    Returns:
        For sqlite, the `Path` of the gradebook file; otherwise `db_url`.

    Raises:
        ValueError: the sqlite file does not exist, or the database holds no
            nbgrader gradebook ("autograde an assignment first").
        RuntimeError: the database server cannot be reached (`reach_database`).
    """
    if is_sqlite(db_url):
        path = Path(db_url[len(_SQLITE_PREFIX):]) if db_url.startswith(_SQLITE_PREFIX) \
            else None
        if path is not None and not path.is_absolute():
            path = Path(root) / path
        if path is None or not path.is_file():
            raise ValueError(
                f"The course has no gradebook yet ({path or db_url}): autograde an assignment "
                f"first. Received: course_dir={root}")
        return path
    import sqlalchemy as sa

    reach_database(db_url)
    engine = _engine(db_url)
    try:
        found = sa.inspect(engine).has_table(_NBGRADER_TABLE)
    finally:
        engine.dispose()
    if not found:
        raise ValueError(f"The database holds no nbgrader gradebook yet: autograde an assignment "
                         f"first. Received: db_url={masked(db_url)}")
    return db_url

"""What nbgrader's gradebook has no place for: each submission's state and the audit log.

Two tables beside nbgrader's, in the same database (sqlite or PostgreSQL,
through SQLAlchemy, as nbgrader itself):

- ``kerasdl_status``: one row per (assignment, student): the state of the
  last autograde (`GRADED`, `GRADED_WITH_ERRORS` or `NOT_GRADED`), its
  one-line reason or error count, the flags raised (the kernel's own output
  disagreeing with the judge), how the kernels were isolated, and a
  fingerprint of the submitted files (a rerun grades only what changed);
- ``kerasdl_audit``: one row per grade an autograde run changed: run id,
  time, student, notebook, cell, old and new score.

Only the instructor's trusted process writes them (`autograde`'s record
phase); `report` reads them.
"""

import datetime

__all__ = [
    "GRADED",
    "GRADED_WITH_ERRORS",
    "NOT_GRADED",
    "StatusStore",
    "cell_scores",
    "read_audit",
    "read_states",
]

GRADED = "graded"
GRADED_WITH_ERRORS = "graded with errors"
NOT_GRADED = "not graded"


def _tables(metadata):
    import sqlalchemy as sa

    status = sa.Table(
        "kerasdl_status", metadata,
        sa.Column("assignment", sa.String(128), primary_key=True),
        sa.Column("student", sa.String(128), primary_key=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("flags", sa.Text),
        sa.Column("isolation", sa.Text),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("updated", sa.DateTime),
    )  # fmt: skip
    audit = sa.Table(
        "kerasdl_audit", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("time", sa.DateTime, nullable=False),
        sa.Column("assignment", sa.String(128), nullable=False),
        sa.Column("student", sa.String(128), nullable=False),
        sa.Column("notebook", sa.String(256)),
        sa.Column("cell", sa.String(256)),
        sa.Column("old_score", sa.Float),
        sa.Column("new_score", sa.Float),
    )  # fmt: skip
    return status, audit


class StatusStore:
    """The two tables of a course's gradebook database.

    Args:
        db_url: the gradebook's SQLAlchemy URL (``CourseDirectory.db_url``).
    """

    def __init__(self, db_url):
        import sqlalchemy as sa

        self.engine = sa.create_engine(db_url)
        metadata = sa.MetaData()
        self.status, self.audit = _tables(metadata)
        metadata.create_all(self.engine)

    def close(self):
        self.engine.dispose()

    def set(self, assignment, student, *, state, reason=None, flags=(), isolation=None,
            fingerprint=None, run_id=None):
        """Record the state of one submission (replacing the previous one)."""
        import sqlalchemy as sa

        row = {"assignment": assignment, "student": student, "state": state,
               "reason": reason, "flags": "; ".join(flags) or None, "isolation": isolation,
               "fingerprint": fingerprint, "run_id": run_id,
               "updated": datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)}
        with self.engine.begin() as connection:
            connection.execute(sa.delete(self.status).where(
                self.status.c.assignment == assignment, self.status.c.student == student))
            connection.execute(sa.insert(self.status).values(**row))

    def get(self, assignment):
        """``{student: row dict}`` of one assignment."""
        import sqlalchemy as sa

        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(self.status).where(self.status.c.assignment == assignment))
            return {row.student: dict(row._mapping) for row in rows}

    def log_changes(self, run_id, assignment, student, before, after):
        """Append the grades that changed between two `cell_scores` snapshots."""
        import sqlalchemy as sa

        now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
        rows = [{"run_id": run_id, "time": now, "assignment": assignment, "student": student,
                 "notebook": notebook, "cell": cell, "old_score": before.get((notebook, cell)),
                 "new_score": after.get((notebook, cell))}
                for notebook, cell in sorted(set(before) | set(after))
                if before.get((notebook, cell)) != after.get((notebook, cell))]
        if rows:
            with self.engine.begin() as connection:
                connection.execute(sa.insert(self.audit), rows)
        return len(rows)

    def audit_rows(self, assignment):
        """The audit log of one assignment, oldest first, as a list of dicts."""
        import sqlalchemy as sa

        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(self.audit).where(
                self.audit.c.assignment == assignment).order_by(self.audit.c.id))
            return [dict(row._mapping) for row in rows]


def cell_scores(gradebook, assignment, student):
    """``{(notebook, cell): score}`` of a student's autograded cells (empty if none)."""
    from nbgrader.api import MissingEntry

    try:
        submission = gradebook.find_submission(assignment, student)
    except MissingEntry:
        return {}
    return {(notebook.name, grade.name): grade.score
            for notebook in submission.notebooks for grade in notebook.grades}


def _read(db_url, table, assignment, read, empty):
    """`read(store, assignment)` if `table` exists on `db_url`, else `empty` (creates nothing)."""
    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    try:
        if not sa.inspect(engine).has_table(table):
            return empty
    finally:
        engine.dispose()
    store = StatusStore(db_url)
    try:
        return read(store, assignment)
    finally:
        store.close()


def read_states(db_url, assignment):
    """``{student: row}`` of `assignment`'s states, without creating any table."""
    return _read(db_url, "kerasdl_status", assignment, StatusStore.get, {})


def read_audit(db_url, assignment):
    """The audit log of `assignment` (list of dicts), without creating any table."""
    return _read(db_url, "kerasdl_audit", assignment, StatusStore.audit_rows, [])

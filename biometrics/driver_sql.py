"""The profile store's per-score statements as the database driver's own SQL.

    sql = DriverSQL(engine.dialect)
    row = sql.one(conn, "SELECT id, version FROM users WHERE id = ?", (user_id,))

A score runs a handful of small statements; through SQLAlchemy Core each costs about 30 µs
(built once) to 140 µs (built per call) of CPU in statement building, cache keys and result
processing, against about 3 µs on the DB-API cursor. :class:`DriverSQL` runs fixed SQL text on
the driver connection of a SQLAlchemy :class:`~sqlalchemy.engine.Connection`, inside the
transaction that connection holds (begun, committed and rolled back by SQLAlchemy as usual).

Text is written once with ``?`` placeholders (SQLite's own style) and turned into ``%s`` for
psycopg; it never holds a literal ``?`` or ``%``. Timestamps go through the dialect's own
``DateTime`` conversions (SQLite keeps them as text in SQLAlchemy's format, which comparisons
depend on), so rows read and written here are the rows SQLAlchemy reads and writes. A driver
error is raised as SQLAlchemy's exception of the same kind (``IntegrityError``,
``OperationalError``, ...), as :meth:`Connection.execute` would raise it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError


class DriverSQL:
    """Runs fixed SQL text on a SQLAlchemy connection's DB-API connection (see the module docstring)."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.postgresql = dialect.name == "postgresql"
        impl = DateTime(timezone=True).dialect_impl(dialect)
        self._time_in = impl.bind_processor(dialect)
        self._time_out = impl.result_processor(dialect, None)
        self._error = dialect.loaded_dbapi.Error
        self._texts: dict[str, str] = {}

    def text(self, sql: str) -> str:
        """``sql`` in the driver's placeholder style."""
        got = self._texts.get(sql)
        if got is None:
            got = self._texts[sql] = sql.replace("?", "%s") if self.postgresql else sql
        return got

    def time_in(self, at: datetime) -> Any:
        """A timestamp as the driver stores it (what SQLAlchemy would bind)."""
        return self._time_in(at) if self._time_in is not None else at

    def time_out(self, value: Any) -> datetime:
        """A stored timestamp as an aware UTC datetime."""
        at = self._time_out(value) if self._time_out is not None else value
        return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)

    @contextmanager
    def pooled(self, engine: Engine) -> Iterator[Any]:
        """A driver connection from the engine's pool, for one statement on its own (SQLite runs it in
        autocommit; psycopg's implicit transaction is rolled back when the pool takes it back)."""
        raw = engine.raw_connection()
        try:
            yield raw.driver_connection
        finally:
            raw.close()

    def execute(self, conn: Connection | Any, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement in ``conn``'s transaction (a SQLAlchemy connection, or a driver connection
        from :meth:`pooled`); the driver's cursor."""
        statement = self.text(sql)
        driver = conn.connection.driver_connection if isinstance(conn, Connection) else conn
        try:
            return driver.execute(statement, tuple(params))
        except self._error as err:
            raise DBAPIError.instance(statement, params, err, self._error, dialect=self.dialect) from err

    def one(self, conn: Connection | Any, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        """The first row of a query (a tuple), or None."""
        cursor = self.execute(conn, sql, params)
        try:
            return cursor.fetchone()
        except self._error as err:
            raise DBAPIError.instance(self.text(sql), params, err, self._error, dialect=self.dialect) from err

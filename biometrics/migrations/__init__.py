"""Alembic migrations of the profile store's schema, shipped with the package.

Alembic is configured here, in code (no ``alembic.ini``): :func:`config` points it at this
package and hands ``env.py`` the caller's connection, so a migration runs inside the
caller's transaction (under :class:`biometrics.store.ProfileStore`'s schema lock).

Revisions (``versions/``):

- ``0001`` the schema of the release before idempotent requests: ``users`` and
  ``modality_profiles``. A database made by that release's ``create_all`` has no
  ``alembic_version`` table; :func:`upgrade` recognizes it and stamps it ``0001`` first.
- ``0002`` adds ``scored_sessions`` (answers to requests that named a session id).
- ``0003`` adds ``decisions`` (the log of score answers) and ``feedback`` (outcomes learnt
  for decided sessions).
- ``0004`` adds ``modality_profiles.head_state`` (the per-user head a scorer fitted).
- ``0005`` adds ``modality_profiles.enrollment_inputs`` (kept enrollment inputs, encrypted) and
  ``other_versions`` (vectors re-embedded under other model versions).
- ``0006`` adds ``users.version`` and the triggers that raise it on every change of a user's
  rows (what the profile store's cache of decoded profiles checks).

A new revision: copy the newest file in ``versions/``, set ``revision`` / ``down_revision``,
write ``upgrade`` / ``downgrade`` with ``alembic.op``, change the Tables in
:mod:`biometrics.store` to match (``tests/test_migrations.py`` compares the two).
"""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect

# Alembic's ``context`` and ``op`` are module-level proxies: one migration at a time per process.
_IN_PROCESS = threading.Lock()

BASELINE = "0001"  # the schema that create_all made before migrations existed

# The tables each revision adds, oldest first: how a database without an alembic_version
# table (made by create_all) is placed on the revision history.
_TABLES_OF = (("0001", ("users", "modality_profiles")), ("0002", ("scored_sessions",)),
              ("0003", ("decisions", "feedback")))
# Revisions after those that add a column rather than a table: (revision, table, column).
_COLUMNS_OF = (("0004", "modality_profiles", "head_state"),
               ("0005", "modality_profiles", "enrollment_inputs"),
               ("0006", "users", "version"))


def config(connection: Connection | None = None) -> Config:
    """An Alembic config for this package's migrations, on ``connection`` when given."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def head() -> str:
    """The newest revision this release knows."""
    h = script().get_current_head()
    assert h is not None
    return h


def current(conn: Connection) -> str | None:
    """The revision the database is at (None: no alembic_version table, or it is empty)."""
    return MigrationContext.configure(conn).get_current_revision()


def legacy_revision(conn: Connection) -> str | None:
    """The revision a database made by ``create_all`` (no alembic_version) matches, or None
    when it has none of the store's tables. Tables that match no release are refused."""
    ours = {t for _rev, tables in _TABLES_OF for t in tables}
    present = set(inspect(conn).get_table_names()) & ours
    if not present:
        return None
    matched, expected = None, set()
    for rev, tables in _TABLES_OF:
        if not set(tables) <= present:
            break
        matched, expected = rev, expected | set(tables)
    if matched is None or present != expected:
        raise RuntimeError(
            f"the database has the profile store's tables {sorted(present)} but no "
            "alembic_version table, and they match no release; migrate it by hand "
            "(python -m biometrics.migrate stamp REVISION, then upgrade)")
    if matched == _TABLES_OF[-1][0]:
        insp = inspect(conn)
        for rev, table, column in _COLUMNS_OF:
            if column not in {c["name"] for c in insp.get_columns(table)}:
                break
            matched = rev
    return matched


def upgrade(conn: Connection, revision: str = "head") -> None:
    """Bring the database on ``conn`` to ``revision``, in the caller's transaction.

    A database made before migrations (tables, no ``alembic_version``) is stamped at the
    revision its tables match first. A database at a revision this release does not know
    (a newer release migrated it) is refused with a clear error rather than touched.
    """
    at = current(conn)
    known = {s.revision for s in script().walk_revisions()}
    if at is not None and at not in known:
        raise RuntimeError(f"the database schema is at revision {at!r}, which this release does "
                           f"not know (its newest is {head()!r}): a newer release migrated it; "
                           "run that release")
    cfg = config(conn)
    with _IN_PROCESS:
        if at is None:
            legacy = legacy_revision(conn)
            if legacy is not None:
                command.stamp(cfg, legacy)
        command.upgrade(cfg, revision)


def downgrade(conn: Connection, revision: str) -> None:
    """Take the database on ``conn`` back to ``revision`` (``base`` drops every table)."""
    with _IN_PROCESS:
        command.downgrade(config(conn), revision)


def stamp(conn: Connection, revision: str) -> None:
    """Record ``revision`` as the database's schema without running anything."""
    with _IN_PROCESS:
        command.stamp(config(conn), revision)

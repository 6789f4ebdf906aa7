"""users.version: a counter the database bumps on every change of a user's profile rows

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

``users.version`` (BIGINT; the profiles stored before start at the upgrade's time in
microseconds, a new user at 0) is raised by triggers, never by the
application: after any INSERT, UPDATE or DELETE of a ``modality_profiles`` row (the user's row is
raised once per row written), and by any UPDATE of a ``users`` row that does not set ``version``
itself. So every writer changes it, whatever its release or its code path (an API process of the
previous release during a rolling upgrade, a batch job, a hand-written SQL fix), and a reader that
holds a decoded profile checks it with one small query instead of reading and decoding the
profile again (``biometrics.store``'s profile cache). SQLite: four triggers; PostgreSQL: two
trigger functions and two triggers. A later revision that makes SQLite recreate ``users`` or
``modality_profiles`` (a batch "move and copy") drops their triggers and must create them again
(the store checks they exist when it opens, and serves without its cache when they do not).
Downgrading drops the triggers and the column. Frozen: never change it.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SQLITE_TRIGGERS = (
    """CREATE TRIGGER users_version_on_update AFTER UPDATE ON users
    WHEN NEW.version = OLD.version
    BEGIN UPDATE users SET version = OLD.version + 1 WHERE id = NEW.id; END""",
    """CREATE TRIGGER modality_profiles_version_on_insert AFTER INSERT ON modality_profiles
    BEGIN UPDATE users SET version = version + 1 WHERE id = NEW.user_id; END""",
    """CREATE TRIGGER modality_profiles_version_on_update AFTER UPDATE ON modality_profiles
    BEGIN UPDATE users SET version = version + 1 WHERE id IN (OLD.user_id, NEW.user_id); END""",
    """CREATE TRIGGER modality_profiles_version_on_delete AFTER DELETE ON modality_profiles
    BEGIN UPDATE users SET version = version + 1 WHERE id = OLD.user_id; END""",
)
SQLITE_DROP = tuple(f"DROP TRIGGER IF EXISTS {name}" for name in (
    "users_version_on_update", "modality_profiles_version_on_insert", "modality_profiles_version_on_update",
    "modality_profiles_version_on_delete"))

POSTGRESQL_TRIGGERS = (
    """CREATE FUNCTION users_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.version = OLD.version THEN
            NEW.version := OLD.version + 1;
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER users_version_on_update BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION users_version_bump()""",
    """CREATE FUNCTION modality_profiles_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            UPDATE users SET version = version + 1 WHERE id = OLD.user_id;
        END IF;
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.user_id IS DISTINCT FROM OLD.user_id) THEN
            UPDATE users SET version = version + 1 WHERE id = NEW.user_id;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER modality_profiles_version AFTER INSERT OR UPDATE OR DELETE ON modality_profiles
    FOR EACH ROW EXECUTE FUNCTION modality_profiles_version_bump()""",
)
POSTGRESQL_DROP = (
    "DROP TRIGGER IF EXISTS modality_profiles_version ON modality_profiles",
    "DROP FUNCTION IF EXISTS modality_profiles_version_bump()",
    "DROP TRIGGER IF EXISTS users_version_on_update ON users",
    "DROP FUNCTION IF EXISTS users_version_bump()",
)


def upgrade() -> None:
    op.add_column("users", sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"))
    # Existing users start at the time of the upgrade in microseconds, not 0: after a downgrade and
    # an upgrade, a process still holding a profile under an old version never meets it again.
    op.execute(sa.text("UPDATE users SET version = :start").bindparams(start=time.time_ns() // 1000))
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_TRIGGERS if sqlite else POSTGRESQL_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_DROP if sqlite else POSTGRESQL_DROP:
        op.execute(statement)
    if sqlite:  # in place (SQLite 3.35+): a batch copy of users would cascade-delete its profiles
        op.execute("ALTER TABLE users DROP COLUMN version")
    else:
        op.drop_column("users", "version")

"""The store's driver-SQL statements (biometrics.driver_sql) against SQLAlchemy's own (SQLite, and
PostgreSQL when BIOMETRICS_TEST_POSTGRES_URL is set): the rows they write are the rows SQLAlchemy
reads, and a driver error reaches callers as SQLAlchemy's exception of the same kind."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from biometrics.driver_sql import DriverSQL
from biometrics.profiles import enroll, new_profile, user_key
from biometrics.store import (
    DecisionRecord,
    ProfileStore,
    RequestKey,
    decisions,
    scored_sessions,
    users,
)

SECRET = b"test-secret-0123456789abcdef0123"


def _key(user_id: str) -> str:
    return user_key("acme", user_id, SECRET)


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _enrolled(store: ProfileStore, key: str) -> None:
    store.update("acme", key, lambda p: enroll(
        p or new_profile("acme", key), {"keystrokes": np.ones((1, 4), np.float32)},
        {"keystrokes": np.full(8, 3.0, np.float32)}, "v1"))


def test_rows_written_as_driver_sql_read_back_through_sqlalchemy(profile_store: ProfileStore):
    key = _key("ada")
    _enrolled(profile_store, key)
    sid = str(uuid.uuid4())
    before = datetime.now(UTC)
    got = profile_store.update_once(
        "acme", key, lambda p: None, RequestKey("score", sid, "b" * 64), lambda p: {"risk": 0.25},
        not_before=before - timedelta(minutes=10),
        decision_of=lambda: DecisionRecord(sid, 0.25, "allow", False, "v1"), read_inputs=False)
    assert got.answer == {"risk": 0.25} and before <= got.created_at <= datetime.now(UTC)
    with profile_store._transaction(write=False) as conn:
        answer = conn.execute(select(scored_sessions)).one()
        decision = conn.execute(select(decisions)).one()
        user_id = conn.execute(select(users.c.id)).scalar_one()
    assert (answer.tenant, answer.operation, answer.session_id, answer.user_id, answer.fingerprint) == (
        "acme", "score", sid, user_id, "b" * 64)
    assert _utc(answer.created_at) == got.created_at  # the dialect's own timestamp form
    assert (decision.session_id, decision.risk, decision.decision, decision.by_policy, decision.model_version) == (
        sid, 0.25, "allow", False, "v1")
    assert _utc(decision.created_at) == got.created_at
    # Read back by the store (driver SQL again) and by SQLAlchemy: the same answer.
    assert profile_store.answer_for("acme", "score", sid, not_before=before - timedelta(seconds=1)) == got
    # A timestamp compares as SQLAlchemy's does: not_before just after it hides the answer.
    assert profile_store.answer_for("acme", "score", sid, not_before=got.created_at + timedelta(microseconds=1)) is None


def test_a_driver_error_is_sqlalchemys_exception(profile_store: ProfileStore):
    key = _key("bo")
    _enrolled(profile_store, key)
    sql = DriverSQL(profile_store._engine.dialect)
    row = ("acme", "score", str(uuid.uuid4()), 1, "c" * 64, "{}", sql.time_in(datetime.now(UTC)))
    insert = ("INSERT INTO scored_sessions (tenant, operation, session_id, user_id, fingerprint, answer, "
              "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
    with profile_store._transaction(write=True) as conn:
        user_id = sql.one(conn, "SELECT id FROM users WHERE user_key = ?", (key,))[0]
        row = (*row[:3], user_id, *row[4:])
        sql.execute(conn, insert, row)
    with pytest.raises(IntegrityError), profile_store._transaction(write=True) as conn:
        sql.execute(conn, insert, row)


def test_a_busy_sqlite_database_is_sqlalchemys_operational_error(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    key = _key("cy")
    with ProfileStore(url) as holder, ProfileStore(url, busy_timeout_ms=50) as waiter:
        _enrolled(holder, key)
        # The holder's transaction holds SQLite's write lock.
        with holder._transaction(write=True), pytest.raises(OperationalError, match="locked"):
            waiter.update_once("acme", key, lambda p: None,
                               RequestKey("score", str(uuid.uuid4()), "d" * 64), lambda p: {},
                               not_before=datetime.now(UTC) - timedelta(minutes=10), read_inputs=False)

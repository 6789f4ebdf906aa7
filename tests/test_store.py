"""Profile store on a real SQLite file (and PostgreSQL when BIOMETRICS_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import event as sa_event
from sqlalchemy.engine import make_url

from biometrics.profiles import ProfileConfig, UserProfile, enroll, new_profile, user_key
from biometrics.store import ProfileStore, RequestKey

SECRET = b"test-secret-0123456789abcdef0123"
D = 8
BOTH = ("keystrokes", "pointer")


def _key(user_id: str, tenant: str = "acme") -> str:
    return user_key(tenant, user_id, SECRET)


def _emb(i: int) -> np.ndarray:
    return np.random.default_rng(i).normal(size=D).astype(np.float32)


def _enroller(tenant: str, key: str, i: int, version: str = "v1", modalities=("keystrokes",)):
    def fn(p: UserProfile | None) -> UserProfile:
        base = p if p is not None else new_profile(tenant, key)
        return enroll(base, {m: _emb(100 * j + i) for j, m in enumerate(modalities)},
                      {m: np.full(16, 50.0 + i, np.float32) for m in modalities}, version)
    return fn


def _run_threads(work, n: int) -> None:
    """Run ``work(t)`` for t in 0..n-1 on n threads at once and wait for all."""
    threads = [threading.Thread(target=work, args=(t,)) for t in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def _row_counts(url: str) -> tuple[int, int]:
    """Rows in (users, modality_profiles), read straight from the database."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        with sqlite3.connect(u.database) as db:
            return (db.execute("SELECT count(*) FROM users").fetchone()[0],
                    db.execute("SELECT count(*) FROM modality_profiles").fetchone()[0])
    engine = create_engine(u)
    try:
        with engine.connect() as conn:
            return (conn.execute(text("SELECT count(*) FROM users")).scalar_one(),
                    conn.execute(text("SELECT count(*) FROM modality_profiles")).scalar_one())
    finally:
        engine.dispose()


def test_round_trip(profile_store: ProfileStore):
    key = _key("alice")
    assert profile_store.get("acme", key) is None
    for i in range(3):
        saved = profile_store.update("acme", key, _enroller("acme", key, i, modalities=BOTH))
    got = profile_store.get("acme", key)
    assert got is not None and got.state == "verifying" and got.n_sessions == 3
    assert got.created_at == saved.created_at and got.updated_at == saved.updated_at
    assert got.created_at.tzinfo is not None
    assert sorted(got.modalities) == ["keystrokes", "pointer"]
    for name, m in got.modalities.items():
        s = saved.modalities[name]
        assert m.model_version == "v1" and m.n_sessions == 3
        assert m.embeddings.dtype == np.float32 and m.embeddings.shape == (3, D)
        np.testing.assert_array_equal(m.embeddings, s.embeddings)
        assert (m.genuine_mean, m.genuine_sd) == (s.genuine_mean, s.genuine_sd)
        assert [v.tolist() for v in m.enrolled_signatures] == [v.tolist() for v in s.enrolled_signatures]
        assert len(m.enrolled_signatures) == 3 and m.head_state == {}
    assert profile_store.count_users("acme") == 1 and profile_store.ping()


def test_model_version_restart_is_stored(profile_store: ProfileStore):
    key = _key("bob")
    for i in range(3):
        profile_store.update("acme", key, _enroller("acme", key, i))

    def restart(p):
        return enroll(p, {"keystrokes": np.ones(4, np.float32)}, {}, "v2")
    profile_store.update("acme", key, restart)
    m = profile_store.get("acme", key).modalities["keystrokes"]
    assert m.model_version == "v2" and m.embeddings.shape == (1, 4) and m.n_sessions == 1


def test_erasure_removes_the_rows(store_url: str):
    with ProfileStore(store_url) as store:
        keep, gone = _key("carol"), _key("dave")
        for i in range(3):
            store.update("acme", keep, _enroller("acme", keep, i, modalities=BOTH))
            store.update("acme", gone, _enroller("acme", gone, 10 + i, modalities=BOTH))
        assert _row_counts(store_url) == (2, 4)
        assert store.delete("acme", gone) is True
        assert store.delete("acme", gone) is False
        assert store.get("acme", gone) is None and store.get("acme", keep) is not None
        assert _row_counts(store_url) == (1, 2)
        assert store.delete("acme", keep) is True
        assert _row_counts(store_url) == (0, 0)


def test_erased_embeddings_leave_no_bytes_in_the_sqlite_files(tmp_path: Path):
    db = tmp_path / "profiles.db"
    marker = np.full(D, 1234.5678, np.float32)
    with ProfileStore(f"sqlite:///{db}") as store:
        key = _key("erin")
        store.update("acme", key,
                     lambda p: enroll(new_profile("acme", key), {"keystrokes": marker}, {}, "v1"))
        store.update("acme", _key("frank"), _enroller("acme", _key("frank"), 1))
        files = [f for f in (db, Path(f"{db}-wal")) if f.exists()]
        assert any(marker.tobytes() in f.read_bytes() for f in files)
        assert store.delete("acme", key)
        for f in (db, Path(f"{db}-wal")):
            assert not f.exists() or marker.tobytes() not in f.read_bytes()


def test_tenant_isolation(profile_store: ProfileStore):
    key = _key("grace")  # the same key stored under two tenants
    for i in range(3):
        profile_store.update("acme", key, _enroller("acme", key, i))
    profile_store.update("globex", key, _enroller("globex", key, 50))
    a, g = profile_store.get("acme", key), profile_store.get("globex", key)
    assert (a.tenant, a.n_sessions, a.state) == ("acme", 3, "verifying")
    assert (g.tenant, g.n_sessions, g.state) == ("globex", 1, "enrolling")
    assert profile_store.count_users("acme") == 1 and profile_store.count_users("globex") == 1
    assert profile_store.count_users("initech") == 0
    assert profile_store.delete("acme", key)
    assert profile_store.get("acme", key) is None
    assert profile_store.get("globex", key).n_sessions == 1
    with pytest.raises(ValueError, match="another tenant"):
        profile_store.update("globex", key, lambda p: _enroller("acme", key, 1)(None))
    assert profile_store.get("globex", key).n_sessions == 1


@pytest.mark.parametrize("shared", [True, False], ids=["one_store", "store_per_thread"])
def test_concurrent_enrolls_lose_no_update(store_url: str, shared: bool):
    threads_n, per_thread = 8, 10
    key = _key("heidi")
    ProfileStore(store_url).close()  # tables exist before the race
    if shared:
        stores = [ProfileStore(store_url)] * threads_n
    else:
        stores = [ProfileStore(store_url) for _ in range(threads_n)]
    start, errors = threading.Barrier(threads_n), []

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                stores[t].update("acme", key, _enroller("acme", key, t * per_thread + i))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    _run_threads(work, threads_n)
    for s in set(stores):
        s.close()
    assert not errors, errors
    with ProfileStore(store_url) as store:
        p = store.get("acme", key)
        assert p.n_sessions == threads_n * per_thread
        m = p.modalities["keystrokes"]
        assert m.n_sessions == threads_n * per_thread
        assert m.embeddings.shape == (ProfileConfig().max_embeddings, D)
        assert len(m.enrolled_signatures) == min(threads_n * per_thread, ProfileConfig().max_enrolled_signatures)
        assert store.count_users("acme") == 1


def test_failing_update_rolls_back(profile_store: ProfileStore, store_url: str):
    key = _key("ivan")
    for i in range(2):
        profile_store.update("acme", key, _enroller("acme", key, i))
    before = profile_store.get("acme", key)

    def boom(p):
        _enroller("acme", key, 9)(p)
        raise RuntimeError("scoring failed")
    with pytest.raises(RuntimeError, match="scoring failed"):
        profile_store.update("acme", key, boom)
    after = profile_store.get("acme", key)
    assert (after.n_sessions, after.state) == (before.n_sessions, before.state)
    assert after.updated_at == before.updated_at
    np.testing.assert_array_equal(after.modalities["keystrokes"].embeddings,
                                  before.modalities["keystrokes"].embeddings)
    # A failure on a new user leaves no row behind; so does fn returning None.
    with pytest.raises(RuntimeError):
        profile_store.update("acme", _key("judy"), boom)
    assert profile_store.update("acme", _key("judy"), lambda p: None) is None
    assert profile_store.update("acme", key, lambda p: None).n_sessions == 2
    assert _row_counts(store_url) == (1, 1)


def test_raw_user_ids_and_bad_urls_are_refused(tmp_path: Path):
    with ProfileStore(f"sqlite:///{tmp_path / 'p.db'}") as store:
        with pytest.raises(ValueError, match="user_key"):
            store.get("acme", "alice@example.com")
        with pytest.raises(ValueError, match="tenant"):
            store.get("", _key("alice"))
    with pytest.raises(ValueError, match="file path"):
        ProfileStore("sqlite://")
    with pytest.raises(ValueError, match="unsupported"):
        ProfileStore("mysql://u:p@localhost/db")


def test_sqlite_pragmas(tmp_path: Path):
    with ProfileStore(f"sqlite:///{tmp_path / 'p.db'}") as store, store._engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1


# Idempotency: scored_sessions -------------------------------------------------------

SID = "6f1c2a34-9b7e-4d51-8a0c-3e2f1d4b5a69"


def _rkey(fp: str = "a", session_id: str = SID, operation: str = "score") -> RequestKey:
    return RequestKey(operation, session_id, (fp * 64)[:64])


def _answer_rows(url: str) -> list[tuple]:
    """(tenant, operation, session_id, fingerprint, answer) of every scored_sessions row."""
    q = "SELECT tenant, operation, session_id, fingerprint, answer FROM scored_sessions ORDER BY tenant"
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        with sqlite3.connect(u.database) as db:
            return [tuple(r) for r in db.execute(q).fetchall()]
    engine = create_engine(u)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(q)).all()]
    finally:
        engine.dispose()


def _counting(fn):
    calls = []

    def wrapped(p):
        calls.append(1)
        return fn(p)
    return wrapped, calls


def _now() -> datetime:
    return datetime.now(UTC)


def test_update_once_applies_once_and_returns_the_recorded_answer(profile_store: ProfileStore,
                                                                  store_url: str):
    key = _key("kim")
    fn, calls = _counting(_enroller("acme", key, 1))
    old = _now() - timedelta(hours=1)
    first = profile_store.update_once("acme", key, fn, _rkey(), lambda p: {"sessions": p.n_sessions},
                                      not_before=old)
    assert first is not None and first.fingerprint == "a" * 64 and first.answer == {"sessions": 1}
    again = profile_store.update_once("acme", key, fn, _rkey(), lambda p: {"sessions": p.n_sessions},
                                      not_before=old)
    assert calls == [1]  # the second call applied nothing
    assert again.answer == {"sessions": 1} and again.fingerprint == first.fingerprint
    assert profile_store.get("acme", key).n_sessions == 1
    # Another fingerprint under the same id gets the recorded answer too: the caller refuses it.
    other = profile_store.update_once("acme", key, fn, _rkey("b"), lambda p: {"x": 1}, not_before=old)
    assert other.fingerprint == "a" * 64 and calls == [1]
    assert profile_store.answer_for("acme", "score", SID, not_before=old).answer == {"sessions": 1}
    assert profile_store.answer_for("globex", "score", SID, not_before=old) is None  # per tenant
    assert profile_store.answer_for("acme", "enroll", SID, not_before=old) is None  # per operation
    rows = _answer_rows(store_url)
    assert len(rows) == 1 and rows[0][:4] == ("acme", "score", SID, "a" * 64)
    assert _row_counts(store_url) == (1, 1)


def test_update_once_records_nothing_for_a_missing_user_or_a_failure(profile_store: ProfileStore,
                                                                      store_url: str):
    key, old = _key("lee"), _now() - timedelta(hours=1)
    assert profile_store.update_once("acme", key, lambda p: None, _rkey(), lambda p: {},
                                     not_before=old) is None
    with pytest.raises(RuntimeError):
        profile_store.update_once("acme", key, lambda p: (_ for _ in ()).throw(RuntimeError("x")),
                                  _rkey(), lambda p: {}, not_before=old)
    assert _row_counts(store_url) == (0, 0) and _answer_rows(store_url) == []
    # fn returning None for an existing user writes no profile change but records the answer.
    profile_store.update("acme", key, _enroller("acme", key, 1))
    before = profile_store.get("acme", key)
    got = profile_store.update_once("acme", key, lambda p: None, _rkey(), lambda p: {"risk": 0.5},
                                    not_before=old)
    assert got.answer == {"risk": 0.5}
    assert profile_store.get("acme", key).updated_at == before.updated_at
    assert len(_answer_rows(store_url)) == 1


def test_expired_answers_are_ignored_and_deleted(profile_store: ProfileStore, store_url: str):
    key = _key("mia")
    fn, calls = _counting(_enroller("acme", key, 1))
    profile_store.update_once("acme", key, fn, _rkey(), lambda p: {"n": p.n_sessions},
                              not_before=_now() - timedelta(hours=1))
    later = _now() + timedelta(seconds=1)  # as if the TTL had passed
    assert profile_store.answer_for("acme", "score", SID, not_before=later) is None
    got = profile_store.update_once("acme", key, fn, _rkey("c"), lambda p: {"n": p.n_sessions},
                                    not_before=later)
    assert calls == [1, 1] and got.answer == {"n": 2} and got.fingerprint == "c" * 64
    assert [r[3] for r in _answer_rows(store_url)] == ["c" * 64]  # the expired row was replaced
    other = _rkey("d", session_id="00000000-0000-4000-8000-000000000000")
    profile_store.update_once("acme", _key("ned"), _enroller("acme", _key("ned"), 2), other,
                              lambda p: {}, not_before=later)
    assert profile_store.purge_answers(_now() - timedelta(hours=1)) == 0
    assert profile_store.purge_answers(_now() + timedelta(seconds=1)) == 2
    assert _answer_rows(store_url) == [] and profile_store.count_answers("acme") == 0


def test_erasure_removes_the_answers(profile_store: ProfileStore, store_url: str):
    keep, gone, old = _key("olga"), _key("pete"), _now() - timedelta(hours=1)
    profile_store.update_once("acme", gone, _enroller("acme", gone, 1), _rkey("e"), lambda p: {},
                              not_before=old)
    profile_store.update_once("acme", keep, _enroller("acme", keep, 2),
                              _rkey("f", session_id="11111111-1111-4111-8111-111111111111"),
                              lambda p: {}, not_before=old)
    assert profile_store.count_answers("acme") == 2
    assert profile_store.delete("acme", gone)
    assert [r[3] for r in _answer_rows(store_url)] == ["f" * 64]
    assert profile_store.answer_for("acme", "score", SID, not_before=old) is None


def test_answers_cascade_with_the_user_row(profile_store: ProfileStore, store_url: str):
    key = _key("quinn")
    profile_store.update_once("acme", key, _enroller("acme", key, 1), _rkey(), lambda p: {},
                              not_before=_now() - timedelta(hours=1))
    engine = create_engine(make_url(store_url))
    if engine.dialect.name == "sqlite":
        @sa_event.listens_for(engine, "connect")
        def _fk(dbapi_conn, _record):
            dbapi_conn.execute("PRAGMA foreign_keys = ON")
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM modality_profiles"))
            conn.execute(text("DELETE FROM users"))
    finally:
        engine.dispose()
    assert _answer_rows(store_url) == []


def test_request_key_is_validated():
    with pytest.raises(ValueError, match="UUID"):
        RequestKey("score", "not-a-uuid", "a" * 64)
    with pytest.raises(ValueError, match="UUID"):
        RequestKey("score", SID.upper(), "a" * 64)
    with pytest.raises(ValueError, match="fingerprint"):
        RequestKey("score", SID, "alice@example.com")


@pytest.mark.parametrize("same_user", [True, False], ids=["same_user", "other_users"])
def test_concurrent_copies_apply_once(store_url: str, same_user: bool):
    """Copies of one request in threads: one applies and records; every copy gets its answer.

    Other users under one session id (a client bug or an attack) race on the unique key
    instead of the user lock: the loser's transaction is rolled back entirely.
    """
    threads_n = 6
    ProfileStore(store_url).close()
    stores = [ProfileStore(store_url) for _ in range(threads_n)]
    keys = [_key("rita" if same_user else f"rita{t}") for t in range(threads_n)]
    start, lock = threading.Barrier(threads_n), threading.Lock()
    calls, results, errors = [], [None] * threads_n, []

    def work(t: int) -> None:
        def fn(p):
            with lock:
                calls.append(t)
            time.sleep(0.05)  # widen the window
            return _enroller("acme", keys[t], t)(p)
        try:
            start.wait()
            results[t] = stores[t].update_once(
                "acme", keys[t], fn, _rkey("0123456789abcdef"[t]), lambda p, t=t: {"by": t},
                not_before=_now() - timedelta(hours=1))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    _run_threads(work, threads_n)
    for s in stores:
        s.close()
    assert not errors, errors
    winner = results[0].answer["by"]
    assert all(r.answer == {"by": winner} for r in results)
    assert all(r.fingerprint == ("0123456789abcdef"[winner] * 64) for r in results)
    rows = _answer_rows(store_url)
    assert len(rows) == 1
    with ProfileStore(store_url) as store:
        if same_user:
            assert calls == [winner] and store.get("acme", keys[0]).n_sessions == 1
        else:  # the losers ran fn but wrote nothing: their users do not exist
            assert winner in calls
            assert [store.get("acme", k) is not None for k in keys] == [t == winner
                                                                       for t in range(threads_n)]

"""Alembic migrations of the profile store, on SQLite (and PostgreSQL when
BIOMETRICS_TEST_POSTGRES_URL is set): a database made by the previous release's
``create_all`` is stamped and upgraded with its data intact; a fresh one gets head; the
migrations build exactly the Tables in biometrics.store; hosts starting at once do not race."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from datetime import UTC, datetime

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    create_engine,
    insert,
    inspect,
    text,
)

from biometrics import migrations
from biometrics.profiles import embeddings_to_bytes, user_key, vectors_to_bytes
from biometrics.store import DecisionRecord, ProfileStore, RequestKey, metadata
from serving import migrate

SECRET = b"test-secret-0123456789abcdef0123"
HEAD = "0006"
SID = "0b6f3c1e-2a4d-4e8f-9c7b-5d1a2e3f4b6c"

# The previous release's tables, verbatim (biometrics/store.py before scored_sessions).
old_metadata = MetaData()
old_users = Table(
    "users", old_metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant", String(128), nullable=False),
    Column("user_key", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("n_sessions", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "user_key", name="uq_users_tenant_user_key"),
)
old_modality_profiles = Table(
    "modality_profiles", old_metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("modality", String(16), primary_key=True),
    Column("model_version", String(128), nullable=False),
    Column("embeddings", LargeBinary, nullable=False),
    Column("genuine_mean", Double, nullable=False),
    Column("genuine_sd", Double, nullable=False),
    Column("n_sessions", Integer, nullable=False),
    Column("signatures", LargeBinary, nullable=False),
)


def _engine(url: str):
    return create_engine(url)


def _previous_release_database(url: str) -> tuple[str, np.ndarray, list[np.ndarray]]:
    """What the previous release left: its create_all, one user with one modality profile."""
    key = user_key("acme", "alice", SECRET)
    embs = np.random.default_rng(7).normal(size=(3, 8)).astype(np.float32)
    sigs = [np.full(16, 51.0, np.float32), np.arange(16, dtype=np.float32)]
    created = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            old_metadata.create_all(conn)
            uid = conn.execute(insert(old_users).values(
                tenant="acme", user_key=key, state="verifying", n_sessions=3,
                created_at=created, updated_at=created)).inserted_primary_key[0]
            conn.execute(insert(old_modality_profiles).values(
                user_id=uid, modality="keystrokes", model_version="bundle-v1",
                embeddings=embeddings_to_bytes(embs), genuine_mean=0.25, genuine_sd=0.05,
                n_sessions=3, signatures=vectors_to_bytes(sigs)))
    finally:
        engine.dispose()
    return key, embs, sigs


def _tables(url: str) -> set[str]:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _version_rows(url: str) -> list[str]:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


def _schema_diff(url: str, target: MetaData) -> list:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), target)
    finally:
        engine.dispose()
    return [d for d in diff if not (d[0] == "remove_table" and d[1].name == "alembic_version")]


def _triggers(url: str) -> set[str]:
    """The names of the triggers on the store's tables."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            else:
                query = ("SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                         "WHERE NOT t.tgisinternal AND pg_table_is_visible(c.oid)")
            return {r[0] for r in conn.execute(text(query))}
    finally:
        engine.dispose()


_VERSION_TRIGGERS = {"users_version_on_update", "modality_profiles_version_on_insert",
                     "modality_profiles_version_on_update", "modality_profiles_version_on_delete"}
_PG_VERSION_TRIGGERS = {"users_version_on_update", "modality_profiles_version"}


def _version_triggers(url: str) -> set[str]:
    return _VERSION_TRIGGERS if url.startswith("sqlite") else _PG_VERSION_TRIGGERS


def test_the_store_makes_the_version_triggers_of_revision_6():
    """create_all (a database made without migrations) makes the same triggers as the frozen 0006."""
    import importlib.util

    from biometrics import store

    path = Path(migrations.__file__).parent / "versions" / "0006_profile_version.py"
    spec = importlib.util.spec_from_file_location("revision_0006", path)
    rev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rev)
    assert store._VERSION_TRIGGERS == {"sqlite": rev.SQLITE_TRIGGERS, "postgresql": rev.POSTGRESQL_TRIGGERS}


def test_the_version_triggers_raise_the_version_on_every_change(store_url: str):
    with ProfileStore(store_url) as store:
        assert store.has_version_triggers()
    assert _version_triggers(store_url) <= _triggers(store_url)
    key, _embs, _sigs = user_key("acme", "alice", SECRET), None, None
    engine = _engine(store_url)
    now = datetime.now(UTC)
    versions = []

    def version(conn) -> int:
        return conn.execute(text("SELECT version FROM users")).scalar_one()

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (tenant, user_key, state, n_sessions, created_at, updated_at) "
                          "VALUES ('acme', :k, 'enrolling', 0, :t, :t)"), {"k": key, "t": now})
        uid = conn.execute(text("SELECT id FROM users")).scalar_one()
        versions.append(version(conn))
        conn.execute(text("UPDATE users SET n_sessions = 1 WHERE id = :u"), {"u": uid})
        versions.append(version(conn))
        conn.execute(text("INSERT INTO modality_profiles (user_id, modality, model_version, embeddings, "
                          "genuine_mean, genuine_sd, n_sessions, signatures) VALUES (:u, 'keystrokes', 'v1', "
                          ":e, 0, 0, 1, :s)"),
                     {"u": uid, "e": embeddings_to_bytes(np.zeros((1, 4), np.float32)), "s": vectors_to_bytes([])})
        versions.append(version(conn))
        conn.execute(text("UPDATE modality_profiles SET signatures = :s WHERE user_id = :u"),
                     {"u": uid, "s": vectors_to_bytes([np.ones(4, np.float32)])})
        versions.append(version(conn))
        conn.execute(text("UPDATE users SET version = 1000 WHERE id = :u"), {"u": uid})  # set as such
        versions.append(version(conn))
        conn.execute(text("DELETE FROM modality_profiles WHERE user_id = :u"), {"u": uid})
        versions.append(version(conn))
    engine.dispose()
    assert versions == [0, 1, 2, 3, 1000, 1001]


def test_head_is_the_newest_revision():
    assert migrations.head() == HEAD
    assert [s.revision for s in migrations.script().walk_revisions()] == ["0006", "0005", "0004", "0003", "0002", "0001"]


def test_previous_release_database_is_stamped_and_upgraded(store_url: str):
    key, embs, sigs = _previous_release_database(store_url)
    assert "alembic_version" not in _tables(store_url)
    assert "scored_sessions" not in _tables(store_url)

    with ProfileStore(store_url) as store:
        assert store.schema_revision() == HEAD
        p = store.get("acme", key)
        assert p is not None and (p.state, p.n_sessions) == ("verifying", 3)
        assert p.created_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        m = p.modalities["keystrokes"]
        assert (m.model_version, m.genuine_mean, m.genuine_sd, m.n_sessions) == ("bundle-v1", 0.25,
                                                                                0.05, 3)
        np.testing.assert_array_equal(m.embeddings, embs)
        # The previous release's raw-timing signatures are erased at rest by revision 0004.
        assert sigs and m.replay_signatures == () and m.enrolled_signatures == ()
        # The new table works with the old rows.
        rk = RequestKey("score", SID, "f" * 64)
        got = store.update_once("acme", key, lambda prof: None, rk, lambda prof: {"n": prof.n_sessions},
                                not_before=datetime(2000, 1, 1, tzinfo=UTC))
        assert got is not None and got.answer == {"n": 3}
        assert store.count_answers("acme") == 1

    assert {"users", "modality_profiles", "scored_sessions", "alembic_version"} <= _tables(store_url)
    assert _version_rows(store_url) == [HEAD]
    assert _schema_diff(store_url, metadata) == []
    with ProfileStore(store_url) as store:  # a restart finds nothing to do
        assert store.schema_revision() == HEAD and store.get("acme", key).n_sessions == 3
    assert _version_rows(store_url) == [HEAD]


def test_fresh_database_gets_head_and_matches_the_tables(store_url: str):
    with ProfileStore(store_url) as store:
        assert store.schema_revision() == HEAD
    assert _version_rows(store_url) == [HEAD]
    assert _schema_diff(store_url, metadata) == []


def test_revision_1_is_the_previous_release_schema(store_url: str):
    with ProfileStore(store_url, create_tables=False) as store:
        assert store.schema_revision() is None
        store.migrate("0001")
        assert store.schema_revision() == "0001"
    assert "scored_sessions" not in _tables(store_url)
    assert _schema_diff(store_url, old_metadata) == []


def test_upgrade_from_revision_2_keeps_profiles_and_answers_and_adds_the_decision_log(store_url: str):
    """A database the release before the decisions log left at 0002 (a user, a recorded
    answer) upgrades to head: rows intact, ``decisions`` and ``feedback`` work beside them."""
    key, embs, _sigs = _previous_release_database(store_url)
    with ProfileStore(store_url, create_tables=False) as store:
        store.migrate("0002")
        assert store.schema_revision() == "0002"
    engine = _engine(store_url)  # the answer that release recorded (its columns, written directly)
    with engine.begin() as conn:
        uid = conn.execute(text("SELECT id FROM users")).scalar_one()
        conn.execute(text("INSERT INTO scored_sessions (tenant, operation, session_id, user_id, fingerprint, "
                          "answer, created_at) VALUES ('acme', 'score', :sid, :uid, :fp, '{\"n\": 3}', :at)"),
                     {"sid": SID, "uid": uid, "fp": "f" * 64, "at": datetime.now(UTC)})
    engine.dispose()
    assert not {"decisions", "feedback"} & _tables(store_url)
    with ProfileStore(store_url) as store:
        assert store.schema_revision() == HEAD
        assert store.count_answers("acme") == 1
        np.testing.assert_array_equal(store.get("acme", key).modalities["keystrokes"].embeddings, embs)
        store.update("acme", key, lambda prof: None,
                     decision_of=lambda: DecisionRecord(SID, 0.9, "deny", False, "bundle-v1"))
        assert store.count_decisions("acme") == 1
        fb = store.record_feedback("acme", SID, "chargeback", datetime(2026, 1, 2, tzinfo=UTC))
        assert fb is not None and fb.created and store.count_feedback("acme") == 1
        assert [r.outcome for r in store.labelled_decisions("acme")] == ["chargeback"]
    assert _version_rows(store_url) == [HEAD]
    assert _schema_diff(store_url, metadata) == []
    assert migrate.main(["--url", store_url, "downgrade", "0002"]) == 0
    assert not {"decisions", "feedback"} & _tables(store_url) and _version_rows(store_url) == ["0002"]


def test_database_made_by_create_all_of_this_release_is_stamped_at_head(store_url: str):
    engine = _engine(store_url)
    with engine.begin() as conn:
        metadata.create_all(conn)
    engine.dispose()
    assert _version_triggers(store_url) <= _triggers(store_url)
    with ProfileStore(store_url) as store:
        assert store.schema_revision() == HEAD and store.profile_cache is not None
    assert _version_rows(store_url) == [HEAD]


def test_downgrade_and_upgrade_keep_the_profiles(store_url: str):
    key, embs, _sigs = _previous_release_database(store_url)
    ProfileStore(store_url).close()
    assert _version_triggers(store_url) <= _triggers(store_url)
    assert migrate.main(["--url", store_url, "downgrade", "0005"]) == 0  # the triggers and the column go
    assert not _version_triggers(store_url) & _triggers(store_url)
    with ProfileStore(store_url, create_tables=False) as store:
        assert store.profile_cache is None
    assert migrate.main(["--url", store_url, "downgrade", "0001"]) == 0
    assert "scored_sessions" not in _tables(store_url) and _version_rows(store_url) == ["0001"]
    assert migrate.main(["--url", store_url, "upgrade"]) == 0
    assert _version_triggers(store_url) <= _triggers(store_url)
    with ProfileStore(store_url) as store:
        assert store.schema_revision() == HEAD
        np.testing.assert_array_equal(store.get("acme", key).modalities["keystrokes"].embeddings, embs)


def test_cli_current_upgrade_stamp(store_url: str, capsys: pytest.CaptureFixture[str]):
    assert migrate.main(["--url", store_url, "current"]) == 0
    assert "database at no revision; head is 0006" in capsys.readouterr().out
    assert migrate.main(["--url", store_url, "upgrade", "0001"]) == 0
    assert "database at 0001" in capsys.readouterr().out
    assert migrate.main(["--url", store_url, "upgrade"]) == 0
    assert capsys.readouterr().out.strip() == "database at 0006; head is 0006"
    assert migrate.main(["--url", store_url, "history"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("0006  users.version")


def test_a_newer_schema_or_unknown_tables_are_refused(store_url: str, tmp_path):
    ProfileStore(store_url).close()
    engine = _engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffffffff'"))
    engine.dispose()
    with pytest.raises(RuntimeError, match="newer release"):
        ProfileStore(store_url)
    assert migrate.main(["--url", store_url, "upgrade"]) == 1

    partial = f"sqlite:///{tmp_path / 'partial.db'}"
    engine = _engine(partial)
    with engine.begin() as conn:
        old_users.create(conn)  # users alone: matches no release
    engine.dispose()
    with pytest.raises(RuntimeError, match="match no release"):
        ProfileStore(partial)


_HOST = """
import sys, time
from biometrics.store import ProfileStore
url, at = sys.argv[1], float(sys.argv[2])
time.sleep(max(0.0, at - time.time()))
ProfileStore(url).close()
"""


@pytest.mark.parametrize("legacy", [False, True], ids=["fresh", "previous_release"])
def test_hosts_starting_at_once_migrate_once(store_url: str, legacy: bool):
    """Separate processes (API hosts) open the store at the same instant: one migrates, the
    others wait on the schema lock and find nothing to do."""
    if legacy:
        key, _embs, _sigs = _previous_release_database(store_url)
    at = time.time() + 3.0  # after every interpreter has started
    hosts = [subprocess.Popen([sys.executable, "-c", _HOST, store_url, str(at)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(4)]
    outs = [(h.communicate(timeout=120)[0], h.returncode) for h in hosts]
    assert all(rc == 0 for _out, rc in outs), [out for out, rc in outs if rc]
    assert _version_rows(store_url) == [HEAD]
    assert _schema_diff(store_url, metadata) == []
    if legacy:
        with ProfileStore(store_url) as store:
            assert store.get("acme", key).n_sessions == 3


def test_threads_of_one_process_opening_stores_at_once(store_url: str):
    n = 6
    start, errors, stores = threading.Barrier(n), [], []

    def host() -> None:
        try:
            start.wait()
            stores.append(ProfileStore(store_url))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=host) for _ in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    for s in stores:
        s.close()
    assert not errors, errors
    assert _version_rows(store_url) == [HEAD]

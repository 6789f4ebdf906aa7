"""Profile store on SQLAlchemy 2: a SQLite file by default, PostgreSQL when many API hosts share it.

    store = ProfileStore("sqlite:///profiles.db")        # or "postgresql+psycopg://user:pw@host/db"
    profile = store.update(tenant, key,
                           lambda p: enroll(p or new_profile(tenant, key), embs, sigs, version))

Five tables: ``users`` (one row per tenant and hashed user key), ``modality_profiles``
(one row per user and modality; embeddings and replay signatures as float32 blobs, never
pickles), ``scored_sessions`` (the answer given to a request that named a session id,
with an HMAC fingerprint of the request, never the request itself: see
:meth:`ProfileStore.update_once`), ``decisions`` (one row per score answer: session id when
the request named one, risk, decision, model version, time; no events, no user id, only the
user's row id) and ``feedback`` (the outcome a tenant learnt for a decided session: see
:meth:`ProfileStore.record_feedback`). A score's decision row is written in the score's own
per-user transaction (``decision_of`` of :meth:`ProfileStore.update` and
:meth:`ProfileStore.update_once`); decisions and feedback are kept a bounded time
(:meth:`ProfileStore.purge_decisions`). Every query names the tenant. :meth:`ProfileStore.update` is one transaction that
reads, applies a pure function and writes, serialized per user: SQLite takes the write lock
up front (``BEGIN IMMEDIATE``, waiting up to ``busy_timeout_ms``); PostgreSQL locks the
user's row (``SELECT ... FOR UPDATE``) and claims a new user with ``INSERT ... ON CONFLICT
DO NOTHING`` before locking it, so concurrent requests lose no update. SQLite runs in WAL
mode with foreign keys on and ``secure_delete`` on, and :meth:`ProfileStore.delete`
checkpoints the WAL afterwards, so erased profiles do not linger in the file; a user's
``scored_sessions``, ``decisions`` and ``feedback`` rows go with the user (``ON DELETE
CASCADE``, and deleted explicitly).
PostgreSQL keeps deleted tuples until (auto)vacuum reclaims them.

**Kept enrollment inputs** (``modality_profiles.enrollment_inputs``, revision 0005: what a
scorer embedded for the last enrolled items, so that ``python -m serving.reembed`` can make a new
bundle's vectors of them) are encrypted at rest with AES-256-GCM under the store's
``profile_key`` (:class:`InputsCipher`; a random nonce per write, the tenant, user key and
modality as associated data, so a blob moved to another row does not decrypt), decrypted only in
memory, erased with the profile, and never returned by the service. A store without a key
neither reads nor writes them; a wrong key fails with :class:`ProfileKeyError` (checked when the
store opens). ``other_versions`` holds the vectors other model versions made of them.

The schema is versioned with Alembic (:mod:`biometrics.migrations`): a store opened with
``create_tables=True`` (the default) migrates the database to this release's newest revision
under a lock (PostgreSQL: an advisory lock, so API hosts starting at once do not race);
``python -m serving.migrate upgrade`` does the same by hand. The Tables below must match
the newest revision (``tests/test_migrations.py`` checks).

A PostgreSQL URL may set the schema with libpq options, e.g.
``postgresql+psycopg://u:p@host/db?options=-csearch_path%3Dbiometrics``.

**Write-behind scores** (``write_behind_s`` > 0; the API's default): :meth:`ProfileStore.read_and_queue`
scores against a profile read without any write lock, and the score's writes (its decision row,
and an allowed session's replay signatures) are queued and written by a background thread in
batches, one transaction each (:class:`biometrics.write_behind.WriteBehind`), within about
``write_behind_s``. In this process a queued signature counts at once: a read of the same user
sees it, and reads by one process of one user are serialized, so two copies of a session sent
to one process never both pass the replay guard. Other processes see it once written. Every
other method that reads what scores write (:meth:`get`, the decisions and feedback, and
:meth:`update` / :meth:`update_once` before their locked read) first writes what is queued, and
:meth:`close` writes the rest. What a process had queued when it died (killed, out of memory,
power lost) is lost: at most the last ``write_behind_s`` of decision rows and replay signatures.
Enrollments, profile updates, idempotency answers and feedback are never deferred.

**Profile cache** (``profile_cache_bytes`` > 0, the default; only where the database has the version
triggers of revision 0006, :meth:`ProfileStore.has_version_triggers`): :meth:`read_and_queue` keeps the
profiles it decodes, each with the stamp of the rows it came from (the user row's id, creation time and
``version``). The database's triggers raise ``users.version`` in the transaction of every change of the
user's rows, whatever wrote it, so a later score reads the stamp alone (one small query) and reuses the
decoded profile only when it is unchanged; otherwise it reads the rows again (their stamp in the same
statement). A batch of queued writes moves this process's cached profile from the stamp it locked to the
one it wrote. A score with a session id (:meth:`update_once` with ``read_inputs`` False) reads the
stamp of the row it locks and reuses the cached profile the same way, and its write (an allowed
session's signatures) moves the cached profile on to the stamp it leaves. Nothing else reads from the
cache: :meth:`get`, :meth:`update` and an enrolling :meth:`update_once` always read the rows (and
decrypt the kept inputs).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import re
import sqlite3
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import numpy as np
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Double,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Row,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from biometrics.driver_sql import DriverSQL
from biometrics.feedback import LabelledDecision
from biometrics.profiles import (
    ModalityProfile,
    UserProfile,
    embeddings_from_bytes,
    embeddings_to_bytes,
    inputs_from_bytes,
    inputs_to_bytes,
    state_from_bytes,
    state_to_bytes,
    vectors_from_bytes,
    vectors_to_bytes,
    versions_from_bytes,
    versions_to_bytes,
)
from biometrics.write_behind import WriteBehind

log = logging.getLogger(__name__)

#: Default memory for a store's cache of decoded profiles (:class:`ProfileStore`).
DEFAULT_PROFILE_CACHE_BYTES = 64 << 20

ProfileUpdate = Callable[[UserProfile | None], UserProfile | None]

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant", String(128), nullable=False),
    Column("user_key", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("n_sessions", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Raised by the database's triggers on every change of the user's rows (revision 0006).
    Column("version", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("tenant", "user_key", name="uq_users_tenant_user_key"),
)

modality_profiles = Table(
    "modality_profiles", metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("modality", String(16), primary_key=True),
    Column("model_version", String(128), nullable=False),
    Column("embeddings", LargeBinary, nullable=False),
    Column("genuine_mean", Double, nullable=False),
    Column("genuine_sd", Double, nullable=False),
    Column("n_sessions", Integer, nullable=False),
    Column("signatures", LargeBinary, nullable=False),
    Column("head_state", LargeBinary, nullable=True),
    Column("enrolled_signatures", LargeBinary, nullable=True),
    Column("enrollment_inputs", LargeBinary, nullable=True),  # encrypted (InputsCipher); 0005
    Column("other_versions", LargeBinary, nullable=True),  # re-embedded vectors per model version; 0005
)

scored_sessions = Table(
    "scored_sessions", metadata,
    Column("tenant", String(128), primary_key=True),
    Column("operation", String(16), primary_key=True),
    Column("session_id", String(36), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("answer", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_scored_sessions_user_id", "user_id"),
    Index("ix_scored_sessions_created_at", "created_at"),
)

decisions = Table(
    "decisions", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant", String(128), nullable=False),
    Column("session_id", String(36), nullable=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("risk", Double, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("by_policy", Boolean, nullable=False),
    Column("model_version", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_decisions_tenant_session_id", "tenant", "session_id"),
    Index("ix_decisions_user_id", "user_id"),
    Index("ix_decisions_created_at", "created_at"),
)

feedback = Table(
    "feedback", metadata,
    Column("tenant", String(128), primary_key=True),
    Column("session_id", String(36), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("learnt_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_feedback_user_id", "user_id"),
    Index("ix_feedback_created_at", "created_at"),
)

# The triggers that raise users.version (revision 0006, which keeps its own frozen copy: a test
# checks the two agree). Made here too for a database made by create_all.
_VERSION_TRIGGERS = {
    "sqlite": (
        """CREATE TRIGGER users_version_on_update AFTER UPDATE ON users
    WHEN NEW.version = OLD.version
    BEGIN UPDATE users SET version = OLD.version + 1 WHERE id = NEW.id; END""",
        """CREATE TRIGGER modality_profiles_version_on_insert AFTER INSERT ON modality_profiles
    BEGIN UPDATE users SET version = version + 1 WHERE id = NEW.user_id; END""",
        """CREATE TRIGGER modality_profiles_version_on_update AFTER UPDATE ON modality_profiles
    BEGIN UPDATE users SET version = version + 1 WHERE id IN (OLD.user_id, NEW.user_id); END""",
        """CREATE TRIGGER modality_profiles_version_on_delete AFTER DELETE ON modality_profiles
    BEGIN UPDATE users SET version = version + 1 WHERE id = OLD.user_id; END""",
    ),
    "postgresql": (
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
    ),
}
#: Trigger names per dialect (what :meth:`ProfileStore.has_version_triggers` looks for).
_VERSION_TRIGGER_NAMES = {
    "sqlite": ("users_version_on_update", "modality_profiles_version_on_insert",
               "modality_profiles_version_on_update", "modality_profiles_version_on_delete"),
    "postgresql": ("users_version_on_update", "modality_profiles_version"),
}


@event.listens_for(modality_profiles, "after_create")
def _create_version_triggers(_table: Table, conn: Connection, **_kw: Any) -> None:
    for statement in _VERSION_TRIGGERS.get(conn.dialect.name, ()):
        conn.exec_driver_sql(statement)


_KEY = re.compile(r"[0-9a-f]{64}")
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_WRITE = "biometrics_write"  # execution option: this transaction writes (SQLite: BEGIN IMMEDIATE)
_SCHEMA_LOCK = 0x42494F4D  # PostgreSQL advisory lock id serializing migrations across hosts


def _profile_rows() -> Select:
    mp = modality_profiles
    return (select(users.c.id, users.c.state, users.c.n_sessions, users.c.created_at,
                   users.c.updated_at, users.c.version, mp.c.modality, mp.c.model_version, mp.c.embeddings,
                   mp.c.genuine_mean, mp.c.genuine_sd, mp.c.n_sessions.label("m_n_sessions"),
                   mp.c.signatures, mp.c.head_state, mp.c.enrolled_signatures, mp.c.enrollment_inputs,
                   mp.c.other_versions)
            .select_from(users.outerjoin(mp, mp.c.user_id == users.c.id))
            .where(users.c.tenant == bindparam("b_tenant"), users.c.user_key == bindparam("b_user_key"))
            .order_by(mp.c.modality))


# Built once: constructing a statement costs more than SQLAlchemy's cached compilation of it.
_PROFILE_ROWS = _profile_rows()
# The write-behind writer's statements (built once).
_LIVE_USERS = (select(users.c.id, users.c.tenant, users.c.user_key, users.c.created_at, users.c.version)
               .where(users.c.id.in_(bindparam("b_ids", expanding=True))).order_by(users.c.id).with_for_update())
_USER_VERSIONS = select(users.c.id, users.c.version).where(users.c.id.in_(bindparam("b_ids", expanding=True)))
_INSERT_DECISIONS = insert(decisions)
_SIGNATURE_RINGS = (select(modality_profiles.c.user_id, modality_profiles.c.modality, modality_profiles.c.signatures)
                    .where(modality_profiles.c.user_id.in_(bindparam("b_ids", expanding=True))))
_SET_SIGNATURE_RING = (update(modality_profiles)
                       .where(modality_profiles.c.user_id == bindparam("b_user_id"),
                              modality_profiles.c.modality == bindparam("b_modality"))
                       .values(signatures=bindparam("b_signatures")))
# A score's statements under the user's lock, as driver SQL (biometrics.driver_sql: a tenth of
# the CPU of SQLAlchemy Core per statement). They must name the columns of the Tables above.
_SQL_LOCK_USER = "SELECT id, created_at, version FROM users WHERE tenant = ? AND user_key = ?"
_SQL_LOCK_USER_PG = _SQL_LOCK_USER + " FOR UPDATE"
#: A user's stamp, unlocked: what a write-behind score checks its cached profile against (:class:`_ProfileCache`).
_SQL_STAMP = _SQL_LOCK_USER
_SQL_ANSWER = ("SELECT fingerprint, answer, created_at FROM scored_sessions "
               "WHERE tenant = ? AND operation = ? AND session_id = ?")
_SQL_DELETE_ANSWER = "DELETE FROM scored_sessions WHERE tenant = ? AND operation = ? AND session_id = ?"
_SQL_INSERT_ANSWER = ("INSERT INTO scored_sessions (tenant, operation, session_id, user_id, fingerprint, answer, "
                      "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
_SQL_USER_VERSION = "SELECT version FROM users WHERE id = ?"
_SQL_INSERT_DECISION = ("INSERT INTO decisions (tenant, session_id, user_id, risk, decision, by_policy, "
                        "model_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")


def _check_ids(tenant: str, user_key: str) -> None:
    if not isinstance(tenant, str) or not 0 < len(tenant) <= 128:
        raise ValueError("tenant must be a non-empty string of at most 128 characters")
    if not isinstance(user_key, str) or not _KEY.fullmatch(user_key):
        raise ValueError("user_key must be the 64-character hex key from biometrics.profiles.user_key, "
                         "never a raw user id")


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class ProfileKeyError(ValueError):
    """Kept enrollment inputs that the store's profile key cannot decrypt (another key, or altered)."""


_SEALED_MAGIC = b"BME1"
PROFILE_KEY_BYTES = 32


class InputsCipher:
    """AES-256-GCM sealing of kept enrollment inputs: ``magic | key id (4) | nonce (12) | ciphertext+tag``.

    The key id (the first bytes of a SHA-256 of the key) tells a blob sealed under another key
    apart from an altered one; the associated data binds a blob to its tenant, user and modality.
    """

    def __init__(self, key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not isinstance(key, bytes | bytearray) or len(key) != PROFILE_KEY_BYTES:
            raise ValueError(f"the profile key must be {PROFILE_KEY_BYTES} bytes (AES-256)")
        self._aead = AESGCM(bytes(key))
        self.key_id = hashlib.sha256(b"biometrics profile key id\x00" + bytes(key)).digest()[:4]

    @staticmethod
    def _aad(tenant: str, user_key: str, modality: str) -> bytes:
        parts = [x.encode("utf-8") for x in (tenant, user_key, modality)]
        return b"".join(struct.pack(">I", len(x)) + x for x in parts)

    def seal(self, plaintext: bytes, tenant: str, user_key: str, modality: str) -> bytes:
        """The encrypted blob of ``plaintext`` for this row."""
        nonce = os.urandom(12)
        return (_SEALED_MAGIC + self.key_id + nonce
                + self._aead.encrypt(nonce, plaintext, self._aad(tenant, user_key, modality)))

    def open(self, blob: bytes, tenant: str, user_key: str, modality: str) -> bytes:
        """The plaintext of a blob :meth:`seal` made for this row; :class:`ProfileKeyError` otherwise."""
        from cryptography.exceptions import InvalidTag

        blob = bytes(blob)
        if len(blob) < 4 + 4 + 12 + 16 or blob[:4] != _SEALED_MAGIC:
            raise ProfileKeyError("the kept enrollment inputs are not an encrypted blob")
        if blob[4:8] != self.key_id:
            raise ProfileKeyError("the kept enrollment inputs were encrypted under another profile key "
                                  "(BIOMETRICS_PROFILE_KEY); start with the key that wrote them")
        try:
            return self._aead.decrypt(blob[8:20], blob[20:], self._aad(tenant, user_key, modality))
        except InvalidTag:
            raise ProfileKeyError("the kept enrollment inputs fail authentication: altered, or moved "
                                  "from another user's row") from None


@dataclass(frozen=True)
class RequestKey:
    """Names one idempotent request: what it does, the session it carries, and its fingerprint.

    ``operation`` is a short name such as ``score`` or ``enroll`` (each has its own id space);
    ``session_id`` the session's UUID in canonical lower-case form; ``fingerprint`` a hex
    HMAC-SHA256 of the canonical request (made by the caller; the store never sees the request).
    """

    operation: str
    session_id: str
    fingerprint: str

    def __post_init__(self) -> None:
        if not isinstance(self.operation, str) or not 0 < len(self.operation) <= 16:
            raise ValueError("operation must be a non-empty string of at most 16 characters")
        if not isinstance(self.session_id, str) or not _SESSION_ID.fullmatch(self.session_id):
            raise ValueError("session_id must be a lower-case canonical UUID")
        if not isinstance(self.fingerprint, str) or not _FINGERPRINT.fullmatch(self.fingerprint):
            raise ValueError("fingerprint must be a 64-character hex HMAC-SHA256")


@dataclass(frozen=True)
class StoredAnswer:
    """The answer recorded for a request key, and the fingerprint of the request it answered."""

    fingerprint: str
    answer: dict[str, Any]
    created_at: datetime


AnswerOf = Callable[[UserProfile], dict[str, Any]]


@dataclass(frozen=True)
class DecisionRecord:
    """One score answer as the decisions log keeps it: no events, no user id."""

    session_id: str | None  # lower-case canonical UUID, when the request named one
    risk: float
    decision: str  # allow, challenge or deny
    by_policy: bool  # a policy (enrolling profile, too little data), not a threshold on the risk
    model_version: str

    def __post_init__(self) -> None:
        if self.session_id is not None and not _SESSION_ID.fullmatch(self.session_id):
            raise ValueError("session_id must be a lower-case canonical UUID")
        if self.decision not in ("allow", "challenge", "deny"):
            raise ValueError(f"unknown decision {self.decision!r}")


#: Called in the score's transaction after the profile function: the decision to log, or None.
DecisionOf = Callable[[], DecisionRecord | None]


@dataclass(frozen=True)
class ScoreWrites:
    """What one score writes behind (:meth:`ProfileStore.read_and_queue`): the decision to log, and
    per modality the replay signature of an allowed session, appended to that modality's recent
    ring, which keeps the last ``keep`` (a modality the profile lacks is skipped)."""

    decision: DecisionRecord | None = None
    signatures: Mapping[str, np.ndarray] = field(default_factory=dict)
    keep: int = 50


#: Scores the profile read by :meth:`ProfileStore.read_and_queue`: what to write, or None.
ScorePlan = Callable[[UserProfile], ScoreWrites | None]


@dataclass(frozen=True, eq=False)
class _Queued:
    """One score's writes waiting to be written, with the user row they belong to (eq: identity)."""

    user_id: int
    tenant: str
    user_key: str
    writes: ScoreWrites
    at: datetime  # when the score answered: the decision row's time


#: Stripes of the per-process user locks that serialize reads and queued writes of one user.
_USER_LOCKS = 64

#: What a cached profile was decoded from: its user row's id, creation time and version. The
#: version is raised by the database's triggers with every change of the user's rows (revision
#: 0006), so rows with the same stamp are the same rows; the id and creation time tell a user
#: erased and created again apart (SQLite may give the new row the old id, and its version
#: starts again).
Stamp = tuple[int, datetime, int]


def _stamp(row: Row) -> Stamp:
    return int(row.id), _utc(row.created_at), int(row.version)


def _profile_nbytes(profile: UserProfile) -> int:
    """About the memory a decoded profile holds (its arrays, and a little for the rest)."""
    n = 1024
    for m in profile.modalities.values():
        n += 512 + m.embeddings.nbytes + sum(a.nbytes for a in m.head_state.values())
        n += sum(s.nbytes + 112 for s in m.replay_signatures) + sum(s.nbytes + 112 for s in m.enrolled_signatures)
        for v in m.other_versions.values():
            n += v.embeddings.nbytes + sum(a.nbytes for a in v.head_state.values())
    return n


class _ProfileCache:
    """This process's decoded profiles (read for scoring: kept inputs left encrypted), least
    recently used first out, within ``max_bytes``; each with the :data:`Stamp` of the rows it was
    decoded from. A profile is served only to a reader that has just read the same stamp from
    the database (:meth:`ProfileStore.read_and_queue`), so it is never older than a read of
    the rows would be. Thread-safe; profiles are immutable, so readers share them."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._entries: OrderedDict[tuple[str, str], tuple[Stamp, UserProfile, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._entries

    def get(self, key: tuple[str, str], stamp: Stamp) -> UserProfile | None:
        """The profile decoded from rows with this stamp, or None (an older one is dropped)."""
        with self._lock:
            held = self._entries.get(key)
            if held is None or held[0] != stamp:
                self.misses += 1
                if held is not None:
                    self._drop(key)
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return held[1]

    def put(self, key: tuple[str, str], stamp: Stamp, profile: UserProfile) -> None:
        """Keep a profile decoded from rows with this stamp (a newer one held stays)."""
        size = _profile_nbytes(profile)
        if size > self.max_bytes:
            return
        with self._lock:
            held = self._entries.get(key)
            if held is not None:
                if held[0][:2] == stamp[:2] and held[0][2] > stamp[2]:
                    return  # a concurrent reader or writer already holds a newer one
                self._drop(key)
            self._entries[key] = (stamp, profile, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def advance(self, key: tuple[str, str], before: Stamp, after: Stamp,
                change: Callable[[UserProfile], UserProfile]) -> None:
        """A write this process committed took the rows from ``before`` to ``after``: a profile
        held at ``before`` becomes ``change(profile)`` at ``after`` (another is left as it is)."""
        with self._lock:
            held = self._entries.get(key)
            if held is None or held[0] != before:
                return
            self._drop(key)
        self.put(key, after, change(held[1]))

    def drop(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._drop(key)

    def _drop(self, key: tuple[str, str]) -> None:
        held = self._entries.pop(key, None)
        if held is not None:
            self._bytes -= held[2]


@dataclass(frozen=True)
class StoredFeedback:
    """The outcome stored for a session; ``created``: stored by this call (else it was already there)."""

    session_id: str
    outcome: str
    learnt_at: datetime
    recorded_at: datetime
    created: bool


def _after_queued_writes(method: Callable) -> Callable:
    """A locked read-modify-write of one user (``method(self, tenant, user_key, ...)``) that runs
    in this process's turn of the user, after the queued score writes are written: so ``fn``'s
    replay check sees every signature this process has queued, as :meth:`read_and_queue` does."""

    @functools.wraps(method)
    def wrapped(self: ProfileStore, tenant: str, user_key: str, *args: Any, **kwargs: Any) -> Any:
        with self._user_lock(tenant, user_key):
            self.flush()
            return method(self, tenant, user_key, *args, **kwargs)

    return wrapped


class ProfileStore:
    """Users' behavioral profiles in SQLite or PostgreSQL, isolated per tenant."""

    def __init__(self, url: str = "sqlite:///profiles.db", *, busy_timeout_ms: int = 10_000,
                 pool_size: int = 5, create_tables: bool = True, profile_key: bytes | None = None,
                 write_behind_s: float = 0.0, profile_cache_bytes: int = DEFAULT_PROFILE_CACHE_BYTES) -> None:
        """``profile_key``: 32 bytes that encrypt kept enrollment inputs (None: the store neither
        reads nor writes them); checked against a stored blob when the store opens.
        ``write_behind_s``: how long :meth:`read_and_queue` may keep a score's writes queued
        (0: it writes them before it returns). ``profile_cache_bytes``: memory for the decoded
        profiles :meth:`read_and_queue` keeps (0: none; see the module docstring)."""
        if write_behind_s < 0:
            raise ValueError("write_behind_s must not be negative")
        if profile_cache_bytes < 0:
            raise ValueError("profile_cache_bytes must not be negative")
        self._cipher = InputsCipher(profile_key) if profile_key is not None else None
        self._user_locks = [threading.Lock() for _ in range(_USER_LOCKS)]
        self._unwritten: dict[tuple[str, str], list[_Queued]] = {}  # queued signatures, per user
        self._unwritten_lock = threading.Lock()
        self._behind: WriteBehind[_Queued] | None = None
        u = make_url(url)
        backend = u.get_backend_name()
        if backend == "sqlite":
            if not u.database or u.database == ":memory:" or u.database.startswith("file:"):
                raise ValueError("the SQLite profile store needs a file path, e.g. "
                                 "sqlite:///profiles.db (an in-memory database is not shared "
                                 "between connections)")
            if u.get_driver_name() != "pysqlite":
                raise ValueError(f"unsupported SQLite driver {u.get_driver_name()!r}; "
                                 "use sqlite:///path.db")
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
            self._engine: Engine = create_engine(
                u, pool_size=pool_size, max_overflow=2 * pool_size,
                connect_args={"timeout": busy_timeout_ms / 1000.0, "check_same_thread": False})
            self._install_sqlite_events(busy_timeout_ms)
        elif backend == "postgresql":
            if u.drivername == "postgresql":
                u = u.set(drivername="postgresql+psycopg")
            if u.get_driver_name() != "psycopg":
                raise ValueError(f"unsupported PostgreSQL driver {u.get_driver_name()!r}; "
                                 "use postgresql+psycopg://user:password@host/db")
            self._engine = create_engine(u, pool_size=pool_size, max_overflow=2 * pool_size,
                                         pool_pre_ping=True)
        else:
            raise ValueError(f"unsupported profile store URL scheme {backend!r}; "
                             "use sqlite:///path.db or postgresql+psycopg://...")
        self._sqlite = backend == "sqlite"
        self._sql = DriverSQL(self._engine.dialect)
        if create_tables:
            self.create_tables()
            self.check_profile_key()
        self._cache: _ProfileCache | None = None
        if profile_cache_bytes > 0:
            if self.has_version_triggers():
                self._cache = _ProfileCache(profile_cache_bytes)
            else:
                log.warning("the profile store's version triggers are missing (schema not migrated to "
                            "revision 0006, or a table was recreated): serving without the profile cache")
        if write_behind_s > 0:  # started last: a store that failed to open leaves no thread behind
            self._behind = WriteBehind(self._write_scores, write_behind_s, on_written=self._written,
                                       name="profile-store-writes")

    @property
    def writes_behind(self) -> bool:
        """Whether :meth:`read_and_queue` defers a score's writes (``write_behind_s`` > 0)."""
        return self._behind is not None

    @property
    def keeps_inputs(self) -> bool:
        """Whether the store has a profile key, so it can keep enrollment inputs."""
        return self._cipher is not None

    def has_version_triggers(self) -> bool:
        """Whether the database has the (enabled) triggers that raise ``users.version`` on every
        change of a user's rows: without them a cached profile could not be checked."""
        if self._sqlite:
            query = text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            names = _VERSION_TRIGGER_NAMES["sqlite"]
        else:
            query = text("SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                         "WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND pg_table_is_visible(c.oid) "
                         "AND c.relname IN ('users', 'modality_profiles')")
            names = _VERSION_TRIGGER_NAMES["postgresql"]
        try:
            with self._transaction(write=False) as conn:
                found = {r[0] for r in conn.execute(query)}
        except SQLAlchemyError:
            return False
        return set(names) <= found

    def check_profile_key(self) -> None:
        """Raise :class:`ProfileKeyError` when the profile key cannot decrypt a stored blob of kept inputs."""
        if self._cipher is None:
            return
        mp = modality_profiles
        with self._transaction(write=False) as conn:
            row = conn.execute(select(users.c.tenant, users.c.user_key, mp.c.modality, mp.c.enrollment_inputs)
                               .select_from(mp.join(users, users.c.id == mp.c.user_id))
                               .where(mp.c.enrollment_inputs.is_not(None)).limit(1)).one_or_none()
        if row is not None:
            self._cipher.open(row.enrollment_inputs, row.tenant, row.user_key, row.modality)

    def _install_sqlite_events(self, busy_timeout_ms: int) -> None:
        @event.listens_for(self._engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            # Switching a new file to WAL takes an exclusive lock, and SQLite answers "database is
            # locked" at once (no busy wait) when another connection is migrating it meanwhile:
            # retried within the busy timeout.
            deadline = time.monotonic() + busy_timeout_ms / 1000.0
            while True:
                try:
                    cur.execute("PRAGMA journal_mode = WAL")
                    break
                except sqlite3.OperationalError as err:
                    if "locked" not in str(err) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA secure_delete = ON")
            cur.close()

        @event.listens_for(self._engine, "begin")
        def _begin(conn: Connection) -> None:
            # A writer takes the lock before its first read: a deferred reader that later
            # writes fails at once under WAL (SQLITE_BUSY_SNAPSHOT) instead of waiting.
            write = conn.get_execution_options().get(_WRITE)
            self._sql.execute(conn, "BEGIN IMMEDIATE" if write else "BEGIN")  # driver SQL: every transaction

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Connection]:
        with self._engine.connect() as conn:
            if write:
                conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    def create_tables(self) -> None:
        """Migrate the schema to this release's newest revision (:meth:`migrate` to ``head``)."""
        self.migrate("head")

    @contextmanager
    def schema_lock(self) -> Iterator[Connection]:
        """A transaction holding the schema lock: PostgreSQL's advisory lock (every host
        that migrates takes it first), SQLite's write lock (``BEGIN IMMEDIATE``)."""
        with self._transaction(write=True) as conn:
            if not self._sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
            yield conn

    def migrate(self, revision: str = "head") -> None:
        """Run the Alembic migrations up to ``revision`` (:mod:`biometrics.migrations`), in one
        transaction under :meth:`schema_lock`, so hosts starting at once migrate one at a time
        and the later ones find nothing to do. A database made by ``create_all`` before
        migrations existed is stamped at the revision it matches first."""
        from biometrics import migrations

        with self.schema_lock() as conn:
            migrations.upgrade(conn, revision)

    def schema_revision(self) -> str | None:
        """The schema revision the database is at (None before any migration)."""
        from biometrics import migrations

        with self._transaction(write=False) as conn:
            return migrations.current(conn)

    # Reading -----------------------------------------------------------------------

    @staticmethod
    def _rows(conn: Connection, tenant: str, user_key: str) -> Sequence[Row]:
        """The user's row joined with its modality rows (none: no such user)."""
        return conn.execute(_PROFILE_ROWS, {"b_tenant": tenant, "b_user_key": user_key}).all()

    def _inputs(self, tenant: str, user_key: str, row: Row):
        """The decrypted kept inputs of a row (None without any, or without a key to read them)."""
        if row.enrollment_inputs is None or self._cipher is None:
            return None
        return inputs_from_bytes(self._cipher.open(row.enrollment_inputs, tenant, user_key, row.modality))

    def _profile(self, tenant: str, user_key: str, rows: Sequence[Row], read_inputs: bool = True) -> UserProfile:
        """The profile of its rows; ``read_inputs`` False leaves kept inputs encrypted (``inputs_unread``)."""
        first = rows[0]
        mods = {r.modality: ModalityProfile(
            r.modality, r.model_version, embeddings_from_bytes(r.embeddings), float(r.genuine_mean),
            float(r.genuine_sd), int(r.m_n_sessions), vectors_from_bytes(r.signatures),
            state_from_bytes(r.head_state),
            vectors_from_bytes(r.enrolled_signatures) if r.enrolled_signatures is not None else (),
            self._inputs(tenant, user_key, r) if read_inputs else None, versions_from_bytes(r.other_versions),
            inputs_unread=not read_inputs and r.enrollment_inputs is not None)
            for r in rows if r.modality is not None}
        return UserProfile(tenant, user_key, first.state, int(first.n_sessions), mods,
                           _utc(first.created_at), _utc(first.updated_at))

    def get(self, tenant: str, user_key: str) -> UserProfile | None:
        """The stored profile of a user in a tenant, or None."""
        _check_ids(tenant, user_key)
        self.flush()  # this process's queued score writes first
        with self._transaction(write=False) as conn:
            rows = self._rows(conn, tenant, user_key)
        return self._profile(tenant, user_key, rows) if rows else None

    def user_keys(self, after: int = 0, limit: int = 500) -> list[tuple[int, str, str]]:
        """``(row id, tenant, user key)`` of up to ``limit`` users with a row id above ``after``, in
        id order, all tenants: how a batch job (``python -m serving.reembed``) walks every profile."""
        with self._transaction(write=False) as conn:
            rows = conn.execute(select(users.c.id, users.c.tenant, users.c.user_key)
                                .where(users.c.id > after).order_by(users.c.id).limit(limit)).all()
        return [(int(r.id), r.tenant, r.user_key) for r in rows]

    def count_users(self, tenant: str) -> int:
        """Number of users with a profile in a tenant."""
        with self._transaction(write=False) as conn:
            return int(conn.execute(select(func.count()).select_from(users)
                                    .where(users.c.tenant == tenant)).scalar_one())

    def answer_for(self, tenant: str, operation: str, session_id: str, *,
                   not_before: datetime) -> StoredAnswer | None:
        """The answer recorded for a session id at or after ``not_before`` (older ones are ignored)."""
        with self._transaction(write=False) as conn:
            return self._answer(conn, tenant, operation, session_id, not_before)

    @staticmethod
    def _answer(conn: Connection, tenant: str, operation: str, session_id: str,
                not_before: datetime | None) -> StoredAnswer | None:
        ss = scored_sessions
        row = conn.execute(select(ss.c.fingerprint, ss.c.answer, ss.c.created_at)
                           .where(ss.c.tenant == tenant, ss.c.operation == operation,
                                  ss.c.session_id == session_id)).one_or_none()
        if row is None:
            return None
        created = _utc(row.created_at)
        if not_before is not None and created < _utc(not_before):
            return None
        return StoredAnswer(row.fingerprint, json.loads(row.answer), created)

    def count_answers(self, tenant: str) -> int:
        """Number of recorded answers in a tenant (expired ones included until purged)."""
        with self._transaction(write=False) as conn:
            return int(conn.execute(select(func.count()).select_from(scored_sessions)
                                    .where(scored_sessions.c.tenant == tenant)).scalar_one())

    def ping(self) -> bool:
        """True when the database answers (readiness)."""
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    # Writing -----------------------------------------------------------------------

    @_after_queued_writes
    def update(self, tenant: str, user_key: str, fn: ProfileUpdate, *,
               decision_of: DecisionOf | None = None) -> UserProfile | None:
        """Atomically replace a user's profile with ``fn(stored profile or None)``.

        One transaction, serialized per user, so concurrent updates lose nothing. ``fn``
        returning None writes no profile; an exception in ``fn`` rolls back and propagates.
        Returns the profile stored afterwards. ``fn`` must not change the profile it is
        given (profiles are immutable; :func:`biometrics.profiles.enroll` returns a new one).
        ``decision_of`` (called after ``fn``) gives a decision to log in the same transaction,
        for an existing user (never for one this call would create).
        """
        _check_ids(tenant, user_key)
        with self._engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})
            with conn.begin() as tx:
                user_id, claimed, current, _ = self._lock(conn, tenant, user_key)
                new = fn(current)
                decision = decision_of() if decision_of is not None and not (claimed and new is None) else None
                if new is None and decision is None:
                    tx.rollback()
                    return current
                if new is not None:
                    self._write(conn, user_id, tenant, user_key, current, new)
                if decision is not None:
                    self._sql.execute(conn, _SQL_INSERT_DECISION,
                                      self._decision_row(tenant, user_id, decision, datetime.now(UTC)))
        return new if new is not None else current

    @_after_queued_writes
    def update_once(self, tenant: str, user_key: str, fn: ProfileUpdate, key: RequestKey,
                    answer_of: AnswerOf, *, not_before: datetime,
                    decision_of: DecisionOf | None = None, read_inputs: bool = True) -> StoredAnswer | None:
        """:meth:`update` at most once per ``key``: apply ``fn`` and record its answer, atomically.

        In the user's transaction (the one :meth:`update` serializes): when an answer for
        ``(tenant, key.operation, key.session_id)`` recorded at or after ``not_before``
        exists, nothing else happens and it is returned, whatever its fingerprint (the
        caller compares it with ``key.fingerprint``). Otherwise ``fn`` runs as in
        :meth:`update`, ``answer_of(profile stored afterwards)`` is recorded under ``key``
        with the user row, and returned. When ``fn`` returns None for a user that does not
        exist, nothing is written or recorded and None is returned; for an existing user
        the answer is still recorded. An expired answer (before ``not_before``) under this
        key is replaced; other expired answers stay until :meth:`purge_answers`. A concurrent transaction that records
        the same key first (another user, same session id: PostgreSQL) rolls this one back
        entirely and its answer is returned. ``decision_of`` (called after ``fn``, when an
        answer is recorded) gives a decision to log in the same transaction; a retry that
        finds its answer logs nothing again. ``read_inputs`` False (a score: it never uses
        the kept enrollment inputs) gives ``fn`` the profile with them left encrypted, from
        the profile cache when it holds the rows' stamp read under the lock; the cached copy then
        moves on to the stamp ``fn``'s write leaves (an allowed score's signatures).
        """
        _check_ids(tenant, user_key)
        not_before = _utc(not_before)
        sql = self._sql
        where_key = (tenant, key.operation, key.session_id)
        try:
            with self._engine.connect() as conn:
                conn.execution_options(**{_WRITE: True})
                with conn.begin() as tx:
                    user_id, claimed, current, stamp = self._lock(conn, tenant, user_key, read_inputs)
                    found = sql.one(conn, _SQL_ANSWER, where_key)
                    if found is not None and (at := sql.time_out(found[2])) >= not_before:
                        tx.rollback()  # also undoes a claimed user row
                        return StoredAnswer(found[0], json.loads(found[1]), at)
                    new = fn(current)
                    if new is None and claimed:
                        tx.rollback()
                        return None
                    if found is not None:  # expired: deleted, so that the key can be recorded again
                        sql.execute(conn, _SQL_DELETE_ANSWER, where_key)
                    advanced = None
                    if new is not None:
                        self._write(conn, user_id, tenant, user_key, current, new)
                        if (not read_inputs and stamp is not None and self._cache is not None
                                and (tenant, user_key) in self._cache
                                and all(m.inputs is None for m in new.modalities.values())):
                            # A score's write (its signatures): the cached profile moves on to the
                            # rows' new stamp (the row stays locked until the commit).
                            (version,) = sql.one(conn, _SQL_USER_VERSION, (user_id,))
                            advanced = (stamp, (*stamp[:2], int(version)))
                    after = new if new is not None else current
                    assert after is not None
                    record = answer_of(after)
                    decision = decision_of() if decision_of is not None else None
                    now = datetime.now(UTC)
                    if decision is not None:
                        sql.execute(conn, _SQL_INSERT_DECISION, self._decision_row(tenant, user_id, decision, now))
                    sql.execute(conn, _SQL_INSERT_ANSWER, (
                        *where_key, user_id, key.fingerprint,
                        json.dumps(record, sort_keys=True, separators=(",", ":"), allow_nan=False),
                        sql.time_in(now)))
            if advanced is not None:  # committed
                self._cache.advance((tenant, user_key), *advanced, lambda _: new)
            return StoredAnswer(key.fingerprint, record, now)
        except IntegrityError:
            # Another transaction recorded this key first (under another user's lock): all of
            # this one was rolled back, so its answer stands alone.
            with self._transaction(write=False) as conn:
                prior = self._answer(conn, tenant, key.operation, key.session_id, None)
            if prior is None:
                raise
            return prior

    def _decision_row(self, tenant: str, user_id: int, d: DecisionRecord, at: datetime) -> tuple:
        """The ``decisions`` row of one score answer, in :data:`_SQL_INSERT_DECISION`'s order."""
        return (tenant, d.session_id, user_id, float(d.risk), d.decision, bool(d.by_policy), d.model_version,
                self._sql.time_in(at))

    def purge_answers(self, not_before: datetime) -> int:
        """Delete every recorded answer older than ``not_before`` (all tenants); the count deleted."""
        with self._transaction(write=True) as conn:
            result = conn.execute(delete(scored_sessions)
                                  .where(scored_sessions.c.created_at < _utc(not_before)))
            return int(result.rowcount or 0)

    # Write-behind scores -------------------------------------------------------------

    def read_and_queue(self, tenant: str, user_key: str, plan: ScorePlan) -> UserProfile | None:
        """Score against the stored profile without a write lock, and write what the score
        writes behind (see the module docstring): ``plan(profile)`` gets the stored profile with
        this process's queued signatures, and its :class:`ScoreWrites` are queued (written before
        returning when the store has no ``write_behind_s``). Returns the profile ``plan`` got;
        None (``plan`` not called) when the user has no profile.

        One process's calls for one user are serialized; ``plan`` must not write the store.
        """
        _check_ids(tenant, user_key)
        with self._user_lock(tenant, user_key):
            # Taken before the read: a batch written in between is then seen twice (and counted
            # once, _with_unwritten), never missed.
            with self._unwritten_lock:
                queued = list(self._unwritten.get((tenant, user_key), ()))
            read = self._scoring_profile(tenant, user_key)
            if read is None:
                return None
            user_id, stored = read
            profile = _with_unwritten(stored, queued)
            writes = plan(profile)
            if writes is None or (writes.decision is None and not writes.signatures):
                return profile
            item = _Queued(user_id, tenant, user_key, writes, datetime.now(UTC))
            if self._behind is None:
                self._write_scores([item])
                return profile
            if writes.signatures:  # counted before it is queued: the writer may write it at once
                with self._unwritten_lock:
                    self._unwritten.setdefault((tenant, user_key), []).append(item)
            try:
                self._behind.put(item)
            except BaseException:  # not queued (the store fails): not counted either
                self._written([item])
                raise
        return profile

    def _scoring_profile(self, tenant: str, user_key: str) -> tuple[int, UserProfile] | None:
        """The user's row id and stored profile as a score reads it (kept inputs left encrypted: a
        score never uses them; one that enrolls is merged again under :meth:`update`), or None.

        From the profile cache when it holds the profile decoded from rows with the stamp the
        database has now (one small query, as driver SQL on its own); else read, decoded and kept
        in the cache (the rows carry their own stamp)."""
        key = (tenant, user_key)
        if self._cache is not None and key in self._cache:
            with self._sql.pooled(self._engine) as driver:
                row = self._sql.one(driver, _SQL_STAMP, (tenant, user_key))
            if row is None:
                self._cache.drop(key)
                return None
            stamp = self._driver_stamp(row)
            if (held := self._cache.get(key, stamp)) is not None:
                return stamp[0], held
        with self._transaction(write=False) as conn:
            return self._decoded(conn, tenant, user_key, None)

    def _decoded(self, conn: Connection, tenant: str, user_key: str,
                 stamp: Stamp | None) -> tuple[int, UserProfile] | None:
        """The user's row id and profile with its kept inputs left encrypted: the cached one decoded
        from rows with ``stamp`` (the database's now), else the rows read, decoded and cached."""
        key = (tenant, user_key)
        if stamp is not None and self._cache is not None and (held := self._cache.get(key, stamp)) is not None:
            return stamp[0], held
        rows = self._rows(conn, tenant, user_key)
        if not rows:
            return None
        profile = self._profile(tenant, user_key, rows, read_inputs=False)
        if self._cache is not None:
            self._cache.put(key, _stamp(rows[0]), profile)
        return int(rows[0].id), profile

    @property
    def profile_cache(self) -> _ProfileCache | None:
        """The cache of decoded profiles (None without one): its ``hits``, ``misses`` and size."""
        return self._cache

    def _user_lock(self, tenant: str, user_key: str) -> threading.Lock:
        """This process's lock of a user (striped: a few users share one)."""
        return self._user_locks[hash((tenant, user_key)) % _USER_LOCKS]

    def flush(self) -> None:
        """Write every score write queued so far (:meth:`read_and_queue`); a no-op without write-behind."""
        if self._behind is not None:
            self._behind.flush()

    def _write_scores(self, batch: list[_Queued]) -> None:
        """One transaction: the batch's decision rows, and its signatures appended to each modality's
        ring, for the users that still exist (an erased user's writes are dropped). A profile this
        process holds in its cache as it was before the transaction gets the new rings after it."""
        ids = sorted({q.user_id for q in batch})
        advanced: list[tuple[tuple[str, str], Stamp, Stamp, dict[str, tuple[np.ndarray, ...]]]] = []
        with self._transaction(write=True) as conn:
            # Locked in id order (PostgreSQL), as update() locks one: no lost update, no deadlock.
            live = {r.id: r for r in conn.execute(_LIVE_USERS, {"b_ids": ids})}
            batch = [q for q in batch if (r := live.get(q.user_id)) is not None
                     and (r.tenant, r.user_key) == (q.tenant, q.user_key)]
            rows = [_decision_values(q.tenant, q.user_id, q.writes.decision, q.at)
                    for q in batch if q.writes.decision is not None]
            if rows:
                conn.execute(_INSERT_DECISIONS, rows)
            rings = self._append_signatures(conn, [q for q in batch if q.writes.signatures])
            cache = self._cache
            held = sorted({u for u, _ in rings if (live[u].tenant, live[u].user_key) in cache}) if cache is not None else []
            if held:  # the versions our writes left (the rows stay locked until the commit)
                after = dict(conn.execute(_USER_VERSIONS, {"b_ids": held}).tuples().all())
                for u in held:
                    r = live[u]
                    advanced.append(((r.tenant, r.user_key), _stamp(r), (*_stamp(r)[:2], int(after[u])),
                                     {m: ring for (uid, m), ring in rings.items() if uid == u}))
        for key, before, after_stamp, changed in advanced:  # committed
            cache.advance(key, before, after_stamp, functools.partial(_with_rings, changed))

    @staticmethod
    def _append_signatures(conn: Connection, batch: list[_Queued]) -> dict[tuple[int, str], tuple[np.ndarray, ...]]:
        """Append the batch's signatures to the stored rings; the rings written, by (user row id, modality)."""
        if not batch:
            return {}
        found = conn.execute(_SIGNATURE_RINGS, {"b_ids": sorted({q.user_id for q in batch})})
        rings = {(r.user_id, r.modality): vectors_from_bytes(r.signatures) for r in found}
        changed = set()
        for q in batch:  # in the order scored
            for name, sig in q.writes.signatures.items():
                if (q.user_id, name) in rings:  # else the modality went meanwhile
                    rings[q.user_id, name] = (rings[q.user_id, name] + (sig,))[-q.writes.keep:]
                    changed.add((q.user_id, name))
        if changed:
            conn.execute(_SET_SIGNATURE_RING,
                         [{"b_user_id": u, "b_modality": m, "b_signatures": vectors_to_bytes(rings[u, m])}
                          for u, m in sorted(changed)])
        return {k: rings[k] for k in changed}

    def _written(self, batch: list[_Queued]) -> None:
        """A batch is committed: its signatures are now read from the store, not from the queue."""
        done = {id(q) for q in batch}
        with self._unwritten_lock:
            for user in {(q.tenant, q.user_key) for q in batch if q.writes.signatures}:
                left = [q for q in self._unwritten.get(user, ()) if id(q) not in done]
                if left:
                    self._unwritten[user] = left
                else:
                    self._unwritten.pop(user, None)

    def _forget_queued(self, tenant: str, user_key: str) -> None:
        """Drop an erased user's queued writes (a batch in flight finds the user gone, or is erased after)."""
        if self._behind is None:
            return
        self._behind.discard(lambda q: q.tenant == tenant and q.user_key == user_key)
        with self._unwritten_lock:
            self._unwritten.pop((tenant, user_key), None)

    # Decisions and feedback ----------------------------------------------------------

    def count_decisions(self, tenant: str) -> int:
        """Number of logged decisions in a tenant."""
        self.flush()
        with self._transaction(write=False) as conn:
            return int(conn.execute(select(func.count()).select_from(decisions)
                                    .where(decisions.c.tenant == tenant)).scalar_one())

    def count_feedback(self, tenant: str) -> int:
        """Number of stored outcomes in a tenant."""
        with self._transaction(write=False) as conn:
            return int(conn.execute(select(func.count()).select_from(feedback)
                                    .where(feedback.c.tenant == tenant)).scalar_one())

    def record_feedback(self, tenant: str, session_id: str, outcome: str,
                        learnt_at: datetime) -> StoredFeedback | None:
        """Store the outcome learnt for a decided session, once: None when the tenant has no
        decision with this session id. When an outcome is already stored for it, nothing is
        written and that one is returned (``created`` False; the caller compares outcomes)."""
        if not isinstance(session_id, str) or not _SESSION_ID.fullmatch(session_id):
            raise ValueError("session_id must be a lower-case canonical UUID")
        self.flush()  # the decision may still be queued (write-behind)
        fb = feedback
        try:
            with self._transaction(write=True) as conn:
                prior = self._feedback(conn, tenant, session_id)
                if prior is not None:
                    return prior
                user_id = conn.execute(
                    select(decisions.c.user_id)
                    .where(decisions.c.tenant == tenant, decisions.c.session_id == session_id)
                    .order_by(decisions.c.created_at.desc(), decisions.c.id.desc()).limit(1)
                ).scalar_one_or_none()
                if user_id is None:
                    return None
                now = datetime.now(UTC)
                conn.execute(insert(fb).values(tenant=tenant, session_id=session_id, user_id=user_id,
                                               outcome=outcome, learnt_at=_utc(learnt_at), created_at=now))
            return StoredFeedback(session_id, outcome, _utc(learnt_at), now, True)
        except IntegrityError:  # a concurrent call stored it first (PostgreSQL)
            with self._transaction(write=False) as conn:
                prior = self._feedback(conn, tenant, session_id)
            if prior is None:
                raise
            return prior

    @staticmethod
    def _feedback(conn: Connection, tenant: str, session_id: str) -> StoredFeedback | None:
        fb = feedback
        row = conn.execute(select(fb.c.outcome, fb.c.learnt_at, fb.c.created_at)
                           .where(fb.c.tenant == tenant, fb.c.session_id == session_id)).one_or_none()
        if row is None:
            return None
        return StoredFeedback(session_id, row.outcome, _utc(row.learnt_at), _utc(row.created_at), False)

    def labelled_decisions(self, tenant: str) -> list[LabelledDecision]:
        """Every logged decision of the tenant whose session has a stored outcome, joined with it."""
        d, fb = decisions, feedback
        self.flush()
        with self._transaction(write=False) as conn:
            found = conn.execute(
                select(d.c.session_id, d.c.model_version, d.c.risk, d.c.decision, d.c.by_policy,
                       fb.c.outcome, d.c.created_at)
                .select_from(d.join(fb, (fb.c.tenant == d.c.tenant) & (fb.c.session_id == d.c.session_id)))
                .where(d.c.tenant == tenant)
                .order_by(d.c.created_at, d.c.id)).all()
        rows = [LabelledDecision(r.session_id, r.model_version, float(r.risk), r.decision, bool(r.by_policy),
                                 r.outcome, _utc(r.created_at)) for r in found]
        return rows

    def purge_decisions(self, not_before: datetime) -> int:
        """Delete logged decisions and stored outcomes older than ``not_before`` (all tenants);
        the count of rows deleted."""
        cutoff = _utc(not_before)
        with self._transaction(write=True) as conn:
            n = conn.execute(delete(decisions).where(decisions.c.created_at < cutoff)).rowcount or 0
            n += conn.execute(delete(feedback).where(feedback.c.created_at < cutoff)).rowcount or 0
        return int(n)

    def _lock(self, conn: Connection, tenant: str, user_key: str,
              read_inputs: bool = True) -> tuple[int, bool, UserProfile | None, Stamp | None]:
        """Lock (or claim) the user's row: (row id, claimed now, stored profile or None, the locked
        row's stamp or None when claimed).

        ``read_inputs`` False: the profile with its kept inputs left encrypted, from the profile
        cache when it holds the stamp of the locked row (nothing can change it until commit)."""
        # Lock the user row first, then read the profile in a later statement: under
        # READ COMMITTED a locking join would re-check only the locked row after a
        # wait and return the other table's rows as of before the wait.
        sql = self._sql
        lock = _SQL_LOCK_USER_PG if sql.postgresql else _SQL_LOCK_USER
        row = sql.one(conn, lock, (tenant, user_key))
        if row is None:
            user_id = self._claim(conn, tenant, user_key)
            if user_id is not None:
                return user_id, True, None, None
            row = sql.one(conn, lock, (tenant, user_key))  # another transaction created the user meanwhile
            assert row is not None
        stamp = self._driver_stamp(row)
        if read_inputs:
            return stamp[0], False, self._profile(tenant, user_key, self._rows(conn, tenant, user_key)), stamp
        read = self._decoded(conn, tenant, user_key, stamp if self._cache is not None else None)
        assert read is not None  # the locked user row exists
        return stamp[0], False, read[1], stamp

    def _driver_stamp(self, row: tuple) -> Stamp:
        """The :data:`Stamp` of a driver row of :data:`_SQL_LOCK_USER` (id, created_at, version)."""
        return int(row[0]), self._sql.time_out(row[1]), int(row[2])

    def _claim(self, conn: Connection, tenant: str, user_key: str) -> int | None:
        """Insert an empty user row (id), or None if a concurrent transaction inserted it first."""
        now = datetime.now(UTC)
        values = {"tenant": tenant, "user_key": user_key, "state": "enrolling", "n_sessions": 0,
                  "created_at": now, "updated_at": now}
        if self._sqlite:  # BEGIN IMMEDIATE holds the write lock: no one else can insert
            return conn.execute(insert(users).values(**values)).inserted_primary_key[0]
        stmt = (pg_insert(users).values(**values)
                .on_conflict_do_nothing(index_elements=["tenant", "user_key"]).returning(users.c.id))
        return conn.execute(stmt).scalar_one_or_none()

    def _write(self, conn: Connection, user_id: int, tenant: str, user_key: str,
               current: UserProfile | None, new: UserProfile) -> None:
        if new.tenant != tenant or new.user_key != user_key:
            raise ValueError("the updated profile belongs to another tenant or user key")
        for name, m in new.modalities.items():
            if name != m.modality:
                raise ValueError(f"modality profile {m.modality!r} filed under {name!r}")
        if current is None or (current.state, current.n_sessions, current.created_at, current.updated_at) != (
                new.state, new.n_sessions, new.created_at, new.updated_at):  # else (a score's signatures) unchanged
            conn.execute(update(users).where(users.c.id == user_id, users.c.tenant == tenant)
                         .values(state=new.state, n_sessions=new.n_sessions,
                                 created_at=_utc(new.created_at), updated_at=_utc(new.updated_at)))
        old = dict(current.modalities) if current is not None else {}
        mp = modality_profiles
        for name, m in new.modalities.items():
            before = old.get(name)
            if before is m:  # unchanged object: nothing to write
                continue
            values = _modality_values(m, before)
            if before is None or before.inputs is not m.inputs:
                if m.inputs is not None and self._cipher is None:
                    raise ValueError("kept enrollment inputs need a store opened with a profile key")
                if self._cipher is not None:
                    values["enrollment_inputs"] = (None if m.inputs is None else self._cipher.seal(
                        inputs_to_bytes(m.inputs), tenant, user_key, name))
            if before is not None:  # only the columns that changed (a score's: its signatures), as driver SQL
                values = {c: v for c, v in values.items() if c not in _SCALARS or v != getattr(before, c)}
                if values:
                    self._sql.execute(conn, f"UPDATE modality_profiles SET {', '.join(f'{c} = ?' for c in values)} "
                                            "WHERE user_id = ? AND modality = ?", (*values.values(), user_id, name))
            else:
                conn.execute(insert(mp).values(user_id=user_id, modality=name, **values))
        gone = sorted(old.keys() - new.modalities.keys())
        if gone:
            conn.execute(delete(mp).where(mp.c.user_id == user_id, mp.c.modality.in_(gone)))

    def delete(self, tenant: str, user_key: str) -> bool:
        """Erase a user's profile, all its rows, and its queued score writes; False when there was none."""
        _check_ids(tenant, user_key)
        self._forget_queued(tenant, user_key)
        if self._cache is not None:
            self._cache.drop((tenant, user_key))
        with self._transaction(write=True) as conn:
            user_id = conn.execute(select(users.c.id).where(users.c.tenant == tenant,
                                                           users.c.user_key == user_key)
                                   .with_for_update()).scalar_one_or_none()
            if user_id is None:
                return False
            conn.execute(delete(modality_profiles).where(modality_profiles.c.user_id == user_id))
            conn.execute(delete(scored_sessions).where(scored_sessions.c.user_id == user_id))
            conn.execute(delete(decisions).where(decisions.c.user_id == user_id))
            conn.execute(delete(feedback).where(feedback.c.user_id == user_id))
            conn.execute(delete(users).where(users.c.id == user_id, users.c.tenant == tenant))
        if self._sqlite:
            self._checkpoint()
        return True

    def _checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it (best effort: readers may block it)."""
        raw = self._engine.raw_connection()  # outside any transaction: no BEGIN is emitted
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            raw.close()

    def close(self) -> None:
        """Write the queued score writes, then close every pooled connection."""
        if self._behind is not None:
            self._behind.close()
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ProfileStore({self._engine.url!r})"


def _decision_values(tenant: str, user_id: int, d: DecisionRecord, at: datetime) -> dict:
    """The ``decisions`` row of one score answer."""
    return {"tenant": tenant, "session_id": d.session_id, "user_id": user_id, "risk": float(d.risk),
            "decision": d.decision, "by_policy": bool(d.by_policy), "model_version": d.model_version,
            "created_at": at}


def _with_unwritten(profile: UserProfile, queued: Sequence[_Queued]) -> UserProfile:
    """The profile with queued replay signatures appended, in the order scored, as their write will
    append them; one the read already holds (its batch was written meanwhile) is not added again."""
    mods, changed = dict(profile.modalities), False
    for q in queued:
        for name, sig in q.writes.signatures.items():
            m = mods.get(name)
            if m is None or any(s.shape == sig.shape and np.array_equal(s, sig) for s in m.replay_signatures):
                continue
            ring = (m.replay_signatures + (sig,))[-q.writes.keep:]
            mods[name] = dataclasses.replace(m, replay_signatures=ring)
            changed = True
    return dataclasses.replace(profile, modalities=mods) if changed else profile


def _with_rings(rings: Mapping[str, tuple[np.ndarray, ...]], profile: UserProfile) -> UserProfile:
    """The profile with these modalities' recent replay-signature rings (as written)."""
    mods = dict(profile.modalities)
    for name, ring in rings.items():
        if name in mods:
            mods[name] = dataclasses.replace(mods[name], replay_signatures=ring)
    return dataclasses.replace(profile, modalities=mods)


#: The scalar columns of a modality profile row (each holds the ModalityProfile field of its name).
_SCALARS = ("model_version", "genuine_mean", "genuine_sd", "n_sessions")


def _modality_values(m: ModalityProfile, before: ModalityProfile | None) -> dict:
    """Columns of a modality profile row that differ from ``before`` (all of them for a new row).

    An allowed score changes only the replay signatures: the embeddings and head state (for
    a pointer profile, up to thousands of action vectors) are then the same objects and are
    not serialized and rewritten with every score.
    """
    if m.inputs_unread and not (before is not None and before.inputs_unread and before.inputs is m.inputs):
        # Its kept inputs are still encrypted in the row: writing is safe only where they stay.
        raise ValueError(f"{m.modality}: a profile read without its kept inputs cannot be written")
    same = lambda field: before is not None and getattr(before, field) is getattr(m, field)
    values = {"model_version": m.model_version, "genuine_mean": float(m.genuine_mean),
              "genuine_sd": float(m.genuine_sd), "n_sessions": int(m.n_sessions)}
    if not same("embeddings"):
        values["embeddings"] = embeddings_to_bytes(m.embeddings)
    if not same("replay_signatures"):
        values["signatures"] = vectors_to_bytes(m.replay_signatures)
    if not same("head_state"):
        values["head_state"] = state_to_bytes(m.head_state) if m.head_state else None
    if not same("enrolled_signatures"):
        values["enrolled_signatures"] = vectors_to_bytes(m.enrolled_signatures)
    if not same("other_versions"):
        values["other_versions"] = versions_to_bytes(m.other_versions) if m.other_versions else None
    return values

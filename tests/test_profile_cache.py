"""The store's cache of decoded profiles (SQLite, and PostgreSQL when BIOMETRICS_TEST_POSTGRES_URL is
set): a score reuses a profile only while the database's version of the user's rows is the one it
was decoded from, so whatever changes them (another process's enrollment or signatures, an erasure
and a new user under the same key, a hand-written SQL update) is read at the next score, never a
stale copy; and this process's own written signatures keep its copy current."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from biometrics.profiles import UserProfile, enroll, new_profile, user_key
from biometrics.store import DecisionRecord, ProfileStore, ScoreWrites

SECRET = b"test-secret-0123456789abcdef0123"
LONG = 60.0  # an interval no test waits for: only flush() and close() write


def _key(user_id: str) -> str:
    return user_key("acme", user_id, SECRET)


def _enroll(store: ProfileStore, key: str, value: float) -> None:
    store.update("acme", key, lambda p: enroll(
        p or new_profile("acme", key), {"keystrokes": np.full((1, 4), value, np.float32)},
        {"keystrokes": np.full(8, 100.0 + value, np.float32)}, "v1"))


def _enrolled(store: ProfileStore, key: str, n: int = 3) -> None:
    for i in range(n):
        _enroll(store, key, float(i))


def _read(store: ProfileStore, key: str, signature: float | None = None) -> UserProfile | None:
    """A score's read of the profile (read_and_queue); with ``signature``, an allowed score that
    remembers that signature."""
    seen: list[UserProfile] = []

    def plan(profile: UserProfile) -> ScoreWrites | None:
        seen.append(profile)
        if signature is None:
            return None
        return ScoreWrites(DecisionRecord(None, 0.1, "allow", False, "v1"),
                           {"keystrokes": np.full(8, signature, np.float32)}, 50)

    got = store.read_and_queue("acme", key, plan)
    assert got is None or seen == [got]
    return got


def _same(a: UserProfile, b: UserProfile) -> None:
    """Two reads of a profile hold the same values (a fresh read is the reference)."""
    assert (a.state, a.n_sessions, a.created_at, a.updated_at) == (b.state, b.n_sessions, b.created_at, b.updated_at)
    assert a.modalities.keys() == b.modalities.keys()
    for name, m in a.modalities.items():
        o = b.modalities[name]
        assert (m.model_version, m.genuine_mean, m.genuine_sd, m.n_sessions) == \
               (o.model_version, o.genuine_mean, o.genuine_sd, o.n_sessions)
        np.testing.assert_array_equal(m.embeddings, o.embeddings)
        assert m.head_state.keys() == o.head_state.keys()
        for k in m.head_state:
            np.testing.assert_array_equal(m.head_state[k], o.head_state[k])
        for mine, theirs in ((m.replay_signatures, o.replay_signatures),
                             (m.enrolled_signatures, o.enrolled_signatures)):
            assert len(mine) == len(theirs)
            for x, y in zip(mine, theirs, strict=True):
                assert x.dtype == y.dtype
                np.testing.assert_array_equal(x, y)


def _fresh(store_url: str, key: str) -> UserProfile:
    """The profile as a process without a cache reads it for a score."""
    with ProfileStore(store_url, profile_cache_bytes=0) as plain:
        got = _read(plain, key)
    assert got is not None
    return got


def test_an_unchanged_profile_is_decoded_once(store_url: str):
    key = _key("alice")
    with ProfileStore(store_url) as store:
        _enrolled(store, key)
        cache = store.profile_cache
        assert cache is not None
        first = _read(store, key)
        assert (cache.misses, cache.hits) == (0, 0) and len(cache) == 1
        for _ in range(3):
            assert _read(store, key) is first  # the decoded profile itself: nothing read but the version
        assert cache.hits == 3
        _same(first, _fresh(store_url, key))


def test_an_enrollment_by_another_process_is_read_at_the_next_score(store_url: str):
    key = _key("alice")
    with ProfileStore(store_url) as store, ProfileStore(store_url, profile_cache_bytes=0) as other:
        _enrolled(store, key)
        before = _read(store, key)
        _enroll(other, key, 7.0)  # another API process enrolls a session
        after = _read(store, key)
        assert after is not before and after.n_sessions == before.n_sessions + 1 == 4
        assert float(after.modalities["keystrokes"].embeddings[-1, 0]) == 7.0
        _same(after, _fresh(store_url, key))


def test_signatures_written_by_another_process_are_read_at_the_next_score(store_url: str):
    key = _key("alice")
    with ProfileStore(store_url) as store, ProfileStore(store_url, write_behind_s=LONG) as other:
        _enrolled(store, key)
        _read(store, key)
        _read(other, key, signature=5.0)
        assert _read(store, key).modalities["keystrokes"].replay_signatures == ()  # queued there, not written
        other.flush()
        ring = _read(store, key).modalities["keystrokes"].replay_signatures
        assert [float(s[0]) for s in ring] == [5.0]


def test_own_written_signatures_keep_the_cached_profile_current(store_url: str):
    """A batch this process writes moves its cached profile to the version it wrote: the next
    score still reads only the version, and gets exactly what a fresh read gets."""
    key = _key("alice")
    with ProfileStore(store_url, write_behind_s=LONG) as store:
        _enrolled(store, key)
        _read(store, key)
        for i in range(3):
            _read(store, key, signature=float(i))
            store.flush()
        cache = store.profile_cache
        misses = cache.misses
        got = _read(store, key)
        assert cache.misses == misses  # still a hit after our own writes
        assert [float(s[0]) for s in got.modalities["keystrokes"].replay_signatures] == [0.0, 1.0, 2.0]
        _same(got, _fresh(store_url, key))


def test_a_change_by_any_writer_is_seen_even_hand_written_sql(store_url: str):
    """The database's triggers version every change, so a writer that knows nothing of the
    cache (a script, a fix by hand, a process of the release before) cannot leave it stale."""
    key = _key("alice")
    with ProfileStore(store_url) as store:
        _enrolled(store, key)
        _read(store, key)
        engine = create_engine(store_url)
        with engine.begin() as conn:
            uid = conn.execute(text("SELECT id FROM users WHERE user_key = :k"), {"k": key}).scalar_one()
            conn.execute(text("UPDATE modality_profiles SET genuine_mean = 42.5 WHERE user_id = :u"), {"u": uid})
        assert _read(store, key).modalities["keystrokes"].genuine_mean == 42.5
        with engine.begin() as conn:
            conn.execute(text("UPDATE users SET state = 'enrolling' WHERE id = :u"), {"u": uid})
        assert _read(store, key).state == "enrolling"
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM modality_profiles WHERE user_id = :u"), {"u": uid})
        assert _read(store, key).modalities == {}
        engine.dispose()
        _same(_read(store, key), _fresh(store_url, key))


def test_an_erased_user_created_again_is_never_served_the_old_profile(store_url: str):
    """Erased by another process and enrolled again, with (on SQLite) the same row id, and its
    version forced to the old one: the creation time tells the two users apart."""
    key = _key("alice")
    with ProfileStore(store_url) as store, ProfileStore(store_url, profile_cache_bytes=0) as other:
        _enrolled(store, key)
        old = _read(store, key)
        engine = create_engine(store_url)
        with engine.begin() as conn:
            old_id, old_version = conn.execute(text("SELECT id, version FROM users WHERE user_key = :k"),
                                               {"k": key}).one()
        assert other.delete("acme", key)
        assert _read(store, key) is None
        _enrolled(store, key)  # fill the cache with the new user's first read...
        _read(store, key)
        assert other.delete("acme", key)  # ...erase it again, and enroll once more
        _enroll(other, key, 9.0)
        with engine.begin() as conn:  # the worst case: the same stamp but for the creation time
            new_id = conn.execute(text("SELECT id FROM users WHERE user_key = :k"), {"k": key}).scalar_one()
            conn.execute(text("UPDATE users SET version = :v WHERE id = :u"), {"v": old_version, "u": new_id})
        engine.dispose()
        got = _read(store, key)
        assert got.n_sessions == 1 and float(got.modalities["keystrokes"].embeddings[0, 0]) == 9.0
        assert got.created_at != old.created_at
        _same(got, _fresh(store_url, key))
        if store_url.startswith("sqlite"):
            assert new_id == old_id  # SQLite gave the new user the erased one's row id


def test_erasure_drops_the_cached_profile(store_url: str):
    key = _key("alice")
    with ProfileStore(store_url) as store:
        _enrolled(store, key)
        _read(store, key)
        assert len(store.profile_cache) == 1
        assert store.delete("acme", key)
        assert len(store.profile_cache) == 0 and _read(store, key) is None


def test_the_cache_keeps_within_its_memory(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    keys = [_key(f"user{i}") for i in range(4)]
    with ProfileStore(url) as sizing:
        for k in keys:
            _enrolled(sizing, k)
        _read(sizing, keys[0])
        one = sizing.profile_cache._bytes
    with ProfileStore(url, profile_cache_bytes=2 * one + one // 2) as store:
        for k in keys:
            _read(store, k)
        cache = store.profile_cache
        assert len(cache) == 2 and cache._bytes <= cache.max_bytes  # the least recently used went
        assert (("acme", keys[2]) in cache, ("acme", keys[3]) in cache) == (True, True)
    with ProfileStore(url, profile_cache_bytes=one // 2) as store:  # a profile larger than it all
        _read(store, keys[0])
        assert len(store.profile_cache) == 0


def test_without_the_version_triggers_there_is_no_cache(tmp_path, caplog: pytest.LogCaptureFixture):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    key = _key("alice")
    with ProfileStore(url) as store:
        _enrolled(store, key)
        assert store.has_version_triggers()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER modality_profiles_version_on_update"))
    engine.dispose()
    with caplog.at_level(logging.WARNING, logger="biometrics.store"), ProfileStore(url) as store:
        assert store.profile_cache is None and not store.has_version_triggers()
        assert _read(store, key).n_sessions == 3
    assert "without the profile cache" in caplog.text
    with ProfileStore(url, profile_cache_bytes=0) as store:
        assert store.profile_cache is None


def _locked_read(store: ProfileStore, key: str, n: int) -> UserProfile:
    """A score with a session id (under the user's lock, kept inputs left encrypted): the profile it got."""
    from datetime import UTC, datetime

    from biometrics.store import RequestKey

    seen: list[UserProfile] = []
    rk = RequestKey("score", f"00000000-0000-4000-8000-{n:012d}", "f" * 64)
    store.update_once("acme", key, lambda p: seen.append(p) or None, rk, lambda p: {"n": p.n_sessions},
                      not_before=datetime(2000, 1, 1, tzinfo=UTC), read_inputs=False)
    return seen[0]


def test_a_locked_score_reuses_the_profile_and_sees_another_process_enrollment(store_url: str):
    key = _key("alice")
    with ProfileStore(store_url) as store, ProfileStore(store_url, profile_cache_bytes=0) as other:
        _enrolled(store, key)
        first = _locked_read(store, key, 1)
        assert _locked_read(store, key, 2) is first and store.profile_cache.hits == 1
        assert _read(store, key) is first  # the write-behind read shares it
        _enroll(other, key, 7.0)
        after = _locked_read(store, key, 3)
        assert after is not first and after.n_sessions == 4
        _same(after, _fresh(store_url, key))
        # An enrolling update reads the rows (and the kept inputs), never the cache.
        hits = store.profile_cache.hits
        store.update("acme", key, lambda p: None)
        assert store.profile_cache.hits == hits


def _locked_allowed(store: ProfileStore, key: str, n: int, signature: float) -> UserProfile:
    """A score with a session id that is allowed: its signature is written under the lock; the profile it got."""
    import dataclasses
    from datetime import UTC, datetime

    from biometrics.store import RequestKey

    seen: list[UserProfile] = []

    def fn(p: UserProfile) -> UserProfile:
        seen.append(p)
        m = p.modalities["keystrokes"]
        ring = (*m.replay_signatures, np.full(8, signature, np.float32))[-50:]
        return dataclasses.replace(p, modalities={**p.modalities,
                                                  "keystrokes": dataclasses.replace(m, replay_signatures=ring)})

    rk = RequestKey("score", f"00000000-0000-4000-8000-{n:012d}", "f" * 64)
    store.update_once("acme", key, fn, rk, lambda p: {"n": p.n_sessions},
                      not_before=datetime(2000, 1, 1, tzinfo=UTC),
                      decision_of=lambda: DecisionRecord(None, 0.1, "allow", False, "v1"), read_inputs=False)
    return seen[0]


def test_a_locked_score_that_writes_signatures_keeps_the_cached_profile_current(store_url: str):
    key = _key("alice")
    with ProfileStore(store_url) as store, ProfileStore(store_url, profile_cache_bytes=0) as other:
        _enrolled(store, key)
        _locked_read(store, key, 1)
        misses = store.profile_cache.misses
        before = store.get("acme", key).updated_at
        _locked_allowed(store, key, 2, 0.5)
        after = _locked_read(store, key, 3)
        assert store.profile_cache.misses == misses  # not decoded again
        assert float(after.modalities["keystrokes"].replay_signatures[-1][0]) == 0.5
        _same(after, _fresh(store_url, key))
        assert store.get("acme", key).updated_at == before  # a score's signatures leave the user row alone
        # Another process's write after ours is still seen.
        _enroll(other, key, 9.0)
        seen = _locked_read(store, key, 4)
        assert seen.n_sessions == 4
        _same(seen, _fresh(store_url, key))
        # And the write-behind read shares the advanced copy.
        _locked_allowed(store, key, 5, 0.25)
        assert _read(store, key) is _locked_read(store, key, 6)
        _same(_read(store, key), _fresh(store_url, key))

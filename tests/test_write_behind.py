"""Write-behind scores: the queue itself, the store's read_and_queue (SQLite, and PostgreSQL when
BIOMETRICS_TEST_POSTGRES_URL is set), and the service's replay memory under it."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from replay_stubs import FakeScorer, StubSession, victim_after_failed_attempts

from biometrics.profiles import enroll, new_profile, user_key
from biometrics.store import DecisionRecord, ProfileStore, ScoreWrites
from biometrics.write_behind import WriteBehind

SECRET = b"test-secret-0123456789abcdef0123"
LONG = 60.0  # an interval no test waits for: only flush() and close() write


def _key(user_id: str) -> str:
    return user_key("acme", user_id, SECRET)


def _enrolled(store: ProfileStore, key: str, n: int = 3) -> None:
    for i in range(n):
        store.update("acme", key, lambda p, i=i: enroll(
            p or new_profile("acme", key), {"keystrokes": np.full(4, float(i), np.float32)},
            {"keystrokes": np.full(8, 100.0 + i, np.float32)}, "v1"))


def _sig(i: float) -> np.ndarray:
    return np.full(8, 1000.0 + i, np.float32)


def _decision(risk: float = 0.1) -> DecisionRecord:
    return DecisionRecord(None, risk, "allow", False, "v1")


def _allowed(i: float, keep: int = 50):
    """A plan that logs an allowed decision and remembers signature ``i``; records what it saw."""
    seen: list = []

    def plan(profile):
        seen.append([float(s[0]) for s in profile.modalities["keystrokes"].replay_signatures])
        return ScoreWrites(_decision(), {"keystrokes": _sig(i)}, keep)

    return plan, seen


def _ring(store: ProfileStore, key: str) -> list[float]:
    return [float(s[0]) for s in store.get("acme", key).modalities["keystrokes"].replay_signatures]


# The queue ---------------------------------------------------------------------------


def test_items_are_written_in_batches_in_order():
    batches: list[list[int]] = []
    w = WriteBehind(batches.append, 0.05, max_batch=4)
    for i in range(10):
        w.put(i)
    deadline = time.monotonic() + 5
    while sum(map(len, batches)) < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    w.close()
    assert [x for b in batches for x in b] == list(range(10))
    assert max(map(len, batches)) <= 4 and len(batches) < 10  # batched, not one call per item


def test_flush_writes_everything_put_before_it_and_close_the_rest():
    written: list[int] = []
    w = WriteBehind(written.extend, LONG)
    w.put(1)
    w.put(2)
    w.flush()
    assert written == [1, 2] and len(w) == 0
    w.put(3)
    w.close()
    assert written == [1, 2, 3]
    with pytest.raises(RuntimeError):
        w.put(4)


def test_a_failed_write_keeps_its_items_in_front():
    written, fail = [], [True]

    def write(batch):
        if fail[0]:
            raise OSError("store down")
        written.extend(batch)

    w = WriteBehind(write, LONG)
    w.put("a")
    w.put("b")
    with pytest.raises(OSError):
        w.flush()
    w.put("c")
    fail[0] = False
    w.flush()
    w.close()
    assert written == ["a", "b", "c"]


def test_discard_drops_matching_items_and_a_full_queue_is_written_by_the_caller():
    written: list[int] = []
    w = WriteBehind(written.extend, LONG, max_batch=2, max_pending=4)
    for i in range(4):
        w.put(i)
    assert w.discard(lambda x: x % 2 == 1) == 2
    w.put(10)
    w.put(11)
    w.put(12)  # four waiting: this put writes them first
    assert written == [0, 2, 10, 11] and len(w) == 1
    w.close()
    assert written[-1] == 12


# The store -----------------------------------------------------------------------------


def test_a_score_writes_behind_and_the_process_sees_its_signatures_at_once(store_url: str):
    with ProfileStore(store_url) as sync:
        key = _key("alice")
        _enrolled(sync, key)
    store = ProfileStore(store_url, write_behind_s=LONG)
    other = ProfileStore(store_url)  # another process: sees what is written, not what is queued
    try:
        plan, seen = _allowed(1)
        assert store.read_and_queue("acme", key, plan) is not None
        assert other.count_decisions("acme") == 0 and _ring(other, key) == []  # not yet written
        plan2, seen2 = _allowed(2)
        store.read_and_queue("acme", key, plan2)
        assert seen == [[]] and seen2 == [[1001.0]]  # the queued signature counts in this process
        store.flush()
        assert other.count_decisions("acme") == 2 and _ring(other, key) == [1001.0, 1002.0]
        plan3, seen3 = _allowed(3)
        store.read_and_queue("acme", key, plan3)  # written ones are read, not counted twice
        assert seen3 == [[1001.0, 1002.0]]
    finally:
        store.close()  # writes the rest
    assert other.count_decisions("acme") == 3 and _ring(other, key) == [1001.0, 1002.0, 1003.0]
    other.close()


def test_the_ring_keeps_the_last_signatures_as_scores_one_by_one_would(store_url: str):
    key = _key("bob")
    with ProfileStore(store_url, write_behind_s=LONG) as store:
        _enrolled(store, key)
        views = []
        for i in range(7):
            plan, seen = _allowed(i, keep=3)
            store.read_and_queue("acme", key, plan)
            views += seen
            if i == 3:
                store.flush()  # a batch written halfway: the view is the same either way
        store.flush()
        assert views[-1] == [1003.0, 1004.0, 1005.0]
        assert _ring(store, key) == [1004.0, 1005.0, 1006.0]


def test_concurrent_scores_of_one_user_lose_no_signature(store_url: str):
    key = _key("carol")
    with ProfileStore(store_url) as sync:
        _enrolled(sync, key)
    stores = [ProfileStore(store_url, write_behind_s=0.01) for _ in range(2)]  # two processes
    n = 8
    start = threading.Barrier(2 * n)

    def work(t: int) -> None:
        start.wait()
        stores[t % 2].read_and_queue("acme", key, _allowed(t)[0])

    threads = [threading.Thread(target=work, args=(t,)) for t in range(2 * n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for s in stores:
        s.close()
    with ProfileStore(store_url) as store:
        assert sorted(_ring(store, key)) == [1000.0 + t for t in range(2 * n)]
        assert store.count_decisions("acme") == 2 * n


def test_erasure_drops_the_queued_writes(store_url: str):
    key = _key("dave")
    with ProfileStore(store_url, write_behind_s=LONG) as store:
        _enrolled(store, key)
        store.read_and_queue("acme", key, _allowed(1)[0])
        assert store.delete("acme", key)
        _enrolled(store, key)  # the same user again: a new profile, without the erased one's writes
        store.flush()
        assert store.count_decisions("acme") == 0 and _ring(store, key) == []


def test_a_write_for_a_user_erased_by_another_process_is_dropped(store_url: str):
    key = _key("erin")
    with ProfileStore(store_url, write_behind_s=LONG) as store, ProfileStore(store_url) as other:
        _enrolled(store, key)
        store.read_and_queue("acme", key, _allowed(1)[0])
        assert other.delete("acme", key)
        store.flush()  # no foreign-key error: the rows are not written
        assert store.count_decisions("acme") == 0 and store.get("acme", key) is None


def test_an_update_sees_the_queued_signatures(store_url: str):
    key = _key("frank")
    with ProfileStore(store_url, write_behind_s=LONG) as store:
        _enrolled(store, key)
        store.read_and_queue("acme", key, _allowed(1)[0])
        seen = []
        store.update("acme", key, lambda p: seen.append(
            [float(s[0]) for s in p.modalities["keystrokes"].replay_signatures]))
        assert seen == [[1001.0]]


def test_without_write_behind_a_score_writes_before_it_returns(store_url: str):
    key = _key("grace")
    with ProfileStore(store_url) as store, ProfileStore(store_url) as other:
        _enrolled(store, key)
        assert not store.writes_behind
        store.read_and_queue("acme", key, _allowed(1)[0])
        assert other.count_decisions("acme") == 1 and _ring(other, key) == [1001.0]
        assert store.read_and_queue("acme", _key("nobody"), _allowed(2)[0]) is None


# The service ---------------------------------------------------------------------------


@pytest.mark.parametrize("decision", ["deny", "challenge"])
def test_failed_attempts_neither_write_nor_flush_the_replay_memory_behind(tmp_path, decision):
    store = ProfileStore(f"sqlite:///{tmp_path / 'p.db'}", write_behind_s=LONG)
    svc, enrolled = victim_after_failed_attempts(store, decision)
    p = store.get("acme", svc.key("acme", "victim"))
    assert [s.tolist() for s in p.replay_signatures("keystrokes")] == [s.tolist() for s in enrolled]
    assert store.count_decisions("acme") == 40  # every answer logged, behind
    svc.scorer = FakeScorer("allow")
    svc.score("acme", "victim", StubSession(np.full(20, 900.0, np.float32)))
    # Its copy, before anything is written, is caught in this process.
    result, _ = svc.score("acme", "victim", StubSession(np.full(20, 900.0, np.float32)))
    assert "replayed_session" in result.reasons
    assert store.get("acme", svc.key("acme", "victim")).replay_signatures("keystrokes")[-1][0] == 900.0
    store.close()

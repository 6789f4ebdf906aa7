"""Streaming scores: events in chunks -> the same items and scores as the whole session at once."""

from __future__ import annotations

import itertools
import uuid

import numpy as np
import pytest

from biometrics.chunks import (
    EVENT_LISTS,
    ChunkBuffer,
    ChunkBufferFullError,
    ChunkedSession,
    ChunkRejectedError,
    ChunkSequenceError,
)
from biometrics.classic import two_class_anomaly
from biometrics.events import Session, slice_arrays
from biometrics.features import stroke_features
from biometrics.features.action_tokens import action_sequences
from biometrics.features.stroke_tokens import stroke_token_sequences
from biometrics.metrics import roc_auc
from biometrics.streaming import ItemStream, action_stream, stroke_stream
from biometrics.synthetic import generate_dataset


def _item_score(tokens: list[np.ndarray], features: np.ndarray) -> np.ndarray:
    """A deterministic score that depends on both views of every item."""
    lengths = np.array([t.shape[0] for t in tokens], dtype=np.float64)
    sums = np.array([float(t.sum()) for t in tokens])
    return np.tanh(features[:, 0] / 50.0 + lengths / 10.0 + sums / 1e4)


def _push_in_chunks(stream: ItemStream, events, n: int, rng: np.random.Generator) -> ItemStream:
    """Push the session as n + 1 consecutive chunks cut at random event positions."""
    size = len(events.t)
    cuts = np.sort(rng.choice(np.arange(1, size), size=min(n, size - 1), replace=False))
    for a, b in itertools.pairwise(np.r_[0, cuts, size]):
        stream.push(slice_arrays(events, a, b))
    return stream


@pytest.fixture(scope="module")
def records():
    """Desktop and phone users (three of each) with impostor attempts."""
    return [r for mobile in (0.0, 1.0) for r in generate_dataset(
        3, 16, n_impostor=8, n_bot=0, n_replay=0, seed=5, n_enroll=12, mobile_fraction=mobile)]


def _sessions(records, modality: str):
    return [r for r in records if getattr(r.session, modality)]


@pytest.mark.parametrize("n_chunks", [1, 7, 40])
def test_action_stream_in_chunks_matches_the_whole_session(records, n_chunks):
    rng = np.random.default_rng(n_chunks)
    for r in _sessions(records, "pointer")[:6]:
        events = r.session.pointer_arrays()
        whole = action_sequences(events)
        stream = _push_in_chunks(action_stream(_item_score), events, n_chunks, rng)
        assert stream.n_items == int((whole.ids < whole.n_actions - 1).sum())  # the last may still grow
        final = stream.close()
        expected = _item_score(whole.tokens, whole.features)
        np.testing.assert_allclose(stream.scores, expected, rtol=0, atol=1e-12)
        assert final == pytest.approx(expected.mean() if expected.size else 0.5)


@pytest.mark.parametrize("n_chunks", [1, 9, 50])
def test_stroke_stream_in_chunks_matches_the_whole_session(records, n_chunks):
    rng = np.random.default_rng(n_chunks)
    for r in _sessions(records, "touch")[:6]:
        events = r.session.touch_arrays()
        stream = _push_in_chunks(stroke_stream(_item_score), events, n_chunks, rng)
        final = stream.close()
        expected = _item_score(stroke_token_sequences(events), stroke_features(events)[0])
        assert expected.size > 0
        np.testing.assert_allclose(stream.scores, expected, rtol=0, atol=1e-12)
        assert final == pytest.approx(expected.mean())


def test_a_stroke_is_scored_once_lifted_and_followed(records):
    events = _sessions(records, "touch")[0].session.touch_arrays()
    first_end = int(np.flatnonzero(events.type == 2)[0])  # the first finger lift
    stream = stroke_stream(_item_score)
    assert stream.push(slice_arrays(events, 0, first_end + 1)) == 0.5  # lifted, but its inter-stroke time is open
    assert stream.n_items == 0
    stream.push(slice_arrays(events, first_end + 1, first_end + 2))  # the next stroke begins
    assert stream.n_items == 1


def test_stream_refuses_unordered_chunks_and_oversized_sessions(records):
    events = _sessions(records, "pointer")[0].session.pointer_arrays()
    half = len(events.t) // 2
    late = slice_arrays(events, half, None)
    early = slice_arrays(events, 0, half)
    stream = action_stream(_item_score)
    stream.push(late)
    with pytest.raises(ValueError, match="time order"):
        stream.push(early)
    small = action_stream(_item_score)
    small.max_events = half - 1
    with pytest.raises(ValueError, match="at most"):
        small.push(early)
    assert small.close() == 0.5  # nothing was taken
    stream.close()
    with pytest.raises(ValueError, match="closed"):
        stream.push(late)
    wrong = action_stream(lambda tokens, f: np.zeros(len(tokens) + 1))
    with pytest.raises(ValueError, match="shape"):
        wrong.push(events)  # its complete actions are scored at once


def test_action_stream_with_owner_models_separates_owners_and_impostors():
    """The per-account protocol of the Balabit module, streamed: owners' sessions end lower."""
    records = generate_dataset(4, 16, n_impostor=16, n_bot=0, n_replay=0, seed=5, n_enroll=12, mobile_fraction=0.0)
    users = sorted({r.user_id for r in records})
    feats = {u: np.concatenate([action_sequences(r.session.pointer_arrays()).features for r in records
                                if r.user_id == u and r.split == "enroll"]) for u in users}
    genuine, impostor = [], []
    for owner in users:
        model = two_class_anomaly(feats[owner], np.concatenate([feats[u] for u in users if u != owner]), "forest", 0)
        for r in (r for r in records if r.user_id == owner and r.split == "test"):
            stream = action_stream(lambda tokens, f, m=model: m(f))
            final = _push_in_chunks(stream, r.session.pointer_arrays(), 5, np.random.default_rng(0)).close()
            (genuine if r.label == "genuine" else impostor).append(final)
    assert len(genuine) == len(impostor) == 16
    assert roc_auc(np.array(genuine), np.array(impostor)) > 0.75


# Sessions in chunks (biometrics.chunks): the rules the API and ItemStream share --------------------


def _chunked(session, n: int, rng: np.random.Generator) -> list:
    """The session as n chunks cut at random times (every modality cut at the same times)."""
    times = np.sort(np.concatenate([[e.t for e in getattr(session, m)] for m in EVENT_LISTS]))
    cuts = np.r_[-np.inf, np.sort(rng.choice(times, size=n - 1, replace=False)), np.inf]
    return [session.model_copy(update={m: [e for e in getattr(session, m) if a <= e.t < b] for m in EVENT_LISTS})
            for a, b in itertools.pairwise(cuts)]


@pytest.mark.parametrize("n_chunks", [1, 3, 11])
def test_chunks_join_into_the_whole_session(records, n_chunks):
    rng = np.random.default_rng(n_chunks)
    for r in records[::7]:
        whole = r.session.model_copy(update={"session_id": str(uuid.uuid4())})
        state = ChunkedSession.start("t", whole.session_id, whole, "k" * 64, False)
        for i, chunk in enumerate(_chunked(whole, n_chunks, rng)):
            state = state.append(chunk, i, i == n_chunks - 1, "k" * 64, False, max_events=100_000)
        assert state.session().model_dump() == whole.model_dump()
        assert state.n_events == sum(len(getattr(whole, m)) for m in EVENT_LISTS)
        assert state.answered("req", "answer").events == {}  # a final session holds no events


def test_a_chunk_must_continue_the_session(records):
    whole = next(r.session for r in records if r.session.keystrokes and r.session.pointer)
    whole = whole.model_copy(update={"session_id": str(uuid.uuid4())})
    first, second = _chunked(whole, 2, np.random.default_rng(0))
    state = ChunkedSession.start("t", whole.session_id, whole, "k" * 64, False).append(
        first, 0, False, "k" * 64, False, 1_000)
    with pytest.raises(ChunkSequenceError, match="arrived before chunk 1"):
        state.append(second, 2, False, "k" * 64, False, 1_000)
    with pytest.raises(ChunkSequenceError, match="another user"):
        state.append(second, 1, False, "j" * 64, False, 1_000)
    with pytest.raises(ChunkSequenceError, match="keystrokes: events must arrive in time order"):
        state.append(first, 1, False, "k" * 64, False, 1_000)
    with pytest.raises(ChunkRejectedError, match="at most 10 events"):
        state.append(second, 1, False, "k" * 64, False, 10)
    stream = action_stream(_item_score)  # ItemStream applies the same rule, naming its modality
    stream.push(slice_arrays(whole.pointer_arrays(), 5, None))
    with pytest.raises(ChunkSequenceError, match="pointer: events must arrive in time order"):
        stream.push(slice_arrays(whole.pointer_arrays(), 0, 5))


def test_the_buffer_commits_one_chunk_at_a_time_and_expires():
    now = [0.0]
    buffer = ChunkBuffer(max_sessions=1, max_events=100, ttl_s=10.0, clock=lambda: now[0])
    s = Session(schema_version=2, session_id=str(uuid.uuid4()))
    state = ChunkedSession.start("t", s.session_id, s, "k" * 64, False).append(s, 0, False, "k" * 64, False, 100)
    held = buffer.commit(None, state.answered("req-0", "a0"))
    assert buffer.get("t", s.session_id) is held and len(buffer) == 1
    # Two copies of chunk 1 scored at once: the first commits, the same request gets its answer,
    # another chunk scored against the same state is refused.
    nxt = held.append(s, 1, False, "k" * 64, False, 100)
    won = buffer.commit(held, nxt.answered("req-1", "a1"))
    assert buffer.commit(held, nxt.answered("req-1", "a1-copy")).answer == won.answer == "a1"
    with pytest.raises(ChunkSequenceError, match="one at a time"):
        buffer.commit(held, nxt.answered("req-1-other", "b1"))
    other = Session(schema_version=2, session_id=str(uuid.uuid4()))
    with pytest.raises(ChunkBufferFullError) as full:
        buffer.check_room()
    assert full.value.retry_after_s == 10
    now[0] = 10.0  # idle for the TTL: dropped
    assert buffer.get("t", s.session_id) is None and len(buffer) == 0
    start = ChunkedSession.start("t", other.session_id, other, "k" * 64, False)
    buffer.commit(None, start.append(other, 0, False, "k" * 64, False, 100).answered("r", "x"))
    assert buffer.forget_user("t", "k" * 64) == 1 and len(buffer) == 0

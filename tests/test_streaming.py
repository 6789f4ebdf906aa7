"""Streaming scores: events in chunks -> the same items and scores as the whole session at once."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from biometrics.classic import two_class_anomaly
from biometrics.events import slice_arrays
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

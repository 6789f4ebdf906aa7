"""Profile logic: enrollment state machine, bounds, model versions, statistics, serialization."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from biometrics.profiles import (
    ModalityProfile,
    ProfileConfig,
    embeddings_from_bytes,
    embeddings_to_bytes,
    enroll,
    genuine_stats,
    may_auto_update,
    new_profile,
    state_from_bytes,
    state_to_bytes,
    user_key,
    vectors_from_bytes,
    vectors_to_bytes,
)

D = 8
KEY = user_key("acme", "alice@example.com", b"k" * 32)


def _emb(i: int, d: int = D) -> np.ndarray:
    return np.random.default_rng(i).normal(size=d).astype(np.float32)


def _sig(i: int, n: int = 20) -> np.ndarray:
    return np.full(n, 100.0 + i, dtype=np.float32)


def _enroll_n(n: int, cfg: ProfileConfig | None = None, version: str = "v1", profile=None):
    cfg = cfg or ProfileConfig()
    p = profile or new_profile("acme", KEY)
    for i in range(n):
        p = enroll(p, {"keystrokes": _emb(i)}, {"keystrokes": _sig(i)}, version, cfg)
    return p


def test_state_goes_from_enrolling_to_verifying_at_min_sessions():
    cfg = ProfileConfig(min_enroll_sessions=3)
    p = new_profile("acme", KEY)
    states = []
    for i in range(4):
        p = enroll(p, {"keystrokes": _emb(i)}, {}, "v1", cfg)
        states.append(p.state)
    assert states == ["enrolling", "enrolling", "verifying", "verifying"]
    assert p.n_sessions == 4 and p.modalities["keystrokes"].n_sessions == 4
    assert _enroll_n(4, ProfileConfig(min_enroll_sessions=5)).state == "enrolling"
    assert _enroll_n(5, ProfileConfig(min_enroll_sessions=5)).state == "verifying"


def test_embeddings_and_signatures_are_bounded_newest_kept():
    p = _enroll_n(60)
    m = p.modalities["keystrokes"]
    assert m.embeddings.shape == (20, D) and m.embeddings.dtype == np.float32
    np.testing.assert_array_equal(m.embeddings, np.stack([_emb(i) for i in range(40, 60)]))
    # Enrolled sessions' signatures go to the enrolled set (bounded), never to the scored ring.
    assert len(m.enrolled_signatures) == 60 and m.replay_signatures == ()
    assert m.enrolled_signatures[0][0] == 100.0 and m.enrolled_signatures[-1][0] == 159.0
    assert m.n_sessions == 60
    cfg = ProfileConfig(max_embeddings=5, max_enrolled_signatures=3, signature_len=16)
    q = enroll(_enroll_n(7, cfg), {"keystrokes": _emb(99)}, {"keystrokes": _sig(99, 300)}, "v1", cfg)
    mq = q.modalities["keystrokes"]
    assert mq.embeddings.shape == (5, D) and len(mq.enrolled_signatures) == 3
    assert mq.enrolled_signatures[-1].shape == (16,)
    assert len(q.replay_signatures("keystrokes")) == 3


def test_stats_follow_the_kept_embeddings():
    m = _enroll_n(25).modalities["keystrokes"]
    assert (m.genuine_mean, m.genuine_sd) == pytest.approx(genuine_stats(m.embeddings))


def test_model_version_change_restarts_that_modality_only():
    p = new_profile("acme", KEY)
    for i in range(3):
        p = enroll(p, {"keystrokes": _emb(i), "pointer": _emb(10 + i)},
                   {"keystrokes": _sig(i)}, "v1")
    assert p.state == "verifying"
    q = enroll(p, {"keystrokes": _emb(50, d=4)}, {"keystrokes": _sig(50)}, "v2")
    k = q.modalities["keystrokes"]
    assert k.model_version == "v2" and k.n_sessions == 1 and k.embeddings.shape == (1, 4)
    assert (k.genuine_mean, k.genuine_sd) == (0.0, 0.0)
    assert len(k.enrolled_signatures) == 4  # signatures describe sessions: they survive a model change
    assert q.embeddings("keystrokes", "v1") is None
    np.testing.assert_array_equal(q.embeddings("keystrokes", "v2"), _emb(50, d=4)[None])
    assert q.modalities["pointer"] is p.modalities["pointer"]  # untouched
    assert q.state == "verifying"  # pointer still has 3 sessions under v1
    assert q.n_sessions == 4
    only = _enroll_n(3)
    assert enroll(only, {"keystrokes": _emb(9)}, {}, "v2").state == "enrolling"


def test_same_version_with_other_dimension_is_refused():
    with pytest.raises(ValueError, match="dimensions"):
        enroll(_enroll_n(1), {"keystrokes": _emb(1, d=D + 1)}, {}, "v1")


def test_enroll_is_pure_and_arrays_read_only():
    p = _enroll_n(2)
    before = p.modalities["keystrokes"].embeddings.copy()
    q = enroll(p, {"keystrokes": _emb(7)}, {"keystrokes": _sig(7)}, "v1",
               now=datetime(2030, 1, 1, tzinfo=UTC))
    assert p.n_sessions == 2 and len(p.modalities["keystrokes"].enrolled_signatures) == 2
    np.testing.assert_array_equal(p.modalities["keystrokes"].embeddings, before)
    assert q.updated_at == datetime(2030, 1, 1, tzinfo=UTC) and q.created_at == p.created_at
    with pytest.raises(ValueError):
        q.modalities["keystrokes"].embeddings[0, 0] = 1.0


@pytest.mark.parametrize("embeddings, match", [
    ({}, "at least one modality"),
    ({"key strokes!": _emb(0)}, "scorer name must be"),
    ({"a_name_longer_than_16": _emb(0)}, "scorer name must be"),
    ({"keystrokes": np.array([1.0, np.nan], np.float32)}, "finite"),
    ({"keystrokes": np.zeros((2, 3, 1), np.float32)}, r"\[k, K\]"),
    ({"keystrokes": np.zeros((0, 8), np.float32)}, "non-empty"),
])
def test_bad_enrollment_input_is_refused(embeddings, match):
    with pytest.raises(ValueError, match=match):
        enroll(new_profile("acme", KEY), embeddings, {}, "v1")


def test_profile_view_for_scoring():
    p = _enroll_n(2)
    assert p.embeddings("touch", "v1") is None and p.replay_signatures("touch") == []
    assert p.embeddings("keystrokes", "v1").shape == (2, D)
    assert [s[0] for s in p.replay_signatures("keystrokes")] == [100.0, 101.0]


def test_may_auto_update_only_below_threshold():
    assert may_auto_update(0.1) and may_auto_update(0.0)
    assert not may_auto_update(0.3) and not may_auto_update(0.9)
    assert not may_auto_update(math.nan) and not may_auto_update(math.inf)
    assert may_auto_update(0.45, ProfileConfig(auto_update_max_risk=0.5))


def test_genuine_stats_hand_example():
    # Distances: d01 = 3, d02 = 4, d12 = 5 -> leave-one-out means 3.5, 4.0, 4.5.
    x = np.array([[0, 0], [3, 0], [0, 4]], dtype=np.float32)
    mean, sd = genuine_stats(x)
    assert mean == pytest.approx(4.0) and sd == pytest.approx(0.5)
    assert genuine_stats(x[:1]) == (0.0, 0.0)
    assert genuine_stats(x[:2]) == pytest.approx((3.0, 0.0))


def test_config_is_validated():
    with pytest.raises(ValueError, match="min_enroll_sessions"):
        ProfileConfig(min_enroll_sessions=0)
    with pytest.raises(ValueError, match="auto_update_max_risk"):
        ProfileConfig(auto_update_max_risk=1.5)


def test_user_key_is_an_hmac_that_hides_the_user_id():
    secret = b"s" * 32
    k = user_key("acme", "alice@example.com", secret)
    assert len(k) == 64 and int(k, 16) >= 0 and "alice" not in k
    assert k == user_key("acme", "alice@example.com", secret)
    assert k != user_key("globex", "alice@example.com", secret)
    assert k != user_key("acme", "alice@example.com", b"t" * 32)
    assert user_key("ab", "c", secret) != user_key("a", "bc", secret)
    with pytest.raises(ValueError, match="secret"):
        user_key("acme", "alice", b"")


def test_serialization_round_trips_without_pickle():
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    b = embeddings_to_bytes(a)
    assert b[:4] == b"BMA1" and len(b) == 12 + 48
    out = embeddings_from_bytes(b)
    np.testing.assert_array_equal(out, a)
    assert out.dtype == np.float32 and not out.flags.writeable
    assert embeddings_from_bytes(embeddings_to_bytes(np.zeros((0, 4), np.float32))).shape == (0, 4)
    vs = (np.array([1.5, 2.5], np.float32), np.zeros(0, np.float32), np.arange(5, dtype=np.float32))
    back = vectors_from_bytes(vectors_to_bytes(vs))
    assert [v.tolist() for v in back] == [v.tolist() for v in vs]
    assert vectors_from_bytes(vectors_to_bytes([])) == ()
    for bad in (b"", b"BMA1" + b"\x00" * 3, b[:-1], b"PKL!" + b[4:]):
        with pytest.raises(ValueError):
            embeddings_from_bytes(bad)
    with pytest.raises(ValueError):
        vectors_from_bytes(vectors_to_bytes(vs)[:-2])


def test_modality_profile_validates():
    with pytest.raises(ValueError, match="scorer name must be"):
        ModalityProfile("voice/../x", "v1", np.zeros((1, 2), np.float32), 0.0, 0.0, 1)
    with pytest.raises(ValueError, match="finite"):
        ModalityProfile("touch", "v1", np.full((1, 2), np.inf, np.float32), 0.0, 0.0, 1)


def test_head_state_round_trips_and_rejects_damaged_blobs():
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.float32([0.5])}
    back = state_from_bytes(state_to_bytes(state))
    assert set(back) == {"w", "b"} and not back["w"].flags.writeable
    np.testing.assert_array_equal(back["w"], state["w"])
    assert state_from_bytes(None) == {}
    for bad in (b"nope", state_to_bytes(state)[:-3], state_to_bytes(state) + b"\0"):
        with pytest.raises(ValueError, match="head-state blob"):
            state_from_bytes(bad)


def test_enroll_keeps_item_vectors_up_to_the_scorer_bound_and_refits_the_head():
    fits = []

    def fit(name, vectors):
        fits.append((name, vectors.shape))
        return {"centre": vectors.mean(0)}

    p = new_profile("acme", KEY)
    for i in range(3):  # three sessions of 40 action vectors each
        p = enroll(p, {"pointer": np.full((40, 4), i, np.float32)}, {}, "v1",
                   max_vectors={"pointer": 100}, fit=fit)
    m = p.modalities["pointer"]
    assert m.embeddings.shape == (100, 4) and m.n_sessions == 3 and p.state == "verifying"
    assert fits[-1] == ("pointer", (100, 4))
    np.testing.assert_allclose(p.head_state("pointer", "v1")["centre"], m.embeddings.mean(0))
    assert p.head_state("pointer", "v2") == {}  # another model's state is never served


def test_forgetting_a_scorer_drops_its_part_and_recomputes_the_state():
    import numpy as np

    from biometrics.profiles import ProfileConfig, enroll, forget_scorer, new_profile

    cfg = ProfileConfig(min_enroll_sessions=2)
    p = new_profile("t", "k")
    for _ in range(2):
        p = enroll(p, {"keystrokes": np.ones(4, np.float32)}, {}, "v", cfg)
    p = enroll(p, {"password_timing": np.ones(3, np.float32)}, {}, "v", cfg)
    assert p.state == "verifying" and set(p.modalities) == {"keystrokes", "password_timing"}
    q = forget_scorer(p, "password_timing", cfg)
    assert set(q.modalities) == {"keystrokes"} and q.state == "verifying" and q.n_sessions == p.n_sessions
    assert forget_scorer(q, "password_timing", cfg) is None  # nothing to forget
    assert forget_scorer(q, "keystrokes", cfg).state == "enrolling"

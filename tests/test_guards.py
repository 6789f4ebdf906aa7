"""Bot and replay guards on generated sessions: humans pass, scripts and copies are caught."""

import numpy as np
import pytest

from biometrics.guards import GuardConfig, bot_like, is_replay, signatures
from biometrics.synthetic import generate_dataset, replay_session


@pytest.fixture(scope="module")
def records():
    return generate_dataset(12, 6, n_impostor=12, n_bot=12, n_replay=0, seed=11, n_enroll=3)


def test_humans_are_not_bot_like(records):
    humans = [r for r in records if r.label in ("genuine", "impostor")]
    assert sum(bool(bot_like(r.session)) for r in humans) <= 1


def test_bots_are_bot_like(records):
    bots = [r for r in records if r.label == "bot"]
    assert all(bot_like(r.session) for r in bots)


def test_replay_with_jitter_is_caught_and_retyping_is_not(records):
    genuine = [r for r in records if r.label == "genuine" and r.user_id == records[0].user_id]
    src, other = genuine[0].session, genuine[1].session
    copy = replay_session(src, np.random.default_rng(0), max_jitter_ms=3.0)
    sig_src = signatures(src)["keystrokes"]
    assert is_replay(signatures(copy)["keystrokes"], [sig_src])
    assert not is_replay(signatures(other)["keystrokes"], [sig_src])


def test_replay_needs_enough_intervals():
    short = np.array([100.0, 120.0, 90.0], dtype=np.float32)
    assert not is_replay(short, [short.copy()], GuardConfig(replay_min_intervals=10))
    assert is_replay(np.full(12, 80.0, np.float32), [np.full(20, 81.0, np.float32)])


def test_signatures_hold_only_intervals_and_steps(records):
    sig = signatures(records[0].session)
    assert set(sig) == {"keystrokes", "pointer"}
    assert all(s.dtype == np.float32 and s.ndim == 1 and s.size <= 128 for s in sig.values())
    assert (sig["keystrokes"] >= 0).all()
    assert (sig["pointer"].reshape(-1, 3)[:, 0] >= 0).all()  # (dt, dx, dy) per pointer step


def test_same_rhythm_on_another_path_is_not_a_pointer_replay(records):
    sig = signatures(records[0].session)["pointer"]
    moved = sig.reshape(-1, 3).copy()
    moved[:, 1:] += 1.0  # every step one px off: a different path at the same rate
    assert is_replay(sig, [sig.copy()], modality="pointer")
    assert not is_replay(moved.ravel(), [sig], modality="pointer")


# --- Finding 1 (issue 13): failed attempts must not write into the victim's replay memory ---

class _FakeScorer:
    """Scores every session with a fixed decision; observes a fixed embedding and signature."""

    model_version = "v1"

    def __init__(self, decision: str):
        from biometrics.scoring import ScoringConfig

        self.config, self.decision = ScoringConfig(), decision

    def observe(self, session):
        from biometrics.scoring import Observed

        sig = np.asarray(session.sig, np.float32)
        return Observed({"keystrokes": np.ones(4, np.float32)}, {"keystrokes": 40}, {"keystrokes": sig}, [])

    def score(self, observed, profile, *args):
        from biometrics.scoring import ScoreResult

        return ScoreResult(0.95 if self.decision == "deny" else 0.1, self.decision, 1.0, {}, [], "v1")


class _S:
    """A stand-in session: only its signature and no session id."""

    session_id = None

    def __init__(self, sig):
        self.sig = sig


@pytest.mark.parametrize("decision", ["deny", "challenge"])
def test_failed_attempts_neither_write_nor_flush_the_replay_memory(tmp_path, decision):
    from biometrics.profiles import ProfileConfig
    from biometrics.service import BiometricService
    from biometrics.store import ProfileStore

    store = ProfileStore(f"sqlite:///{tmp_path / 'p.db'}")
    cfg = ProfileConfig(max_signatures=5)
    enrolled = [np.full(20, 100.0 + 50 * i, np.float32) for i in range(3)]
    svc = BiometricService(_FakeScorer("allow"), store, cfg, b"s" * 32)
    for sig in enrolled:
        svc.enroll("acme", "victim", _S(sig))
    svc.scorer = _FakeScorer(decision)
    for i in range(40):  # someone else's failed attempts, update_profile false and true
        svc.score("acme", "victim", _S(np.full(20, 500.0 + 10 * i, np.float32)), update_profile=bool(i % 2))
    p = store.get("acme", svc.key("acme", "victim"))
    kept = p.replay_signatures("keystrokes")
    assert [s.tolist() for s in kept] == [s.tolist() for s in enrolled]  # nothing flushed, nothing added
    # An allowed session's signature is still remembered (a replay of it is caught later).
    svc.scorer = _FakeScorer("allow")
    svc.score("acme", "victim", _S(np.full(20, 900.0, np.float32)))
    assert store.get("acme", svc.key("acme", "victim")).replay_signatures("keystrokes")[-1][0] == 900.0

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

"""A stand-in scorer and session for the replay-memory tests (synchronous and written behind)."""

from __future__ import annotations

import numpy as np


class FakeScorer:
    """Scores every session with a fixed decision (a stored signature's exact copy: a replay)."""

    model_version = "v1"

    def __init__(self, decision: str):
        from biometrics.scoring import ScoringConfig

        self.config, self.decision = ScoringConfig(), decision

    def observe(self, session):
        from biometrics.scoring import Observed

        sig = np.asarray(session.sig, np.float32)
        return Observed({"keystrokes": np.ones((1, 4), np.float32)}, {"keystrokes": 40}, {"keystrokes": sig}, [])

    def enrollment(self):
        return {}

    def score(self, observed, profile, *args):
        from biometrics.scoring import ScoreResult

        if any(np.array_equal(observed.signatures["keystrokes"], s) for s in profile.replay_signatures("keystrokes")):
            return ScoreResult(0.97, "deny", 1.0, {}, ["replayed_session"], "v1")
        return ScoreResult(0.95 if self.decision == "deny" else 0.1, self.decision, 1.0, {}, [], "v1")


class StubSession:
    """A stand-in session: only its signature and no session id."""

    session_id = None

    def __init__(self, sig):
        self.sig = sig


def victim_after_failed_attempts(store, decision: str):
    """A service on ``store`` whose user "victim" in tenant "acme" enrolled three signatures, then
    met 40 failed attempts by someone else (``decision``; update_profile false and true in turn).
    Returns the service (its scorer still answering ``decision``) and the enrolled signatures."""
    from biometrics.profiles import ProfileConfig
    from biometrics.service import BiometricService

    enrolled = [np.full(20, 100.0 + 50 * i, np.float32) for i in range(3)]
    svc = BiometricService(FakeScorer("allow"), store, ProfileConfig(max_signatures=5), b"s" * 32)
    for sig in enrolled:
        svc.enroll("acme", "victim", StubSession(sig))
    svc.scorer = FakeScorer(decision)
    for i in range(40):
        svc.score("acme", "victim", StubSession(np.full(20, 500.0 + 10 * i, np.float32)), update_profile=bool(i % 2))
    return svc, enrolled

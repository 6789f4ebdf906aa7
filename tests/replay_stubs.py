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

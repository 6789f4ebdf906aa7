"""Fixed-text head: a password field's timing, position by position, against the owner's own.

A login's password is the same text every time, so its presses line up by position: the
owner holds the third key and waits before the fourth about as they did at enrollment, and
someone else typing the same password does not. This is the scaled Manhattan detector of
Killourhy and Maxion (DSN 2009; ``bench/cmu_km09.py``), the best of their fourteen on one
password: the mean over positions of ``|x - mean| / (mean absolute deviation + floor)``,
over the enrollment rows of the same press count. It needs no background and no training:
only the calibration of its score, fitted on held-out people (:mod:`biometrics.data.password_scorer`).

Items are the rows of :data:`biometrics.modalities.PASSWORD_FEATURES`: the press count, then
log holds and log down-down latencies by position. A query whose press count fewer than
``min_matches`` enrollment rows share (a typo corrected, another password) gets ``nan``: the
head cannot say, and scoring leaves the scorer out of that session's risk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from biometrics.heads import Head, HeadState
from biometrics.modalities import password_columns


@dataclass(frozen=True)
class FixedTextHead(Head):
    """Scaled Manhattan distance of a password field's timing to the same-length enrollment rows.

    ``floor``: added to each position's mean absolute deviation (log units), so that a
    position a few enrollments happened to time alike does not dominate; ``min_matches``:
    fewest enrollment rows of the query's press count to score against.
    """

    floor: float = 0.05
    min_matches: int = 3
    kind: ClassVar[str] = "fixed_text"
    min_items: ClassVar[int] = 3

    def __post_init__(self) -> None:
        if not (self.floor > 0.0 and self.min_matches >= 2):
            raise ValueError("floor must be > 0 and min_matches >= 2")

    def fit(self, enroll: np.ndarray) -> HeadState:
        """Nothing to store: the enrollment rows are the model (grouped by length at scoring)."""
        return {}

    def score(self, state: HeadState, items: np.ndarray) -> np.ndarray:
        enroll = np.asarray(state["enroll"], np.float64)
        items = np.asarray(items, np.float64)
        out = np.full(len(items), np.nan)
        for i, x in enumerate(items):  # one item per session: a login's password
            n = int(x[0])
            same = enroll[enroll[:, 0] == n]
            if n < 2 or len(same) < self.min_matches:
                continue
            cols = password_columns(n, (items.shape[1] - 1) // 2)
            ref = same[:, cols]
            mean = ref.mean(0)
            spread = np.abs(ref - mean).mean(0) + self.floor
            out[i] = float(np.mean(np.abs(x[cols] - mean) / spread))
        return out

    def payload(self) -> dict:
        return {"kind": self.kind, "floor": float(self.floor), "min_matches": int(self.min_matches)}

    @classmethod
    def from_payload(cls, payload: dict) -> FixedTextHead:
        return cls(float(payload.get("floor", 0.05)), int(payload.get("min_matches", 3)))

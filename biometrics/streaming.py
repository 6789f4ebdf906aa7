"""Scores that update as behavior arrives: a login session is short, so every decision is a
function of how much has been seen (actions for the mouse, strokes for touch).

Per-item anomaly scores (one per mouse action or touch stroke, higher = less like the
owner) are averaged; :class:`RunningScore` keeps that average as items stream in, and
:func:`first_n_means` gives the score after the first n items, the quantity the
accuracy-versus-amount curves report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Amounts of behavior the mouse protocol reports (number of actions; "all" = whole session).
ACTION_COUNTS: tuple[str, ...] = ("1", "5", "10", "20", "all")


@dataclass
class RunningScore:
    """Mean of the per-item anomaly scores seen so far; ``update`` as items arrive."""

    total: float = 0.0
    count: int = 0

    def update(self, scores: np.ndarray | Sequence[float]) -> float:
        """Add the newly arrived items' scores (in arrival order); returns the current mean."""
        s = np.asarray(scores, dtype=np.float64).ravel()
        if not np.all(np.isfinite(s)):
            raise ValueError("per-item scores must be finite")
        self.total += float(s.sum())
        self.count += int(s.size)
        return self.value

    @property
    def value(self) -> float:
        """The current mean (0.5, undecided, before any item)."""
        return self.total / self.count if self.count else 0.5


def first_n_means(per_item: np.ndarray, amounts: Sequence[str] = ACTION_COUNTS) -> dict[str, float]:
    """Mean score of the first n items for each amount (``"all"``: every item; a session with
    fewer than n items uses what it has; 0.5 when it has none)."""
    s = np.asarray(per_item, dtype=np.float64).ravel()
    if s.size == 0:
        return {n: 0.5 for n in amounts}
    return {n: float(s[: (None if n == "all" else int(n))].mean()) for n in amounts}

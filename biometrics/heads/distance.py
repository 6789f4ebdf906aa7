"""Distance head: mean Euclidean distance to the enrollment vectors, optionally per-user normalized."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from biometrics.distances import mean_distance
from biometrics.heads import Head, HeadState

NORMALIZATIONS = ("none", "zscore", "spread")


def loo_distances(enroll: np.ndarray) -> np.ndarray:
    """Each enrollment vector's mean distance to the others (leave one out; ``[n]``, empty when n < 2)."""
    x = np.asarray(enroll, dtype=np.float64)
    n = x.shape[0]
    if n < 2:
        return np.zeros(0)
    sq = (x**2).sum(1)
    d = np.sqrt(np.clip(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0, None))
    np.fill_diagonal(d, 0.0)
    return d.sum(1) / (n - 1)


@dataclass(frozen=True)
class DistanceHead(Head):
    """Mean distance of an item to the user's enrollment vectors (TypeNet's scoring).

    ``normalize="zscore"`` divides the distance, less the user's own leave-one-out mean, by
    their spread (floored at ``sd_floor`` times that mean), so a user whose sessions vary
    a lot is not flagged for being themselves; ``"none"`` keeps the raw distance.

    ``"spread"`` scales the distance by ``(spread_ref / m) ** spread_alpha``, ``m`` the user's
    leave-one-out mean distance (their enrollment sessions' own spread; ``spread_ref``, the
    typical one, leaves a typical user's distance as it was). Typing one text again and again
    (a login) brings the owner's sessions and anyone else's closer together than free text
    does, and the user's own spread shows how much: with ``spread_alpha`` 1 the distance is
    relative to it. Fewer than two enrollment vectors: no scaling.
    """

    normalize: str = "none"
    sd_floor: float = 0.25
    spread_alpha: float = 0.0
    spread_ref: float = 1.0
    kind: ClassVar[str] = "distance"

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, not {self.normalize!r}")
        if not (self.spread_alpha >= 0.0 and self.spread_ref > 0.0):
            raise ValueError("spread_alpha must be >= 0 and spread_ref > 0")

    def fit(self, enroll: np.ndarray) -> HeadState:
        """Nothing to store: the enrollment vectors are the model."""
        return {}

    def score(self, state: HeadState, items: np.ndarray) -> np.ndarray:
        enroll = np.asarray(state["enroll"], dtype=np.float64)
        d = mean_distance(enroll, np.asarray(items, dtype=np.float64))
        if self.normalize == "zscore":
            loo = loo_distances(enroll)
            if loo.size >= 2:
                mean = float(loo.mean())
                d = (d - mean) / max(float(loo.std(ddof=1)), self.sd_floor * mean, 1e-9)
        elif self.normalize == "spread":
            d = d * self.spread_scale(enroll)
        return d

    def spread_scale(self, enroll: np.ndarray) -> float:
        """The ``"spread"`` factor of a user's enrollment vectors (1 with fewer than two)."""
        loo = loo_distances(enroll)
        if loo.size < 2:
            return 1.0
        return float((self.spread_ref / max(float(loo.mean()), 1e-6)) ** self.spread_alpha)

    def payload(self) -> dict:
        return {"kind": self.kind, "normalize": self.normalize, "sd_floor": float(self.sd_floor),
                "spread_alpha": float(self.spread_alpha), "spread_ref": float(self.spread_ref)}

    @classmethod
    def from_payload(cls, payload: dict) -> DistanceHead:
        return cls(str(payload.get("normalize", "none")), float(payload.get("sd_floor", 0.25)),
                   float(payload.get("spread_alpha", 0.0)), float(payload.get("spread_ref", 1.0)))

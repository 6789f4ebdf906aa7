"""Distance head: mean Euclidean distance to the enrollment vectors, optionally per-user normalized."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from biometrics.distances import mean_distance
from biometrics.heads import Head, HeadState

NORMALIZATIONS = ("none", "zscore")


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
    """

    normalize: str = "none"
    sd_floor: float = 0.25
    kind: ClassVar[str] = "distance"

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS}, not {self.normalize!r}")

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
        return d

    def payload(self) -> dict:
        return {"kind": self.kind, "normalize": self.normalize, "sd_floor": float(self.sd_floor)}

    @classmethod
    def from_payload(cls, payload: dict) -> DistanceHead:
        return cls(str(payload.get("normalize", "none")), float(payload.get("sd_floor", 0.25)))

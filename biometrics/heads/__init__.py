"""Per-user heads: how a modality scorer turns item vectors into anomaly scores for one user.

A head is fitted once per user at enrollment, on the user's enrollment item vectors (one
per session, action or stroke: encoder embeddings, item features, or both side by side),
and scores new items against that fit. What the fit produces is the user's **state**: a
small dict of plain float32 arrays that the profile store keeps beside the enrollment
vectors (no pickles, no estimator objects). What a head needs beyond the user (e.g. a
background set of other people's item vectors, hyperparameters, a scaler) is its
**payload**, plain tensors and values written into the model bundle.

Scores are anomaly scores: higher = less like the owner. Aggregation over a session's
items and calibration to a probability are the modality scorer's business, not the head's.

    head = HEADS[payload["kind"]].from_payload(payload)
    state = head.fit(enroll_vectors)                  # at enrollment
    anomalies = head.score(state, item_vectors)       # at scoring, one per item
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

#: A user's fitted head: named float32 arrays (stored in the profile).
HeadState = dict[str, np.ndarray]


class Head(ABC):
    """Fit a user's state from enrollment vectors; score item vectors against it."""

    kind: ClassVar[str]
    #: Fewest enrollment items the head can be fitted on; with fewer it is not fitted (and the
    #: modality not scored) until more sessions enroll.
    min_items: ClassVar[int] = 1

    @abstractmethod
    def fit(self, enroll: np.ndarray) -> HeadState:
        """The user's state from ``[n, K]`` enrollment item vectors (float32 arrays only)."""

    @abstractmethod
    def score(self, state: HeadState, items: np.ndarray) -> np.ndarray:
        """Anomaly scores ``[m]`` of ``[m, K]`` item vectors for the user of ``state``."""

    @abstractmethod
    def payload(self) -> dict:
        """Plain values and arrays (numpy or torch) that :meth:`from_payload` rebuilds the head from."""

    @classmethod
    @abstractmethod
    def from_payload(cls, payload: dict) -> Head:
        """The head of a bundle's stored :meth:`payload`."""


def as_float32_state(state: dict[str, np.ndarray]) -> HeadState:
    """A state with every value a C-contiguous float32 array (what the store serializes)."""
    return {k: np.ascontiguousarray(np.asarray(v, dtype=np.float32)) for k, v in state.items()}

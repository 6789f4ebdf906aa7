"""Distances between embeddings and a user's enrollment set (shared by scoring and the protocols)."""

from __future__ import annotations

import numpy as np


def mean_distance(enroll: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Mean Euclidean distance of each query ``[m, D]`` to the enrollment set ``[n, D]``."""
    d2 = (queries**2).sum(1)[:, None] + (enroll**2).sum(1)[None, :] - 2.0 * queries @ enroll.T
    return np.sqrt(np.clip(d2, 0.0, None)).mean(1)

"""Fixed-length session vectors from variable-length token sequences (for one-class detectors)."""

from __future__ import annotations

import numpy as np

SUMMARY_STATS: tuple[str, ...] = ("mean", "std", "p10", "p50", "p90")
"""Statistics per token column, in the order they appear in a summary vector."""


def summary_vector(tokens: np.ndarray) -> np.ndarray:
    """Tokens ``[T, F]`` -> float64 ``[5 F]``: column mean, std, p10, p50, p90 (zeros if T = 0)."""
    tok = np.asarray(tokens, dtype=np.float64)
    if tok.ndim != 2:
        raise ValueError(f"tokens must be a [T, F] array, got shape {tok.shape}")
    n_feat = tok.shape[1]
    if tok.shape[0] == 0:
        return np.zeros(len(SUMMARY_STATS) * n_feat)
    pct = np.percentile(tok, (10.0, 50.0, 90.0), axis=0)
    return np.concatenate((tok.mean(axis=0), tok.std(axis=0), pct.reshape(-1)))


def summary_names(columns: tuple[str, ...]) -> tuple[str, ...]:
    """Names of the entries of ``summary_vector`` for tokens with these column names."""
    return tuple(f"{c}_{s}" for s in SUMMARY_STATS for c in columns)

"""Encoder inputs from numpy: variable-length token sequences -> one padded batch and its mask."""

from __future__ import annotations

import numpy as np


def pad_numpy(tokens: list[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Head-crop and zero-pad sequences to ``[N, max_len, F]`` plus the validity mask."""
    n_feat = tokens[0].shape[1] if tokens else 0
    x = np.zeros((len(tokens), max_len, n_feat), dtype=np.float32)
    mask = np.zeros((len(tokens), max_len), dtype=bool)
    for i, t in enumerate(tokens):
        n = min(t.shape[0], max_len)
        x[i, :n] = t[:n]
        mask[i, :n] = True
    mask[:, 0] = True
    return x, mask

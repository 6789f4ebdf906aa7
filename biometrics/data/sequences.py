"""Token-sequence datasets shared by every modality: padding, cropping, m-per-user batches.

A :class:`SequenceSet` is the in-memory form every loader produces: one float32 token
matrix ``[T_i, F]`` per sequence (from :mod:`biometrics.features`), the user it belongs
to, and its position in that user's recording order (what enrollment protocols index).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset


@dataclass
class SequenceSet:
    """Variable-length token sequences with their users and per-user order."""

    tokens: list[np.ndarray]  # each float32 [T_i, F]
    users: np.ndarray  # int64 [N], the dataset's own user ids
    order: np.ndarray  # int64 [N], index of the sequence within its user's recordings

    def __len__(self) -> int:
        return len(self.tokens)

    def subset(self, keep: np.ndarray) -> SequenceSet:
        """The sequences where boolean ``keep`` is true (or at integer indices ``keep``)."""
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep
        return SequenceSet([self.tokens[i] for i in idx], self.users[idx], self.order[idx])

    def select_columns(self, columns: np.ndarray | list[int]) -> SequenceSet:
        """The same sequences with only the given token columns."""
        cols = np.asarray(columns)
        return SequenceSet([t[:, cols] for t in self.tokens], self.users, self.order)

    def save(self, path) -> None:
        """Write to one ``.npz`` (tokens concatenated with offsets)."""
        lengths = np.array([t.shape[0] for t in self.tokens], dtype=np.int64)
        flat = np.concatenate(self.tokens) if self.tokens else np.zeros((0, 0), np.float32)
        np.savez(path, flat=flat, lengths=lengths, users=self.users, order=self.order)

    @classmethod
    def load(cls, path) -> SequenceSet:
        """Read what :meth:`save` wrote."""
        z = np.load(path)
        bounds = np.concatenate([[0], np.cumsum(z["lengths"])])
        flat = z["flat"]
        tokens = [flat[a:b] for a, b in itertools.pairwise(bounds)]
        return cls(tokens, z["users"].astype(np.int64), z["order"].astype(np.int64))


class TokenDataset(Dataset):
    """Yields ``(tokens [L, F], length, label)``: a random crop of ``max_len`` when training, else the head."""

    def __init__(self, data: SequenceSet, labels: np.ndarray, max_len: int,
                 random_crop: bool = False, seed: int = 0) -> None:
        self.data, self.labels, self.max_len = data, labels, max_len
        self.random_crop = random_crop
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        tok = self.data.tokens[i]
        start = 0
        if self.random_crop and tok.shape[0] > self.max_len:
            start = int(self.rng.integers(0, tok.shape[0] - self.max_len + 1))
        return tok[start:start + self.max_len], int(self.labels[i]), i


def pad_batch(batch) -> dict[str, torch.Tensor]:
    """Collate ``(tokens, label, index)`` items into zero-padded tensors with a mask."""
    tokens, labels, index = zip(*batch)
    n_feat = tokens[0].shape[1]
    length = max(1, max(t.shape[0] for t in tokens))
    x = np.zeros((len(tokens), length, n_feat), dtype=np.float32)
    mask = np.zeros((len(tokens), length), dtype=bool)
    for i, t in enumerate(tokens):
        x[i, : t.shape[0]] = t
        mask[i, : t.shape[0]] = True
    mask[:, 0] |= ~mask.any(1)  # an empty sequence keeps one (zero) step so pooling is defined
    return {"x": torch.from_numpy(x), "mask": torch.from_numpy(mask),
            "label": torch.tensor(labels, dtype=torch.long), "index": torch.tensor(index)}


def contiguous_labels(users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map arbitrary user ids to ``0..C-1``; returns (labels, the sorted unique ids)."""
    uniq, labels = np.unique(users, return_inverse=True)
    return labels.astype(np.int64), uniq

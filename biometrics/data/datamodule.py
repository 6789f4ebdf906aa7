"""LightningDataModule base for verification training on token sequences.

A subclass says how to build its train / val / test :class:`SequenceSet` and how to
evaluate embeddings of a held-out set under its protocol; this base handles caching,
column selection, m-sequences-per-user batches and loaders.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from pytorch_metric_learning.samplers import MPerClassSampler
from torch.utils.data import DataLoader

from biometrics.data.sequences import SequenceSet, TokenDataset, contiguous_labels, pad_batch
from biometrics.distances import mean_distance
from biometrics.features import summary_vector
from biometrics.protocols import Scorer

STAGES = ("train", "val", "test")


#: (genuine scores, impostor scores, user of each genuine score, user of each impostor score).
CalibrationScores = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


class SequenceDataModule(pl.LightningDataModule):
    """Builds (or loads from cache) train/val/test sequence sets and serves m-per-user batches."""

    def __init__(self, cache_dir: str | Path = ".cache", max_len: int = 50, batch_size: int = 256,
                 m_per_user: int = 4, batches_per_epoch: int = 100, num_workers: int = 0,
                 drop_columns: tuple[str, ...] = (), seed: int = 0) -> None:
        super().__init__()
        self.cache_dir = Path(cache_dir)
        self.max_len, self.batch_size, self.m_per_user = max_len, batch_size, m_per_user
        self.batches_per_epoch, self.num_workers = batches_per_epoch, num_workers
        self.drop_columns, self.seed = tuple(drop_columns), seed
        self.sets: dict[str, SequenceSet] = {}

    # --- to implement -------------------------------------------------------------------
    feature_names: tuple[str, ...] = ()
    modality: str = "keystrokes"
    #: What one sequence is: a whole session, or one action or stroke of it (biometrics.modalities).
    unit: str = "session"

    def build_sets(self) -> dict[str, SequenceSet]:
        """Parse the source into ``{"train", "val", "test"}`` sets (all columns)."""
        raise NotImplementedError

    def evaluate_embeddings(self, emb: np.ndarray, stage: str, scorer: Scorer = mean_distance) -> dict:
        """Protocol metrics for vectors of ``self.sets[stage]`` (same order); must hold ``eer``.

        ``emb`` is usually the encoder's embeddings scored by distance; classic baselines pass
        their fixed-length vectors and a detector ``scorer`` to be judged by the same protocol.
        """
        raise NotImplementedError

    def calibration_scores(self, emb: np.ndarray, stage: str) -> CalibrationScores:
        """Held-out genuine and impostor scores a served calibration is fitted on, with the
        user each belongs to (``None`` where the protocol pools them): the protocol's own."""
        genuine, impostor = self.evaluate_embeddings(emb, stage)["scores"]
        return genuine, impostor, None, None

    def write_plots(self, report: dict, output_dir: Path, prefix: str = "") -> None:
        """Protocol-specific plots for an evaluation ``report`` (e.g. accuracy vs amount seen)."""

    def baseline_vectors(self, stage: str) -> np.ndarray:
        """Fixed-length vectors per sequence for the classic one-class detectors."""
        return np.stack([summary_vector(t) for t in self.sets[stage].tokens])

    def cache_key(self) -> dict:
        """Everything that changes what :meth:`build_sets` returns."""
        return {"seed": self.seed}

    # --- shared machinery ---------------------------------------------------------------
    @property
    def hidden(self) -> tuple[str, ...]:
        """Names of the token columns the encoder must not see."""
        return self.drop_columns

    @property
    def columns(self) -> list[int]:
        """Indices of the token columns the encoder sees."""
        return [i for i, n in enumerate(self.feature_names) if n not in self.hidden]

    @property
    def used_features(self) -> list[str]:
        """Names of the token columns the encoder sees."""
        return [self.feature_names[i] for i in self.columns]

    @property
    def in_features(self) -> int:
        """Width of the encoder's input tokens."""
        return len(self.columns)

    @property
    def num_train_users(self) -> int:
        """Number of distinct users in the training set."""
        self.setup()
        return int(np.unique(self.sets["train"].users).size)

    def setup(self, stage: str | None = None) -> None:
        if self.sets:
            return
        key = json.dumps({"cls": type(self).__name__, **self.cache_key()}, sort_keys=True, default=str)
        folder = self.cache_dir / "sequences" / hashlib.sha1(key.encode()).hexdigest()[:16]
        if all((folder / f"{s}.npz").exists() for s in STAGES):
            sets = {s: SequenceSet.load(folder / f"{s}.npz") for s in STAGES}
        else:
            sets = self.build_sets()
            folder.mkdir(parents=True, exist_ok=True)
            for s in STAGES:
                sets[s].save(folder / f"{s}.npz")
            (folder / "key.json").write_text(key)
        self.sets = {s: v.select_columns(self.columns) for s, v in sets.items()}

    def train_dataloader(self) -> DataLoader:
        data = self.sets["train"]
        labels, uniq = contiguous_labels(data.users)
        # A batch holds m sequences of each of its users, so it cannot exceed m * users.
        batch = min(self.batch_size, self.m_per_user * uniq.size)
        sampler = MPerClassSampler(labels, m=self.m_per_user, batch_size=batch,
                                   length_before_new_iter=batch * self.batches_per_epoch)
        ds = TokenDataset(data, labels, self.max_len, random_crop=True, seed=self.seed)
        return DataLoader(ds, batch_size=batch, sampler=sampler, collate_fn=pad_batch,
                          num_workers=self.num_workers, drop_last=True)

    def _eval_loader(self, stage: str) -> DataLoader:
        data = self.sets[stage]
        ds = TokenDataset(data, np.zeros(len(data), dtype=np.int64), self.max_len)
        return DataLoader(ds, batch_size=1024, shuffle=False, collate_fn=pad_batch,
                          num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

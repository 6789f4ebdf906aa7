"""Labelled sessions from a file in the session contract: what retraining trains on.

The file is the one ``python -m training.evaluate_bundle`` reads (``sample_data/sessions.jsonl``:
one ``{"user_id", "split", "label", "session"}`` object per line, or the same columns in
Parquet). Each account's **genuine** sessions (enroll and test split alike, in file order) become
token sequences of one modality through the modality registry
(:data:`biometrics.modalities.MODALITIES`, the features serving computes); impostor, bot and
replay sessions are never trained on. Accounts are split, seeded, into disjoint train,
validation and held-out **evaluation** users (the data module's ``test`` stage): the encoder
never sees an evaluation user, and ``python -m training.retrain`` scores exactly those users'
sessions of the file through the serving path (:func:`evaluation_user_ids`).

An account counts when it has at least ``per_user`` genuine sessions in which the modality
has ``min_tokens`` tokens or more; its first ``per_user`` such sessions are used.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from biometrics.data.keystroke_modules import EnrollmentDataModule
from biometrics.data.sequences import SequenceSet
from biometrics.labelled_sessions import LabelledRecord, read_labelled_sessions
from biometrics.modalities import MODALITIES, modality

#: Fewest users a stage may have (a metric-learning batch and an impostor trial need two).
MIN_STAGE_USERS = 2


class SplitError(ValueError):
    """The file cannot be split into train, validation and evaluation users; one-line message."""


def read_records(path: str | Path) -> list[LabelledRecord]:
    """The file's labelled records, read by the very reader ``training.evaluate_bundle`` uses,
    so training and served evaluation parse the file alike."""
    return read_labelled_sessions(path)


def genuine_sequences(records: Sequence[Any], modality_name: str = "keystrokes", per_user: int = 10,
                      min_tokens: int | None = None) -> dict[str, list[np.ndarray]]:
    """``{user_id: [tokens [T, F], ...]}``: each eligible account's first ``per_user`` genuine
    sessions (file order) with at least ``min_tokens`` tokens of the modality (default: the
    modality's own scoring minimum), as the served scorer computes them."""
    spec = modality(modality_name)
    floor = spec.min_tokens if min_tokens is None else min_tokens
    out: dict[str, list[np.ndarray]] = {}
    for r in records:
        if r.label != "genuine" or not spec.present(r.session):
            continue
        mine = out.setdefault(r.user_id, [])
        if len(mine) >= per_user:
            continue
        tokens = spec.items(r.session, "session").tokens[0]
        if tokens.shape[0] >= floor:
            mine.append(tokens)
    return {u: seqs for u, seqs in sorted(out.items()) if len(seqs) >= per_user}


def stage_sizes(n_users: int, test_fraction: float, val_fraction: float) -> tuple[int, int]:
    """(evaluation users, validation users) for ``n_users`` eligible accounts: the fractions
    rounded, at least :data:`MIN_STAGE_USERS` each, leaving at least as many to train on;
    :class:`SplitError` when there are too few."""
    n_test = max(MIN_STAGE_USERS, round(n_users * test_fraction))
    n_val = max(MIN_STAGE_USERS, round(n_users * val_fraction))
    if n_users - n_test - n_val < MIN_STAGE_USERS:
        need = 3 * MIN_STAGE_USERS
        raise SplitError(f"too few users to split: {n_users} account(s) with enough genuine sessions, "
                         f"need at least {need} ({MIN_STAGE_USERS} each to train on, validate on and "
                         f"evaluate on; here {n_test} evaluation and {n_val} validation users)")
    return n_test, n_val


def split_user_ids(user_ids: Sequence[str], test_fraction: float, val_fraction: float,
                   seed: int) -> dict[str, list[str]]:
    """Seeded disjoint split of account ids into ``train`` / ``val`` / ``test`` (evaluation)."""
    ids = sorted(user_ids)
    n_test, n_val = stage_sizes(len(ids), test_fraction, val_fraction)
    perm = np.random.default_rng(seed).permutation(len(ids))
    pick = lambda idx: sorted(ids[i] for i in idx)
    return {"test": pick(perm[:n_test]), "val": pick(perm[n_test:n_test + n_val]),
            "train": pick(perm[n_test + n_val:])}


class SessionsFileDataModule(EnrollmentDataModule):
    """Genuine sessions of one modality from a labelled-sessions file, users split by seed.

    Evaluated with the enrollment protocol of :class:`EnrollmentDataModule` (``per_user``
    sequences per user, enrollment sizes ``enroll_sizes``, ``n_queries`` genuine queries).
    """

    def __init__(self, path: str | Path, modality: str = "keystrokes", per_user: int = 10,
                 test_fraction: float = 0.25, val_fraction: float = 0.15, min_tokens: int | None = None,
                 **kw) -> None:
        if modality not in MODALITIES or "session" not in MODALITIES[modality].units:
            raise ValueError(f"unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}")
        kw.setdefault("enroll_sizes", (1, 2, 5))
        super().__init__(per_user=per_user, n_test_users=0, n_val_users=0, **kw)
        self.path, self.modality, self.min_tokens = Path(path), modality, min_tokens
        self.test_fraction, self.val_fraction = float(test_fraction), float(val_fraction)
        self.feature_names = MODALITIES[modality].token_features["session"]
        self.user_ids: list[str] = []

    def cache_key(self) -> dict:
        st = os.stat(self.path) if self.path.is_file() else None  # the file's identity: path, size, time
        return {**super().cache_key(), "path": str(self.path.resolve()),
                "file": None if st is None else [st.st_size, st.st_mtime_ns], "modality": self.modality,
                "test_fraction": self.test_fraction, "val_fraction": self.val_fraction,
                "min_tokens": self.min_tokens}

    def sequences(self) -> dict[str, list[np.ndarray]]:
        """:func:`genuine_sequences` of the file under this module's settings."""
        return genuine_sequences(read_records(self.path), self.modality, self.per_user, self.min_tokens)

    def user_split(self) -> dict[str, list[str]]:
        """The account ids of each stage (``test``: the evaluation users)."""
        return split_user_ids(list(self.sequences()), self.test_fraction, self.val_fraction, self.seed)

    def load_all(self) -> SequenceSet:
        seqs = self.sequences()
        self.user_ids = list(seqs)  # sorted; the integer user of a sequence indexes this list
        tokens = [t for u in self.user_ids for t in seqs[u]]
        users = np.repeat(np.arange(len(self.user_ids), dtype=np.int64), self.per_user)
        order = np.tile(np.arange(self.per_user, dtype=np.int64), len(self.user_ids))
        return SequenceSet(tokens, users, order)

    def build_sets(self) -> dict[str, SequenceSet]:
        data = self.load_all()
        split = split_user_ids(self.user_ids, self.test_fraction, self.val_fraction, self.seed)
        index = {u: i for i, u in enumerate(self.user_ids)}
        return {s: data.subset(np.isin(data.users, [index[u] for u in ids])) for s, ids in split.items()}

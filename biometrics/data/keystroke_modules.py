"""Keystroke data modules: Aalto desktop (TypeNet protocol) and CMU (fold protocol).

Both turn their source into key events and then into tokens with the very
:func:`biometrics.features.keystroke_tokens` that scoring uses, so a trained encoder sees
in production exactly what it saw in training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biometrics.data import aalto, cmu
from biometrics.data.datamodule import CalibrationScores, SequenceDataModule
from biometrics.data.key_identity import hidden_columns
from biometrics.data.paths import datasets_root
from biometrics.data.sequences import SequenceSet
from biometrics.distances import mean_distance
from biometrics.features import KEYSTROKE_FEATURES, keystroke_tokens
from biometrics.metrics import eer
from biometrics.modalities import modality
from biometrics.protocols import Scorer, enrollment_report, enrollment_scores, group_by_user

#: Token columns that hold timings (the rest encode which key it was).
TIMING_COLUMNS = ("hold", "down_down", "up_down", "up_up")


def split_users(users: np.ndarray, n_test: int, n_val: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded disjoint user split: ``n_test`` test users, ``n_val`` validation users, the rest train."""
    uniq = np.unique(users)
    perm = np.random.default_rng(seed).permutation(uniq)
    return {"test": np.sort(perm[:n_test]), "val": np.sort(perm[n_test:n_test + n_val]),
            "train": np.sort(perm[n_test + n_val:])}


class KeyIdentityMixin:
    """A keystroke data module under a key-identity scheme (:mod:`biometrics.data.key_identity`):
    the scheme says what the loader keeps of each key and which token columns the encoder sees."""

    key_identity: str = "classes"

    @property
    def hidden(self) -> tuple[str, ...]:
        """Columns dropped by config or hidden by the scheme."""
        return (*self.drop_columns, *hidden_columns(self.key_identity))


class EnrollmentDataModule(KeyIdentityMixin, SequenceDataModule):
    """Users with ``per_user`` sequences each, split into disjoint train/val/test users and
    evaluated with the TypeNet enrollment protocol. Subclasses only say how to load."""

    feature_names = KEYSTROKE_FEATURES

    def __init__(self, n_test_users: int = 400, n_val_users: int = 100, per_user: int = 15,
                 enroll_sizes: tuple[int, ...] = (1, 2, 5, 7, 10), n_queries: int = 5,
                 key_identity: str = "classes", **kw) -> None:
        super().__init__(**kw)
        hidden_columns(key_identity)  # fail early on an unknown scheme
        self.key_identity = key_identity
        self.n_test_users, self.n_val_users = n_test_users, n_val_users
        self.per_user, self.enroll_sizes, self.n_queries = per_user, tuple(enroll_sizes), n_queries

    def load_all(self) -> SequenceSet:
        """Every user's first ``per_user`` sequences, in recording order."""
        raise NotImplementedError

    def cache_key(self) -> dict:
        return {"seed": self.seed, "test": self.n_test_users, "val": self.n_val_users,
                "per_user": self.per_user, "features": repr(modality(self.modality).feature_config()),
                "key_identity": self.key_identity}

    def build_sets(self) -> dict[str, SequenceSet]:
        data = self.load_all()
        split = split_users(data.users, self.n_test_users, self.n_val_users, self.seed)
        return {s: data.subset(np.isin(data.users, u)) for s, u in split.items()}

    def evaluate_embeddings(self, emb: np.ndarray, stage: str, scorer: Scorer = mean_distance) -> dict:
        data = self.sets[stage]
        grouped, _ = group_by_user(emb, data.users, data.order, self.per_user)
        report = enrollment_report(grouped, self.enroll_sizes, self.n_queries, seed=self.seed,
                                   scorer=scorer)
        at = str(min(report["eer"], key=lambda g: abs(int(g) - 5)))  # G = 5, or the nearest
        return {**report, "eer": report["eer"][at], "eer_by_g": report["eer"]}

    def calibration_scores(self, emb: np.ndarray, stage: str, n_enroll: int = 5) -> CalibrationScores:
        """At G = ``n_enroll``, every sequence after the enrollment ones as a genuine query (not
        only the protocol's last five: twice the genuine tail), grouped by user."""
        data = self.sets[stage]
        grouped, _ = group_by_user(emb, data.users, data.order, self.per_user)
        n_queries = self.per_user - n_enroll
        genuine, impostor = enrollment_scores(grouped, n_enroll, n_queries, self.seed)
        users = np.arange(grouped.shape[0])
        return (genuine.ravel(), impostor.ravel(), np.repeat(users, genuine.shape[1]),
                np.repeat(users, impostor.shape[1]))


class AaltoDataModule(EnrollmentDataModule):
    """Aalto desktop free text: one sentence = one sequence (TypeNet protocol)."""

    def __init__(self, datasets: str | Path | None = None, max_users: int | None = None, **kw) -> None:
        super().__init__(**kw)
        self.datasets = datasets_root(datasets)
        self.max_users = max_users

    def cache_key(self) -> dict:
        return {**super().cache_key(), "max_users": self.max_users}

    def load_all(self) -> SequenceSet:
        folder = aalto.unpack(self.datasets, self.cache_dir / "aalto-desktop")
        seqs = aalto.load_sequences(folder, aalto.keycode_tables(self.key_identity), self.per_user,
                                    self.max_users)
        tokens = [keystroke_tokens(s.keys) for s in seqs]
        users = [s.user for s in seqs]
        order = [i % self.per_user for i in range(len(seqs))]
        return SequenceSet(tokens, np.array(users, np.int64), np.array(order, np.int64))


class CMUFoldDataModule(KeyIdentityMixin, SequenceDataModule):
    """CMU password data with subjects in folds: train on the other folds, test on this one."""

    feature_names = KEYSTROKE_FEATURES

    def __init__(self, datasets: str | Path | None = None, fold: int = 0, n_folds: int = 5,
                 n_val_users: int = 5, max_len: int = 16, key_identity: str = "classes", **kw) -> None:
        super().__init__(max_len=max_len, **kw)
        hidden_columns(key_identity)  # fail early on an unknown scheme
        self.key_identity = key_identity
        self.datasets = datasets_root(datasets)
        self.fold, self.n_folds, self.n_val_users = fold, n_folds, n_val_users

    def cache_key(self) -> dict:
        return {"seed": self.seed, "fold": self.fold, "n_folds": self.n_folds,
                "val": self.n_val_users, "features": repr(modality(self.modality).feature_config()),
                "key_identity": self.key_identity}

    def fold_subjects(self, subjects: np.ndarray) -> dict[str, np.ndarray]:
        """Seeded assignment of subjects to this fold's test / val / train roles."""
        perm = np.random.default_rng(self.seed).permutation(np.unique(subjects))
        folds = np.array_split(perm, self.n_folds)
        test = folds[self.fold]
        rest = np.concatenate([f for i, f in enumerate(folds) if i != self.fold])
        return {"test": np.sort(test), "val": np.sort(rest[: self.n_val_users]),
                "train": np.sort(rest[self.n_val_users:])}

    def build_sets(self) -> dict[str, SequenceSet]:
        data = cmu.load_cmu(self.datasets)
        keys = cmu.cmu_to_keystroke_arrays(data, scheme=self.key_identity)
        tokens = [keystroke_tokens(k) for k in keys]
        subj = np.char.lstrip(data.subject.astype(str), "s").astype(np.int64)
        # Per-subject order: (session - 1) * 50 + (rep - 1), so sessions 1-4 are orders 0..199.
        order = ((data.session - 1) * 50 + (data.rep - 1)).astype(np.int64)
        full = SequenceSet(tokens, subj, order)
        roles = self.fold_subjects(subj)
        return {s: full.subset(np.isin(subj, u)) for s, u in roles.items()}

    def evaluate_embeddings(self, emb: np.ndarray, stage: str, scorer: Scorer = mean_distance) -> dict:
        data = self.sets[stage]
        scores = {int(s): cmu_fold_scores(emb, data.users, data.order, s, scorer)
                  for s in np.unique(data.users)}
        per_subject = {s: eer(g, i) for s, (g, i) in scores.items()}
        vals = np.array(list(per_subject.values()))
        pooled = tuple(np.concatenate(x) for x in zip(*scores.values()))
        return {"eer": float(vals.mean()), "eer_sd": float(vals.std()), "per_subject": per_subject,
                "scores": pooled}

    def baseline_vectors(self, stage: str) -> np.ndarray:
        """Fixed text: the timing columns of all presses side by side, like the paper's 31 timings."""
        timing = [i for i, n in enumerate(self.feature_names) if n in TIMING_COLUMNS and i in self.columns]
        cols = [self.columns.index(i) for i in timing]
        return np.stack([t[:, cols].ravel() for t in self.sets[stage].tokens])


def cmu_fold_scores(emb: np.ndarray, users: np.ndarray, order: np.ndarray, subject: int,
                    scorer: Scorer = mean_distance) -> tuple[np.ndarray, np.ndarray]:
    """CMU protocol within a fold: enroll on reps 0-199, genuine 200-399, impostors = others' first 5."""
    own = users == subject
    enroll = emb[own & (order < 200)]
    genuine = scorer(enroll, emb[own & (order >= 200)])
    impostor = scorer(enroll, emb[~own & (order < 5)])
    return genuine, impostor



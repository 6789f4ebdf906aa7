"""Synthetic keystroke users from :mod:`biometrics.synthetic`, for tests and smoke runs."""

from __future__ import annotations

import numpy as np

from biometrics.data.keystroke_modules import EnrollmentDataModule
from biometrics.data.sequences import SequenceSet
from biometrics.features import keystroke_tokens
from biometrics.synthetic import generate_dataset


class SyntheticKeystrokeDataModule(EnrollmentDataModule):
    """``n_users`` simulated typists with ``sessions_per_user`` genuine sessions each."""

    def __init__(self, n_users: int = 120, sessions_per_user: int = 15, **kw) -> None:
        kw.setdefault("per_user", sessions_per_user)
        kw.setdefault("enroll_sizes", (1, 2, 5))
        super().__init__(**kw)
        self.n_users, self.sessions_per_user = n_users, sessions_per_user

    def cache_key(self) -> dict:
        return {**super().cache_key(), "n_users": self.n_users, "sessions": self.sessions_per_user}

    def load_all(self) -> SequenceSet:
        records = generate_dataset(self.n_users, self.sessions_per_user, n_impostor=0, n_bot=0,
                                   n_replay=0, seed=self.seed, n_enroll=self.sessions_per_user - 1)
        genuine = [r for r in records if r.label == "genuine"]
        ids = {u: i for i, u in enumerate(sorted({r.user_id for r in genuine}))}
        users = np.array([ids[r.user_id] for r in genuine], np.int64)
        order = np.zeros(users.size, np.int64)
        for u in np.unique(users):  # recording order within each user
            order[users == u] = np.arange((users == u).sum())
        tokens = [keystroke_tokens(r.session.keystroke_arrays()) for r in genuine]
        return SequenceSet(tokens, users, order)

"""Synthetic users from :mod:`biometrics.synthetic`, one modality at a time: tests, smoke runs, the sample bundle."""

from __future__ import annotations

import numpy as np

from biometrics.data.keystroke_modules import EnrollmentDataModule
from biometrics.data.sequences import SequenceSet
from biometrics.modalities import MODALITIES
from biometrics.synthetic import DEMO_PASSWORD, DEMO_USERNAME, GENERATOR_VERSION, generate_dataset

#: Which simulated devices produce each modality.
MOBILE_FRACTION = {"keystrokes": 0.4, "pointer": 0.0, "touch": 1.0}


class SyntheticDataModule(EnrollmentDataModule):
    """``n_users`` simulated people with ``sessions_per_user`` genuine sessions of one modality."""

    def __init__(self, n_users: int = 120, sessions_per_user: int = 15, modality: str = "keystrokes",
                 shared_password: bool = True, **kw) -> None:
        kw.setdefault("per_user", sessions_per_user)
        kw.setdefault("enroll_sizes", (1, 2, 5))
        super().__init__(**kw)
        self.n_users, self.sessions_per_user, self.modality = n_users, sessions_per_user, modality
        # Everyone types the same login name and password, as an impostor types the victim's: the
        # encoder must learn rhythm, not which text a user happens to have, and the held-out
        # impostors the calibration is fitted on are text-matched like a real one.
        self.shared_password = shared_password
        self.feature_names = MODALITIES[modality].token_features["session"]

    def cache_key(self) -> dict:
        return {**super().cache_key(), "n_users": self.n_users, "sessions": self.sessions_per_user,
                "modality": self.modality, "shared_password": self.shared_password, "shared_username": True,
                "generator": GENERATOR_VERSION}

    def load_all(self) -> SequenceSet:
        records = generate_dataset(self.n_users, self.sessions_per_user, n_impostor=0, n_bot=0,
                                   n_replay=0, seed=self.seed, n_enroll=self.sessions_per_user - 1,
                                   mobile_fraction=MOBILE_FRACTION[self.modality],
                                   password=DEMO_PASSWORD if self.shared_password else None,
                                   username=DEMO_USERNAME if self.shared_password else None)
        genuine = [r for r in records if r.label == "genuine"]
        ids = {u: i for i, u in enumerate(sorted({r.user_id for r in genuine}))}
        users = np.array([ids[r.user_id] for r in genuine], np.int64)
        order = np.zeros(users.size, np.int64)
        for u in np.unique(users):  # recording order within each user
            order[users == u] = np.arange((users == u).sum())
        tokens = [MODALITIES[self.modality].items(r.session, "session").tokens[0] for r in genuine]
        return SequenceSet(tokens, users, order)

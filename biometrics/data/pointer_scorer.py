"""The servable pointer scorer from Balabit: per-user boosted trees on action features.

Balabit has ten people, too few to train an encoder that carries to the next thousand
(its action encoder reached AUC 0.911 alone, 0.910 leave one account out; README), while a
per-account two-class model on the hand-made action features, with other people's actions
as negatives, is the published protocol and reaches 0.95. This module makes that protocol
servable: the negatives are a **background set** of action vectors drawn from the training
sessions of the given accounts and shipped in the bundle; each user's head is fitted at
enrollment against it (:class:`biometrics.heads.boosted.BoostedTreesHead`).

Calibration is fitted as a new user would meet the scorer: for each account, a head fitted
on its training sessions but the last, against the background *without* its own actions,
scores chunks of its held-out last session (genuine) and of the other accounts' held-out
sessions (impostors): chunks of 60 actions for the headline calibration (a Balabit test
session's median), and chunks of 1 to 48 actions for the calibrations of shorter sessions
(a login page's few mouse actions; ``ModalityScorer.item_calibrations``).

Every action vector is made by the scorer's own item path
(:meth:`biometrics.modalities.ModalitySpec.items` on contract sessions), so the background
and the enrollment vectors are what serving computes.
"""

from __future__ import annotations

import numpy as np

from biometrics.calibration import fit_by_length
from biometrics.data.balabit import BalabitData
from biometrics.data.item_scorers import window_means
from biometrics.data.sessions import pointer_sessions
from biometrics.heads.boosted import BoostedTreesHead
from biometrics.modalities import MODALITIES
from biometrics.scorers import ModalityScorer

UNIT_OPTIONS = {"min_events": 4, "max_len": 64, "action_context": False}
#: Events per contract session cut from Balabit's long recordings (enrollment, validation chunks).
CHUNK_EVENTS = 2_000
#: Actions per session of the shorter sessions' calibrations, and the most windows each
#: (head, scored account) pair contributes to one of them.
SHORT_SESSION_ACTIONS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48)  # more: the headline
WINDOWS_PER_PAIR = 200


def session_actions(sessions) -> np.ndarray:
    """Action vectors ``[A, K]`` of contract sessions, by the pointer action unit."""
    spec = MODALITIES["pointer"]
    parts = [spec.items(s, "action", None, UNIT_OPTIONS).features for s in sessions]
    return np.concatenate(parts) if parts else np.zeros((0, len(spec.item_features["action"])), np.float32)


def account_actions(data: BalabitData, accounts: list[str]) -> dict[str, list[np.ndarray]]:
    """Per account, the action vectors of each training session (contract chunks concatenated)."""
    return {a: [session_actions(pointer_sessions(s.events, CHUNK_EVENTS)) for s in data.training[a]]
            for a in accounts}


def _background(actions: dict[str, list[np.ndarray]], size: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """A seeded sample of ``size`` action vectors over the accounts, and each row's account index."""
    names = sorted(actions)
    pool = np.concatenate([np.concatenate(actions[a]) for a in names])
    owner = np.concatenate([np.full(sum(len(x) for x in actions[a]), i) for i, a in enumerate(names)])
    pick = np.sort(rng.permutation(pool.shape[0])[:size])
    return pool[pick], owner[pick]


def build_pointer_scorer(data: BalabitData, accounts: list[str], background_size: int = 16_000,
                         max_enroll: int = 10_000, chunk_actions: int = 60, seed: int = 0,
                         actions: dict[str, list[np.ndarray]] | None = None) -> ModalityScorer:
    """The pointer scorer of ``accounts``' Balabit training data (background, calibration).

    ``chunk_actions``: actions per validation session (a test session's median is about 60).
    """
    rng = np.random.default_rng(seed)
    actions = actions if actions is not None else account_actions(data, accounts)
    actions = {a: actions[a] for a in accounts}
    background, owner = _background(actions, background_size, rng)
    names = sorted(actions)
    sizes = (*SHORT_SESSION_ACTIONS, chunk_actions)
    genuine: dict[int, list[float]] = {k: [] for k in sizes}
    impostor: dict[int, list[float]] = {k: [] for k in sizes}
    for i, a in enumerate(names):
        head = BoostedTreesHead(background[owner != i], max_enroll=max_enroll, seed=seed)
        state = head.fit(np.concatenate(actions[a][:-1])[-max_enroll:])
        for b in names:
            scores = head.score(state, actions[b][-1])  # each account's held-out last session
            for k in sizes:
                (genuine if b == a else impostor)[k] += window_means(
                    scores, k, None if k == chunk_actions else WINDOWS_PER_PAIR)
    headline, shorter = fit_by_length(genuine, impostor, chunk_actions)
    spec = MODALITIES["pointer"]
    return ModalityScorer(
        "pointer", "pointer", "action", spec.default_feature_config(),
        BoostedTreesHead(background, max_enroll=max_enroll, seed=seed),
        headline, None, ("features",), dict(UNIT_OPTIONS),
        max_enroll_vectors=max_enroll,
        metrics={"background_accounts": names, "background_actions": int(background.shape[0]),
                 "calibration_actions": chunk_actions,
                 "validation_genuine": len(genuine[chunk_actions]),
                 "validation_impostor": len(impostor[chunk_actions])},
        licence="Balabit Mouse Dynamics Challenge (no licence file; offered to researchers, cite Fulop et al.)",
        item_calibrations=shorter)

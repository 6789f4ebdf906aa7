"""Per-length calibrations of the served desktop keystroke scorer, from Aalto's validation users.

The keystroke scorer's headline calibration (``python -m training.export`` of an
``experiment=aalto_typenet`` run) is fitted on whole Aalto sentences, 46 presses at the median.
A login page's username and password hold about 20, and the embedding of so few presses lies
further from its owner's enrollment: served on Aalto's test users with every query cut to its
first 20 presses, the headline calibration denied 4.0% of genuine sessions against 1.3% on
whole sentences (``bench/product_accuracy.py --max-presses 20``). So the scorer also carries
calibrations fitted on queries cut to 8 ... 40 presses (:data:`QUERY_PRESSES`), keyed by the
press count (:attr:`biometrics.scorers.ModalityScorer.item_calibrations`; a session unit's
evidence is its token count), each with user-bootstrap bounded quantiles as the headline's.

The comparisons are the research protocol's on the 100 validation users (never the test
users): each enrolls its first ``N_ENROLL`` sentences whole, its last ``N_QUERIES`` are the
genuine queries and one sentence of each of ``IMPOSTORS`` other validation users the impostor
queries, all cut to the length, scored by the scorer's own ``vectors``, ``fit`` and ``anomaly``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from biometrics.calibration import Calibration, fit_item_calibrations
from biometrics.data import aalto
from biometrics.data.keystroke_modules import split_users
from biometrics.data.sessions import first_presses, keystroke_session
from biometrics.events import Session
from biometrics.protocols import impostor_picks
from biometrics.scorers import ModalityScorer

#: Press counts of the shorter sessions' calibrations (whole sentences: the headline).
QUERY_PRESSES = (8, 12, 16, 20, 25, 30, 40)
#: Sentences per Aalto user in the protocol, enrollment sentences, genuine queries, impostors per user.
PER_USER, N_ENROLL, N_QUERIES, IMPOSTORS = 15, 5, 5, 20
#: The seeded Aalto user split of ``experiment=aalto_typenet`` (its test and validation users).
SPLIT_SEED, N_TEST, N_VAL = 12345, 400, 100


def aalto_sessions(datasets: Path, cache_dir: Path, role: str, seed: int = SPLIT_SEED) -> dict[int, list[Session]]:
    """Each ``role`` (``test``, ``val`` or ``train``) user's 15 sentences as contract sessions,
    in recording order, under the seeded split of ``experiment=aalto_typenet``."""
    folder = aalto.unpack(datasets, cache_dir)
    seqs = aalto.load_sequences(folder, aalto.keycode_tables("classes"), PER_USER)
    users = np.array([s.user for s in seqs])
    keep = set(split_users(users, N_TEST, N_VAL, seed)[role].tolist())
    out: dict[int, list[Session]] = {}
    for s in seqs:
        if s.user in keep:
            out.setdefault(s.user, []).append(keystroke_session(s.keys))
    return dict(sorted(out.items()))


def length_calibrations(scorer: ModalityScorer, sessions: dict[int, list[Session]],
                        lengths: tuple[int, ...] = QUERY_PRESSES, seed: int = 0
                        ) -> tuple[tuple[int, Calibration], ...]:
    """The scorer's calibrations of queries cut to each of ``lengths`` presses, from the
    validation users' ``sessions`` (module docstring), ascending."""
    users = list(sessions)
    picks = impostor_picks(len(users), PER_USER, N_QUERIES, seed)
    rng = np.random.default_rng(seed)
    scores = {label: defaultdict(list) for label in ("genuine", "impostor")}
    groups = {label: defaultdict(list) for label in ("genuine", "impostor")}
    for ui, u in enumerate(users):
        enroll = np.concatenate([v for s in sessions[u][:N_ENROLL] if (v := scorer.vectors(s)[0]) is not None])
        state = scorer.fit(enroll)
        others = rng.choice(np.delete(np.arange(len(users)), ui), size=IMPOSTORS, replace=False)
        queries = [("genuine", s) for s in sessions[u][PER_USER - N_QUERIES:]] + \
                  [("impostor", sessions[users[vi]][picks[vi]]) for vi in others]
        for label, query in queries:
            for k in lengths:
                vectors, _ = scorer.vectors(first_presses(query, k))
                if vectors is not None:
                    scores[label][k].append(scorer.anomaly(enroll, state, vectors))
                    groups[label][k].append(u)
    return fit_item_calibrations(scores["genuine"], scores["impostor"], groups["genuine"], groups["impostor"])

"""The served desktop keystroke scorer's head and calibrations, from Aalto's validation users.

The headline calibration is fitted on whole Aalto sentences, 46 presses at the median.
A login page's username and password hold about 20, and the embedding of so few presses lies
further from its owner's enrollment: served on Aalto's test users with every query cut to its
first 20 presses, the headline calibration denied 4.0% of genuine sessions against 1.3% on
whole sentences (``bench/product_accuracy.py --max-presses 20``). So the scorer also carries
calibrations fitted on queries cut to 8 ... 40 presses (:data:`QUERY_PRESSES`), keyed by the
press count (:attr:`biometrics.scorers.ModalityScorer.item_calibrations`; a session unit's
evidence is its token count), each with user-bootstrap bounded quantiles as the headline's.
Both are refitted for the head the bundle serves: the distance scaled by the user's own
enrollment spread (:func:`spread_scaled`, ``SPREAD_ALPHA``).

The comparisons are the research protocol's on the 100 validation users (never the test
users): each enrolls its first ``N_ENROLL`` sentences whole, every later one is a genuine query
(ten: the deny threshold sits in the genuine tail) and one sentence of each of ``IMPOSTORS``
other validation users (the protocol's picks) an impostor query, all cut to the length, scored
by the scorer's own ``vectors``, ``fit`` and ``anomaly``.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biometrics.calibration import Calibration, fit_calibration, fit_item_calibrations
from biometrics.data import aalto
from biometrics.data.keystroke_modules import split_users
from biometrics.data.sessions import first_presses, keystroke_session
from biometrics.events import Session
from biometrics.heads.distance import DistanceHead, loo_distances
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


@dataclass(frozen=True)
class Comparison:
    """One query against one validation user's enrollment: the vectors a head scores."""

    label: str  # "genuine" or "impostor"
    presses: int | None  # the query's cut (None: whole)
    user: int
    enroll: np.ndarray  # [n_enroll, K]
    query: np.ndarray  # [1, K]


def comparisons(scorer: ModalityScorer, sessions: dict[int, list[Session]],
                lengths: tuple[int | None, ...] = (None, *QUERY_PRESSES), seed: int = 0) -> list[Comparison]:
    """The protocol's comparisons (module docstring) among ``sessions``' users, each query whole
    (None) and cut to each of ``lengths`` presses, embedded once: any head scores them."""
    users = list(sessions)
    picks = impostor_picks(len(users), PER_USER, N_QUERIES, seed)
    rng = np.random.default_rng(seed)
    out = []
    for ui, u in enumerate(users):
        enroll = np.concatenate([v for s in sessions[u][:N_ENROLL] if (v := scorer.vectors(s)[0]) is not None])
        others = rng.choice(np.delete(np.arange(len(users)), ui), size=IMPOSTORS, replace=False)
        queries = [("genuine", s) for s in sessions[u][N_ENROLL:]] + \
                  [("impostor", sessions[users[vi]][picks[vi]]) for vi in others]
        for label, query in queries:
            for k in lengths:
                vectors, _ = scorer.vectors(first_presses(query, k))
                if vectors is not None:
                    out.append(Comparison(label, k, u, enroll, vectors))
    return out


def anomalies(scorer: ModalityScorer, pairs: list[Comparison]) -> dict[str, dict[int | None, tuple[list, list]]]:
    """Per label and cut: (the scorer's anomalies, their users)."""
    out: dict[str, dict] = {"genuine": defaultdict(lambda: ([], [])), "impostor": defaultdict(lambda: ([], []))}
    states: dict[int, dict] = {}  # by enrollment (the comparisons of a user share its array)
    for c in pairs:
        if id(c.enroll) not in states:
            states[id(c.enroll)] = scorer.fit(c.enroll)
        scores, users = out[c.label][c.presses]
        scores.append(scorer.anomaly(c.enroll, states[id(c.enroll)], c.query))
        users.append(c.user)
    return out


def calibrations(scorer: ModalityScorer, pairs: list[Comparison]) -> tuple[Calibration, tuple[tuple[int, Calibration], ...]]:
    """The scorer's headline calibration (whole queries) and its per-length ones (each cut), from
    the validation comparisons, with user-bootstrap bounded quantiles."""
    a = anomalies(scorer, pairs)
    g, i = a["genuine"], a["impostor"]
    headline = fit_calibration(np.array(g[None][0]), np.array(i[None][0]), np.array(g[None][1]), np.array(i[None][1]))
    cut = lambda d, j: {k: v[j] for k, v in d.items() if k is not None}
    return headline, fit_item_calibrations(cut(g, 0), cut(i, 0), cut(g, 1), cut(i, 1))


#: How far the served head scales a distance by the user's own spread (``DistanceHead("spread")``),
#: chosen on Aalto's validation users by ``bench/keystroke_spread.py`` (``bench/results/keystroke_spread.json``):
#: the largest that loses no validation AUC on free text (whole sentences, 20 presses).
SPREAD_ALPHA = 0.5


def spread_reference(pairs: list[Comparison]) -> float:
    """The median over the comparisons' users of their enrollment's leave-one-out mean distance."""
    return float(np.median([loo_distances(e).mean() for e in {id(c.enroll): c.enroll for c in pairs}.values()]))


def spread_scaled(scorer: ModalityScorer, sessions: dict[int, list[Session]], alpha: float = SPREAD_ALPHA,
                  seed: int = 0) -> ModalityScorer:
    """The scorer with the ``"spread"`` distance head of ``alpha`` (its reference spread the
    validation users') and its headline and per-length calibrations refitted for it on them."""
    pairs = comparisons(scorer, sessions, seed=seed)
    head = DistanceHead("spread", spread_alpha=alpha, spread_ref=spread_reference(pairs))
    scaled = dataclasses.replace(scorer, head=head)
    headline, by_length = calibrations(scaled, pairs)
    return dataclasses.replace(scaled, calibration=headline, item_calibrations=by_length)

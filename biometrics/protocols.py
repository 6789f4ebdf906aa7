"""Verification protocols over embeddings: who enrolls with what, who is queried, how it is scored.

Scores are anomaly scores (higher = less like the owner), the convention of
:mod:`biometrics.metrics`. The enrollment protocol follows TypeNet (Acien et al. 2022):
the first ``G`` sequences of a user enroll, the last ``n_queries`` are genuine queries,
and one sequence of every other evaluated user is an impostor query.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from biometrics.distances import mean_distance
from biometrics.metrics import eer, far_at_frr, roc_auc

#: ``scorer(enroll [n, K], queries [m, K]) -> anomaly scores [m]``
Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def group_by_user(emb: np.ndarray, users: np.ndarray, order: np.ndarray,
                  per_user: int) -> tuple[np.ndarray, np.ndarray]:
    """Arrange embeddings as ``[U, per_user, D]`` in recording order; users lacking sequences are dropped."""
    uniq = np.unique(users)
    out = np.zeros((uniq.size, per_user, emb.shape[1]), dtype=emb.dtype)
    filled = np.zeros((uniq.size, per_user), dtype=bool)
    ui = np.searchsorted(uniq, users)
    ok = order < per_user
    out[ui[ok], order[ok]] = emb[ok]
    filled[ui[ok], order[ok]] = True
    keep = filled.all(1)
    return out[keep], uniq[keep]


def impostor_picks(n_users: int, per_user: int, n_queries: int, seed: int) -> np.ndarray:
    """For each user, the (seeded) index of the query sequence it contributes as an impostor."""
    rng = np.random.default_rng(seed)
    return per_user - n_queries + rng.integers(0, n_queries, size=n_users)


def detector_scorer(name: str, **kw) -> Scorer:
    """A :data:`Scorer` that fits the named classic detector on the enrollment vectors."""
    from biometrics.detectors import make_detector

    return lambda enroll, queries: make_detector(name, **kw).fit(enroll).score(queries)


def fused_scorer(split: int, detector: str) -> Scorer:
    """Sum of z-normalized encoder distance (columns ``< split``) and detector score (the rest).

    Each part is normalized by the scores of the enrollment vectors themselves, so the two
    scales meet without any parameter fitted on impostors.
    """
    parts = ((slice(0, split), mean_distance), (slice(split, None), detector_scorer(detector)))

    def score(enroll: np.ndarray, queries: np.ndarray) -> np.ndarray:
        total = np.zeros(queries.shape[0])
        for cols, fn in parts:
            ref = fn(enroll[:, cols], enroll[:, cols])
            total += (fn(enroll[:, cols], queries[:, cols]) - ref.mean()) / (ref.std() + 1e-9)
        return total

    return score


def enrollment_scores(emb: np.ndarray, n_enroll: int, n_queries: int = 5, seed: int = 0,
                      scorer: Scorer = mean_distance) -> tuple[np.ndarray, np.ndarray]:
    """Genuine ``[U, n_queries]`` and impostor ``[U, U-1]`` scores from ``emb [U, S, D]``."""
    n_users, per_user, _ = emb.shape
    if n_enroll + n_queries > per_user:
        raise ValueError(f"{n_enroll} enrollment + {n_queries} query sequences exceed {per_user} per user")
    picks = impostor_picks(n_users, per_user, n_queries, seed)
    impostors = emb[np.arange(n_users), picks]  # [U, D]
    genuine = np.empty((n_users, n_queries))
    impostor = np.empty((n_users, n_users - 1))
    for u in range(n_users):
        enroll = emb[u, :n_enroll]
        genuine[u] = scorer(enroll, emb[u, per_user - n_queries:])
        impostor[u] = scorer(enroll, np.delete(impostors, u, axis=0))
    return genuine, impostor


def enrollment_report(emb: np.ndarray, enroll_sizes=(1, 2, 5, 7, 10), n_queries: int = 5,
                      seed: int = 0, report_at: int = 5, scorer: Scorer = mean_distance) -> dict:
    """Per-user-averaged EER for each enrollment size, plus pooled FAR@1%FRR and AUC at ``report_at``."""
    report: dict = {"eer": {}, "eer_sd": {}, "far_at_frr_1pct_by_g": {}, "auc_by_g": {}}
    for g in enroll_sizes:
        if g + n_queries > emb.shape[1]:
            continue
        gen, imp = enrollment_scores(emb, g, n_queries, seed, scorer)
        per_user = np.array([eer(gen[u], imp[u]) for u in range(gen.shape[0])])
        report["eer"][str(g)] = float(per_user.mean())
        report["eer_sd"][str(g)] = float(per_user.std())
        report["far_at_frr_1pct_by_g"][str(g)] = float(far_at_frr(gen.ravel(), imp.ravel(), 0.01))
        report["auc_by_g"][str(g)] = float(roc_auc(gen.ravel(), imp.ravel()))
        if g == report_at:
            report["per_user_eer"] = per_user.round(5).tolist()
            report["scores"] = (gen.ravel(), imp.ravel())
    key = str(report_at)
    if key in report["auc_by_g"]:
        report["far_at_frr_1pct"] = report["far_at_frr_1pct_by_g"][key]
        report["auc"] = report["auc_by_g"][key]
    report["n_users"] = int(emb.shape[0])
    return report

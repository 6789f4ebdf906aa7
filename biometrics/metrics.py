"""Verification error rates from anomaly scores (higher score = more likely an impostor).

Decision rule everywhere: a sample is *rejected* (flagged as an impostor) when its score
is ``>= threshold``. Hence

* FRR (false reject rate, the anomaly-detection "false-alarm rate") = share of genuine
  scores ``>= threshold``;
* FAR (false accept rate, the anomaly-detection "miss rate") = share of impostor scores
  ``< threshold``.

The candidate thresholds are those of the ROCR package that Killourhy & Maxion (2009)
used: ``+inf`` (reject nothing) followed by every distinct score in decreasing order, so
the curve runs from (FAR=1, FRR=0) to (FAR=0, FRR=1). :func:`eer` follows their
``calculateEqualError`` exactly, so our figures are comparable with the published table.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
from numpy.typing import ArrayLike

# Rates are ratios of integer counts; this absorbs float noise in targets like 0.001 * 1000.
_RATE_TOL = 1e-12


def _as_scores(values: ArrayLike, name: str) -> np.ndarray:
    """Validate one score array: 1-D, non-empty, finite; returned as float64."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} scores must be a 1-D array, got shape {arr.shape}; ravel it first"
        )
    if arr.size == 0:
        raise ValueError(f"{name} scores are empty; need at least one {name} score")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} scores contain NaN or infinity; drop or fix those samples first")
    return arr


def _as_pair(genuine: ArrayLike, impostor: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    return _as_scores(genuine, "genuine"), _as_scores(impostor, "impostor")


def _check_rate(rate: float, name: str) -> float:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"{name} must be a rate in [0, 1], got {rate}")
    return float(rate)


def det_curve(genuine: ArrayLike, impostor: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DET points ``(far, frr, thresholds)``, thresholds from ``+inf`` down to the lowest score."""
    gen, imp = _as_pair(genuine, impostor)
    thresholds = np.concatenate(([np.inf], np.unique(np.concatenate((gen, imp)))[::-1]))
    # searchsorted(..., "left") counts the scores strictly below each threshold.
    below_imp = np.searchsorted(np.sort(imp), thresholds, side="left")
    below_gen = np.searchsorted(np.sort(gen), thresholds, side="left")
    far = below_imp / imp.size
    frr = (gen.size - below_gen) / gen.size
    return far, frr, thresholds


def eer(genuine: ArrayLike, impostor: ArrayLike) -> float:
    """Equal-error rate by the CMU rule: interpolate between the ROC points bracketing FAR == FRR."""
    far, frr, _ = det_curve(genuine, impostor)
    # far - frr falls strictly from +1 (threshold +inf) to -1 (lowest threshold): every
    # threshold step moves at least one score across, so the bracket is unique.
    dist = far - frr
    i = int(np.flatnonzero(dist >= 0)[-1])
    if dist[i] == 0:
        return float(far[i])
    j = i + 1
    x_far, x_frr, y_far, y_frr = far[i], frr[i], far[j], frr[j]
    a = (x_far - x_frr) / (y_frr - x_frr - y_far + x_far)
    return float(x_far + a * (y_far - x_far))


def threshold_at_frr(genuine: ArrayLike, impostor: ArrayLike, frr: float) -> float:
    """Lowest ROC threshold whose FRR is <= ``frr`` (``inf`` means: reject nothing)."""
    target = _check_rate(frr, "frr")
    _, frr_values, thresholds = det_curve(genuine, impostor)
    # FRR rises as the threshold falls, so the feasible thresholds are a prefix.
    return float(thresholds[np.flatnonzero(frr_values <= target + _RATE_TOL)[-1]])


def threshold_at_far(genuine: ArrayLike, impostor: ArrayLike, far: float) -> float:
    """Highest ROC threshold whose FAR is <= ``far`` (the lowest FRR meeting that FAR)."""
    target = _check_rate(far, "far")
    far_values, _, thresholds = det_curve(genuine, impostor)
    # FAR falls as the threshold falls, so the feasible thresholds are a suffix.
    return float(thresholds[np.flatnonzero(far_values <= target + _RATE_TOL)[0]])


def far_at_frr(genuine: ArrayLike, impostor: ArrayLike, frr: float) -> float:
    """FAR at the lowest threshold whose FRR is <= ``frr`` (an achievable operating point)."""
    t = threshold_at_frr(genuine, impostor, frr)
    imp = _as_scores(impostor, "impostor")
    return float(np.mean(imp < t))


def frr_at_far(genuine: ArrayLike, impostor: ArrayLike, far: float) -> float:
    """FRR at the highest threshold whose FAR is <= ``far`` (an achievable operating point)."""
    t = threshold_at_far(genuine, impostor, far)
    gen = _as_scores(genuine, "genuine")
    return float(np.mean(gen >= t))


def roc_auc(genuine: ArrayLike, impostor: ArrayLike) -> float:
    """P(impostor score > genuine score) + 0.5 P(tie): the Mann-Whitney statistic."""
    gen, imp = _as_pair(genuine, impostor)
    both = np.concatenate((gen, imp))
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    # Average (mid) rank of each distinct value, 1-based: ties share their mean rank.
    ends = np.cumsum(counts)
    mid_rank = ends - (counts - 1) / 2.0
    rank_sum_imp = mid_rank[inverse[gen.size :]].sum()
    u = rank_sum_imp - imp.size * (imp.size + 1) / 2.0
    return float(u / (imp.size * gen.size))


def verification_report(genuine: ArrayLike, impostor: ArrayLike) -> dict[str, float]:
    """EER, FAR at 1% FRR, FRR at 1% and 0.1% FAR, and AUC of one score set."""
    gen, imp = _as_pair(genuine, impostor)
    return {
        "eer": eer(gen, imp),
        "far_at_frr_1pct": far_at_frr(gen, imp, 0.01),
        "frr_at_far_1pct": frr_at_far(gen, imp, 0.01),
        "frr_at_far_0.1pct": frr_at_far(gen, imp, 0.001),
        "auc": roc_auc(gen, imp),
    }


def per_user_summary(
    scores: Mapping[Hashable, tuple[ArrayLike, ArrayLike]],
) -> dict[str, object]:
    """Mean and sample SD (ddof=1, as R's ``sd``) of per-user EERs, plus the EERs themselves."""
    if not scores:
        raise ValueError("per_user_summary needs at least one user's (genuine, impostor) scores")
    per_user = {user: eer(gen, imp) for user, (gen, imp) in scores.items()}
    values = np.fromiter(per_user.values(), dtype=np.float64, count=len(per_user))
    sd = float(np.std(values, ddof=1)) if values.size > 1 else 0.0
    return {
        "eer_mean": float(values.mean()),
        "eer_sd": sd,
        "n_users": int(values.size),
        "per_user_eer": per_user,
    }

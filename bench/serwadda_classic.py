"""Stroke-feature baseline on the Serwadda landscape swipes, inter-session protocol.

Each user enrolls on its session-1 strokes and is tested on its session-2 strokes;
impostor trials are other users' session-2 strokes. Features: the project's Touchalytics
stroke features (:func:`biometrics.features.stroke_features`) computed from the raw swipes
the loader converted into touch events, less the three columns the collector never fills
(finger orientation, its change, phone orientation).

Methods:

* ``svm_2class_folds`` (the headline, ``eer_by_strokes``): per user, an RBF SVM (C=1,
  gamma="scale", class-balanced, standardized features) of its session-1 strokes against
  the session-1 strokes of the users *outside its fold* (5 seeded folds over users); its
  impostors are the other users of its own fold, so no impostor scored was ever a
  negative in training (open set, about 11 impostors per user);
* ``manhattan_scaled`` and ``svm_1class``: one-class detectors fitted on the user's
  session-1 strokes only; impostors are all 58 other users.

A decision over k strokes averages the per-stroke anomaly scores of k consecutive strokes
(sliding windows within one user's session 2). ``eer_by_strokes``: mean over users of the
per-user EER (median and pooled-window EERs are given beside it).

    python bench/serwadda_classic.py [--datasets PATH] [--folds 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, OneClassSVM

from biometrics.data.serwadda import (
    STROKE_COUNTS,
    inter_session_report,
    load_serwadda,
    stroke_feature_matrices,
)
from biometrics.detectors import make_detector
from biometrics.features import STROKE_FEATURES
from biometrics.reports import publish_result, rerun_command

UNCOLLECTED = ("mid_finger_orientation", "finger_orientation_change", "phone_orientation")
COLUMNS = [i for i, n in enumerate(STROKE_FEATURES) if n not in UNCOLLECTED]
HEADLINE = "svm_2class_folds"


def user_folds(users: list[int], n_folds: int, seed: int) -> dict[int, int]:
    """Seeded assignment of users to ``n_folds`` folds of near-equal size."""
    perm = np.random.default_rng(seed).permutation(len(users))
    return {users[i]: rank % n_folds for rank, i in enumerate(perm)}


def _svm_scorer(X: np.ndarray, y: np.ndarray | None) -> Callable[[np.ndarray], np.ndarray]:
    """Minus the decision value of an RBF SVM on standardized features: two-class when
    labels ``y`` are given (class-balanced, C=1), else one-class (nu=0.1)."""
    scaler = StandardScaler().fit(X)
    if y is None:
        clf = OneClassSVM(kernel="rbf", nu=0.1, gamma="scale").fit(scaler.transform(X))
    else:
        clf = SVC(kernel="rbf", C=1.0, gamma="scale", class_weight="balanced")
        clf.fit(scaler.transform(X), y)
    return lambda Z: -clf.decision_function(scaler.transform(Z))


def svm_2class_folds(
    enroll: dict[int, np.ndarray], test: dict[int, np.ndarray], n_folds: int, seed: int
) -> tuple[dict[int, np.ndarray], dict[int, dict[int, np.ndarray]]]:
    """Genuine and impostor stroke scores of per-user two-class SVMs, negatives from other folds."""
    users = sorted(enroll)
    fold = user_folds(users, n_folds, seed)
    genuine, impostor = {}, {}
    for f in range(n_folds):
        inside = [u for u in users if fold[u] == f]
        outside = [u for u in users if fold[u] != f]
        neg = np.concatenate([enroll[v] for v in outside])
        for u in inside:
            X = np.concatenate([enroll[u], neg])
            y = np.r_[np.ones(enroll[u].shape[0], bool), np.zeros(neg.shape[0], bool)]
            score = _svm_scorer(X, y)
            genuine[u] = score(test[u])
            impostor[u] = {v: score(test[v]) for v in inside if v != u}
    return genuine, impostor


def one_class(
    enroll: dict[int, np.ndarray], test: dict[int, np.ndarray], method: str
) -> tuple[dict[int, np.ndarray], dict[int, dict[int, np.ndarray]]]:
    """Genuine and impostor stroke scores of a one-class detector per user (all others impostors)."""
    users = sorted(enroll)
    genuine, impostor = {}, {}
    for u in users:
        if method == "svm_1class":
            score = _svm_scorer(enroll[u], None)
        else:
            score = make_detector("Manhattan (scaled)").fit(enroll[u]).score
        genuine[u] = score(test[u])
        impostor[u] = {v: score(test[v]) for v in users if v != u}
    return genuine, impostor


def main(argv: list[str] | None = None) -> dict:
    """Run the three methods; print one JSON line and write the results file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=None, help="datasets root (default ../shared/datasets)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/results/serwadda_classic.json")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    feats = stroke_feature_matrices(load_serwadda(args.datasets))
    enroll = {u: f[:, COLUMNS] for u, f in feats[1].items()}
    test = {u: f[:, COLUMNS] for u, f in feats[2].items()}
    variants = {}
    scores = {
        HEADLINE: svm_2class_folds(enroll, test, args.folds, args.seed),
        "manhattan_scaled": one_class(enroll, test, "manhattan_scaled"),
        "svm_1class": one_class(enroll, test, "svm_1class"),
    }
    for name, (gen, imp) in scores.items():
        variants[name] = inter_session_report(gen, imp, STROKE_COUNTS)
    head = variants[HEADLINE]
    result = {
        "eer_by_strokes": head["eer_mean"],
        "eer_median_by_strokes": head["eer_median"],
        "eer_pooled_by_strokes": head["eer_pooled"],
        "method": HEADLINE,
        "variants": variants,
        "n_users": len(enroll),
        "enroll_strokes_min": int(min(f.shape[0] for f in enroll.values())),
        "features": [STROKE_FEATURES[i] for i in COLUMNS],
        "command": rerun_command("bench/serwadda_classic.py", argv),
        "wall_s": round(time.perf_counter() - start, 1),
    }
    publish_result(result, args.out)
    return result


if __name__ == "__main__":
    main()

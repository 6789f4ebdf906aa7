"""The servable touch scorer from Serwadda swipes: a per-user RBF SVM on stroke features.

Protocol of the research rows (``bench/serwadda_classic.py``): users in seeded folds, a user
enrolls on its session-1 strokes and is tested on windows of consecutive session-2 strokes,
against the other users of its fold. The scorer for a held-out fold is built from the other
folds only: its background (negatives shipped in the bundle, :class:`RBFSVMHead`) is a seeded
sample of their session-1 strokes, ``per_user`` each; its calibration comes from the next
fold's users (validation), enrolled and tested among themselves against a background that
leaves them out: on windows of 11 strokes for the headline calibration, and of 1 to 8 strokes
for the calibrations of shorter sessions (a login page's few swipes;
``ModalityScorer.item_calibrations``). Stroke vectors are made by the scorer's own item path
on contract sessions.
"""

from __future__ import annotations

import numpy as np

from biometrics.calibration import fit_by_length
from biometrics.data.item_scorers import window_means
from biometrics.data.sessions import touch_session, touch_stroke_sessions
from biometrics.data.touch_modules import fold_of_users
from biometrics.events import TouchArrays
from biometrics.heads.kernel import RBFSVMHead, sample_background
from biometrics.modalities import MODALITIES
from biometrics.scorers import ModalityScorer

#: Strokes a decision averages (the research rows' headline k = 11).
STROKES_PER_DECISION = 11
#: Enrollment strokes a profile keeps: Serwadda's session 1 holds about 390 per user.
MAX_ENROLL_STROKES = 600
#: The stroke unit's options: Serwadda's contact area is Android's fraction of the screen, a
#: browser's is CSS px squared (``collector/src/collector.js``), so the scorer ignores it; it
#: learns from swipes (a few % of Serwadda's strokes are taps), so it scores swipes only.
UNIT_OPTIONS = {"ignore_features": ["mid_area"], "min_path_px": 30.0}
#: Strokes per session of the shorter sessions' calibrations.
SHORT_SESSION_STROKES = (1, 2, 3, 4, 6, 8)  # more: the headline


def stroke_vectors(arr: TouchArrays) -> np.ndarray:
    """Per-stroke vectors ``[S, K]`` of a recording, by the scorer's touch stroke unit."""
    return MODALITIES["touch"].items(touch_session(arr), "stroke", options=UNIT_OPTIONS).features


def folds(sessions: dict[int, dict[int, TouchArrays]], n_folds: int = 5, seed: int = 0) -> dict[int, int]:
    """The research rows' seeded fold of each user."""
    return fold_of_users(np.array(sorted(sessions[1])), n_folds, seed)


def build_touch_scorer(sessions: dict[int, dict[int, TouchArrays]], test_fold: int, n_folds: int = 5,
                       per_user: int = 60, c: float = 3.0, seed: int = 0) -> ModalityScorer:
    """The touch scorer that never saw ``test_fold``'s users (``-1``: every user trains; then the
    calibration users are fold 0's)."""
    fold = folds(sessions, n_folds, seed)
    val_fold = (test_fold + 1) % n_folds
    vec = {s: {u: stroke_vectors(a) for u, a in sessions[s].items()} for s in (1, 2)}
    train = [u for u, f in fold.items() if f != test_fold]
    val = [u for u, f in fold.items() if f == val_fold]
    val_bg = sample_background({u: vec[1][u] for u in train if fold[u] != val_fold}, per_user, seed)
    head = RBFSVMHead(val_bg, C=c)
    sizes = (*SHORT_SESSION_STROKES, STROKES_PER_DECISION)
    genuine: dict[int, list[float]] = {k: [] for k in sizes}
    impostor: dict[int, list[float]] = {k: [] for k in sizes}
    for u in val:
        state = head.fit(vec[1][u][-MAX_ENROLL_STROKES:])
        for v in val:
            scores = head.score(state, vec[2][v])
            for k in sizes:
                (genuine if v == u else impostor)[k] += window_means(scores, k)
    headline, shorter = fit_by_length(genuine, impostor, STROKES_PER_DECISION)
    background = sample_background({u: vec[1][u] for u in train}, per_user, seed)
    spec = MODALITIES["touch"]
    return ModalityScorer(
        "touch", "touch", "stroke", spec.default_feature_config(), RBFSVMHead(background, C=c),
        headline, None, ("features",),
        unit_options=UNIT_OPTIONS, max_enroll_vectors=MAX_ENROLL_STROKES,
        metrics={"held_out_fold": test_fold, "validation_fold": val_fold, "background_users": len(train),
                 "background_strokes": int(background.shape[0]),
                 "validation_genuine": len(genuine[STROKES_PER_DECISION]),
                 "validation_impostor": len(impostor[STROKES_PER_DECISION]), "calibration_strokes": STROKES_PER_DECISION},
        licence="Serwadda et al. 2013 swipe data (see ../shared/datasets/touch-serwadda/README.md)",
        item_calibrations=shorter)


def enrollment_sessions(arr: TouchArrays, n_sessions: int = 3):
    """A session-1 recording as ``n_sessions`` contract sessions of consecutive strokes (enough to verify)."""
    n_strokes = int((np.asarray(arr.type) == 0).sum())
    return touch_stroke_sessions(arr, max(1, n_strokes // n_sessions))

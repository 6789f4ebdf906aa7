"""Serwadda et al. touch swipes (landscape sessions 1 and 2) -> the project's touch events.

Serwadda, Phoha, Wang, "Which Verifiers Work?: A Benchmark Evaluation of Touch-based
Authentication Algorithms", IEEE BTAS 2013 (MATLAB conversion of the landscape part).
``LandscapeSession{1,2}.mat`` hold one float64 matrix each, one row per touch sample, with
the columns UserID, SwipeID, X, Y, Pressure, Area, EventTime.

Conversion (:func:`matrix_to_touch_arrays`): ``EventTime`` is already in milliseconds
(Android ``MotionEvent`` time: samples 6-30 ms apart, 15 ms typical), so it is only shifted
so each user's session starts at 0. A swipe's rows (contiguous in the file, swipes in
increasing time per user, none overlapping) become one stroke: its first sample is a
``start``, its last an ``end``, the rest ``move``; a one-sample swipe is a lone ``start``.
One finger, so ``pointer_id`` is 0. X and Y are screen pixels (800 x 480 landscape).

Protocol helpers: :func:`consecutive_means` averages per-stroke scores over k consecutive
strokes, and :func:`inter_session_report` turns per-user genuine and impostor stroke
scores into EERs for decisions over k strokes (enroll on session 1, test on session 2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import scipy.io

from biometrics.data.paths import datasets_root
from biometrics.events import TOUCH_TYPES, TouchArrays
from biometrics.features import stroke_features
from biometrics.metrics import eer

SERWADDA_DIR = "touch-serwadda"
SESSIONS = (1, 2)
COLUMNS = ("UserID", "SwipeID", "X", "Y", "Pressure", "Area", "EventTime")
#: The decisions over k consecutive strokes the protocol reports.
STROKE_COUNTS = (1, 5, 11, 20)

_START, _MOVE, _END = (TOUCH_TYPES.index(k) for k in ("start", "move", "end"))


def serwadda_dir(root: str | Path | None = None) -> Path:
    """The ``touch-serwadda`` folder under a datasets root (or that folder itself)."""
    base = datasets_root(root)
    for candidate in (base / SERWADDA_DIR, base):
        if (candidate / "LandscapeSession1.mat").is_file():
            return candidate
    raise FileNotFoundError(
        f"LandscapeSession1.mat not found under {base} (looked in {base / SERWADDA_DIR}); pass "
        "the datasets root, or set BIOMETRICS_DATASETS to the folder that holds touch-serwadda/"
    )


def read_session_matrix(path: str | Path) -> np.ndarray:
    """The ``[N, 7]`` float64 sample matrix of one ``LandscapeSession<k>.mat`` file."""
    mat = scipy.io.loadmat(str(path))
    arrays = [v for k, v in mat.items() if not k.startswith("__") and isinstance(v, np.ndarray)]
    if len(arrays) != 1 or arrays[0].ndim != 2 or arrays[0].shape[1] != len(COLUMNS):
        raise ValueError(f"{path}: expected one [N, 7] matrix ({', '.join(COLUMNS)})")
    m = np.asarray(arrays[0], dtype=np.float64)
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{path}: the sample matrix holds NaN or infinity")
    return m


def matrix_to_touch_arrays(
    m: np.ndarray, users: Iterable[int] | None = None
) -> dict[int, TouchArrays]:
    """Sample rows ``[N, 7]`` (file order) -> per-user touch events, strokes in time order."""
    m = np.asarray(m, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] != len(COLUMNS):
        raise ValueError(f"expected a [N, 7] matrix ({', '.join(COLUMNS)}), got shape {m.shape}")
    wanted = None if users is None else {int(u) for u in users}
    out: dict[int, TouchArrays] = {}
    for user in np.unique(m[:, 0]).astype(np.int64):
        if wanted is not None and int(user) not in wanted:
            continue
        rows = m[m[:, 0] == user]
        # Swipes by start time; rows inside a swipe keep file order (stable sorts throughout).
        swipe = rows[:, 1]
        new = np.r_[True, swipe[1:] != swipe[:-1]]
        sid = np.cumsum(new) - 1
        first_t = rows[new, 6]
        rank = np.empty_like(sid)
        rank[np.argsort(first_t, kind="stable")] = np.arange(first_t.shape[0])
        order = np.lexsort((np.arange(rows.shape[0]), rank[sid]))
        rows, sid = rows[order], rank[sid][order]
        first = np.r_[True, sid[1:] != sid[:-1]]
        last = np.r_[sid[1:] != sid[:-1], True]
        typ = np.full(rows.shape[0], _MOVE, dtype=np.int8)
        typ[last] = _END
        typ[first] = _START
        t = rows[:, 6] - rows[:, 6].min()
        out[int(user)] = TouchArrays(
            t=t,
            x=rows[:, 2].copy(),
            y=rows[:, 3].copy(),
            pressure=rows[:, 4].copy(),
            area=rows[:, 5].copy(),
            type=typ,
            pointer_id=np.zeros(rows.shape[0], dtype=np.int16),
        )
    return out


def load_serwadda(
    root: str | Path | None = None, users: Iterable[int] | None = None
) -> dict[int, dict[int, TouchArrays]]:
    """``{session (1, 2): {user id: TouchArrays}}`` for all users (or only ``users``)."""
    folder = serwadda_dir(root)
    wanted = None if users is None else list(users)
    return {
        s: matrix_to_touch_arrays(read_session_matrix(folder / f"LandscapeSession{s}.mat"), wanted)
        for s in SESSIONS
    }


def stroke_feature_matrices(
    data: Mapping[int, Mapping[int, TouchArrays]],
) -> dict[int, dict[int, np.ndarray]]:
    """Per session and user, the Touchalytics stroke features ``[S, 31]`` in stroke order."""
    return {
        s: {u: stroke_features(arr)[0] for u, arr in per_user.items()}
        for s, per_user in data.items()
    }


def consecutive_means(scores: np.ndarray, k: int) -> np.ndarray:
    """Means of every run of ``k`` consecutive scores (sliding, stride 1): ``[max(n-k+1, 0)]``."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    if k < 1:
        raise ValueError(f"k must be >= 1 stroke, got {k}")
    if s.shape[0] < k:
        return np.zeros(0)
    c = np.concatenate([[0.0], np.cumsum(s)])
    return (c[k:] - c[:-k]) / k


def inter_session_report(
    genuine: Mapping[int, np.ndarray],
    impostor: Mapping[int, Mapping[int, np.ndarray]],
    ks: Sequence[int] = STROKE_COUNTS,
) -> dict[str, object]:
    """EERs of decisions over k consecutive strokes (anomaly scores, higher = impostor).

    ``genuine[u]``: user u's model on u's test strokes in order; ``impostor[u][v]``: u's
    model on impostor v's test strokes in order. Windows never cross from one impostor to
    another; a user or impostor with fewer than k strokes gives no window at that k. Per k:
    the mean and median over users of the per-user EER, and the EER of all windows pooled.
    """
    out: dict[str, dict[str, float]] = {"eer_mean": {}, "eer_median": {}, "eer_pooled": {}}
    n_users: dict[str, int] = {}
    for k in ks:
        per_user, all_gen, all_imp = [], [], []
        for u, g in genuine.items():
            gw = consecutive_means(g, k)
            iw = np.concatenate(
                [consecutive_means(s, k) for s in impostor[u].values()] or [np.zeros(0)]
            )
            if gw.size == 0 or iw.size == 0:
                continue
            per_user.append(eer(gw, iw))
            all_gen.append(gw)
            all_imp.append(iw)
        if not per_user:
            continue
        key = str(k)
        out["eer_mean"][key] = float(np.mean(per_user))
        out["eer_median"][key] = float(np.median(per_user))
        out["eer_pooled"][key] = eer(np.concatenate(all_gen), np.concatenate(all_imp))
        n_users[key] = len(per_user)
    return {**out, "n_users_by_strokes": n_users}

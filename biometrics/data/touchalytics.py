"""Touchalytics per-stroke feature matrix (Frank et al., IEEE TIFS 2013): ``featMat.csv``.

21,158 strokes x 34 columns, no header: column 1 user id (41 users), 2 document id (1-3
Wikipedia reading, 4-5 image game, 6-7 the same a week later, 14 users), 13 phone id
(1-5), the other 31 the stroke features in :data:`biometrics.features.STROKE_FEATURES`
order (``TOUCHALYTICS_COLUMNS`` names their 1-based columns). Rows are in recording order
within a user and document.

Missing values: 1,351 cells are NaN or +-Inf, in 310 rows (inter-stroke time of a
document's first stroke; accelerations, their medians and the end-to-end ratio of strokes
too short or too still to define them). :func:`clean_features` handles them:

* ``"impute"`` (default): a non-finite cell takes the median of that column over the same
  user's strokes *in the same document* (the session the stroke belongs to, so no other
  session's data leaks in), else over all strokes of that document, else 0;
* ``"drop"``: rows with any non-finite feature are removed;
* ``"keep"``: returned as read (Inf turned into NaN).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from biometrics.data.paths import dataset_file
from biometrics.features import STROKE_FEATURES, TOUCHALYTICS_COLUMNS

TOUCHALYTICS_DIR = "touchalytics-features"
FEATMAT = "featMat.csv"
N_COLUMNS = 34
USER_COL, DOC_COL, PHONE_COL = 1, 2, 13  # 1-based, as in featureString.txt
#: Column index (0-based, in ``features``) of the up/down/left/right flag.
FLAG_INDEX = STROKE_FEATURES.index("direction_flag")
#: Flag values (Touchalytics code: 1 up, 2 left, 3 down, 4 right) of each stroke kind.
VERTICAL_FLAGS = (1, 3)
HORIZONTAL_FLAGS = (2, 4)

NanPolicy = Literal["impute", "drop", "keep"]


@dataclass(frozen=True)
class TouchalyticsData:
    """Stroke rows in file order: ids and the 31 stroke features."""

    user: np.ndarray  # int64 [N]
    doc: np.ndarray  # int64 [N], 1..7
    phone: np.ndarray  # int64 [N], 1..5
    features: np.ndarray  # float64 [N, 31], STROKE_FEATURES order
    names: tuple[str, ...] = STROKE_FEATURES

    def __len__(self) -> int:
        return int(self.user.shape[0])

    @property
    def users(self) -> list[int]:
        """Distinct user ids, sorted."""
        return sorted(np.unique(self.user).tolist())

    @property
    def direction(self) -> np.ndarray:
        """``"vertical"`` / ``"horizontal"`` per stroke, from the up/down/left/right flag."""
        flag = self.features[:, FLAG_INDEX]
        return np.where(np.isin(flag, VERTICAL_FLAGS), "vertical", "horizontal")

    def subset(self, keep: np.ndarray) -> TouchalyticsData:
        """Rows where boolean ``keep`` is true (or at integer indices ``keep``)."""
        idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep)
        return replace(
            self,
            user=self.user[idx],
            doc=self.doc[idx],
            phone=self.phone[idx],
            features=self.features[idx],
        )


def featmat_path(root: str | Path | None = None) -> Path:
    """Path of ``featMat.csv`` under a datasets root (or the file itself)."""
    return dataset_file(root, TOUCHALYTICS_DIR, FEATMAT)


def parse_featmat(raw: np.ndarray) -> TouchalyticsData:
    """A ``[N, 34]`` featMat array -> ids and the 31 features (NaN/Inf kept as read)."""
    a = np.asarray(raw, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != N_COLUMNS:
        raise ValueError(f"featMat must have {N_COLUMNS} columns, got shape {a.shape}")
    ids = a[:, [USER_COL - 1, DOC_COL - 1, PHONE_COL - 1]]
    if not np.all(np.isfinite(ids)):
        raise ValueError("featMat has rows without a finite user, document or phone id")
    cols = np.asarray(TOUCHALYTICS_COLUMNS) - 1
    return TouchalyticsData(
        user=ids[:, 0].astype(np.int64),
        doc=ids[:, 1].astype(np.int64),
        phone=ids[:, 2].astype(np.int64),
        features=a[:, cols].copy(),
    )


def clean_features(data: TouchalyticsData, nan_policy: NanPolicy = "impute") -> TouchalyticsData:
    """Handle the NaN / Inf cells (see the module docstring for the three policies)."""
    X = np.where(np.isfinite(data.features), data.features, np.nan)
    if nan_policy == "keep":
        return replace(data, features=X)
    bad = np.isnan(X)
    if nan_policy == "drop":
        return replace(data, features=X).subset(~bad.any(1))
    if nan_policy != "impute":
        raise ValueError(f"nan_policy must be 'impute', 'drop' or 'keep', got {nan_policy!r}")
    X = X.copy()
    for doc in np.unique(data.doc[bad.any(1)]):
        in_doc = data.doc == doc
        doc_median = _nanmedian(X[in_doc])
        for user in np.unique(data.user[in_doc & bad.any(1)]):
            rows = np.flatnonzero(in_doc & (data.user == user))
            fill = np.where(np.isnan(m := _nanmedian(X[rows])), doc_median, m)
            block = X[rows]
            r, c = np.nonzero(np.isnan(block))
            block[r, c] = fill[c]
            X[rows] = block
    return replace(data, features=np.nan_to_num(X, nan=0.0))


def _nanmedian(X: np.ndarray) -> np.ndarray:
    """Column medians over finite values; NaN where a column has none."""
    out = np.full(X.shape[1], np.nan)
    for j in range(X.shape[1]):
        col = X[:, j]
        col = col[~np.isnan(col)]
        if col.size:
            out[j] = np.median(col)
    return out


def load_touchalytics(
    root: str | Path | None = None, nan_policy: NanPolicy = "impute", max_rows: int | None = None
) -> TouchalyticsData:
    """Read ``featMat.csv`` (all rows, or the first ``max_rows``) and handle its NaN / Inf."""
    path = featmat_path(root)
    raw = np.genfromtxt(path, delimiter=",", max_rows=max_rows, dtype=np.float64)
    return clean_features(parse_featmat(np.atleast_2d(raw)), nan_policy)

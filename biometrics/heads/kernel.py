"""Per-user two-class RBF SVM head against a background set shipped in the bundle.

At enrollment a user's item vectors (positives) are fitted against the payload's
**background**: item vectors of *training* users only (never a user the bundle is judged
on), by a class-balanced RBF SVM on standardized vectors, as the research baselines do
(``bench/serwadda_classic.py``, ``biometrics.data.touch_modules.two_class_scorer``). The fit
uses scikit-learn; what it keeps is plain float32 arrays, and scoring is vectorized numpy
that reproduces ``SVC.decision_function`` (to ~1e-9).

State of a user (:meth:`RBFSVMHead.fit`):

* ``own_sv`` ``[s, K]``: the user's enrollment vectors that are support vectors, as given;
* ``own_coef`` ``[s]``: their dual coefficients;
* ``bg_index`` ``[b]``: rows of the payload's background that are support vectors (indices
  held as float32: exact below 2**24 rows), ``bg_coef`` ``[b]`` their dual coefficients;
* ``center`` and ``weight`` ``[K]``: the standardization's mean and ``sqrt(gamma) / std``,
  so the kernel is ``exp(-||(x - center) * weight - (v - center) * weight||^2)``;
* ``intercept`` ``[1]``.

The coefficients, ``weight`` and ``intercept`` are each kept as two float32 arrays, ``key`` and
``key_lo`` (the float64 value is their sum), so the float32 state does not round the decision
value: a rounded ``weight`` shifts every distance the same way, which over a thousand
support vectors adds up to ~1e-5 (measured on raw stroke features). ``key_lo`` is optional
when scoring (a state without it is scored at float32 precision).

The anomaly of an item is minus the SVM's decision value (higher = less like the owner).

Standardization (``scaler``): ``"user"`` fits the mean and std on the user's enrollment
vectors and the background together (the classic's choice), ``"background"`` once on the
background alone (the same for every user). ``gamma="scale"`` is scikit-learn's
``1 / (K * var)`` of the standardized training matrix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from biometrics.heads import Head, HeadState, as_float32_state

#: Rows of items scored at once (bounds the ``[rows, support vectors]`` kernel block).
_CHUNK = 1024
SCALERS = ("user", "background")


def _check_matrix(name: str, x: np.ndarray, k: int | None = None) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a [n, K] matrix, got shape {x.shape}")
    if k is not None and x.shape[1] != k:
        raise ValueError(f"{name} has {x.shape[1]} columns, the head's background has {k}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds NaN or infinity")
    return x


def _std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the columns as StandardScaler computes them (std 0 -> 1)."""
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(x)
    return sc.mean_, sc.scale_


def _split(x) -> tuple[np.ndarray, np.ndarray]:
    """A float64 array as two float32 arrays ``hi + lo`` (about 48 bits of mantissa together)."""
    x = np.asarray(x, dtype=np.float64)
    hi = x.astype(np.float32)
    return hi, (x - hi.astype(np.float64)).astype(np.float32)


def _joined(state: HeadState, key: str) -> np.ndarray:
    """``state[key] + state[key + "_lo"]`` in float64 (the low part is optional)."""
    out = np.asarray(state[key], dtype=np.float64)
    lo = state.get(key + "_lo")
    return out if lo is None else out + np.asarray(lo, dtype=np.float64)


def rbf_decision(state: HeadState, background: np.ndarray, items: np.ndarray) -> np.ndarray:
    """The SVM decision values ``[m]`` (float64, positive = owner) of a user's ``state``."""
    center = state["center"].astype(np.float64)
    weight = _joined(state, "weight")
    idx = state["bg_index"].astype(np.int64)
    sv = np.concatenate([state["own_sv"].astype(np.float64), background[idx].astype(np.float64)])
    coef = np.concatenate([_joined(state, "own_coef"), _joined(state, "bg_coef")])
    sv = (sv - center) * weight
    sv_sq = np.einsum("ij,ij->i", sv, sv)
    out = np.empty(items.shape[0])
    for lo in range(0, items.shape[0], _CHUNK):
        q = (np.asarray(items[lo:lo + _CHUNK], dtype=np.float64) - center) * weight
        d2 = np.einsum("ij,ij->i", q, q)[:, None] + sv_sq[None, :] - 2.0 * (q @ sv.T)
        np.maximum(d2, 0.0, out=d2)
        out[lo:lo + _CHUNK] = np.exp(-d2) @ coef
    return out + float(_joined(state, "intercept")[0])


class RBFSVMHead(Head):
    """Class-balanced two-class RBF SVM per user: enrollment vectors vs the shipped background.

    Args:
        background: ``[B, K]`` item vectors of training users (stored as float32).
        C: the SVM's regularization (the classic's 1.0).
        gamma: ``"scale"`` (scikit-learn's, on the standardized training matrix) or a float
            (on standardized vectors).
        scaler: ``"user"`` (mean and std of enrollment + background, per user) or
            ``"background"`` (of the background alone, one for all users).
        tol: libsvm's stopping tolerance.
    """

    kind: ClassVar[str] = "rbf_svm"
    min_items: ClassVar[int] = 2

    def __init__(self, background: np.ndarray, C: float = 1.0, gamma: float | str = "scale",
                 scaler: str = "user", tol: float = 1e-3) -> None:
        bg = _check_matrix("background", background)
        if bg.shape[0] < 1:
            raise ValueError("the background needs at least one vector")
        if not C > 0:
            raise ValueError(f"C must be > 0, got {C}")
        if gamma != "scale" and not (isinstance(gamma, (int, float)) and gamma > 0):
            raise ValueError(f"gamma must be 'scale' or a positive float, got {gamma!r}")
        if scaler not in SCALERS:
            raise ValueError(f"scaler must be one of {SCALERS}, got {scaler!r}")
        if bg.shape[0] >= 2**24:
            raise ValueError("background indices are held as float32: at most 2**24 rows")
        self.background = np.ascontiguousarray(bg, dtype=np.float32)
        self.C, self.gamma, self.scaler, self.tol = float(C), gamma, scaler, float(tol)
        self._bg64 = self.background.astype(np.float64)
        self._bg_std = _std(self._bg64) if scaler == "background" else None

    @property
    def dim(self) -> int:
        """K, the item vectors' width."""
        return self.background.shape[1]

    def fit_estimator(self, enroll: np.ndarray):
        """The fitted ``(mean, std, gamma, sklearn SVC)`` of a user (what :meth:`fit` stores).

        The SVC is fitted on ``(x - mean) / std`` of the float32-cast enrollment vectors and
        the background; labels: True = the owner."""
        from sklearn.svm import SVC

        e = _check_matrix("enroll", enroll, self.dim)
        if e.shape[0] < 1:
            raise ValueError("enrollment needs at least one vector")
        e = e.astype(np.float32).astype(np.float64)
        x = np.concatenate([e, self._bg64])
        y = np.r_[np.ones(e.shape[0], bool), np.zeros(self._bg64.shape[0], bool)]
        mean, std = _std(x) if self._bg_std is None else self._bg_std
        xs = (x - mean) / std
        gamma = 1.0 / (xs.shape[1] * xs.var()) if self.gamma == "scale" else float(self.gamma)
        if not np.isfinite(gamma) or gamma <= 0:  # every column constant
            gamma = 1.0
        clf = SVC(kernel="rbf", C=self.C, gamma=gamma, class_weight="balanced", tol=self.tol)
        clf.fit(xs, y)
        return mean, std, gamma, clf

    def fit(self, enroll: np.ndarray) -> HeadState:
        """The user's state (float32 arrays) from ``[n, K]`` enrollment vectors."""
        n = np.asarray(enroll).shape[0]
        mean, std, gamma, clf = self.fit_estimator(enroll)
        sv, coef = clf.support_, clf.dual_coef_[0]
        own = sv < n
        e = np.asarray(enroll, dtype=np.float32)
        state = {"own_sv": e[sv[own]].reshape(-1, self.dim), "bg_index": (sv[~own] - n).astype(np.float64),
                 "center": mean}
        for key, value in (("own_coef", coef[own]), ("bg_coef", coef[~own]),
                           ("weight", np.sqrt(gamma) / std), ("intercept", clf.intercept_[:1])):
            state[key], state[key + "_lo"] = _split(value)
        return as_float32_state(state)

    def decision(self, state: HeadState, items: np.ndarray) -> np.ndarray:
        """The SVM decision values ``[m]`` (positive = owner)."""
        items = _check_matrix("items", items, self.dim)
        return rbf_decision(state, self.background, items)

    def score(self, state: HeadState, items: np.ndarray) -> np.ndarray:
        """Anomaly scores ``[m]``: minus the decision values (higher = less like the owner)."""
        return -self.decision(state, items)

    def payload(self) -> dict:
        """``kind``, the float32 background (a torch tensor: a bundle is read with
        ``torch.load(weights_only=True)``, which refuses numpy arrays) and the hyperparameters."""
        import torch

        return {"kind": self.kind, "background": torch.from_numpy(self.background.copy()), "C": self.C,
                "gamma": self.gamma, "scaler": self.scaler, "tol": self.tol}

    @classmethod
    def from_payload(cls, payload: dict) -> RBFSVMHead:
        """The head of a stored :meth:`payload` (background as numpy or torch)."""
        if payload.get("kind") != cls.kind:
            raise ValueError(f"not an {cls.kind} payload: kind {payload.get('kind')!r}")
        bg = payload["background"]
        bg = bg.detach().cpu().numpy() if hasattr(bg, "detach") else np.asarray(bg)
        gamma = payload["gamma"]
        gamma = gamma if isinstance(gamma, str) else float(gamma)
        return cls(bg, C=float(payload["C"]), gamma=gamma, scaler=str(payload["scaler"]),
                   tol=float(payload.get("tol", 1e-3)))


def state_nbytes(state: HeadState) -> int:
    """Bytes of a state's arrays."""
    return int(sum(np.asarray(v).nbytes for v in state.values()))


def payload_nbytes(payload: dict) -> int:
    """Bytes of a payload's arrays (scalars and strings not counted)."""
    return int(sum(np.asarray(v).nbytes for v in payload.values() if hasattr(v, "nbytes")))


def sample_background(vectors: Mapping[int, np.ndarray], per_user: int, seed: int = 0) -> np.ndarray:
    """Up to ``per_user`` seeded rows of each user's vectors (users in sorted order), stacked
    float32: a background set for :class:`RBFSVMHead` (pass training users only)."""
    rng = np.random.default_rng(seed)
    parts = []
    for u in sorted(vectors):
        v = np.asarray(vectors[u])
        parts.append(v[np.sort(rng.permutation(v.shape[0])[:per_user])])
    if not parts:
        raise ValueError("no users to draw a background from")
    return np.concatenate(parts).astype(np.float32)

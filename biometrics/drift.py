"""Drift of live input features and scores against a bundle's reference distributions.

A fraud team needs to know when the sessions the API scores stop looking like the ones the
bundle was calibrated on: a slower typing cohort, a new device population, a collector
change. This module measures it with the population stability index (PSI) of a recent
window of live values against a reference distribution, per scorer and feature:

    reference = DriftReference.of_bundle(bundle)          # scores: calibration; features: bundle.references
    monitor = DriftMonitor(reference, window=1000, min_samples=200)
    monitor.observe(session, result)                      # after each fresh score
    monitor.psi()                                         # {(scorer, feature): (psi, n)}

**Features** (:data:`FEATURES`), each one number per session and scorer, so a long session
counts as much as a short one: keystrokes, the median down-down interval and the median
hold (ms); pointer, the median speed of moves (px/ms); touch, the median speed within
strokes (px/ms) and the median pressure; and for every scorer the share of
``meta.device_type`` values (categorical). **Scores**: the scorer's calibrated
probability, against the held-out *genuine* distribution its calibration keeps
(``genuine_quantiles`` at :data:`biometrics.calibration.QUANTILE_LEVELS`); live traffic is
mostly the owners', so a score drift means that owners now score unlike the held-out
owners (or that an attack is large enough to move the whole distribution). With
``quantile_confidence`` above 0 those quantiles are conservative bounds (a little high), so
expect a small PSI even without drift.

**References.** Score references come from the calibration of every bundle. Feature
references are quantiles of the features over reference sessions (e.g. the validation
sessions a bundle was built from): :func:`reference_from_sessions` makes them and
:attr:`biometrics.bundle.ModelBundle.references` carries them (plain lists); a bundle
without them is monitored on scores only.

**PSI.** Bins at the reference's deciles (ties merged), plus a bin per category; the
reference share of each bin from the reference quantiles (equally weighted points), the
live share from the window; ``PSI = sum((a - e) * ln(a / e))`` with shares floored at
:data:`EPS`. The usual reading: below 0.1 stable, 0.1-0.25 some shift, above 0.25 a shift to
act on. A window of ``n`` values has a sampling PSI of about ``(bins - 1) / n`` without any
drift (0.045 for 10 bins and 200 values), hence ``min_samples``.

The monitor is bounded (``window`` values per scorer and feature), thread-safe, and holds
no global state: the app owns one per process.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from biometrics.calibration import QUANTILE_LEVELS
from biometrics.events import POINTER_TYPES, TOUCH_TYPES, Session
from biometrics.features.keystroke import keystroke_presses

#: Numeric per-session features of each modality (see the module docstring).
FEATURES: dict[str, tuple[str, ...]] = {
    "keystrokes": ("down_down_ms", "hold_ms"),
    "pointer": ("speed_px_per_ms",),
    "touch": ("speed_px_per_ms", "pressure"),
}
#: Categorical per-session features (every scorer).
CATEGORICAL: tuple[str, ...] = ("device_type",)
#: The feature name of a scorer's calibrated probability.
SCORE = "score"
#: Floor of a bin share in the PSI (an empty bin would make it infinite).
EPS = 1e-4
#: Fewest values a session needs for a median feature (else the feature is left out).
MIN_VALUES = 3

_MOVE = POINTER_TYPES.index("move")
_TOUCH_MOVE = TOUCH_TYPES.index("move")


# Session features ---------------------------------------------------------------------


def session_features(session: Session, modality: str) -> dict[str, float]:
    """The numeric features of one modality of a session (those it has enough events for)."""
    out: dict[str, float] = {}
    if modality == "keystrokes" and session.keystrokes:
        p = keystroke_presses(session.keystroke_arrays())
        dd = p.down_down[~p.first]
        if dd.size >= MIN_VALUES:
            out["down_down_ms"] = float(np.median(dd))
        if p.hold.size >= MIN_VALUES:
            out["hold_ms"] = float(np.median(p.hold))
    elif modality == "pointer" and session.pointer:
        a = session.pointer_arrays()
        speed = _speeds(a.t, a.x, a.y, (a.type[1:] == _MOVE) & (a.type[:-1] == _MOVE))
        if speed.size >= MIN_VALUES:
            out["speed_px_per_ms"] = float(np.median(speed))
    elif modality == "touch" and session.touch:
        a = session.touch_arrays()
        same = (a.pointer_id[1:] == a.pointer_id[:-1]) & (a.type[1:] == _TOUCH_MOVE)
        speed = _speeds(a.t, a.x, a.y, same)
        if speed.size >= MIN_VALUES:
            out["speed_px_per_ms"] = float(np.median(speed))
        if a.pressure.size >= MIN_VALUES:
            out["pressure"] = float(np.median(a.pressure))
    return out


def _speeds(t: np.ndarray, x: np.ndarray, y: np.ndarray, pair: np.ndarray) -> np.ndarray:
    dt = np.diff(t)
    keep = pair & (dt > 0)
    return np.hypot(np.diff(x), np.diff(y))[keep] / dt[keep]


def categories(session: Session) -> dict[str, str]:
    """The categorical features of a session."""
    return {"device_type": str(session.meta.device_type)}


# References ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScorerReference:
    """One scorer's reference distributions: numeric features and scores as quantiles at
    :data:`QUANTILE_LEVELS`, categorical features as shares."""

    numeric: dict[str, tuple[float, ...]] = field(default_factory=dict)
    categorical: dict[str, dict[str, float]] = field(default_factory=dict)
    n_sessions: int = 0

    def payload(self) -> dict:
        """Plain values (what a bundle stores under the scorer's ``reference``)."""
        return {"numeric": {k: list(v) for k, v in self.numeric.items() if k != SCORE},
                "categorical": {k: dict(v) for k, v in self.categorical.items()},
                "n_sessions": int(self.n_sessions)}

    @classmethod
    def from_payload(cls, p: Mapping) -> ScorerReference:
        """Inverse of :meth:`payload`."""
        return cls({k: tuple(float(x) for x in v) for k, v in p.get("numeric", {}).items()},
                   {k: {str(c): float(s) for c, s in v.items()} for k, v in p.get("categorical", {}).items()},
                   int(p.get("n_sessions", 0)))


@dataclass(frozen=True)
class DriftReference:
    """Reference distributions per scorer name (see the module docstring)."""

    scorers: dict[str, ScorerReference]
    #: scorer name -> its modality (which features a session contributes)
    modalities: dict[str, str]

    @classmethod
    def of_bundle(cls, bundle, references: Mapping[str, ScorerReference] | None = None) -> DriftReference:
        """Scores from each scorer's calibration (genuine quantiles); features from ``references``,
        else from ``bundle.references`` (what the bundle carries), else none."""
        refs = dict(references) if references is not None else {
            n: ScorerReference.from_payload(p) for n, p in getattr(bundle, "references", {}).items()}
        out = {}
        for name, s in bundle.scorers.items():
            base = refs.get(name, ScorerReference())
            numeric = dict(base.numeric)
            if s.calibration.genuine_quantiles:
                numeric[SCORE] = tuple(float(q) for q in s.calibration.genuine_quantiles)
            out[name] = ScorerReference(numeric, dict(base.categorical), base.n_sessions)
        return cls(out, {name: s.modality for name, s in bundle.scorers.items()})

    def pairs(self) -> list[tuple[str, str]]:
        """Every (scorer, feature) with a reference."""
        return [(n, f) for n, r in self.scorers.items() for f in (*r.numeric, *r.categorical)]


def reference_from_sessions(bundle, sessions: Iterable[Session]) -> dict[str, ScorerReference]:
    """Feature references per scorer from reference sessions (e.g. a bundle's validation sessions):
    each session counts for the scorers that would score it (its device, its modalities)."""
    numeric: dict[str, dict[str, list[float]]] = {}
    cats: dict[str, dict[str, dict[str, int]]] = {}
    counts: dict[str, int] = {}
    for session in sessions:
        for name, scorer in bundle.scorers_for(session.meta.device_type).items():
            if not scorer.spec.present(session):
                continue
            counts[name] = counts.get(name, 0) + 1
            for f, v in session_features(session, scorer.modality).items():
                numeric.setdefault(name, {}).setdefault(f, []).append(v)
            for f, c in categories(session).items():
                by = cats.setdefault(name, {}).setdefault(f, {})
                by[c] = by.get(c, 0) + 1
    out = {}
    for name, n in counts.items():
        num = {f: tuple(np.quantile(np.asarray(v), QUANTILE_LEVELS).round(6).tolist())
               for f, v in numeric.get(name, {}).items() if len(v) >= 10}
        cat = {f: {c: k / n for c, k in sorted(by.items())} for f, by in cats.get(name, {}).items()}
        out[name] = ScorerReference(num, cat, n)
    return out


# PSI ----------------------------------------------------------------------------------


def quantile_bins(reference_quantiles: Iterable[float], bins: int = 10) -> np.ndarray:
    """Interior bin edges at the reference's ``bins``-quantiles, ties merged (a value ``v`` falls in
    bin ``searchsorted(edges, v, "right")``)."""
    q = np.asarray(list(reference_quantiles), np.float64)
    return np.unique(np.quantile(q, np.linspace(0, 1, bins + 1)[1:-1]))


def psi(expected: np.ndarray, actual: np.ndarray, eps: float = EPS) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.maximum(np.asarray(expected, np.float64), eps)
    a = np.maximum(np.asarray(actual, np.float64), eps)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_shares(reference_quantiles: Iterable[float], values: Iterable[float],
                   bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(interior edges, reference shares, live shares) over the reference's quantile bins."""
    q = np.asarray(list(reference_quantiles), np.float64)
    edges = quantile_bins(q, bins)
    k = edges.size + 1
    expected = np.bincount(np.searchsorted(edges, q, "right"), minlength=k) / q.size
    v = np.asarray(list(values), np.float64)
    actual = np.bincount(np.searchsorted(edges, v, "right"), minlength=k) / max(v.size, 1)
    return edges, expected, actual


def numeric_psi(reference_quantiles: Iterable[float], values: Iterable[float], bins: int = 10) -> float:
    """PSI of live values against a reference given as quantiles (equally weighted points)."""
    _, expected, actual = numeric_shares(reference_quantiles, values, bins)
    return psi(expected, actual)


def feature_values(bundle, reference: DriftReference, sessions: Iterable[Session]) -> dict[tuple[str, str], list]:
    """Per (scorer, feature) with a reference, the values of ``sessions``, each counted for the
    scorers of ``bundle`` that would observe it (as :func:`reference_from_sessions` counts); no scores."""
    out: dict[tuple[str, str], list] = {k: [] for k in reference.pairs() if k[1] != SCORE}
    for session in sessions:
        for name, scorer in bundle.scorers_for(session.meta.device_type).items():
            if not scorer.spec.present(session):
                continue
            for f, v in (*session_features(session, scorer.modality).items(), *categories(session).items()):
                if (name, f) in out:
                    out[(name, f)].append(v)
    return out


def categorical_psi(reference_shares: Mapping[str, float], values: Iterable[str]) -> float:
    """PSI of live categories against reference shares (a category the reference never saw is its
    own bin with the floor share)."""
    values = list(values)
    cats = sorted(set(reference_shares) | set(values))
    expected = np.array([reference_shares.get(c, 0.0) for c in cats])
    actual = np.array([values.count(c) for c in cats], np.float64) / max(len(values), 1)
    return psi(expected, actual)


# The online monitor -------------------------------------------------------------------


class DriftMonitor:
    """A bounded window of recent live values per (scorer, feature) and their PSI.

    ``observe`` takes each fresh score (the session as scored, whole, and its result);
    ``psi`` gives the PSI of every (scorer, feature) whose window holds at least
    ``min_samples`` values, with the window's size. Thread-safe.
    """

    def __init__(self, reference: DriftReference, window: int = 1000, min_samples: int = 200,
                 bins: int = 10) -> None:
        if window < 1 or not 1 <= min_samples <= window:
            raise ValueError("need window >= 1 and 1 <= min_samples <= window")
        self.reference, self.window, self.min_samples, self.bins = reference, window, min_samples, bins
        self._values: dict[tuple[str, str], deque] = {k: deque(maxlen=window) for k in reference.pairs()}
        self._lock = threading.Lock()

    def observe(self, session: Session, result) -> None:
        """Add one scored session: the features of every scorer that observed it
        (``result.modalities``) and the probability of every scorer that scored it."""
        rows: list[tuple[tuple[str, str], float | str]] = []
        by_modality: dict[str, dict[str, float]] = {}  # scorers of one modality share its features
        for name, m in result.modalities.items():
            ref = self.reference.scorers.get(name)
            if ref is None:
                continue
            modality = self.reference.modalities.get(name, name)
            if modality not in by_modality:
                by_modality[modality] = session_features(session, modality)
            feats = by_modality[modality]
            rows += [((name, f), v) for f, v in feats.items() if f in ref.numeric]
            rows += [((name, f), c) for f, c in categories(session).items() if f in ref.categorical]
            if m.probability is not None and SCORE in ref.numeric:
                rows.append(((name, SCORE), float(m.probability)))
        with self._lock:
            for key, value in rows:
                self._values[key].append(value)

    def observe_score(self, tenant: str, session: Session, result) -> None:
        """:meth:`observe` in the shape of a :class:`biometrics.service.BiometricService` score
        observer (the tenant is not used: drift is measured over all of a process's traffic)."""
        self.observe(session, result)

    def counts(self) -> dict[tuple[str, str], int]:
        """Values held per (scorer, feature)."""
        with self._lock:
            return {k: len(v) for k, v in self._values.items()}

    def psi(self) -> dict[tuple[str, str], tuple[float, int]]:
        """``{(scorer, feature): (psi, n)}`` for every window holding ``min_samples`` values or more."""
        with self._lock:
            held = {k: list(v) for k, v in self._values.items() if len(v) >= self.min_samples}
        out = {}
        for (name, feature), values in held.items():
            ref = self.reference.scorers[name]
            value = (categorical_psi(ref.categorical[feature], values) if feature in ref.categorical
                     else numeric_psi(ref.numeric[feature], values, self.bins))
            out[(name, feature)] = (value, len(values))
        return out

    def reset(self) -> None:
        """Forget the live values (e.g. after a bundle upgrade)."""
        with self._lock:
            for v in self._values.values():
                v.clear()

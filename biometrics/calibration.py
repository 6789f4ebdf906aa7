"""Score calibration: a logistic map from a head's anomaly score to P(not the owner).

Fitted on held-out genuine and impostor comparisons (users never trained on); it also
keeps those comparisons' probability distributions at fixed quantiles, from which the
decision thresholds for target error rates are derived (:mod:`biometrics.scoring`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

#: Quantile levels at which a calibration keeps its held-out probability distributions.
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 201)


@dataclass(frozen=True)
class Calibration:
    """Logistic map from a distance to P(not the owner), plus the held-out score distributions.

    ``genuine_quantiles`` / ``impostor_quantiles`` are the calibrated probabilities of the
    held-out genuine and impostor comparisons at :data:`QUANTILE_LEVELS`, from which
    decision thresholds for target error rates are derived. With ``quantile_confidence``
    above 0 they are conservative bounds, not the sample's own quantiles: at each level the
    genuine quantile is the ``quantile_confidence`` bound over a bootstrap of the held-out
    users (higher: a deny threshold from it denies fewer of a new population's owners) and
    the impostor quantile the opposite bound (lower: fewer impostors allowed), so thresholds
    set from them hold, with that confidence, on users the calibration never saw.
    """

    slope: float
    intercept: float
    genuine_mean: float
    genuine_sd: float
    impostor_mean: float
    impostor_sd: float
    genuine_quantiles: tuple[float, ...] = ()
    impostor_quantiles: tuple[float, ...] = ()
    quantile_confidence: float = 0.0

    def probability(self, score: np.ndarray | float) -> np.ndarray:
        """P(impostor) for anomaly scores."""
        z = self.slope * np.asarray(score, dtype=np.float64) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def fit_calibration(genuine: np.ndarray, impostor: np.ndarray, genuine_groups: np.ndarray | None = None,
                    impostor_groups: np.ndarray | None = None, confidence: float = 0.9,
                    n_boot: int = 1000, seed: int = 0) -> Calibration:
    """Fit a class-balanced logistic regression of impostor-vs-genuine on the score.

    With ``genuine_groups`` / ``impostor_groups`` (the user each comparison belongs to) the
    kept quantiles are ``confidence`` bounds over ``n_boot`` bootstraps of the users
    (:class:`Calibration`): a hundred validation users are a small sample of people, and
    the tail a deny threshold sits in is set by a few of them.
    """
    from sklearn.linear_model import LogisticRegression

    genuine, impostor = np.asarray(genuine, np.float64).ravel(), np.asarray(impostor, np.float64).ravel()
    x = np.concatenate([genuine, impostor]).reshape(-1, 1)
    y = np.concatenate([np.zeros(len(genuine)), np.ones(len(impostor))])
    lr = LogisticRegression(class_weight="balanced", C=1e4).fit(x, y)
    cal = Calibration(float(lr.coef_[0, 0]), float(lr.intercept_[0]),
                      float(np.mean(genuine)), float(np.std(genuine)),
                      float(np.mean(impostor)), float(np.std(impostor)))
    rng = np.random.default_rng(seed)
    bounded = genuine_groups is not None and impostor_groups is not None
    quantiles = lambda s, g, level: tuple(
        (bootstrap_quantiles(cal.probability(s), g, level, n_boot, rng) if bounded
         else np.quantile(cal.probability(s), QUANTILE_LEVELS)).round(6).tolist())
    return dataclasses.replace(cal, genuine_quantiles=quantiles(genuine, genuine_groups, confidence),
                               impostor_quantiles=quantiles(impostor, impostor_groups, 1.0 - confidence),
                               quantile_confidence=confidence if bounded else 0.0)


def fit_item_calibrations(genuine: dict[int, list[float]], impostor: dict[int, list[float]],
                          genuine_groups: dict[int, list] | None = None,
                          impostor_groups: dict[int, list] | None = None, **kw
                          ) -> tuple[tuple[int, Calibration], ...]:
    """One calibration per evidence count ``n``, from held-out sessions of ``n`` items or
    presses (their anomalies, genuine and impostor, keyed by ``n``; with the user of each
    comparison, user-bootstrap bounded quantiles as :func:`fit_calibration`), ascending: what
    :attr:`biometrics.scorers.ModalityScorer.item_calibrations` holds. The mean of a few items
    is far noisier than that of sixty, so one calibration for every length overstates a
    short session's evidence."""
    groups = lambda g, n: None if g is None else np.array(g[n])
    return tuple((n, fit_calibration(np.array(genuine[n]), np.array(impostor[n]), groups(genuine_groups, n),
                                     groups(impostor_groups, n), **kw))
                 for n in sorted(genuine) if len(genuine[n]) and len(impostor.get(n, ())))


def fit_by_length(genuine: dict[int, list[float]], impostor: dict[int, list[float]], headline: int
                  ) -> tuple[Calibration, tuple[tuple[int, Calibration], ...]]:
    """The headline calibration (sessions of ``headline`` items) and the shorter sessions' (every
    other count, :func:`fit_item_calibrations`) from held-out anomalies keyed by item count."""
    short = lambda d: {n: v for n, v in d.items() if n != headline}
    return (fit_calibration(np.array(genuine[headline]), np.array(impostor[headline])),
            fit_item_calibrations(short(genuine), short(impostor)))


def bootstrap_quantiles(values: np.ndarray, groups: np.ndarray, level: float, n_boot: int,
                        rng: np.random.Generator) -> np.ndarray:
    """At each of :data:`QUANTILE_LEVELS`, the ``level`` quantile of that quantile over
    ``n_boot`` resamples of whole groups (users) with replacement; monotone in the level."""
    groups = np.asarray(groups).ravel()
    if groups.shape != values.shape:
        raise ValueError(f"{groups.size} groups for {values.size} scores")
    _, inverse = np.unique(groups, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    parts = np.split(values[order], np.flatnonzero(np.diff(inverse[order])) + 1)
    boots = np.empty((n_boot, QUANTILE_LEVELS.size))
    for b in range(n_boot):
        pick = rng.integers(0, len(parts), len(parts))
        boots[b] = np.quantile(np.concatenate([parts[i] for i in pick]), QUANTILE_LEVELS)
    return np.maximum.accumulate(np.quantile(boots, level, axis=0))


def calibration_payload(cal: Calibration) -> dict:
    """Plain values of a calibration (what a bundle stores)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(cal).items()}


def calibration_from_payload(payload: dict) -> Calibration:
    """Inverse of :func:`calibration_payload`."""
    return Calibration(**{k: tuple(v) if isinstance(v, list) else v for k, v in payload.items()})

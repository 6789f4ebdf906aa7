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
    decision thresholds for target error rates are derived.
    """

    slope: float
    intercept: float
    genuine_mean: float
    genuine_sd: float
    impostor_mean: float
    impostor_sd: float
    genuine_quantiles: tuple[float, ...] = ()
    impostor_quantiles: tuple[float, ...] = ()

    def probability(self, score: np.ndarray | float) -> np.ndarray:
        """P(impostor) for anomaly scores."""
        z = self.slope * np.asarray(score, dtype=np.float64) + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def fit_calibration(genuine: np.ndarray, impostor: np.ndarray) -> Calibration:
    """Fit a class-balanced logistic regression of impostor-vs-genuine on the score."""
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([genuine, impostor]).reshape(-1, 1)
    y = np.concatenate([np.zeros(len(genuine)), np.ones(len(impostor))])
    lr = LogisticRegression(class_weight="balanced", C=1e4).fit(x, y)
    cal = Calibration(float(lr.coef_[0, 0]), float(lr.intercept_[0]),
                      float(np.mean(genuine)), float(np.std(genuine)),
                      float(np.mean(impostor)), float(np.std(impostor)))
    quantiles = lambda s: tuple(np.quantile(cal.probability(s), QUANTILE_LEVELS).round(6).tolist())
    return dataclasses.replace(cal, genuine_quantiles=quantiles(genuine), impostor_quantiles=quantiles(impostor))


def calibration_payload(cal: Calibration) -> dict:
    """Plain values of a calibration (what a bundle stores)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(cal).items()}


def calibration_from_payload(payload: dict) -> Calibration:
    """Inverse of :func:`calibration_payload`."""
    return Calibration(**{k: tuple(v) if isinstance(v, list) else v for k, v in payload.items()})

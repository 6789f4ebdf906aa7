"""Touch stroke tokens for the stroke encoder: per-point tokens plus the stroke's own features.

One stroke is one sequence. Every point token of a stroke (the :data:`TOUCH_FEATURES`
columns of :func:`touch_tokens`) gets the stroke's Touchalytics features
(:func:`stroke_features`, less the three the collector never fills) appended, each
compressed by a fixed signed log with a unit-appropriate scale, so the token a served
session produces is exactly the token the encoder trained on (no statistics fitted on
data). The encoder's input BatchNorm standardizes the columns.
"""

from __future__ import annotations

import numpy as np

from biometrics.events import TouchArrays
from biometrics.features._util import signed_log
from biometrics.features.touch import (
    STROKE_FEATURES,
    TOUCH_FEATURES,
    TouchFeatureConfig,
    stroke_features,
    touch_tokens,
)

#: Stroke features the collector cannot fill (always 0): left out of the tokens.
UNCOLLECTED: tuple[str, ...] = ("mid_finger_orientation", "finger_orientation_change",
                                "phone_orientation")
#: The stroke features appended to every point token, in STROKE_FEATURES order.
STROKE_TOKEN_COLUMNS: tuple[str, ...] = tuple(n for n in STROKE_FEATURES if n not in UNCOLLECTED)
#: Column names of a stroke token: point features, then ``stroke_<feature>``.
STROKE_TOKEN_FEATURES: tuple[str, ...] = TOUCH_FEATURES + tuple(f"stroke_{n}" for n in STROKE_TOKEN_COLUMNS)

# Signed-log scale per unit (``sign(x) * log1p(|x| / scale)``); angles, flags and ratios
# stay linear, coordinates are divided by 1000 px and pressure is clipped to [0, 10].
_UNIT_SCALE: dict[str, float | None] = {
    "inter_stroke_time": 100.0, "duration": 100.0,  # ms
    "start_x": None, "start_y": None, "stop_x": None, "stop_y": None,  # px, bounded by the screen
    "end_to_end_dist": 10.0, "largest_deviation": 5.0, "deviation_p20": 5.0, "deviation_p50": 5.0,
    "deviation_p80": 5.0, "trajectory_length": 10.0,  # px
    "velocity_p20": 0.1, "velocity_p50": 0.1, "velocity_p80": 0.1, "median_velocity_last3": 0.1,
    "average_velocity": 0.1,  # px/ms
    "mid_area": 1.0,  # as the point tokens' area (device units: a fraction on Android, px elsewhere)
    "accel_p20": 0.001, "accel_p50": 0.001, "accel_p80": 0.001, "median_accel_first5": 0.001,  # px/ms^2
}
_SCREEN_PX = 1000.0  # linear coordinates divided by this
_DEFAULT = TouchFeatureConfig()


def scale_stroke_features(feats: np.ndarray) -> np.ndarray:
    """Raw stroke features ``[S, 31]`` (STROKE_FEATURES) -> scaled ``[S, 28]`` float32 columns."""
    out = np.empty((feats.shape[0], len(STROKE_TOKEN_COLUMNS)), dtype=np.float32)
    for j, name in enumerate(STROKE_TOKEN_COLUMNS):
        x = feats[:, STROKE_FEATURES.index(name)]
        scale = _UNIT_SCALE.get(name)
        if scale is not None:
            out[:, j] = signed_log(x.astype(np.float64), scale, 1e9)
        elif name.startswith(("start_", "stop_")):
            out[:, j] = x / _SCREEN_PX
        elif name == "mid_pressure":
            out[:, j] = np.clip(x, 0.0, 10.0)  # as the point tokens' pressure
        else:
            out[:, j] = x
    return out


def stroke_token_matrix(
    arr: TouchArrays, cfg: TouchFeatureConfig = _DEFAULT
) -> tuple[np.ndarray, np.ndarray]:
    """One session -> (tokens ``[N, len(STROKE_TOKEN_FEATURES)]`` grouped by stroke, stroke ids)."""
    points, sid = touch_tokens(arr, cfg)
    feats, _ = stroke_features(arr, cfg)
    return np.concatenate([points, scale_stroke_features(feats)[sid]], axis=1), sid


def stroke_token_sequences(
    arr: TouchArrays, cfg: TouchFeatureConfig = _DEFAULT
) -> list[np.ndarray]:
    """One session -> one float32 token matrix ``[T_s, F]`` per stroke, in stroke order."""
    tokens, sid = stroke_token_matrix(arr, cfg)
    if sid.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(sid)) + 1
    return np.split(tokens, cuts)

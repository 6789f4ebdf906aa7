"""Touch dynamics: touch events -> strokes -> per-point tokens and Touchalytics stroke features.

Strokes (vectorized): events are stable-sorted by ``pointer_id`` (time order kept per
finger); a stroke starts at a ``start`` event, after an ``end`` event of the same pointer,
or when the pointer (or session) changes. A stroke that lacks its ``start`` or ``end`` is
still a stroke. Strokes are numbered 0.. by the time of their first event, and token rows
are grouped by stroke (all points of stroke 0, then of stroke 1, ...), time-ordered inside.

Per point (``TOUCH_FEATURES``): dt and dx, dy to the previous point of the same stroke (0
on its first point), pressure (clipped to [0, 10]), area (log scaled), speed =
dist / max(dt, min_dt_ms), a stroke-start flag and, on a stroke's first point, the time
since the previous stroke of the session ended (can be negative under multi-touch).

Stroke features (``STROKE_FEATURES``) follow Frank et al., "Touchalytics", IEEE TIFS 2013,
in the column order of the published ``featMat.csv`` (its columns 3-12 and 14-34: the ids
and the phone id are left out; ``TOUCHALYTICS_COLUMNS`` gives the 1-based featMat column of
each). Differences from the authors' MATLAB code: units stay ms and CSS px (theirs: s and
mm), start/stop coordinates are in screen coordinates (theirs flip y), angles are measured
with y pointing *up* as theirs; zero-length steps are left out of the circular statistics;
"mid-stroke" values average the one or two middle points; the median velocity "at the last
3 points" uses the last 3 step velocities; finger orientation and phone orientation are not
collected and are 0; undefined values (a one-point stroke, zero duration or length) are 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biometrics.events import TOUCH_TYPES, TouchArrays
from biometrics.features._util import (
    check_codes,
    check_lengths,
    check_session,
    group_quantiles,
    pos_log,
    safe_div,
    session_starts,
    signed_log,
)

_START, _MOVE, _END = (TOUCH_TYPES.index(k) for k in ("start", "move", "end"))

TOUCH_FEATURES: tuple[str, ...] = (
    "dt",
    "dx",
    "dy",
    "pressure",
    "area",
    "speed",
    "stroke_start",
    "inter_stroke",
)
"""Per-point token columns."""

STROKE_FEATURES: tuple[str, ...] = (
    "inter_stroke_time",
    "duration",
    "start_x",
    "start_y",
    "stop_x",
    "stop_y",
    "end_to_end_dist",
    "mean_resultant_length",
    "direction_flag",
    "end_to_end_direction",
    "velocity_p20",
    "velocity_p50",
    "velocity_p80",
    "accel_p20",
    "accel_p50",
    "accel_p80",
    "median_velocity_last3",
    "largest_deviation",
    "deviation_p20",
    "deviation_p50",
    "deviation_p80",
    "average_direction",
    "trajectory_length",
    "end_to_end_ratio",
    "average_velocity",
    "median_accel_first5",
    "mid_pressure",
    "mid_area",
    "mid_finger_orientation",
    "finger_orientation_change",
    "phone_orientation",
)
"""Touchalytics stroke features in featMat order (units: ms, px, px/ms, px/ms^2, rad)."""

TOUCHALYTICS_COLUMNS: tuple[int, ...] = (*range(3, 13), *range(14, 35))
"""1-based column of ``touchalytics-features/featMat.csv`` for each STROKE_FEATURES entry."""


@dataclass(frozen=True)
class TouchFeatureConfig:
    """Token scaling for touch points (``log1p(clip(x) / scale)``, signed where x can be < 0)."""

    min_dt_ms: float = 1.0
    dt_scale_ms: float = 10.0
    dt_clip_ms: float = 10_000.0
    px_scale: float = 10.0
    px_clip: float = 5_000.0
    speed_scale: float = 0.1
    speed_clip: float = 100.0
    area_scale: float = 1.0
    area_clip: float = 10_000.0
    gap_scale_ms: float = 100.0
    gap_clip_ms: float = 60_000.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value > 0:
                raise ValueError(f"TouchFeatureConfig.{name} must be > 0, got {value}")


def _strokes(
    arr: TouchArrays, session: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(event order grouped by stroke, stroke id per ordered row, first row of each stroke)."""
    n = check_lengths(
        "TouchArrays",
        t=arr.t,
        x=arr.x,
        y=arr.y,
        pressure=arr.pressure,
        area=arr.area,
        type=arr.type,
        pointer_id=arr.pointer_id,
    )
    session = check_session(session, n)
    check_codes("touch type", arr.type, len(TOUCH_TYPES))
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    pid = np.asarray(arr.pointer_id, dtype=np.int64)
    pmin, pmax = int(pid.min()), int(pid.max())
    single = pmin == pmax
    if single:
        order = np.arange(n)
        key_s = session
    else:
        key = pid - pmin
        if session is not None:
            key = (session - session.min()).astype(np.int64) * (pmax - pmin + 1) + key
        order = np.argsort(key, kind="stable")
        key_s = key[order]
    typ = np.asarray(arr.type)[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.equal(typ[1:], _START, out=new[1:])
    new[1:] |= typ[:-1] == _END
    if key_s is not None:
        new[1:] |= key_s[1:] != key_s[:-1]
    first = np.flatnonzero(new)
    if single:
        # One finger: strokes are already contiguous and in time order.
        sid = np.cumsum(new) - 1
        return order, sid, first
    # Several fingers: renumber strokes by the time of their first event, then regroup rows.
    lengths = np.diff(np.append(first, n))
    by_time = np.argsort(order[first], kind="stable")
    new_first = np.zeros(first.shape[0], dtype=np.int64)
    np.cumsum(lengths[by_time][:-1], out=new_first[1:])
    rank = np.empty_like(by_time)
    rank[by_time] = np.arange(by_time.shape[0])
    old_sid = np.cumsum(new) - 1
    dest = new_first[rank[old_sid]] + (np.arange(n) - first[old_sid])
    final = np.empty(n, dtype=np.int64)
    final[dest] = order
    sid = np.repeat(np.arange(first.shape[0]), lengths[by_time])
    return final, sid, new_first


def touch_strokes(arr: TouchArrays) -> tuple[np.ndarray, np.ndarray]:
    """(event indices grouped by stroke ``[N]``, stroke id of each of those rows ``[N]``)."""
    order, sid, _ = _strokes(arr, None)
    return order, sid


def _tokens(
    arr: TouchArrays, session: np.ndarray | None, cfg: TouchFeatureConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order, sid, first = _strokes(arr, session)
    n = order.shape[0]
    out = np.zeros((n, len(TOUCH_FEATURES)), dtype=np.float32)
    if n == 0:
        return out, sid, order
    t = np.asarray(arr.t, dtype=np.float64)[order]
    x = np.asarray(arr.x, dtype=np.float64)[order]
    y = np.asarray(arr.y, dtype=np.float64)[order]
    is_first = np.zeros(n, dtype=bool)
    is_first[first] = True
    dt = np.zeros(n)
    dx = np.zeros(n)
    dy = np.zeros(n)
    np.subtract(t[1:], t[:-1], out=dt[1:])
    np.subtract(x[1:], x[:-1], out=dx[1:])
    np.subtract(y[1:], y[:-1], out=dy[1:])
    dt[is_first] = 0.0
    dx[is_first] = 0.0
    dy[is_first] = 0.0
    np.maximum(dt, 0.0, out=dt)
    dist = np.sqrt(dx * dx + dy * dy)
    out[:, 0] = pos_log(dt, cfg.dt_scale_ms, cfg.dt_clip_ms)
    out[:, 1] = signed_log(dx, cfg.px_scale, cfg.px_clip)
    out[:, 2] = signed_log(dy, cfg.px_scale, cfg.px_clip)
    out[:, 3] = np.clip(np.asarray(arr.pressure, dtype=np.float64)[order], 0.0, 10.0)
    out[:, 4] = pos_log(
        np.asarray(arr.area, dtype=np.float64)[order], cfg.area_scale, cfg.area_clip
    )
    out[:, 5] = pos_log(dist / np.maximum(dt, cfg.min_dt_ms), cfg.speed_scale, cfg.speed_clip)
    out[:, 6] = is_first
    # Gap from the previous stroke's end to this stroke's start, within a session.
    last = np.append(first[1:] - 1, n - 1)
    gap = np.zeros(first.shape[0])
    gap[1:] = t[first[1:]] - t[last[:-1]]
    if session is not None:
        gap[session_starts(np.asarray(session)[order][first], first.shape[0])] = 0.0
    out[first, 7] = signed_log(gap, cfg.gap_scale_ms, cfg.gap_clip_ms)
    return out, sid, order


def touch_tokens(
    arr: TouchArrays, cfg: TouchFeatureConfig = TouchFeatureConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """One session -> (float32 tokens ``[N, len(TOUCH_FEATURES)]`` by stroke, stroke ids)."""
    out, sid, _ = _tokens(arr, None, cfg)
    return out, sid


def touch_tokens_batch(
    arr: TouchArrays, session: np.ndarray, cfg: TouchFeatureConfig = TouchFeatureConfig()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Many sessions concatenated -> (tokens ``[N, F]``, stroke id per row, session id per row).

    Stroke ids run over the whole batch; rows are grouped by session, then stroke.
    """
    s = check_session(session, np.asarray(arr.t).shape[0])
    out, sid, order = _tokens(arr, s, cfg)
    return out, sid, s[order].astype(np.int64)


def stroke_features(
    arr: TouchArrays, cfg: TouchFeatureConfig = TouchFeatureConfig()
) -> tuple[np.ndarray, tuple[str, ...]]:
    """One session -> (Touchalytics stroke features ``[S, 31]`` float64, STROKE_FEATURES)."""
    order, sid, first = _strokes(arr, None)
    n = order.shape[0]
    n_s = first.shape[0]
    f = np.zeros((n_s, len(STROKE_FEATURES)))
    if n_s == 0:
        return f, STROKE_FEATURES
    col = {name: i for i, name in enumerate(STROKE_FEATURES)}
    t = np.asarray(arr.t, dtype=np.float64)[order]
    x = np.asarray(arr.x, dtype=np.float64)[order]
    yu = -np.asarray(arr.y, dtype=np.float64)[order]  # y up, as Touchalytics
    counts = np.diff(np.append(first, n))
    last = first + counts - 1

    f[:-1, col["inter_stroke_time"]] = t[first[1:]] - t[first[:-1]]
    f[:, col["duration"]] = duration = t[last] - t[first]
    f[:, col["start_x"]] = x[first]
    f[:, col["start_y"]] = -yu[first]
    f[:, col["stop_x"]] = x[last]
    f[:, col["stop_y"]] = -yu[last]
    ex = x[last] - x[first]
    ey = yu[last] - yu[first]
    e2e = np.sqrt(ex * ex + ey * ey)
    f[:, col["end_to_end_dist"]] = e2e
    direction = np.arctan2(ey, ex)
    f[:, col["end_to_end_direction"]] = direction
    # Touchalytics' 4-way flag of the end-to-end angle (1 up, 2 left, 3 down, 4 right as in
    # its code, which labels the direction the content moves: opposite to the finger).
    a = direction + np.pi
    flag = np.full(n_s, 4.0)
    flag[(a > np.pi / 4) & (a < 3 * np.pi / 4)] = 1.0
    flag[(a >= 3 * np.pi / 4) & (a <= 5 * np.pi / 4)] = 2.0
    flag[(a > 5 * np.pi / 4) & (a < 7 * np.pi / 4)] = 3.0
    f[:, col["direction_flag"]] = flag

    # Steps: rows 1.. of each stroke, step i goes from point i-1 to point i.
    step = np.ones(n, dtype=bool)
    step[first] = False
    step_idx = np.flatnonzero(step)
    step_sid = sid[step_idx]
    sdx = x[step_idx] - x[step_idx - 1]
    sdy = yu[step_idx] - yu[step_idx - 1]
    sdt = np.maximum(t[step_idx] - t[step_idx - 1], cfg.min_dt_ms)
    sdist = np.sqrt(sdx * sdx + sdy * sdy)
    vel = sdist / sdt
    # Circular statistics over non-empty steps.
    moving = sdist > 0
    ux = safe_div(sdx, sdist)
    uy = safe_div(sdy, sdist)
    n_mov = np.bincount(step_sid, weights=moving, minlength=n_s)
    sum_ux = np.bincount(step_sid, weights=ux, minlength=n_s)
    sum_uy = np.bincount(step_sid, weights=uy, minlength=n_s)
    f[:, col["mean_resultant_length"]] = safe_div(np.sqrt(sum_ux * sum_ux + sum_uy * sum_uy), n_mov)
    f[:, col["average_direction"]] = np.where(n_mov > 0, np.arctan2(sum_uy, sum_ux), 0.0)
    f[:, [col["velocity_p20"], col["velocity_p50"], col["velocity_p80"]]] = group_quantiles(
        vel, step_sid, n_s, (0.2, 0.5, 0.8)
    )
    # Accelerations between consecutive steps of a stroke (steps 2.. of each stroke).
    acc_ok = np.zeros(step_idx.shape[0], dtype=bool)
    acc_ok[1:] = step_sid[1:] == step_sid[:-1]
    acc_pos = np.flatnonzero(acc_ok)
    acc = (vel[acc_pos] - vel[acc_pos - 1]) / sdt[acc_pos]
    acc_sid = step_sid[acc_pos]
    f[:, [col["accel_p20"], col["accel_p50"], col["accel_p80"]]] = group_quantiles(
        acc, acc_sid, n_s, (0.2, 0.5, 0.8)
    )
    # Median velocity over the last 3 steps, median acceleration over the first 5.
    n_steps = np.maximum(counts - 1, 0)
    step_first = np.zeros(n_s, dtype=np.int64)
    np.cumsum(n_steps[:-1], out=step_first[1:])
    step_rank = np.arange(step_idx.shape[0]) - step_first[step_sid]
    tail = step_rank >= n_steps[step_sid] - 3
    f[:, col["median_velocity_last3"]] = group_quantiles(vel[tail], step_sid[tail], n_s, (0.5,))[
        :, 0
    ]
    acc_rank = step_rank[acc_pos] - 1
    head = acc_rank < 5
    f[:, col["median_accel_first5"]] = group_quantiles(acc[head], acc_sid[head], n_s, (0.5,))[:, 0]
    # Signed distance of every point from the start-end line (0 when start == end).
    rx = x - x[first][sid]
    ry = yu - yu[first][sid]
    dev = safe_div(rx * ey[sid] - ry * ex[sid], e2e[sid])
    absdev = np.abs(dev)
    big = np.maximum.reduceat(absdev, first)
    cand = np.where(absdev == big[sid], np.arange(n), n)
    f[:, col["largest_deviation"]] = dev[np.minimum(np.minimum.reduceat(cand, first), n - 1)]
    f[:, [col["deviation_p20"], col["deviation_p50"], col["deviation_p80"]]] = group_quantiles(
        dev, sid, n_s, (0.2, 0.5, 0.8)
    )
    length = np.bincount(step_sid, weights=sdist, minlength=n_s)
    f[:, col["trajectory_length"]] = length
    f[:, col["end_to_end_ratio"]] = safe_div(e2e, length)
    f[:, col["average_velocity"]] = safe_div(length, duration)
    p = np.asarray(arr.pressure, dtype=np.float64)[order]
    ar = np.asarray(arr.area, dtype=np.float64)[order]
    mid_lo = first + (counts - 1) // 2
    mid_hi = first + counts // 2
    f[:, col["mid_pressure"]] = 0.5 * (p[mid_lo] + p[mid_hi])
    f[:, col["mid_area"]] = 0.5 * (ar[mid_lo] + ar[mid_hi])
    return f, STROKE_FEATURES

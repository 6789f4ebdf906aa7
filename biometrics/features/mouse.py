"""Mouse dynamics: pointer events -> actions -> per-event float32 tokens and per-action features.

Segmentation (vectorized) follows Antal & Egyed-Zsigmond, "Intrusion detection using mouse
dynamics", IET Biometrics 2019 (arXiv 1810.04668), whose Balabit results are our reference:

* an action ends with a button release (``up``): the moves that lead to a click and the
  click itself form one **point-and-click** (PC) action;
* a press whose pointer then travels more than ``click_slop_px`` from the press point is a
  drag: the **drag-and-drop** (DD) action runs from that ``down`` to its ``up``, and the moves
  before the ``down`` form a separate **move** (MM) action;
* moves that end without a click form a **move** action;
* a run of wheel events is a **scroll** (SC) action (Antal ignores scrolls; we keep them);
* a pause longer than ``action_gap_ms`` also starts a new action (Antal: 10 s) and so does a
  new session in the batched path.

Actions are contiguous runs of events, numbered 0.. in time order. Antal drops actions of
fewer than 4 events; we keep every action (tokens need one per event) and report
``n_events`` so callers can filter.

Per event (all *within* the event's action; the first event of an action has zero
displacement and kinematics, but its ``dt`` is the time since the previous event of the
session, so pauses stay visible): dt, dx, dy, speed = dist / max(dt, min_dt_ms),
acceleration = d speed / dt, jerk = d acceleration / dt, direction (sin, cos of the step),
curvature = turning angle between the previous step and this one / this step's length (0
when either step is empty), the wheel delta, the event type and action type one-hots and
the position within the action in [0, 1]. Units: px, ms, px/ms, px/ms^2, px/ms^3, rad/px;
angles are in screen coordinates (y grows downwards).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from biometrics.events import POINTER_TYPES, PointerArrays
from biometrics.features._util import (
    check_codes,
    check_lengths,
    check_session,
    pos_log,
    safe_div,
    session_starts,
    signed_log,
)

ACTION_TYPES: tuple[str, ...] = ("move", "point_click", "drag_drop", "scroll")
"""Action type codes 0..3: MM, PC, DD and scroll."""

_MOVE, _DOWN, _UP, _WHEEL = (POINTER_TYPES.index(k) for k in ("move", "down", "up", "wheel"))

MOUSE_FEATURES: tuple[str, ...] = (
    "dt",
    "dx",
    "dy",
    "speed",
    "accel",
    "jerk",
    "dir_sin",
    "dir_cos",
    "curvature",
    "wheel_dy",
    *(f"ev_{k}" for k in POINTER_TYPES),
    *(f"act_{k}" for k in ACTION_TYPES),
    "act_pos",
)
"""Per-event token columns (see the module docstring for definitions and scaling)."""

ACTION_FEATURES: tuple[str, ...] = (
    "n_events",
    "duration",
    "distance",
    "end_to_end",
    "straightness",
    "speed_mean",
    "speed_sd",
    "speed_max",
    "accel_mean",
    "accel_sd",
    "accel_max",
    "accel_min",
    "jerk_mean",
    "curvature_mean",
    "curvature_abs_mean",
    "n_pauses",
    "largest_deviation",
    "dir_sin",
    "dir_cos",
    "dir_bin",
    "accel_time_begin",
    "wheel_abs_sum",
    *(f"act_{k}" for k in ACTION_TYPES),
)
"""Per-action summary columns, raw units (ms, px, px/ms, px/ms^2, rad/px); see mouse_actions."""

_N_TOKEN = len(MOUSE_FEATURES)
_EV0 = MOUSE_FEATURES.index("ev_move")
_ACT0 = MOUSE_FEATURES.index("act_move")


@dataclass(frozen=True)
class MouseFeatureConfig:
    """Segmentation thresholds and token scaling: ``sign(x) log1p(min(|x|, clip) / scale)``.

    With the defaults every token column lies within +-log1p(1e4) = +-9.2.

    ``action_gap_ms``: a pause longer than this starts a new action (Antal & Egyed-Zsigmond:
    10 s); ``pause_ms``: a within-action gap longer than this counts as a pause in
    ``n_pauses``; ``click_slop_px``: how far the pointer may wander while pressed and still be
    a click rather than a drag; ``min_dt_ms``: floor of dt in rates (identical timestamps).
    """

    action_gap_ms: float = 10_000.0
    pause_ms: float = 500.0
    click_slop_px: float = 4.0
    min_dt_ms: float = 1.0
    dt_scale_ms: float = 10.0
    dt_clip_ms: float = 60_000.0
    px_scale: float = 10.0
    px_clip: float = 5_000.0
    speed_scale: float = 0.1
    speed_clip: float = 100.0
    accel_scale: float = 0.001
    accel_clip: float = 10.0
    jerk_scale: float = 1e-4
    jerk_clip: float = 1.0
    curv_scale: float = 0.01
    curv_clip: float = 10.0
    wheel_scale: float = 10.0
    wheel_clip: float = 10_000.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value > 0 and name != "pause_ms" and name != "click_slop_px":
                raise ValueError(f"MouseFeatureConfig.{name} must be > 0, got {value}")
        if self.pause_ms < 0 or self.click_slop_px < 0:
            raise ValueError("pause_ms and click_slop_px must be >= 0")


class _Kinematics(NamedTuple):
    start: np.ndarray  # bool [N], first event of an action
    starts: np.ndarray  # int64 [A], index of each action's first event
    action_id: np.ndarray  # int64 [N]
    act_type: np.ndarray  # int8 [A]
    dt: np.ndarray  # [N] time since the previous event of the session (0 on its first)
    dx: np.ndarray
    dy: np.ndarray
    dist: np.ndarray
    speed: np.ndarray
    acc: np.ndarray
    jerk: np.ndarray
    curv: np.ndarray


def _drag_downs(
    x: np.ndarray,
    y: np.ndarray,
    is_down: np.ndarray,
    is_up: np.ndarray,
    sstart: np.ndarray,
    slop: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(down events that start a drag, events that belong to a drag press)."""
    n = x.shape[0]
    idx = np.arange(n)
    # Index of the latest down/up at or before each event, reset at session starts.
    last = np.maximum.accumulate(np.where(is_down | is_up | sstart, idx, 0))
    pressed_after = is_down[last]
    pressed_before = np.zeros(n, dtype=bool)
    pressed_before[1:] = pressed_after[:-1]
    pressed_before &= ~sstart
    press_of = np.zeros(n, dtype=np.int64)
    press_of[1:] = last[:-1]  # the down an event belongs to, when pressed_before
    d2 = np.where(pressed_before, (x - x[press_of]) ** 2 + (y - y[press_of]) ** 2, 0.0)
    downs = np.flatnonzero(is_down)
    drag_down = np.zeros(n, dtype=bool)
    # Events from one down to the next down: that press's pressed events and idle ones (0).
    drag_down[downs] = np.maximum.reduceat(d2, downs) > slop * slop
    in_drag = drag_down | (pressed_before & drag_down[press_of])
    return drag_down, in_drag


def _kinematics(
    arr: PointerArrays, session: np.ndarray | None, cfg: MouseFeatureConfig
) -> _Kinematics:
    """Segment into actions and compute within-action per-event kinematics (raw units)."""
    n = check_lengths(
        "PointerArrays",
        t=arr.t,
        x=arr.x,
        y=arr.y,
        type=arr.type,
        button=arr.button,
        delta_y=arr.delta_y,
    )
    session = check_session(session, n)
    check_codes("pointer type", arr.type, len(POINTER_TYPES))
    t = np.asarray(arr.t, dtype=np.float64)
    x = np.asarray(arr.x, dtype=np.float64)
    y = np.asarray(arr.y, dtype=np.float64)
    typ = np.asarray(arr.type)
    sstart = session_starts(session, n)

    dt = np.zeros(n)
    np.subtract(t[1:], t[:-1], out=dt[1:])
    dt[sstart] = 0.0
    np.maximum(dt, 0.0, out=dt)

    is_down = typ == _DOWN
    is_up = typ == _UP
    is_wheel = typ == _WHEEL
    start = sstart.copy()
    start[1:] |= is_up[:-1]
    start |= dt > cfg.action_gap_ms
    start[1:] |= is_wheel[1:] != is_wheel[:-1]
    any_down = bool(is_down.any())
    if any_down:
        drag_down, in_drag = _drag_downs(x, y, is_down, is_up, sstart, cfg.click_slop_px)
        start |= drag_down
    starts = np.flatnonzero(start)
    action_id = np.cumsum(start) - 1

    act_type = np.zeros(starts.shape[0], dtype=np.int8)
    if n:
        clicky = is_down | is_up
        if clicky.any():
            act_type[np.logical_or.reduceat(clicky, starts)] = 1
        if any_down:
            act_type[np.logical_or.reduceat(in_drag, starts)] = 2
        act_type[is_wheel[starts]] = 3

    dx = np.zeros(n)
    dy = np.zeros(n)
    np.subtract(x[1:], x[:-1], out=dx[1:])
    np.subtract(y[1:], y[:-1], out=dy[1:])
    dx[start] = 0.0
    dy[start] = 0.0
    dist = np.sqrt(dx * dx + dy * dy)
    inv_dt = 1.0 / np.maximum(dt, cfg.min_dt_ms)
    speed = dist * inv_dt
    acc = np.zeros(n)
    np.subtract(speed[1:], speed[:-1], out=acc[1:])
    acc *= inv_dt
    acc[start] = 0.0
    jerk = np.zeros(n)
    np.subtract(acc[1:], acc[:-1], out=jerk[1:])
    jerk *= inv_dt
    jerk[start] = 0.0
    # Turning angle between consecutive steps (0 when either is empty: atan2(0, 0) = 0).
    cross = np.zeros(n)
    dot = np.zeros(n)
    if n > 1:
        cross[1:] = dx[:-1] * dy[1:] - dy[:-1] * dx[1:]
        dot[1:] = dx[:-1] * dx[1:] + dy[:-1] * dy[1:]
    curv = safe_div(np.arctan2(cross, dot), dist)
    return _Kinematics(start, starts, action_id, act_type, dt, dx, dy, dist, speed, acc, jerk, curv)


def _tokens(arr: PointerArrays, k: _Kinematics, cfg: MouseFeatureConfig) -> np.ndarray:
    n = k.dt.shape[0]
    out = np.zeros((n, _N_TOKEN), dtype=np.float32)
    if n == 0:
        return out
    out[:, 0] = pos_log(k.dt, cfg.dt_scale_ms, cfg.dt_clip_ms)
    out[:, 1] = signed_log(k.dx, cfg.px_scale, cfg.px_clip)
    out[:, 2] = signed_log(k.dy, cfg.px_scale, cfg.px_clip)
    out[:, 3] = pos_log(k.speed, cfg.speed_scale, cfg.speed_clip)
    out[:, 4] = signed_log(k.acc, cfg.accel_scale, cfg.accel_clip)
    out[:, 5] = signed_log(k.jerk, cfg.jerk_scale, cfg.jerk_clip)
    out[:, 6] = safe_div(k.dy, k.dist)
    out[:, 7] = safe_div(k.dx, k.dist)
    out[:, 8] = signed_log(k.curv, cfg.curv_scale, cfg.curv_clip)
    out[:, 9] = signed_log(
        np.asarray(arr.delta_y, dtype=np.float64), cfg.wheel_scale, cfg.wheel_clip
    )
    rows = np.arange(n)
    out[rows, _EV0 + np.asarray(arr.type, dtype=np.int64)] = 1.0
    out[rows, _ACT0 + k.act_type[k.action_id].astype(np.int64)] = 1.0
    n_a = np.diff(np.append(k.starts, n))
    first = k.starts[k.action_id]
    out[:, _N_TOKEN - 1] = (rows - first) / np.maximum(n_a - 1, 1)[k.action_id]
    return out


def mouse_tokens(arr: PointerArrays, cfg: MouseFeatureConfig = MouseFeatureConfig()) -> np.ndarray:
    """One session's events -> float32 tokens ``[N, len(MOUSE_FEATURES)]`` (row i: event i)."""
    return _tokens(arr, _kinematics(arr, None, cfg), cfg)


def mouse_tokens_batch(
    arr: PointerArrays, session: np.ndarray, cfg: MouseFeatureConfig = MouseFeatureConfig()
) -> np.ndarray:
    """Many sessions concatenated (``session``: id per event, contiguous) -> tokens ``[N, F]``.

    Row i belongs to event i; equals ``mouse_tokens`` per session, concatenated.
    """
    return _tokens(arr, _kinematics(arr, session, cfg), cfg)


def mouse_action_ids(
    arr: PointerArrays, cfg: MouseFeatureConfig = MouseFeatureConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """Action id per event ``[N]`` int64 and type code per action ``[A]`` int8 (ACTION_TYPES)."""
    k = _kinematics(arr, None, cfg)
    return k.action_id, k.act_type


def mouse_actions(
    arr: PointerArrays, cfg: MouseFeatureConfig = MouseFeatureConfig()
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """One session -> (action id per event ``[N]``, action features ``[A, K]`` float64, names).

    Columns (``ACTION_FEATURES``): number of events; duration (ms); path length and
    end-to-end distance (px); straightness = end-to-end / path (0 for an empty path);
    mean / sd / max speed and mean / sd / max / min acceleration over the action's steps;
    mean jerk; mean signed and mean absolute curvature over non-empty steps; number of
    pauses (steps with dt > pause_ms); largest distance of a point from the start-end line
    (from the start point when start and end coincide); sin / cos of the end-to-end
    direction and its 8-sector bin (0 = [0, 45) degrees, counter-clockwise in screen
    coordinates, as Ahmed & Traore 2007); time from the start until the speed first stops
    increasing (Antal's ``a_beg_time``); total |wheel delta|; action type one-hot.
    """
    k = _kinematics(arr, None, cfg)
    return k.action_id, _action_features(arr, k, cfg), ACTION_FEATURES


def mouse_tokens_and_actions(
    arr: PointerArrays, cfg: MouseFeatureConfig = MouseFeatureConfig()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass for both views of a session: (tokens ``[N, F]``, action id per event ``[N]``,
    action features ``[A, K]``), equal to :func:`mouse_tokens` and :func:`mouse_actions`."""
    k = _kinematics(arr, None, cfg)
    return _tokens(arr, k, cfg), k.action_id, _action_features(arr, k, cfg)


def _action_features(arr: PointerArrays, k: _Kinematics, cfg: MouseFeatureConfig) -> np.ndarray:
    n = k.dt.shape[0]
    n_act = k.starts.shape[0]
    if n_act == 0:
        return np.zeros((0, len(ACTION_FEATURES)))
    t = np.asarray(arr.t, dtype=np.float64)
    x = np.asarray(arr.x, dtype=np.float64)
    y = np.asarray(arr.y, dtype=np.float64)
    s, aid = k.starts, k.action_id
    n_a = np.diff(np.append(s, n))
    e = s + n_a - 1
    inner = ~k.start
    n_in = (n_a - 1).astype(np.float64)

    def total(v: np.ndarray) -> np.ndarray:
        return np.add.reduceat(v, s)

    def mean_sd(v: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = safe_div(total(v), count)
        var = safe_div(total(v * v), count) - m * m
        return m, np.sqrt(np.maximum(var, 0.0))

    def inner_extreme(v: np.ndarray, ufunc: np.ufunc, fill: float) -> np.ndarray:
        r = ufunc.reduceat(np.where(inner, v, fill), s)
        return np.where(n_a > 1, r, 0.0)

    f = np.zeros((n_act, len(ACTION_FEATURES)))
    col = {name: i for i, name in enumerate(ACTION_FEATURES)}
    f[:, col["n_events"]] = n_a
    f[:, col["duration"]] = t[e] - t[s]
    distance = total(k.dist)
    f[:, col["distance"]] = distance
    ex = x[e] - x[s]
    ey = y[e] - y[s]
    e2e = np.sqrt(ex * ex + ey * ey)
    f[:, col["end_to_end"]] = e2e
    f[:, col["straightness"]] = np.minimum(safe_div(e2e, distance), 1.0)
    sm, ssd = mean_sd(k.speed, n_in)
    f[:, col["speed_mean"]], f[:, col["speed_sd"]] = sm, ssd
    f[:, col["speed_max"]] = inner_extreme(k.speed, np.maximum, -np.inf)
    am, asd = mean_sd(k.acc, n_in)
    f[:, col["accel_mean"]], f[:, col["accel_sd"]] = am, asd
    f[:, col["accel_max"]] = inner_extreme(k.acc, np.maximum, -np.inf)
    f[:, col["accel_min"]] = inner_extreme(k.acc, np.minimum, np.inf)
    f[:, col["jerk_mean"]] = safe_div(total(k.jerk), n_in)
    moving = k.dist > 0
    n_moving = total(moving.astype(np.float64))
    f[:, col["curvature_mean"]] = safe_div(total(k.curv), n_moving)
    f[:, col["curvature_abs_mean"]] = safe_div(total(np.abs(k.curv)), n_moving)
    f[:, col["n_pauses"]] = total((inner & (k.dt > cfg.pause_ms)).astype(np.float64))
    rx = x - x[s][aid]
    ry = y - y[s][aid]
    off_line = safe_div(np.abs(rx * ey[aid] - ry * ex[aid]), e2e[aid])
    dev = np.where(e2e[aid] > 0, off_line, np.sqrt(rx * rx + ry * ry))
    f[:, col["largest_deviation"]] = np.maximum.reduceat(dev, s)
    f[:, col["dir_sin"]] = safe_div(ey, e2e)
    f[:, col["dir_cos"]] = safe_div(ex, e2e)
    theta = np.mod(np.arctan2(ey, ex), 2 * np.pi)
    f[:, col["dir_bin"]] = np.where(e2e > 0, np.minimum(np.floor(theta / (np.pi / 4)), 7), 0)
    stop = np.where(inner & (k.acc <= 0), np.arange(n), n)
    first_stop = np.minimum.reduceat(stop, s)
    until = np.where(first_stop < n, first_stop - 1, e)
    f[:, col["accel_time_begin"]] = t[until] - t[s]
    wheel = np.where(
        np.asarray(arr.type) == _WHEEL, np.abs(np.asarray(arr.delta_y, dtype=np.float64)), 0.0
    )
    f[:, col["wheel_abs_sum"]] = total(wheel)
    f[np.arange(n_act), col["act_move"] + k.act_type.astype(np.int64)] = 1.0
    return f

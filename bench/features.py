"""Feature-extraction throughput on ONE core: synthetic but realistic event streams.

Run: ``python bench/features.py [--quick]``. Prints one JSON line. For every modality it
times the batched path (all sessions concatenated with a session-id array, one call) and
the per-session path (a Python loop calling the single-session function per session),
each as the median of several repeats, and says which figure is which:
``<modality>_events_per_s`` is the batched path, ``<modality>_events_per_s_per_session``
the per-session loop. Targets: >= 5 M keystroke events/s and >= 2 M mouse events/s.
"""


from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_var] = "1"

import argparse
import json
import platform
import time
from collections.abc import Callable

import numpy as np

from biometrics.events import KeystrokeArrays, PointerArrays, TouchArrays
from biometrics.features import (
    keystroke_tokens,
    keystroke_tokens_batch,
    mouse_actions,
    mouse_tokens,
    mouse_tokens_batch,
    stroke_features,
    touch_tokens,
    touch_tokens_batch,
)

KEYSTROKE_TARGET = 5e6
MOUSE_TARGET = 2e6

# Key-class mix of login / free typing:
# letter, digit, space, backspace, shift, enter, punctuation, other.
_CLASS_P = np.array([0.70, 0.05, 0.12, 0.03, 0.04, 0.01, 0.04, 0.01])


def _session_ids(n_sessions: int, per: int) -> np.ndarray:
    return np.repeat(np.arange(n_sessions, dtype=np.int64), per)


def synth_keystrokes(
    n_sessions: int, n_events: int, rng: np.random.Generator
) -> tuple[KeystrokeArrays, np.ndarray]:
    """Sessions of n_events key events (n_events/2 presses): lognormal holds/flights, rollover."""
    n_press = n_events // 2
    total = n_sessions * n_press
    # 60 distinct keys, each with a fixed class and hash bucket.
    key_cls = rng.choice(8, size=60, p=_CLASS_P).astype(np.int8)
    key_bkt = rng.integers(0, 64, size=60).astype(np.int32)
    key = rng.integers(0, 60, size=total)
    flight = rng.lognormal(np.log(140.0), 0.6, size=total)  # down-down, ms
    hold = rng.lognormal(np.log(95.0), 0.35, size=total)
    down = np.cumsum(flight.reshape(n_sessions, n_press), axis=1)
    down -= down[:, :1]
    up = down + hold.reshape(n_sessions, n_press)
    t = np.concatenate((down, up), axis=1)
    is_down = np.concatenate((np.ones_like(down, bool), np.zeros_like(up, bool)), axis=1)
    k = np.concatenate((key.reshape(n_sessions, n_press),) * 2, axis=1)
    order = np.argsort(t, axis=1, kind="stable")
    t = np.take_along_axis(t, order, 1).ravel()
    is_down = np.take_along_axis(is_down, order, 1).ravel()
    k = np.take_along_axis(k, order, 1).ravel()
    arr = KeystrokeArrays(
        t=np.round(t, 1), is_down=is_down, key_class=key_cls[k], key_bucket=key_bkt[k]
    )
    return arr, _session_ids(n_sessions, 2 * n_press)


def synth_pointer(
    n_sessions: int, n_events: int, rng: np.random.Generator
) -> tuple[PointerArrays, np.ndarray]:
    """Sessions of mouse moves at 60-125 Hz with pauses, clicks, drags and wheel runs."""
    shape = (n_sessions, n_events)
    dt = rng.choice([8.0, 8.0, 16.0, 17.0], size=shape)
    dt += np.where(rng.random(shape) < 0.01, rng.exponential(700.0, shape), 0.0)
    dt += np.where(rng.random(shape) < 3e-4, 12_000.0, 0.0)
    t = np.cumsum(dt, axis=1)
    t -= t[:, :1]
    # Smooth-ish trajectories: integrated noisy velocity, kept on a 1920x1080 screen.
    vx = np.cumsum(rng.normal(0, 0.4, shape), axis=1) * 0.2 + rng.normal(0, 2, shape)
    vy = np.cumsum(rng.normal(0, 0.4, shape), axis=1) * 0.2 + rng.normal(0, 2, shape)
    x = np.abs(np.mod(960 + np.cumsum(vx, axis=1), 3840) - 1920)
    y = np.abs(np.mod(540 + np.cumsum(vy, axis=1), 2160) - 1080)
    typ = np.zeros(shape, dtype=np.int8)
    button = np.zeros(shape, dtype=np.int8)
    delta = np.zeros(shape)
    flat_typ, flat_btn, flat_delta = typ.reshape(-1), button.reshape(-1), delta.reshape(-1)
    n = flat_typ.shape[0]
    clicks = np.flatnonzero(rng.random(n) < 1 / 60)
    clicks = clicks[clicks < n - 40]
    drag = rng.random(clicks.shape[0]) < 0.2
    release = clicks + np.where(drag, rng.integers(5, 30, clicks.shape[0]), 1)
    flat_typ[clicks] = 1
    flat_typ[release] = 2
    flat_btn[clicks] = flat_btn[release] = 1
    wheels = np.flatnonzero(rng.random(n) < 1 / 300)
    runs = (wheels[:, None] + np.arange(10)).reshape(-1)
    runs = runs[runs < n]
    flat_typ[runs] = 3
    flat_btn[runs] = 0
    flat_delta[runs] = rng.choice([-100.0, 100.0, -53.0, 53.0], size=runs.shape[0])
    arr = PointerArrays(
        t=t.ravel(), x=x.ravel(), y=y.ravel(), type=flat_typ, button=flat_btn, delta_y=flat_delta
    )
    return arr, _session_ids(n_sessions, n_events)


def synth_touch(
    n_sessions: int, n_events: int, rng: np.random.Generator
) -> tuple[TouchArrays, np.ndarray]:
    """Sessions of swipes (start, moves, end; 6-40 points, 60 Hz), some changing pointer ids."""
    total = n_sessions * n_events
    lens = rng.integers(6, 41, size=total // 6 + 10)
    ends = np.cumsum(lens)
    lens = lens[: np.searchsorted(ends, total) + 1]
    stroke = np.repeat(np.arange(lens.shape[0]), lens)[:total]
    first = np.r_[True, stroke[1:] != stroke[:-1]]
    last = np.r_[stroke[1:] != stroke[:-1], True]
    session = np.repeat(np.arange(n_sessions, dtype=np.int64), n_events)
    first |= np.r_[True, session[1:] != session[:-1]]
    last |= np.r_[session[1:] != session[:-1], True]
    typ = np.where(first, 0, np.where(last, 2, 1)).astype(np.int8)
    gap = rng.uniform(250.0, 1500.0, lens.shape[0])[stroke]
    dt = np.where(first, gap, rng.choice([16.0, 17.0], size=total))
    t = np.cumsum(dt)
    t -= np.repeat(t[::n_events], n_events)
    sx = rng.uniform(50, 700, lens.shape[0])[stroke]
    sy = rng.uniform(100, 1200, lens.shape[0])[stroke]
    ang = rng.uniform(-np.pi, np.pi, lens.shape[0])[stroke]
    k = np.arange(total) - np.maximum.accumulate(np.where(first, np.arange(total), 0))
    step = 12.0 * k
    x = sx + step * np.cos(ang) + rng.normal(0, 1.5, total)
    y = sy + step * np.sin(ang) + rng.normal(0, 1.5, total)
    multi = session % 2 == 1
    pid = np.where(multi, stroke % 4, 0).astype(np.int16)
    arr = TouchArrays(
        t=t,
        x=x,
        y=y,
        pressure=rng.uniform(0.2, 0.8, total),
        area=rng.uniform(0.05, 0.3, total),
        type=typ,
        pointer_id=pid,
    )
    return arr, session


def split_sessions(arr, session: np.ndarray) -> list:
    """Per-session views of concatenated arrays."""
    cuts = np.flatnonzero(np.diff(session)) + 1
    cols = {k: np.split(v, cuts) for k, v in vars(arr).items()}
    return [type(arr)(**{k: cols[k][i] for k in cols}) for i in range(cuts.shape[0] + 1)]


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10x fewer sessions (smoke run)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    div = 10 if args.quick else 1
    rng = np.random.default_rng(args.seed)
    sizes = {
        "keystroke": (2000 // div, 500),
        "mouse": (1000 // div, 2000),
        "touch": (1000 // div, 1000),
    }
    reps, reps_loop = args.repeats, max(1, args.repeats // 2 + 1)

    k_arr, k_sess = synth_keystrokes(*sizes["keystroke"], rng)
    m_arr, m_sess = synth_pointer(*sizes["mouse"], rng)
    t_arr, t_sess = synth_touch(*sizes["touch"], rng)
    k_list, m_list, t_list = (
        split_sessions(k_arr, k_sess),
        split_sessions(m_arr, m_sess),
        split_sessions(t_arr, t_sess),
    )
    n_k, n_m, n_t = k_arr.t.shape[0], m_arr.t.shape[0], t_arr.t.shape[0]

    res: dict[str, object] = {}
    res["keystroke_events_per_s"] = n_k / timed(lambda: keystroke_tokens_batch(k_arr, k_sess), reps)
    res["keystroke_events_per_s_per_session"] = n_k / timed(
        lambda: [keystroke_tokens(a) for a in k_list], reps_loop
    )
    res["mouse_events_per_s"] = n_m / timed(lambda: mouse_tokens_batch(m_arr, m_sess), reps)
    res["mouse_events_per_s_per_session"] = n_m / timed(
        lambda: [mouse_tokens(a) for a in m_list], reps_loop
    )
    res["mouse_actions_events_per_s_per_session"] = n_m / timed(
        lambda: [mouse_actions(a) for a in m_list], reps_loop
    )
    res["touch_events_per_s"] = n_t / timed(lambda: touch_tokens_batch(t_arr, t_sess), reps)
    res["touch_events_per_s_per_session"] = n_t / timed(
        lambda: [touch_tokens(a) for a in t_list], reps_loop
    )
    res["stroke_features_events_per_s_per_session"] = n_t / timed(
        lambda: [stroke_features(a) for a in t_list], reps_loop
    )
    res = {k: round(float(v)) for k, v in res.items()}
    n_presses = int(keystroke_tokens_batch(k_arr, k_sess)[0].shape[0])
    res.update(
        {
            "paths": {
                "<modality>_events_per_s": "batched (*_tokens_batch, one call over all sessions)",
                "<modality>_events_per_s_per_session": "Python loop of the single-session function",
            },
            "n_keystroke_events": n_k,
            "n_keystroke_sessions": sizes["keystroke"][0],
            "n_keystroke_presses": n_presses,
            "n_mouse_events": n_m,
            "n_mouse_sessions": sizes["mouse"][0],
            "n_touch_events": n_t,
            "n_touch_sessions": sizes["touch"][0],
            "repeats": reps,
            "repeats_per_session_loop": reps_loop,
            "stat": "median wall time",
            "threads": 1,
            "numpy": np.__version__,
            "cpu": platform.processor() or platform.machine(),
            "targets": {
                "keystroke_events_per_s": KEYSTROKE_TARGET,
                "mouse_events_per_s": MOUSE_TARGET,
            },
            "meets_targets": bool(
                res["keystroke_events_per_s"] >= KEYSTROKE_TARGET
                and res["mouse_events_per_s"] >= MOUSE_TARGET
            ),
        }
    )
    print(json.dumps(res))


if __name__ == "__main__":
    main()

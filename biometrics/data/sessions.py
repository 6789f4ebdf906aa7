"""Dataset recordings as session-contract sessions: what a collector would have sent for them.

The product benchmarks (``bench/product_accuracy.py``) feed these through the scoring
service, so a served figure is measured on exactly the body an API client posts.
"""

from __future__ import annotations

import numpy as np

from biometrics.events import (
    MAX_COORD,
    MAX_EVENTS_PER_MODALITY,
    MAX_SESSION_MS,
    POINTER_BUTTONS,
    POINTER_TYPES,
    SCHEMA_VERSION,
    TOUCH_TYPES,
    KeyClass,
    KeystrokeArrays,
    PointerArrays,
    Session,
    TouchArrays,
)


def keystroke_session(keys: KeystrokeArrays, device_type: str = "desktop") -> Session:
    """A recording's key events (with press ids) as a validated contract session, timed from 0."""
    if keys.press is None:
        raise ValueError("the key events need press ids (the dataset loaders set them)")
    t = np.asarray(keys.t, np.float64)
    t = np.round(t - (t[0] if t.size else 0.0), 3)
    events = [{"t": float(ti), "type": "down" if d else "up", "press": int(p), "key_class": int(c)}
              for ti, d, p, c in zip(t, keys.is_down, keys.press, keys.key_class)]
    return Session.model_validate({"schema_version": SCHEMA_VERSION, "keystrokes": events,
                                   "meta": {"device_type": device_type}})


def joined_presses(parts: list[KeystrokeArrays], gap_ms: float = 1000.0) -> KeystrokeArrays:
    """Recordings of one field typed again and again, one after another ``gap_ms`` apart, as one
    recording of masked presses (a password field: key class ``MASKED``), press ids renumbered."""
    t, down, press, offset, end = [], [], [], 0, 0.0
    for r in parts:
        start = end + gap_ms if t else 0.0
        t.append(np.asarray(r.t, np.float64) - r.t[0] + start)
        end = float(t[-1].max())
        down.append(r.is_down)
        press.append(np.asarray(r.press) + offset)
        offset += int(np.asarray(r.press).max()) + 1
    n = sum(x.size for x in t)
    return KeystrokeArrays(t=np.concatenate(t), is_down=np.concatenate(down),
                           key_class=np.full(n, int(KeyClass.MASKED), np.int8), key_bucket=np.zeros(n, np.int32),
                           press=np.concatenate(press).astype(np.int32))


def first_presses(session: Session, k: int | None) -> Session:
    """The session with only its first ``k`` key presses (both events of each; None: all of
    them): a sentence cut to a login page's length."""
    if k is None:
        return session
    body = session.model_dump(mode="json")
    body["keystrokes"] = [e for e in body["keystrokes"] if e["press"] < k]
    return Session.model_validate(body)


def _timed_from_zero(t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, np.float64)
    return np.round(t - (t[0] if t.size else 0.0), 3)


def contract_prefix(t: np.ndarray) -> int:
    """How many leading events of a recording fit one contract session (event count and duration)."""
    t = _timed_from_zero(t)
    return int(min(MAX_EVENTS_PER_MODALITY, np.searchsorted(t, MAX_SESSION_MS, side="right")))


def pointer_session(p: PointerArrays, device_type: str = "desktop") -> Session:
    """A recording's pointer events as a validated contract session, timed from 0.

    A recording longer than one contract session allows keeps its first events that fit
    (:func:`contract_prefix`); coordinates are clipped to the contract's range.
    """
    n = contract_prefix(p.t)
    t = _timed_from_zero(p.t)[:n]
    x, y = (np.clip(np.asarray(a, np.float64)[:n], -MAX_COORD, MAX_COORD) for a in (p.x, p.y))
    events = [{"t": float(ti), "type": POINTER_TYPES[int(ty)], "x": float(xi), "y": float(yi),
               "button": POINTER_BUTTONS[int(b)], "delta_y": float(dy)}
              for ti, ty, xi, yi, b, dy in zip(t, p.type[:n], x, y, p.button[:n],
                                               np.clip(p.delta_y[:n], -MAX_COORD, MAX_COORD))]
    return Session.model_validate({"schema_version": SCHEMA_VERSION, "pointer": events,
                                   "meta": {"device_type": device_type}})


def touch_session(a: TouchArrays, device_type: str = "mobile") -> Session:
    """A recording's touch events as a validated contract session, timed from 0 (first events that fit)."""
    n = contract_prefix(a.t)
    t = _timed_from_zero(a.t)[:n]
    events = [{"t": float(ti), "type": TOUCH_TYPES[int(ty)], "x": float(xi), "y": float(yi),
               "pressure": float(pr), "area": float(ar), "pointer_id": int(pid)}
              for ti, ty, xi, yi, pr, ar, pid in zip(t, a.type[:n], a.x[:n], a.y[:n],
                                                    np.clip(a.pressure[:n], 0.0, 10.0),
                                                    np.clip(a.area[:n], 0.0, 10_000.0), a.pointer_id[:n])]
    return Session.model_validate({"schema_version": SCHEMA_VERSION, "touch": events,
                                   "meta": {"device_type": device_type}})


def pointer_sessions(p: PointerArrays, max_events: int = 2_000, device_type: str = "desktop") -> list[Session]:
    """A long recording cut into consecutive contract sessions of at most ``max_events`` events."""
    n = len(p.t)
    cut = lambda a, i: a[i: i + max_events]
    return [pointer_session(PointerArrays(*(cut(getattr(p, f), i) for f in ("t", "x", "y", "type", "button",
                                                                          "delta_y"))), device_type)
            for i in range(0, n, max_events) if n - i >= 2]


def touch_stroke_sessions(a: TouchArrays, strokes_per_session: int, device_type: str = "mobile") -> list[Session]:
    """A recording cut into contract sessions of ``strokes_per_session`` consecutive strokes each
    (a stroke starts at a ``start`` event; a trailing remainder is dropped)."""
    starts = np.flatnonzero(np.asarray(a.type) == TOUCH_TYPES.index("start"))
    bounds = np.r_[starts, len(a.t)]
    out = []
    for i in range(0, starts.size - strokes_per_session + 1, strokes_per_session):
        lo, hi = bounds[i], bounds[i + strokes_per_session]
        out.append(touch_session(TouchArrays(*(np.asarray(getattr(a, f))[lo:hi] for f in (
            "t", "x", "y", "pressure", "area", "type", "pointer_id"))), device_type))
    return out

"""Injected population shifts for the drift tests (tests/ is on sys.path through its conftest)."""

from __future__ import annotations

from biometrics.events import Session


def slower_typing(session: Session, factor: float = 1.6) -> Session:
    """The session typed by a slower typist: every key down ``factor`` times as far from the first
    one (inter-key intervals stretched), each hold kept; pointer and touch untouched."""
    if not session.keystrokes:
        return session
    events = [e.model_dump(mode="json") for e in session.keystrokes]
    downs = {e["press"]: e["t"] for e in events if e["type"] == "down"}
    t0 = min(downs.values())
    for e in events:
        down = downs[e["press"]]
        e["t"] = round(t0 + factor * (down - t0) + (e["t"] - down), 3)
    events.sort(key=lambda e: e["t"])  # stable: a down stays before its up at equal times
    return Session.model_validate(session.model_dump(mode="json") | {"keystrokes": events})


def on_device(session: Session, device_type: str) -> Session:
    """The session as if sent from another kind of device (``meta.device_type``)."""
    data = session.model_dump(mode="json")
    data["meta"] = data["meta"] | {"device_type": device_type}
    return Session.model_validate(data)

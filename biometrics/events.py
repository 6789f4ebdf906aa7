"""Raw behavioral events of one login session, as the browser collector sends them.

The collector records *how* a person types, points and swipes, never *what* they type:
a key event carries only a coarse key class and a tenant-salted hash bucket of the key
code (see :func:`hash_key`). Every model here validates on construction and rejects
bad input with a message that names the problem:

* every number is finite; timestamps are milliseconds since the session start, >= 0;
* **ordering rule**: within each modality, events are listed in non-decreasing
  timestamp order (ties allowed, e.g. a key-up and the next key-down in the same ms);
* a session holds at most ``MAX_EVENTS_PER_MODALITY`` events per modality and lasts at
  most ``MAX_SESSION_MS``;
* unknown fields are rejected (so a collector that leaks ``key`` or ``char`` fails loudly).

:meth:`Session.keystroke_arrays` and friends turn a validated session into the columnar
numpy arrays that :mod:`biometrics.features` consumes; dataset loaders build the same
arrays directly, so training and serving share one feature path.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, fields, replace
from enum import IntEnum
from typing import Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_EVENTS_PER_MODALITY = 20_000
MAX_SESSION_MS = 3_600_000.0  # one hour
MAX_COORD = 100_000.0
N_KEY_BUCKETS = 64


class KeyClass(IntEnum):
    """Coarse key class: enough for rhythm modelling, useless for recovering text."""

    LETTER = 0
    DIGIT = 1
    SPACE = 2
    BACKSPACE = 3
    SHIFT = 4
    ENTER = 5
    PUNCTUATION = 6
    OTHER = 7


N_KEY_CLASSES = len(KeyClass)

_PUNCTUATION_CODES = {
    "Period", "Comma", "Semicolon", "Quote", "Backquote", "BracketLeft", "BracketRight",
    "Backslash", "Slash", "Minus", "Equal", "IntlBackslash", "NumpadDecimal", "NumpadAdd",
    "NumpadSubtract", "NumpadMultiply", "NumpadDivide", "NumpadComma", "NumpadEqual",
}


def key_class_of_code(code: str) -> KeyClass:
    """Map a browser ``KeyboardEvent.code`` (e.g. ``"KeyA"``, ``"Digit5"``) to its class."""
    if code.startswith("Key") and len(code) == 4:
        return KeyClass.LETTER
    if (code.startswith("Digit") and len(code) == 6) or (code.startswith("Numpad") and code[-1:].isdigit()):
        return KeyClass.DIGIT
    if code == "Space":
        return KeyClass.SPACE
    if code in ("Backspace", "Delete"):
        return KeyClass.BACKSPACE
    if code in ("ShiftLeft", "ShiftRight", "CapsLock"):
        return KeyClass.SHIFT
    if code in ("Enter", "NumpadEnter"):
        return KeyClass.ENTER
    if code in _PUNCTUATION_CODES:
        return KeyClass.PUNCTUATION
    return KeyClass.OTHER


def key_bucket(key_id: str, salt: bytes, n_buckets: int = N_KEY_BUCKETS) -> int:
    """Tenant-salted hash bucket of a key identifier (HMAC-SHA256, reduced mod ``n_buckets``).

    Without the tenant's salt a bucket says nothing about which key it was, and with few
    buckets many keys share one, so the text cannot be rebuilt from the buckets.
    """
    digest = hmac.new(salt, key_id.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % n_buckets


def hash_key(code: str, salt: bytes, n_buckets: int = N_KEY_BUCKETS) -> tuple[KeyClass, int]:
    """Map a browser ``KeyboardEvent.code`` to ``(key class, salted bucket)``: all we ever keep."""
    return key_class_of_code(code), key_bucket(code, salt, n_buckets)


def _finite(value: float, name: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    t: float = Field(description="milliseconds since the session start")

    @field_validator("t")
    @classmethod
    def _t_valid(cls, v: float) -> float:
        _finite(v, "timestamp t")
        if v < 0:
            raise ValueError(f"timestamp t must be >= 0 ms since session start, got {v}")
        if v > MAX_SESSION_MS:
            raise ValueError(f"timestamp t={v} ms exceeds the session limit of {MAX_SESSION_MS:.0f} ms")
        return v


class KeyEvent(_Event):
    """A key going down or up. Carries no character and no raw key code."""

    type: Literal["down", "up"]
    key_class: KeyClass
    key_bucket: int = Field(ge=0, lt=1 << 16, description="salted hash bucket of the key code")


class PointerEvent(_Event):
    """A mouse/pen event: move, button down/up, or wheel (``x``/``y`` in CSS pixels)."""

    type: Literal["move", "down", "up", "wheel"]
    x: float
    y: float
    button: Literal["none", "left", "right", "middle"] = "none"
    delta_y: float = 0.0

    @field_validator("x", "y", "delta_y")
    @classmethod
    def _coord_valid(cls, v: float, info) -> float:
        _finite(v, info.field_name)
        if abs(v) > MAX_COORD:
            raise ValueError(f"{info.field_name}={v} is outside +-{MAX_COORD:.0f} px")
        return v


class TouchEvent(_Event):
    """A touch contact starting, moving or ending."""

    type: Literal["start", "move", "end"]
    x: float
    y: float
    pressure: float = Field(default=0.0, ge=0.0, le=10.0)
    area: float = Field(default=0.0, ge=0.0, le=10_000.0)
    pointer_id: int = Field(default=0, ge=0, lt=64)

    @field_validator("x", "y", "pressure", "area")
    @classmethod
    def _value_valid(cls, v: float, info) -> float:
        _finite(v, info.field_name)
        if abs(v) > MAX_COORD:
            raise ValueError(f"{info.field_name}={v} is outside +-{MAX_COORD:.0f}")
        return v


class SessionMeta(BaseModel):
    """What the collector knows about the device; no identifiers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device_type: Literal["desktop", "mobile", "tablet", "unknown"] = "unknown"
    screen_width: int = Field(default=0, ge=0, le=20_000)
    screen_height: int = Field(default=0, ge=0, le=20_000)


def _check_stream(events: list[_Event], name: str) -> None:
    if len(events) > MAX_EVENTS_PER_MODALITY:
        raise ValueError(
            f"{name} has {len(events)} events; at most {MAX_EVENTS_PER_MODALITY} are accepted per session"
        )
    if len(events) < 2:
        return
    t = np.fromiter((e.t for e in events), dtype=np.float64, count=len(events))
    bad = np.flatnonzero(np.diff(t) < 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise ValueError(
            f"{name} must be in non-decreasing time order: event {i} (t={t[i]}) comes "
            f"before event {i - 1} (t={t[i - 1]})"
        )


@dataclass(frozen=True)
class KeystrokeArrays:
    """Columnar key events in time order: the input of keystroke feature extraction."""

    t: np.ndarray  # float64 [N] ms
    is_down: np.ndarray  # bool [N]
    key_class: np.ndarray  # int8 [N]
    key_bucket: np.ndarray  # int32 [N]


@dataclass(frozen=True)
class PointerArrays:
    """Columnar pointer events in time order (type codes: see ``POINTER_TYPES``)."""

    t: np.ndarray  # float64 [N] ms
    x: np.ndarray  # float64 [N]
    y: np.ndarray  # float64 [N]
    type: np.ndarray  # int8 [N], index into POINTER_TYPES
    button: np.ndarray  # int8 [N], index into POINTER_BUTTONS
    delta_y: np.ndarray  # float64 [N]


@dataclass(frozen=True)
class TouchArrays:
    """Columnar touch events in time order (type codes: see ``TOUCH_TYPES``)."""

    t: np.ndarray  # float64 [N] ms
    x: np.ndarray
    y: np.ndarray
    pressure: np.ndarray
    area: np.ndarray
    type: np.ndarray  # int8 [N], index into TOUCH_TYPES
    pointer_id: np.ndarray  # int16 [N]


_Arrays = TypeVar("_Arrays", KeystrokeArrays, PointerArrays, TouchArrays)


def concat_arrays(parts: list[_Arrays]) -> _Arrays:
    """Columnar event arrays of one kind joined column by column (times kept as they are)."""
    if len(parts) == 1:
        return parts[0]
    return type(parts[0])(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(parts[0])})


def slice_arrays(arr: _Arrays, start: int | None, stop: int | None) -> _Arrays:
    """Events ``start:stop`` of columnar event arrays (a chunk as a collector would send it)."""
    return type(arr)(**{f.name: getattr(arr, f.name)[start:stop] for f in fields(arr)})


def back_to_back(parts: list[_Arrays], gap_ms: float) -> _Arrays:
    """Recordings played one after another: each shifted to start ``gap_ms`` after the last ended."""
    shifted, t0 = [], 0.0
    for p in parts:
        t = np.asarray(p.t, np.float64)
        if t.size:
            shifted.append(replace(p, t=t - t[0] + t0))
            t0 = shifted[-1].t[-1] + gap_ms
    return concat_arrays(shifted or parts)


POINTER_TYPES = ("move", "down", "up", "wheel")
POINTER_BUTTONS = ("none", "left", "right", "middle")
TOUCH_TYPES = ("start", "move", "end")


class Session(BaseModel):
    """One login session: whatever modalities the page captured, plus device metadata."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keystrokes: list[KeyEvent] = Field(default_factory=list)
    pointer: list[PointerEvent] = Field(default_factory=list)
    touch: list[TouchEvent] = Field(default_factory=list)
    meta: SessionMeta = Field(default_factory=SessionMeta)

    @field_validator("keystrokes", "pointer", "touch", mode="before")
    @classmethod
    def _bounded(cls, v, info):
        # Checked before per-event validation so a million-event payload is refused cheaply.
        if isinstance(v, list) and len(v) > MAX_EVENTS_PER_MODALITY:
            raise ValueError(
                f"{info.field_name} has {len(v)} events; at most {MAX_EVENTS_PER_MODALITY} "
                "are accepted per session"
            )
        return v

    @model_validator(mode="after")
    def _ordered(self) -> Session:
        _check_stream(self.keystrokes, "keystrokes")
        _check_stream(self.pointer, "pointer")
        _check_stream(self.touch, "touch")
        return self

    def modalities(self) -> list[str]:
        """Names of the modalities that hold any events."""
        return [m for m in ("keystrokes", "pointer", "touch") if getattr(self, m)]

    def keystroke_arrays(self) -> KeystrokeArrays:
        """The key events as columnar arrays."""
        ev = self.keystrokes
        return KeystrokeArrays(
            t=np.array([e.t for e in ev], dtype=np.float64),
            is_down=np.array([e.type == "down" for e in ev], dtype=bool),
            key_class=np.array([int(e.key_class) for e in ev], dtype=np.int8),
            key_bucket=np.array([e.key_bucket for e in ev], dtype=np.int32),
        )

    def pointer_arrays(self) -> PointerArrays:
        """The pointer events as columnar arrays."""
        ev = self.pointer
        return PointerArrays(
            t=np.array([e.t for e in ev], dtype=np.float64),
            x=np.array([e.x for e in ev], dtype=np.float64),
            y=np.array([e.y for e in ev], dtype=np.float64),
            type=np.array([POINTER_TYPES.index(e.type) for e in ev], dtype=np.int8),
            button=np.array([POINTER_BUTTONS.index(e.button) for e in ev], dtype=np.int8),
            delta_y=np.array([e.delta_y for e in ev], dtype=np.float64),
        )

    def touch_arrays(self) -> TouchArrays:
        """The touch events as columnar arrays."""
        ev = self.touch
        return TouchArrays(
            t=np.array([e.t for e in ev], dtype=np.float64),
            x=np.array([e.x for e in ev], dtype=np.float64),
            y=np.array([e.y for e in ev], dtype=np.float64),
            pressure=np.array([e.pressure for e in ev], dtype=np.float64),
            area=np.array([e.area for e in ev], dtype=np.float64),
            type=np.array([TOUCH_TYPES.index(e.type) for e in ev], dtype=np.int8),
            pointer_id=np.array([e.pointer_id for e in ev], dtype=np.int16),
        )

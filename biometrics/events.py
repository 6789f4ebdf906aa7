"""The session contract (schema version 2): raw behavioral events of one login session.

The collector records *how* a person types, points and swipes, never *what* they type, and
this contract cannot spell it: a key event carries only a coarse :class:`KeyClass` (one of
8 values, each standing for many keys; ``masked`` for every key of a sensitive field such
as a password), never a character, a key code or a per-key hash. The property it
guarantees, tested in ``tests/test_key_privacy.py``: every value a key event can carry
stands for at least :data:`MIN_KEYS_PER_VALUE` of the common keys (letters, digits, space,
punctuation) on the US, UK, German and French layouts, or for none of them (editing,
modifier and navigation keys). ``docs/session_contract.md`` says what a session still
reveals (the shape of a field's text: its length and letter / digit / separator pattern).

Every model here validates on construction and rejects bad input with a message that
names the problem:

* ``schema_version`` is required and must be one of :data:`SUPPORTED_SCHEMA_VERSIONS`;
* every number is finite; timestamps are milliseconds since the session start, >= 0;
* **ordering rule**: within each modality, events are listed in non-decreasing
  timestamp order (ties allowed, e.g. a key-up and the next key-down in the same ms);
* a session holds at most ``MAX_EVENTS_PER_MODALITY`` events per modality and lasts at
  most ``MAX_SESSION_MS``;
* unknown fields are rejected (so a collector that leaks ``key``, ``char`` or a v1
  ``key_bucket`` fails loudly);
* **strict types**: a number is a JSON number (an integer where a float is expected is
  fine), never a string or a boolean; an integer field (``press``, ``key_class``,
  ``pointer_id``, counts, screen sizes) takes no fraction; a string field takes no number.

:meth:`Session.keystroke_arrays` and friends turn a validated session into the columnar
numpy arrays that :mod:`biometrics.features` consumes; dataset loaders build the same
arrays directly, so training and serving share one feature path.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, fields, replace
from enum import IntEnum
from typing import Literal, TypeVar

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = 2
SUPPORTED_SCHEMA_VERSIONS: tuple[int, ...] = (SCHEMA_VERSION,)
MAX_EVENTS_PER_MODALITY = 20_000
MAX_SESSION_MS = 3_600_000.0  # one hour
MAX_COORD = 100_000.0
#: Smallest number of common keys any key value stands for (the contract's privacy property).
MIN_KEYS_PER_VALUE = 10


class KeyClass(IntEnum):
    """Coarse key class: enough for rhythm modelling, useless for recovering text.

    Space shares its value with punctuation so that no value names a single key.
    """

    LETTER = 0  # KeyA..KeyZ (physical positions: 26 keys)
    DIGIT = 1  # Digit0..9 and the numpad digits
    SEPARATOR = 2  # Space and punctuation keys (Backquote, Minus, Comma, Slash, ...)
    BACKSPACE = 3  # Backspace, Delete
    SHIFT = 4  # ShiftLeft, ShiftRight, CapsLock
    ENTER = 5  # Enter, NumpadEnter
    OTHER = 6  # navigation, function and other control keys
    MASKED = 7  # any key of a sensitive field (password, one-time code, card number): timing only


N_KEY_CLASSES = len(KeyClass)

#: Physical keys (``KeyboardEvent.code``) typed as separators: space and punctuation.
SEPARATOR_CODES: tuple[str, ...] = (
    "Space", "Backquote", "Minus", "Equal", "BracketLeft", "BracketRight", "Backslash",
    "Semicolon", "Quote", "Comma", "Period", "Slash", "IntlBackslash", "IntlRo", "IntlYen",
    "NumpadDecimal", "NumpadAdd", "NumpadSubtract", "NumpadMultiply", "NumpadDivide",
    "NumpadComma", "NumpadEqual",
)
_FIXED_CODES: dict[str, KeyClass] = {
    **{c: KeyClass.SEPARATOR for c in SEPARATOR_CODES},
    "Backspace": KeyClass.BACKSPACE, "Delete": KeyClass.BACKSPACE,
    "ShiftLeft": KeyClass.SHIFT, "ShiftRight": KeyClass.SHIFT, "CapsLock": KeyClass.SHIFT,
    "Enter": KeyClass.ENTER, "NumpadEnter": KeyClass.ENTER,
}


def key_class_table() -> dict[str, int]:
    """Every ``KeyboardEvent.code`` with a class other than ``OTHER``: the table the collector embeds."""
    table = {f"Key{c}": KeyClass.LETTER for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    table |= {f"Digit{d}": KeyClass.DIGIT for d in range(10)}
    table |= {f"Numpad{d}": KeyClass.DIGIT for d in range(10)}
    table |= _FIXED_CODES
    return {k: int(v) for k, v in table.items()}


_TABLE = key_class_table()


def key_class_of_code(code: str, sensitive: bool = False) -> KeyClass:
    """Map a browser ``KeyboardEvent.code`` (e.g. ``"KeyA"``, ``"Digit5"``) to its class.

    Every key of a sensitive field maps to ``MASKED``, whatever key it was.
    """
    if sensitive:
        return KeyClass.MASKED
    return KeyClass(_TABLE.get(code, KeyClass.OTHER))


#: Every contract model: unknown fields rejected, no type coercion (``"5"`` is not 5, ``true`` not 1).
_CONTRACT = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Event(BaseModel):
    model_config = _CONTRACT

    # Value checks (finite, in range) run once per session over its columnar arrays
    # (Session._ordered, _check_values), not per event: a field validator per event costs a
    # Python call per value.
    t: float = Field(description="milliseconds since the session start (>= 0, at most one hour); "
                                 "non-decreasing within each modality's list")


class KeyEvent(_Event):
    """A key going down or up. Carries its coarse class only: no character, code or hash."""

    type: Literal["down", "up"] = Field(description="the key went down or came up")
    press: int = Field(ge=0, lt=MAX_EVENTS_PER_MODALITY,
                       description="the press this event belongs to: a key's down and up share it "
                                   "(the collector numbers presses 0, 1, 2, ... in down order)")
    # Not strict as such: an enum is an instance in strict Python mode; _key_class_int is the check.
    key_class: KeyClass = Field(strict=False,
                                description="0 letter, 1 digit, 2 separator (space or punctuation), "
                                            "3 backspace/delete, 4 shift/caps lock, 5 enter, "
                                            "6 other control key, 7 masked (any key of a sensitive field)")

    @field_validator("key_class", mode="before")
    @classmethod
    def _key_class_int(cls, v):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(  # noqa: TRY004 - pydantic turns only ValueError into a 422 message
                "key_class must be an integer 0-7 (a JSON number, not a string or a boolean)")
        return v


class PointerEvent(_Event):
    """A mouse/pen event: move, button down/up, or wheel (``x``/``y`` in CSS pixels)."""

    type: Literal["move", "down", "up", "wheel"] = Field(
        description="the pointer moved, a button went down or up, or the wheel turned")
    x: float = Field(description="horizontal position in CSS pixels from the page's left edge")
    y: float = Field(description="vertical position in CSS pixels from the page's top edge")
    button: Literal["none", "left", "right", "middle"] = Field(
        "none", description="the button of a down or up event; none for moves and wheel turns")
    delta_y: float = Field(0.0, description="vertical wheel scroll in CSS pixels (wheel events; 0 otherwise)")


class TouchEvent(_Event):
    """A touch contact starting, moving or ending."""

    type: Literal["start", "move", "end"] = Field(description="the contact started, moved or ended")
    x: float = Field(description="horizontal position in CSS pixels")
    y: float = Field(description="vertical position in CSS pixels")
    pressure: float = Field(default=0.0, ge=0.0, le=10.0,
                            description="contact pressure as the device reports it (0 when unknown)")
    area: float = Field(default=0.0, ge=0.0, le=10_000.0,
                        description="contact area in square CSS pixels (0 when unknown)")
    pointer_id: int = Field(default=0, ge=0, lt=64,
                            description="which finger: contacts down at once have different ids")


class SessionMeta(BaseModel):
    """What the collector knows about the device; no identifiers."""

    model_config = _CONTRACT

    device_type: Literal["desktop", "mobile", "tablet", "unknown"] = Field(
        "unknown", description="kind of device the session was typed on")
    screen_width: int = Field(default=0, ge=0, le=20_000, description="screen width in CSS pixels (0: unknown)")
    screen_height: int = Field(default=0, ge=0, le=20_000,
                               description="screen height in CSS pixels (0: unknown)")


class SessionSignals(BaseModel):
    """Counts of input that did not come from keystrokes: signals in themselves, never content."""

    model_config = _CONTRACT

    paste: int = Field(default=0, ge=0, le=10_000, description="paste events in the attached fields")
    autofill: int = Field(default=0, ge=0, le=10_000,
                          description="fields filled by the browser or a password manager")


def _check_values(name: str, t: np.ndarray, coords: dict[str, np.ndarray]) -> None:
    """Every timestamp finite, >= 0 and within the session limit; every coordinate finite and
    within +-MAX_COORD; the first bad value named by its event (as the per-field messages were)."""
    # One reduction per array when all is well (NaN fails every comparison); the search below
    # for the value to name runs only when something is not.
    if not t.size or (0.0 <= t.min() and t.max() <= MAX_SESSION_MS
                      and all(np.abs(c).max() <= MAX_COORD for c in coords.values())):
        return
    for field, v, bad in (
            ("t", t, ~np.isfinite(t)),
            ("t", t, t < 0),
            ("t", t, t > MAX_SESSION_MS),
            *((f, c, ~np.isfinite(c)) for f, c in coords.items()),
            *((f, c, np.abs(c) > MAX_COORD) for f, c in coords.items())):
        if not bad.any():
            continue
        i = int(np.argmax(bad))
        x = float(v[i])
        where = f"{name}[{i}].{field}: "
        if not np.isfinite(x):
            what = "timestamp t" if field == "t" else field
            raise ValueError(f"{where}{what} must be a finite number, got {x!r}")
        if field != "t":
            raise ValueError(f"{where}{field}={x} is outside +-{MAX_COORD:.0f} px")
        if x < 0:
            raise ValueError(f"{where}timestamp t must be >= 0 ms since session start, got {x}")
        raise ValueError(f"{where}timestamp t={x} ms exceeds the session limit of {MAX_SESSION_MS:.0f} ms")


def _check_stream(events: list[_Event], name: str, t: np.ndarray) -> None:
    if len(events) > MAX_EVENTS_PER_MODALITY:
        raise ValueError(
            f"{name} has {len(events)} events; at most {MAX_EVENTS_PER_MODALITY} are accepted per session"
        )
    if len(events) < 2:
        return
    bad = np.flatnonzero(np.diff(t) < 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise ValueError(
            f"{name} must be in non-decreasing time order: event {i} (t={t[i]}) comes "
            f"before event {i - 1} (t={t[i - 1]})"
        )


def _check_presses(keys: KeystrokeArrays) -> None:
    """Each press id has at most one down and one up, and its up does not come before its down
    (the smallest offending id named). Press ids are validated to lie in [0, MAX_EVENTS_PER_MODALITY):
    counted and placed by index, no sorting."""
    if not keys.t.size:
        return
    press, down = keys.press.astype(np.int64), keys.is_down
    size = int(press.max()) + 1
    where = {}
    for is_down, name in ((True, "down"), (False, "up")):
        ids = press[down == is_down]
        dup = np.flatnonzero(np.bincount(ids, minlength=size) > 1)
        if dup.size:
            raise ValueError(f"keystrokes: press {int(dup[0])} has more than one {name} "
                             "event (number each press once; drop auto-repeat downs)")
        where[is_down] = np.full(size, -1)
        where[is_down][ids] = np.flatnonzero(down == is_down)  # each id's position in the list
    late = np.flatnonzero((where[True] >= 0) & (where[False] >= 0) & (where[False] < where[True]))
    if late.size:
        raise ValueError(f"keystrokes: the up of press {int(late[0])} comes before its down")


@dataclass(frozen=True)
class KeystrokeArrays:
    """Columnar key events in time order: the input of keystroke feature extraction."""

    t: np.ndarray  # float64 [N] ms
    is_down: np.ndarray  # bool [N]
    key_class: np.ndarray  # int8 [N]
    key_bucket: np.ndarray  # int32 [N]: a finer key group for research schemes; 0 from the contract
    press: np.ndarray | None = None  # int32 [N]: press id shared by a down and its up (None: pair by key)


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
    cols = {}
    for f in fields(parts[0]):
        col = [getattr(p, f.name) for p in parts]
        cols[f.name] = None if any(c is None for c in col) else np.concatenate(col)
    return type(parts[0])(**cols)


def slice_arrays(arr: _Arrays, start: int | None, stop: int | None) -> _Arrays:
    """Events ``start:stop`` of columnar event arrays (a chunk as a collector would send it)."""
    return type(arr)(**{f.name: None if (c := getattr(arr, f.name)) is None else c[start:stop]
                        for f in fields(arr)})


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


class _ArrayCache:
    """A session's columnar arrays with the event list they were built from (never a
    difference between two sessions: pydantic's equality sees only the fields)."""

    __slots__ = ("arrays", "events")

    def __init__(self, events: list, arrays) -> None:
        self.events, self.arrays = events, arrays

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ArrayCache)

    __hash__ = None


def _keystroke_arrays(ev: list[KeyEvent]) -> KeystrokeArrays:
    return KeystrokeArrays(
        t=np.array([e.t for e in ev], dtype=np.float64),
        is_down=np.array([e.type == "down" for e in ev], dtype=bool),
        key_class=np.array([int(e.key_class) for e in ev], dtype=np.int8),
        key_bucket=np.zeros(len(ev), dtype=np.int32),
        press=np.array([e.press for e in ev], dtype=np.int32),
    )


def _pointer_arrays(ev: list[PointerEvent]) -> PointerArrays:
    return PointerArrays(
        t=np.array([e.t for e in ev], dtype=np.float64),
        x=np.array([e.x for e in ev], dtype=np.float64),
        y=np.array([e.y for e in ev], dtype=np.float64),
        type=np.array([POINTER_TYPES.index(e.type) for e in ev], dtype=np.int8),
        button=np.array([POINTER_BUTTONS.index(e.button) for e in ev], dtype=np.int8),
        delta_y=np.array([e.delta_y for e in ev], dtype=np.float64),
    )


def _touch_arrays(ev: list[TouchEvent]) -> TouchArrays:
    return TouchArrays(
        t=np.array([e.t for e in ev], dtype=np.float64),
        x=np.array([e.x for e in ev], dtype=np.float64),
        y=np.array([e.y for e in ev], dtype=np.float64),
        pressure=np.array([e.pressure for e in ev], dtype=np.float64),
        area=np.array([e.area for e in ev], dtype=np.float64),
        type=np.array([TOUCH_TYPES.index(e.type) for e in ev], dtype=np.int8),
        pointer_id=np.array([e.pointer_id for e in ev], dtype=np.int16),
    )


def _read_only(arrays):
    """The columnar arrays with every array marked read-only (they are shared)."""
    for a in vars(arrays).values():
        if isinstance(a, np.ndarray):
            a.flags.writeable = False
    return arrays


class Session(BaseModel):
    """One login session: whatever modalities the page captured, plus device metadata."""

    model_config = _CONTRACT

    schema_version: int = Field(description=f"session contract version; supported: {list(SUPPORTED_SCHEMA_VERSIONS)}")
    session_id: str | None = Field(
        default=None, min_length=36, max_length=36,
        description="random UUID naming this session (the collector makes one); a retried request "
                    "with the same id and body gets the first answer")
    keystrokes: list[KeyEvent] = Field(
        default_factory=list, description=f"key downs and ups in time order (at most {MAX_EVENTS_PER_MODALITY})")
    pointer: list[PointerEvent] = Field(
        default_factory=list, description=f"mouse or pen events in time order (at most {MAX_EVENTS_PER_MODALITY})")
    touch: list[TouchEvent] = Field(
        default_factory=list, description=f"touch events in time order (at most {MAX_EVENTS_PER_MODALITY})")
    signals: SessionSignals = Field(default_factory=SessionSignals,
                                    description="input that did not come from keystrokes (counts only)")
    meta: SessionMeta = Field(default_factory=SessionMeta, description="the device, without identifiers")

    @model_validator(mode="wrap")
    @classmethod
    def _columnar(cls, data, handler):
        # Events read straight into the columnar arrays, without a model per event (either form:
        # biometrics.columnar); anything not certainly valid is validated here, event by event.
        from biometrics.columnar import reads_fast, session_from_columns

        return session_from_columns(data, handler) if reads_fast(data) else handler(data)

    @field_serializer("keystrokes", "pointer", "touch", mode="wrap")
    def _events_out(self, events, handler):
        # A columnar session's events are a sequence made on demand: serialized as the list it is.
        return handler(events if isinstance(events, list) else list(events))

    @model_validator(mode="before")
    @classmethod
    def _version(cls, data):
        # Checked first, so a body of another version gets one clear message, not a field list.
        if isinstance(data, dict):
            v = data.get("schema_version")
            if v is None:
                raise ValueError(f"schema_version is required; supported: {list(SUPPORTED_SCHEMA_VERSIONS)}")
            if isinstance(v, bool) or v not in SUPPORTED_SCHEMA_VERSIONS:
                raise ValueError(f"schema_version {v!r} is not supported; supported: "
                                 f"{list(SUPPORTED_SCHEMA_VERSIONS)}")
        return data

    @field_validator("session_id")
    @classmethod
    def _uuid(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                uuid.UUID(v)
            except ValueError:
                raise ValueError("session_id must be a UUID such as crypto.randomUUID() makes") from None
        return v

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
        self._check_events()
        return self

    def _check_events(self) -> None:
        """The checks of every event at once, over the columnar arrays: finite, in range, in time
        order, presses paired (the columnar form runs the same, :mod:`biometrics.columnar`)."""
        keys, pointer, touch = self.keystroke_arrays(), self.pointer_arrays(), self.touch_arrays()
        _check_values("keystrokes", keys.t, {})
        _check_values("pointer", pointer.t, {"x": pointer.x, "y": pointer.y, "delta_y": pointer.delta_y})
        _check_values("touch", touch.t, {"x": touch.x, "y": touch.y, "pressure": touch.pressure,
                                         "area": touch.area})
        _check_stream(self.keystrokes, "keystrokes", keys.t)
        _check_presses(keys)
        _check_stream(self.pointer, "pointer", pointer.t)
        _check_stream(self.touch, "touch", touch.t)

    def modalities(self) -> list[str]:
        """Names of the modalities that hold any events."""
        return [m for m in ("keystrokes", "pointer", "touch") if getattr(self, m)]

    def digest(self) -> str:
        """SHA-256 (hex) of everything the session holds but its ``session_id``: its version, every
        event (through the columnar arrays, so the event and columnar forms of one session agree),
        signals and meta. What an idempotency fingerprint hashes instead of the events' JSON."""
        h = hashlib.sha256(b"biometrics session digest v1\x00%d\x00" % self.schema_version)
        for arrays in (self.keystroke_arrays(), self.pointer_arrays(), self.touch_arrays()):
            for f in fields(arrays):
                a = getattr(arrays, f.name)
                if a is not None:
                    a = np.ascontiguousarray(a)
                    h.update(f"{f.name}:{a.dtype.str}:{a.size}\x00".encode())
                    h.update(a.tobytes())
        h.update(self.signals.model_dump_json().encode() + self.meta.model_dump_json().encode())
        return h.hexdigest()

    # The columnar arrays are built once per session and handed out read-only, so validation,
    # features, guards and signatures share one pass. Each is cached with the event list it
    # was built from: a copy with other events (``model_copy(update=...)``) builds its own.
    def keystroke_arrays(self) -> KeystrokeArrays:
        """The key events as columnar arrays (read-only, built once)."""
        return self._cached("keystrokes", _keystroke_arrays)

    def pointer_arrays(self) -> PointerArrays:
        """The pointer events as columnar arrays (read-only, built once)."""
        return self._cached("pointer", _pointer_arrays)

    def touch_arrays(self) -> TouchArrays:
        """The touch events as columnar arrays (read-only, built once)."""
        return self._cached("touch", _touch_arrays)

    def derived(self, name: str, modality: str, build):
        """``build(arrays)`` of one modality's columnar arrays (``keystrokes``, ``pointer`` or
        ``touch``), built once per session like the arrays, for a view two consumers share
        (the pointer scorer's actions and the pointer bot guard's): the result is shared, so
        its arrays must be treated as read-only."""
        arrays = getattr(self, f"{modality}_arrays")()
        return self._cached(modality, lambda _: build(arrays), f"_derived_{name}", read_only=False)

    def _cached(self, name: str, build, key: str | None = None, read_only: bool = True):
        events = getattr(self, name)
        key = key or f"_arrays_{name}"
        held = self.__dict__.get(key)
        if held is None or held.events is not events:
            built = build(events)
            held = _ArrayCache(events, _read_only(built) if read_only else built)
            self.__dict__[key] = held  # not a field: the frozen model's fields never change
        return held.arrays

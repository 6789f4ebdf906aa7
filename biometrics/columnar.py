"""The session contract's columnar form: one array per field and modality, read straight into numpy.

A collector may send a modality as an object of columns instead of a list of events::

    "keystrokes": {"t": [0, 84, 130], "type": ["down", "up", "down"], "press": [0, 0, 1],
                   "key_class": [0, 0, 7]},
    "pointer": {"t": [3, 95], "type": ["move", "down"], "x": [410, 412], "y": [220, 221],
                "button": ["none", "left"]}

Each column is the list of one event field, in event order; every column of a modality has one
value per event; a column of a field with a default (``button``, ``delta_y``, ``pressure``,
``area``, ``pointer_id``) may be left out. It is the same session, held to the same rules:
:func:`session_from_columns` checks the columns' structure (unknown, missing or non-list columns,
lengths, the event limit) with messages that name the column (``keystrokes.t``), checks every
value's type and range with vectorized tests, and builds the session's columnar arrays without a
pydantic object per event. Anything those tests do not accept is validated again as the list of
events it stands for, so a bad value gets exactly the event form's message
(``keystrokes[3].t: must be a number ...``), and nothing the event form refuses gets through.
The session-level checks (finite, ordered, paired presses) are the event form's own functions.
The events themselves are made only if something iterates them (:class:`EventColumns`).
"""

from __future__ import annotations

import enum
import typing
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import annotated_types
import numpy as np
from pydantic import BaseModel, TypeAdapter
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from biometrics.events import (
    MAX_EVENTS_PER_MODALITY,
    POINTER_BUTTONS,
    POINTER_TYPES,
    TOUCH_TYPES,
    KeyEvent,
    KeystrokeArrays,
    PointerArrays,
    PointerEvent,
    Session,
    TouchArrays,
    TouchEvent,
    _ArrayCache,
    _read_only,
)

EVENT_MODELS: dict[str, type[BaseModel]] = {"keystrokes": KeyEvent, "pointer": PointerEvent, "touch": TouchEvent}


class _Column:
    """How one event field is checked and converted as a column (read from the event model)."""

    def __init__(self, model: type[BaseModel], name: str) -> None:
        info = model.model_fields[name]
        ann = info.annotation
        self.name, self.required, self.default = name, info.is_required(), info.default
        self.choices: tuple | None = None
        if typing.get_origin(ann) is typing.Literal:
            self.kind, self.choices = "str", typing.get_args(ann)
        elif isinstance(ann, type) and issubclass(ann, enum.IntEnum):
            self.kind, self.choices = "int", tuple(int(v) for v in ann)
        else:
            self.kind = {float: "float", int: "int"}[ann]
        self.bounds = [(op, getattr(m, attr)) for m in info.metadata
                       for attr, op in (("ge", np.greater_equal), ("gt", np.greater),
                                        ("le", np.less_equal), ("lt", np.less))
                       if isinstance(m, getattr(annotated_types, attr.capitalize()))]
        if self.kind == "int" and self.choices is not None and self.choices == tuple(range(len(self.choices))):
            # An enum of 0..n-1 (key_class): two comparisons instead of a set lookup per value.
            self.bounds += [(np.greater_equal, 0), (np.less, len(self.choices))]
            self.choices = None
        self.code = {v: i for i, v in enumerate(self.choices)} if self.kind == "str" else {}

    def values(self, col: list) -> np.ndarray | None:
        """The column as an array when every value certainly passes the event model; else None.
        A string field's values come as int8 codes: their index among the field's choices."""
        try:
            if self.kind == "str":  # a value that is not a choice (or not hashable) raises
                return np.fromiter(map(self.code.__getitem__, col), np.int8, len(col))
            types = set(map(type, col))
            if self.kind == "int":
                a = np.array(col, dtype=np.int64) if types <= {int} else None
            else:
                a = np.array(col, dtype=np.float64) if types <= {int, float} else None
                if a is not None and int in types and a.size and np.abs(a).max() >= 2.0 ** 53:
                    return None  # an integer a float cannot hold exactly: the event form decides
        except (KeyError, OverflowError, ValueError, TypeError):
            return None  # not a choice, an integer past 64 bits, or past a float's range
        if a is None or (self.choices is not None and not np.isin(a, self.choices).all()):
            return None
        if not all(op(a, bound).all() for op, bound in self.bounds):
            return None  # a value out of the field's range (or NaN there)
        return a


_LISTS = {m: TypeAdapter(list[model]) for m, model in EVENT_MODELS.items()}
COLUMNS: dict[str, dict[str, _Column]] = {
    modality: {name: _Column(model, name) for name in model.model_fields}
    for modality, model in EVENT_MODELS.items()}
# String codes are indices among a field's choices: the same codes as the event form's arrays.
assert COLUMNS["keystrokes"]["type"].choices == ("down", "up")
assert (COLUMNS["pointer"]["type"].choices, COLUMNS["pointer"]["button"].choices) == (POINTER_TYPES, POINTER_BUTTONS)
assert COLUMNS["touch"]["type"].choices == TOUCH_TYPES and POINTER_BUTTONS[0] == "none"


_KNOWN = {m: frozenset(cols) for m, cols in COLUMNS.items()}
_REQUIRED = {m: frozenset(name for name, c in cols.items() if c.required) for m, cols in COLUMNS.items()}


class EventColumns(Sequence):
    """A modality's events as they arrived (columns, or event objects as JSON): ``len`` and
    truthiness at once; the event models are made (once) only when something indexes or
    iterates them."""

    __slots__ = ("_events", "_modality", "_n", "_raw")

    def __init__(self, modality: str, raw: dict[str, list] | list[dict], n: int) -> None:
        self._modality, self._raw, self._n, self._events = modality, raw, n, None

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        return self._list()[i]

    def __iter__(self) -> Iterator[BaseModel]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None

    def __repr__(self) -> str:
        return repr(self._list())

    def _list(self) -> list[BaseModel]:
        if self._events is None:
            # Validated (already known valid): the events exactly as the event form would hold them.
            rows = self._raw if isinstance(self._raw, list) else _rows(self._raw)
            self._events = _LISTS[self._modality].validate_python(rows)
        return self._events


def _rows(columns: dict[str, list]) -> list[dict[str, Any]]:
    """The columns as one dict per event (the event form of the same values)."""
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def reads_fast(data: Any) -> bool:
    """Whether raw session data holds events this module reads: a modality as an object of
    columns, or as a non-empty list (of event objects, as JSON gives them)."""
    return isinstance(data, dict) and any(isinstance(v := data.get(m), dict) or (type(v) is list and v)
                                          for m in EVENT_MODELS)


def session_from_columns(data: dict[str, Any], validate: Callable[[Any], Session]) -> Session:
    """The session of raw data whose modalities are objects of columns or lists of event objects.

    A list of events is read as the columns it stands for, when every event is a JSON object of
    known fields with every required one (else the event form's validation takes the session).
    ``validate`` is that validation (pydantic's handler of :class:`Session`): it validates the
    rest of the session, and, when a value is not certainly valid, the whole session as events,
    for the event form's exact messages.
    """
    columnar = {m: data[m] for m in EVENT_MODELS if isinstance(data.get(m), dict)}
    lengths = {m: _structure(m, cols) for m, cols in columnar.items()}
    raw: dict[str, list | dict] = {m: dict(cols) for m, cols in columnar.items()}
    for m in EVENT_MODELS:
        if type(events := data.get(m)) is list and events:
            cols = _columns_of_events(m, events)
            if cols is None:  # not plain event objects, or too many: the event form says what is wrong
                return validate(_as_events(data, {m: c for m, c in columnar.items()}))
            columnar[m], lengths[m], raw[m] = cols, len(events), events
    arrays = {}
    for m, cols in columnar.items():
        arrays[m] = _arrays(m, cols, lengths[m])
        if arrays[m] is None:  # a doubtful value: the event form says what is wrong, or accepts it
            return validate(_as_events(data, {m: c for m, c in columnar.items() if isinstance(raw[m], dict)}))
    head = validate({**data, **{m: [] for m in columnar}})  # the other fields, as the event form checks them
    events = {m: EventColumns(m, raw[m], lengths[m]) for m in columnar}
    session = head.model_copy(update=events)
    for m, arr in arrays.items():
        session.__dict__[f"_arrays_{m}"] = _ArrayCache(events[m], _read_only(arr))
    session._check_events()  # the event form's own checks, over these arrays
    return session


def _columns_of_events(modality: str, events: list) -> dict[str, list] | None:
    """The columns of a list of event objects (a field an event leaves out: its default), or None
    when some event is not a JSON object of known fields with every required one, or the list
    is over the event limit."""
    if len(events) > MAX_EVENTS_PER_MODALITY:
        return None
    known, required = _KNOWN[modality], _REQUIRED[modality]
    for e in events:
        if type(e) is not dict or not required <= e.keys() <= known:
            return None
    return {name: [e[name] for e in events] if c.required else [e.get(name, c.default) for e in events]
            for name, c in COLUMNS[modality].items()}


def _structure(modality: str, cols: dict[str, Any]) -> int:
    """The number of events of a columnar modality; a ValidationError naming each bad column."""
    spec, errors = COLUMNS[modality], []
    for name, col in cols.items():
        if name not in spec:
            errors.append(_error("extra_forbidden", (modality, name), col))
        elif not isinstance(col, list):
            errors.append(_error("list_type", (modality, name), col))
    errors += [_error("missing", (modality, name), cols) for name, c in spec.items()
               if c.required and name not in cols]
    if errors:
        raise ValidationError.from_exception_data("Session", errors)
    n = len(cols.get("t", []))
    if n > MAX_EVENTS_PER_MODALITY:
        raise _invalid((modality,), f"{modality} has {n} events; at most {MAX_EVENTS_PER_MODALITY} "
                                    "are accepted per session")
    for name, col in cols.items():
        if len(col) != n:
            raise _invalid((modality, name), f"has {len(col)} values where {modality}.t has {n}: every "
                                             "column of a modality holds one value per event")
    return n


def _arrays(modality: str, cols: dict[str, list], n: int):
    """The modality's columnar arrays, or None when some value is not certainly valid."""
    got = {}
    for name, column in COLUMNS[modality].items():
        if name in cols:
            got[name] = column.values(cols[name])
            if got[name] is None:
                return None
    return _BUILD[modality](got, n)


def _float(got: dict, name: str, n: int) -> np.ndarray:
    return got[name] if name in got else np.zeros(n, np.float64)


def _keystrokes(got: dict, n: int) -> KeystrokeArrays:
    return KeystrokeArrays(t=got["t"], is_down=got["type"] == 0, key_class=got["key_class"].astype(np.int8),
                           key_bucket=np.zeros(n, np.int32), press=got["press"].astype(np.int32))


def _pointer(got: dict, n: int) -> PointerArrays:
    button = got["button"] if "button" in got else np.zeros(n, np.int8)  # code 0: none
    return PointerArrays(t=got["t"], x=got["x"], y=got["y"], type=got["type"], button=button,
                         delta_y=_float(got, "delta_y", n))


def _touch(got: dict, n: int) -> TouchArrays:
    pid = got["pointer_id"].astype(np.int16) if "pointer_id" in got else np.zeros(n, np.int16)
    return TouchArrays(t=got["t"], x=got["x"], y=got["y"], pressure=_float(got, "pressure", n),
                       area=_float(got, "area", n), type=got["type"], pointer_id=pid)


_BUILD = {"keystrokes": _keystrokes, "pointer": _pointer, "touch": _touch}


def _as_events(data: dict, columnar: dict[str, dict]) -> dict:
    """The raw session with its columnar modalities as lists of events."""
    return {**data, **{m: _rows(cols) for m, cols in columnar.items()}}


def session_columns(session: Session) -> dict[str, Any]:
    """A session as the columnar form's JSON (every column, defaults included): how a client,
    a test or a benchmark sends a session in columns."""
    out = session.model_dump(mode="json", exclude={"keystrokes", "pointer", "touch"}, exclude_none=True)
    for m, model in EVENT_MODELS.items():
        events = getattr(session, m)
        if events:
            dumped = [e.model_dump(mode="json") for e in events]
            out[m] = {name: [e[name] for e in dumped] for name in model.model_fields}
    return out


def _error(kind: str, loc: tuple, value: Any) -> InitErrorDetails:
    return {"type": kind, "loc": loc, "input": value}


def _invalid(loc: tuple, message: str) -> ValidationError:
    return ValidationError.from_exception_data(
        "Session", [{"type": PydanticCustomError("value_error", message), "loc": loc, "input": None}])

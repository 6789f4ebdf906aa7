"""Sessions read straight into their arrays (biometrics.columnar), from the columnar form or from
event lists: the same session as pydantic's validation of the events makes, refused with the
same messages, built without an object per event. The oracle is that validation itself (the
fast reading switched off)."""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pytest
from pydantic import ValidationError

from biometrics.columnar import EventColumns, session_columns
from biometrics.events import MAX_EVENTS_PER_MODALITY, Session
from biometrics.synthetic import generate_dataset

V2 = {"schema_version": 2}


def _k(t, type="down", press=0, key_class=0, **kw):
    return {"t": t, "type": type, "press": press, "key_class": key_class, **kw}


def _columns(events: list[dict]) -> dict[str, list]:
    return {name: [e[name] for e in events] for name in events[0]}


def _errors(data) -> list[tuple]:
    with pytest.raises(ValidationError) as err:
        Session.model_validate(data)
    return [(e["loc"], e["msg"]) for e in err.value.errors()]


@pytest.fixture
def event_by_event(monkeypatch):
    """Validate with pydantic's models event by event only (the fast reading off): the oracle."""
    import biometrics.columnar

    def run(fn, *args):
        with monkeypatch.context() as m:
            m.setattr(biometrics.columnar, "reads_fast", lambda data: False)
            return fn(*args)

    return run


@pytest.fixture(scope="module")
def sessions() -> list[Session]:
    recs = generate_dataset(n_users=2, sessions_per_user=3, n_impostor=0, n_bot=0, n_replay=0, seed=3,
                            n_enroll=1, mobile_fraction=0.5)
    return [r.session for r in recs]


def test_event_lists_read_fast_are_the_sessions_pydantic_makes(sessions, event_by_event):
    for s in sessions:
        data = json.loads(json.dumps(s.model_dump(mode="json", exclude_defaults=True)))
        slow = event_by_event(Session.model_validate, data)
        fast = Session.model_validate(data)
        assert isinstance(fast.keystrokes, EventColumns) or not fast.keystrokes
        assert type(slow.keystrokes) is list
        assert fast == slow and fast.digest() == slow.digest()
        assert fast.model_dump(mode="json") == slow.model_dump(mode="json")


def test_the_columnar_form_is_the_same_session(sessions):
    for s in sessions:
        c = Session.model_validate(json.loads(json.dumps(session_columns(s))))
        for a, b in ((c.keystroke_arrays(), s.keystroke_arrays()), (c.pointer_arrays(), s.pointer_arrays()),
                     (c.touch_arrays(), s.touch_arrays())):
            for f in fields(a):
                x, y = getattr(a, f.name), getattr(b, f.name)
                assert x.dtype == y.dtype and np.array_equal(x, y), f.name
                assert not x.flags.writeable
        assert c.digest() == s.digest() and c == s
        assert c.model_dump(mode="json") == s.model_dump(mode="json")
        assert c.modalities() == s.modalities()


@pytest.mark.parametrize("form", ["columns", "event lists"])
def test_it_is_read_into_arrays_without_an_object_per_event(sessions, form):
    s = next(x for x in sessions if x.pointer)
    data = session_columns(s) if form == "columns" else s.model_dump(mode="json")
    c = Session.model_validate(data)
    assert isinstance(c.pointer, EventColumns) and len(c.pointer) == len(s.pointer) and c.pointer
    c.pointer_arrays(), c.keystroke_arrays()
    assert c.pointer._events is None  # nothing has made the events
    assert list(c.pointer) == list(s.pointer) and c.pointer[0] == s.pointer[0]  # made when asked for
    assert c.pointer[1:3] == s.pointer[1:3]


def test_event_models_take_the_event_by_event_path(sessions):
    s = next(x for x in sessions if x.keystrokes)
    again = Session(schema_version=2, keystrokes=list(s.keystrokes))  # models, not JSON objects
    assert type(again.keystrokes) is list
    assert again.keystroke_arrays().t.tolist() == s.keystroke_arrays().t.tolist()


def test_optional_columns_take_the_event_defaults():
    c = Session.model_validate({**V2, "pointer": {"t": [0, 5], "type": ["move", "wheel"], "x": [1, 2],
                                                  "y": [3, 4]},
                                "touch": {"t": [0], "type": ["start"], "x": [1.5], "y": [2]}})
    e = Session.model_validate({**V2, "pointer": [{"t": 0, "type": "move", "x": 1, "y": 3},
                                                  {"t": 5, "type": "wheel", "x": 2, "y": 4}],
                                "touch": [{"t": 0, "type": "start", "x": 1.5, "y": 2}]})
    assert c.digest() == e.digest() and c == e


BAD = {  # modality -> events with one bad value: the columnar form must say what the event form says
    "string time": ("keystrokes", [_k(0), _k("5", "up")]),
    "boolean time": ("keystrokes", [_k(0), _k(True, "up")]),
    "huge integer time": ("keystrokes", [_k(0), _k(10 ** 400, "up")]),
    "integer time past a float's precision": ("keystrokes", [_k(0), _k(2 ** 60, "up")]),
    "NaN time": ("keystrokes", [_k(0), _k(float("nan"), "up")]),
    "negative time": ("keystrokes", [_k(0), _k(-1, "up")]),
    "over an hour": ("keystrokes", [_k(0), _k(3_600_001, "up")]),
    "unordered": ("keystrokes", [_k(5), _k(1, "up")]),
    "fractional press": ("keystrokes", [_k(0), _k(1, "up", press=1.0)]),
    "negative press": ("keystrokes", [_k(0), _k(1, "up", press=-1)]),
    "press past the limit": ("keystrokes", [_k(0), _k(1, "up", press=10 ** 30)]),
    "key class 9": ("keystrokes", [_k(0), _k(1, "up", key_class=9)]),
    "key class string": ("keystrokes", [_k(0), _k(1, "up", key_class="1")]),
    "key class boolean": ("keystrokes", [_k(0), _k(1, "up", key_class=True)]),
    "unknown type": ("keystrokes", [_k(0), _k(1, "sideways")]),
    "type a number": ("keystrokes", [_k(0), _k(1, 3)]),
    "type unhashable": ("keystrokes", [_k(0), _k(1, ["up"])]),
    "two downs of a press": ("keystrokes", [_k(0), _k(1)]),
    "up before down": ("keystrokes", [_k(0, "up"), _k(1, "down")]),
    "coordinate a string": ("pointer", [{"t": 0, "type": "move", "x": "1", "y": 2}]),
    "coordinate too far": ("pointer", [{"t": 0, "type": "move", "x": 1e9, "y": 2}]),
    "infinite wheel": ("pointer", [{"t": 0, "type": "wheel", "x": 1, "y": 2, "button": "none",
                                    "delta_y": float("inf")}]),
    "unknown button": ("pointer", [{"t": 0, "type": "down", "x": 1, "y": 2, "button": "thumb"}]),
    "pressure over 10": ("touch", [{"t": 0, "type": "start", "x": 1, "y": 2, "pressure": 11}]),
    "NaN pressure": ("touch", [{"t": 0, "type": "start", "x": 1, "y": 2, "pressure": float("nan")}]),
    "finger 64": ("touch", [{"t": 0, "type": "start", "x": 1, "y": 2, "pointer_id": 64}]),
    "negative area": ("touch", [{"t": 0, "type": "start", "x": 1, "y": 2, "area": -1}]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_value_gets_the_event_forms_message(case, event_by_event):
    modality, events = BAD[case]
    expected = event_by_event(_errors, {**V2, modality: events})
    assert _errors({**V2, modality: events}) == expected  # read fast, as event lists
    assert _errors({**V2, modality: _columns(events)}) == expected


@pytest.mark.parametrize("events", [
    [_k(0), _k(1, "up", char="a")], [_k(0), {"t": 1, "type": "up", "press": 0}], [_k(0), 5], [_k(0), [1, 2]]],
    ids=["unknown field", "missing field", "not an object", "a list"])
def test_a_bad_event_object_gets_the_event_forms_message(events, event_by_event):
    assert _errors({**V2, "keystrokes": events}) == event_by_event(_errors, {**V2, "keystrokes": events})


def test_bad_columns_are_named():
    good = _columns([_k(0), _k(1, "up")])
    assert _errors({**V2, "keystrokes": {k: v for k, v in good.items() if k != "key_class"}}) == [
        (("keystrokes", "key_class"), "Field required")]
    assert _errors({**V2, "keystrokes": {**good, "char": ["a", "b"]}})[0][0] == ("keystrokes", "char")
    assert _errors({**V2, "keystrokes": {**good, "press": 0}}) == [
        (("keystrokes", "press"), "Input should be a valid list")]
    loc, msg = _errors({**V2, "keystrokes": {**good, "press": [0]}})[0]
    assert loc == ("keystrokes", "press") and "has 1 values where keystrokes.t has 2" in msg
    n = MAX_EVENTS_PER_MODALITY + 1
    many = {"t": list(range(n)), "type": ["down"] * n, "press": list(range(n)), "key_class": [0] * n}
    assert _errors({**V2, "keystrokes": many}) == [
        (("keystrokes",), f"keystrokes has {n} events; at most {MAX_EVENTS_PER_MODALITY} are accepted per session")]


def test_the_rest_of_a_columnar_session_is_checked_as_always():
    good = _columns([_k(0), _k(1, "up")])
    assert _errors({"schema_version": 3, "keystrokes": good}) == _errors({"schema_version": 3, "keystrokes": []})
    assert _errors({**V2, "keystrokes": good, "meta": {"device_type": "fridge"}})[0][0] == ("meta", "device_type")
    assert _errors({**V2, "keystrokes": good, "chars": "x"})[0][0] == ("chars",)
    # A modality still in the event form is validated as such, beside a columnar one.
    mixed = {**V2, "keystrokes": good, "pointer": [{"t": 0, "type": "move", "x": 1, "y": "2"}]}
    assert _errors(mixed) == [(("pointer", 0, "y"), "Input should be a valid number")]


def test_the_digest_names_every_value_but_the_session_id(sessions):
    s = next(x for x in sessions if x.keystrokes)
    data = session_columns(s)
    assert Session.model_validate({**data, "session_id": "0b1c5a52-7d8e-4f7a-9a51-3c2d1e0f9a8b"}).digest() == s.digest()
    data["keystrokes"]["t"][-1] += 0.001
    assert Session.model_validate(data).digest() != s.digest()

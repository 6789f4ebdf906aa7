"""Event schema: valid sessions pass, each class of bad input fails with a message naming it."""

import json

import numpy as np
import pytest
from pydantic import ValidationError

from biometrics.events import (
    MAX_EVENTS_PER_MODALITY,
    SUPPORTED_SCHEMA_VERSIONS,
    KeyClass,
    Session,
    key_class_of_code,
)

V2 = {"schema_version": 2}


def keys(*times_types):
    return [{"t": t, "type": ty, "key_class": 0, "press": i // 2} for i, (t, ty) in enumerate(times_types)]


def test_valid_session_round_trips_to_arrays():
    s = Session.model_validate({
        **V2,
        "session_id": "0b1c5a52-7d8e-4f7a-9a51-3c2d1e0f9a8b",
        "signals": {"paste": 1, "autofill": 0},
        "keystrokes": keys((0, "down"), (80, "up"), (80, "down"), (150, "up")),
        "pointer": [{"t": 0, "type": "move", "x": 1, "y": 2}, {"t": 5, "type": "down", "x": 1, "y": 2,
                                                               "button": "left"}],
        "touch": [{"t": 3, "type": "start", "x": 10, "y": 20, "pressure": 0.4, "area": 0.1}],
        "meta": {"device_type": "desktop", "screen_width": 1920, "screen_height": 1080},
    })
    k = s.keystroke_arrays()
    np.testing.assert_array_equal(k.t, [0, 80, 80, 150])
    np.testing.assert_array_equal(k.is_down, [True, False, True, False])
    p = s.pointer_arrays()
    np.testing.assert_array_equal(p.type, [0, 1])
    np.testing.assert_array_equal(p.button, [0, 1])
    assert s.touch_arrays().pressure[0] == pytest.approx(0.4)
    assert s.modalities() == ["keystrokes", "pointer", "touch"]
    np.testing.assert_array_equal(k.key_bucket, 0)  # the contract carries no finer key identity
    assert s.signals.paste == 1


def error_text(payload) -> str:
    if not isinstance(payload, str):
        payload = json.dumps({**V2, **payload})
    with pytest.raises(ValidationError) as err:
        Session.model_validate_json(payload)
    return str(err.value)


@pytest.mark.parametrize("body, expect", [
    ({}, "schema_version is required"),
    ({"schema_version": 1, "keystrokes": []}, "schema_version 1 is not supported"),
    ({"schema_version": 3}, "schema_version 3 is not supported"),
    ({"schema_version": "2"}, "not supported"),
    ({"schema_version": True}, "not supported"),
])
def test_schema_version_is_required_and_names_the_supported_ones(body, expect):
    with pytest.raises(ValidationError) as err:
        Session.model_validate_json(json.dumps(body))
    assert expect in str(err.value) and str(list(SUPPORTED_SCHEMA_VERSIONS)) in str(err.value)


def test_presses_pair_one_down_with_one_up():
    dup = [{"t": 0, "type": "down", "key_class": 0, "press": 0}, {"t": 5, "type": "down", "key_class": 0, "press": 0}]
    assert "press 0 has more than one down" in error_text({"keystrokes": dup})
    early = [{"t": 0, "type": "up", "key_class": 0, "press": 3}, {"t": 0, "type": "down", "key_class": 0, "press": 3}]
    assert "the up of press 3 comes before its down" in error_text({"keystrokes": early})
    assert "press" in error_text({"keystrokes": [{"t": 0, "type": "down", "key_class": 0}]})  # required


def test_press_ids_pair_rollover_of_one_class_exactly():
    # d_a d_b u_a d_c u_b u_c, all letters: pairing by class alone would lose a press.
    ev = [(0, "down", 0), (40, "down", 1), (60, "up", 0), (90, "down", 2), (110, "up", 1), (150, "up", 2)]
    s = Session.model_validate({**V2, "keystrokes": [{"t": t, "type": ty, "key_class": 0, "press": p}
                                                     for t, ty, p in ev]})
    from biometrics.features import keystroke_presses
    p = keystroke_presses(s.keystroke_arrays())
    np.testing.assert_array_equal(p.hold, [60, 70, 60])


def test_session_id_must_be_a_uuid():
    assert "UUID" in error_text({"session_id": "not-a-uuid-but-36-characters-long-xx"})
    assert "at least 36" in error_text({"session_id": "abc"})


def test_nan_timestamp_is_named():
    assert "finite" in error_text('{"schema_version": 2, "keystrokes": [{"t": NaN, "type": "down", "press": 0, "key_class": 0}]}')


def test_infinite_coordinate_is_named():
    msg = error_text('{"schema_version": 2, "pointer": [{"t": 1, "type": "move", "x": Infinity, "y": 0}]}')
    assert "x must be a finite number" in msg


def test_negative_timestamp_is_named():
    assert "must be >= 0" in error_text({"keystrokes": keys((-5, "down"))})


def test_reversed_timestamps_are_named():
    msg = error_text({"keystrokes": keys((100, "down"), (50, "up"))})
    assert "non-decreasing time order" in msg and "event 1" in msg


def test_too_many_events_is_refused_before_parsing_each():
    payload = {"pointer": [{"t": 0, "type": "move", "x": 0, "y": 0}] * (MAX_EVENTS_PER_MODALITY + 1)}
    assert f"at most {MAX_EVENTS_PER_MODALITY}" in error_text(payload)


def test_million_events_are_refused():
    payload = {**V2, "keystrokes": [{"t": 0, "type": "down", "key_class": 0}] * 1_000_000}
    with pytest.raises(ValidationError, match="at most"):
        Session.model_validate(payload)


def test_overlong_session_is_named():
    assert "exceeds the session limit" in error_text({"keystrokes": keys((0, "down"), (4e6, "up"))})


def test_unknown_field_is_refused():
    # A collector that leaks the typed character, or a v1 key bucket, must fail loudly, not be stored.
    msg = error_text({"keystrokes": [{"t": 0, "type": "down", "key_class": 0, "key": "a"}]})
    assert "keystrokes.0.key" in msg and "Extra inputs are not permitted" in msg
    assert "key_bucket" in error_text({"keystrokes": [{"t": 0, "type": "down", "key_class": 0, "key_bucket": 1}]})
    assert "Extra inputs" in error_text({"keystrokes": [], "user_agent": "x"})


def test_unknown_event_type_is_refused():
    assert "type" in error_text({"keystrokes": [{"t": 0, "type": "press", "key_class": 0}]})
    assert "key_class" in error_text({"keystrokes": [{"t": 0, "type": "down", "key_class": 8}]})


def test_key_code_mapping_classes():
    assert key_class_of_code("KeyA") == KeyClass.LETTER
    assert key_class_of_code("Digit7") == KeyClass.DIGIT
    assert key_class_of_code("Numpad3") == KeyClass.DIGIT
    assert key_class_of_code("Space") == KeyClass.SEPARATOR
    assert key_class_of_code("Period") == KeyClass.SEPARATOR
    assert key_class_of_code("Backspace") == KeyClass.BACKSPACE
    assert key_class_of_code("ShiftLeft") == KeyClass.SHIFT
    assert key_class_of_code("Enter") == KeyClass.ENTER
    assert key_class_of_code("ArrowLeft") == KeyClass.OTHER
    assert key_class_of_code("SomeFutureKey") == KeyClass.OTHER
    assert key_class_of_code("KeyA", sensitive=True) == KeyClass.MASKED
    assert key_class_of_code("Enter", sensitive=True) == KeyClass.MASKED

"""Event schema: valid sessions pass, each class of bad input fails with a message naming it."""

import json

import numpy as np
import pytest
from pydantic import ValidationError

from biometrics.events import (
    MAX_EVENTS_PER_MODALITY,
    KeyClass,
    Session,
    hash_key,
    key_class_of_code,
)


def keys(*times_types):
    return [{"t": t, "type": ty, "key_class": 0, "key_bucket": 1} for t, ty in times_types]


def test_valid_session_round_trips_to_arrays():
    s = Session.model_validate({
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


def error_text(payload) -> str:
    with pytest.raises(ValidationError) as err:
        Session.model_validate_json(payload if isinstance(payload, str) else json.dumps(payload))
    return str(err.value)


def test_nan_timestamp_is_named():
    assert "finite" in error_text('{"keystrokes": [{"t": NaN, "type": "down", "key_class": 0, "key_bucket": 1}]}')


def test_infinite_coordinate_is_named():
    msg = error_text('{"pointer": [{"t": 1, "type": "move", "x": Infinity, "y": 0}]}')
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
    payload = {"keystrokes": [{"t": 0, "type": "down", "key_class": 0, "key_bucket": 0}] * 1_000_000}
    with pytest.raises(ValidationError, match="at most"):
        Session.model_validate(payload)


def test_overlong_session_is_named():
    assert "exceeds the session limit" in error_text({"keystrokes": keys((0, "down"), (4e6, "up"))})


def test_unknown_field_is_refused():
    # A collector that leaks the typed character must fail loudly, not be stored.
    msg = error_text({"keystrokes": [{"t": 0, "type": "down", "key_class": 0, "key_bucket": 1, "key": "a"}]})
    assert "key" in msg and "Extra inputs are not permitted" in msg
    assert "Extra inputs" in error_text({"keystrokes": [], "user_agent": "x"})


def test_unknown_event_type_is_refused():
    assert "type" in error_text({"keystrokes": [{"t": 0, "type": "press", "key_class": 0, "key_bucket": 1}]})


def test_key_code_mapping_classes_and_salted_buckets():
    assert key_class_of_code("KeyA") == KeyClass.LETTER
    assert key_class_of_code("Digit7") == KeyClass.DIGIT
    assert key_class_of_code("Numpad3") == KeyClass.DIGIT
    assert key_class_of_code("Space") == KeyClass.SPACE
    assert key_class_of_code("Backspace") == KeyClass.BACKSPACE
    assert key_class_of_code("ShiftLeft") == KeyClass.SHIFT
    assert key_class_of_code("Enter") == KeyClass.ENTER
    assert key_class_of_code("Period") == KeyClass.PUNCTUATION
    assert key_class_of_code("ArrowLeft") == KeyClass.OTHER
    cls, bucket = hash_key("KeyA", b"tenant-1")
    assert hash_key("KeyA", b"tenant-1") == (cls, bucket)  # deterministic per tenant
    buckets_a = [hash_key(f"Key{c}", b"tenant-1")[1] for c in "ABCDEFGHIJ"]
    buckets_b = [hash_key(f"Key{c}", b"tenant-2")[1] for c in "ABCDEFGHIJ"]
    assert buckets_a != buckets_b  # the salt changes the mapping
    assert all(0 <= b < 64 for b in buckets_a)

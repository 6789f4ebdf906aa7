"""The session contract cannot spell what was typed: the property it guarantees, proven here.

Property (``biometrics.events``): every value a key event can carry stands for at least
``MIN_KEYS_PER_VALUE`` characters on the US, UK, German and French layouts, or for none
(editing, modifier and navigation keys); a sensitive field's keys all carry ``masked``.
So the wire is a function of a text's *shape* (letter / digit / separator pattern) and,
in a sensitive field, of its length only: texts of the same shape give the same session.
"""

import json

import numpy as np
import pytest

from biometrics.data.key_identity import LAYOUTS, characters_per_value, key_identity, typing_codes
from biometrics.events import MIN_KEYS_PER_VALUE, KeyClass, KeyEvent, Session, key_class_of_code
from biometrics.synthetic import DEMO_PASSWORD, genuine_session, make_account, sample_style


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_key_value_stands_for_many_characters(layout):
    per_value = characters_per_value(LAYOUTS[layout])
    assert set(per_value) == {KeyClass.LETTER, KeyClass.DIGIT, KeyClass.SEPARATOR}  # others type nothing
    for value, chars in per_value.items():
        assert len(chars) >= MIN_KEYS_PER_VALUE, (layout, KeyClass(value).name, sorted(chars))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_sensitive_field_shows_one_value_for_every_key(layout):
    per_value = characters_per_value(LAYOUTS[layout], sensitive=True)
    assert list(per_value) == [KeyClass.MASKED]
    every_char = set("".join(LAYOUTS[layout].values()))
    assert per_value[KeyClass.MASKED] == every_char


def test_a_key_event_has_no_field_that_could_name_the_key():
    assert set(KeyEvent.model_fields) == {"t", "type", "press", "key_class"}  # press: a running number
    assert len(KeyClass) == 8


US = typing_codes(LAYOUTS["us"])


def _wire(text: str, sensitive: bool = False) -> list[int]:
    return [int(key_class_of_code(c, sensitive)) for c in map(US.__getitem__, text)]


@pytest.mark.parametrize("a, b", [("alice.smith", "zorro-quick"), ("bob1987", "eve2024"),
                                  ("hello world", "qwert;yuiop")])
def test_texts_of_one_shape_are_indistinguishable(a, b):
    assert _wire(a) == _wire(b)


def test_sensitive_fields_show_only_the_length():
    assert _wire("hunter2", sensitive=True) == _wire("P@ss!w0", sensitive=True) == [KeyClass.MASKED] * 7


def test_contract_v1_buckets_spell_the_text_with_the_public_salt():
    # Why v1 was replaced: with the page's salt, (class, bucket) names most keys uniquely.
    values = {}
    for code in LAYOUTS["us"]:
        values.setdefault(key_identity(code, "buckets", salt=b"any public salt"), []).append(code)
    unique = sum(len(v) == 1 for v in values.values())
    assert unique >= 24, unique  # half or more of the 48 keys are spelled out


def test_generated_sessions_mask_the_password_and_carry_no_key_identity():
    rng = np.random.default_rng(3)
    a = make_account("a", rng, device="desktop", password=DEMO_PASSWORD)
    b = make_account("b", rng, device="desktop",
                     password=("KeyQ", "KeyZ", "KeyX", "Digit9", "KeyM", "ShiftLeft", "KeyP", "KeyW",
                               "KeyV", "KeyB", "KeyC", "Enter"))
    masked = []
    for acc in (a, b):
        s = genuine_session(sample_style(rng), acc, rng)
        cls = [e.key_class for e in s.keystrokes]
        assert cls[-2 * len(acc.password):] == [KeyClass.MASKED] * (2 * len(acc.password))
        masked.append(sum(c == KeyClass.MASKED for c in cls))
        body = json.loads(s.model_dump_json())
        strings = {v for e in body["keystrokes"] for v in e.values() if isinstance(v, str)}
        assert strings <= {"down", "up"}
    assert masked[0] == masked[1]  # two different passwords of one length look the same


def test_a_session_body_validates_only_with_contract_fields():
    body = {"schema_version": 2, "keystrokes": [{"t": 0, "type": "down", "key_class": 0, "char": "a"}]}
    with pytest.raises(ValueError, match="char"):
        Session.model_validate(body)

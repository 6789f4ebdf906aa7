"""The columnar body through the real app: accepted for score and enroll, scored as its event
form, refused with the event form's messages; the fast JSON reading changes no answer."""

from __future__ import annotations

import json
import uuid

import numpy as np
import pytest
from fastapi import HTTPException

from biometrics.columnar import session_columns
from biometrics.events import Session
from serving.body import _strict_parse, parse_json_body


def _sid() -> str:
    return str(uuid.uuid4())


def _post(api, path: str, body: dict):
    return api.client.post(path, headers=api.headers_a, json=body)


def test_a_columnar_session_scores_as_its_event_form(api, sessions):
    for rec in sessions["u001"]["enroll"][:api.min_enroll]:  # enrolled in columns
        r = _post(api, "/v1/users/col-ann/enroll", {"session": session_columns(rec.session)})
        assert r.status_code == 200, r.text
    genuine = sessions["u001"]["genuine"][0].session
    columnar = Session.model_validate(session_columns(genuine))
    a, b = api.service.scorer.observe(genuine), api.service.scorer.observe(columnar)
    assert a.vectors.keys() == b.vectors.keys() and a.n_tokens == b.n_tokens
    for name in a.vectors:
        np.testing.assert_array_equal(a.vectors[name], b.vectors[name])
        np.testing.assert_array_equal(a.signatures[name], b.signatures[name])
    sid = _sid()
    first = _post(api, "/v1/score", {"user_id": "col-ann", "session": api.session_json(genuine) | {"session_id": sid}})
    assert first.status_code == 200, first.text
    # The retry in the other form is the same request (its fingerprint hashes the session's arrays).
    retry = _post(api, "/v1/score", {"user_id": "col-ann", "session": session_columns(genuine) | {"session_id": sid}})
    assert retry.status_code == 200 and retry.json() == first.json()
    other = session_columns(sessions["u001"]["genuine"][1].session) | {"session_id": sid}
    assert _post(api, "/v1/score", {"user_id": "col-ann", "session": other}).status_code == 409


@pytest.mark.parametrize("field, value", [("t", "5"), ("t", True), ("t", -1.0), ("press", 1.5), ("key_class", 9),
                                          ("type", "sideways")])
def test_a_bad_column_gets_the_event_forms_422(api, sessions, field, value):
    session = api.session_json(sessions["u002"]["genuine"][0].session)
    session["keystrokes"][3][field] = value
    by_events = _post(api, "/v1/score", {"user_id": "col-bob", "session": session})
    columns = {name: [e.get(name) for e in session["keystrokes"]] for name in session["keystrokes"][0]}
    by_columns = _post(api, "/v1/score", {"user_id": "col-bob", "session": session | {"keystrokes": columns}})
    assert by_events.status_code == by_columns.status_code == 422
    assert by_columns.json() == by_events.json()


def test_a_bad_column_is_named(api, sessions):
    columns = session_columns(sessions["u002"]["genuine"][0].session)
    columns["keystrokes"]["press"] = columns["keystrokes"]["press"][:-1]
    r = _post(api, "/v1/score", {"user_id": "col-bob", "session": columns})
    assert r.status_code == 422
    assert r.json()["detail"][0].startswith("body.session.keystrokes.press: has ")


BODIES = [b'{"a": 1}', b'{"a": 1, "a": 2}', b'{"a": "x:y", "b": [1, {"c": 2}]}', b'{"a": "x\\u003ay", "a": 1}',
          b'{"a":{"b":[1,{"c":2,"c":3}]}}', b'{"t": NaN}', b'{"t": 1e400}', b'{"n": ' + b"9" * 70 + b"}",
          b'{"n": 18446744073709551616}', b'{"n": -9223372036854775809}', b'"\\ud800"', b'\xef\xbb\xbf{"a":1}',
          b'{"a":1} x', b"", b"[" * 2000 + b"]" * 2000, b"\xff", b'{"a": "\x01"}', b'{"a":-0.0, "b": 1.5e-7}',
          b'{"k\\u00e9": "\\u00e9", "k\\u00e9": 1}', b'{"a": 123456789012345678, "b": 0.1}',
          b'{"a": 1e-400, "b": 2.5E+3, "c": 1E400}', b'{"a": 1e-400, "b": 2.5E+3}', b'{"a": [1, 2.0, true, null, "s"]}']


def _outcome(parse, raw: bytes):
    try:
        return "ok", parse(raw)
    except HTTPException as err:
        return "http", err.status_code, err.detail
    except json.JSONDecodeError as err:
        return "malformed", err.pos


@pytest.mark.parametrize("raw", BODIES)
def test_the_fast_json_reading_is_the_strict_one(raw):
    assert repr(_outcome(parse_json_body, raw)) == repr(_outcome(_strict_parse, raw))

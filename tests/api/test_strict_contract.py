"""Strict contract and strict HTTP (issue 13.6): no coercion, no duplicate keys, no Host-built redirect."""

from __future__ import annotations

import copy
import json

import pytest

from serving.schemas import ENROLL_EXAMPLE, SCORE_EXAMPLE

JSON = {"content-type": "application/json"}


def _messages(r) -> str:
    detail = r.json()["detail"]
    return " | ".join(detail) if isinstance(detail, list) else detail


def _body(path: tuple, value) -> dict:
    """The score example with one value replaced (``path`` into the JSON document)."""
    body = copy.deepcopy(SCORE_EXAMPLE)
    node = body
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return body


KEY0 = ("session", "keystrokes", 0)
PTR0 = ("session", "pointer", 0)
# (path, value the old code coerced or should refuse, words of the message)
LOOSE = [
    ((*KEY0, "t"), "5", ["body.session.keystrokes[0].t", "must be a number"]),
    ((*KEY0, "t"), True, ["body.session.keystrokes[0].t", "must be a number"]),
    ((*KEY0, "key_class"), "0", ["body.session.keystrokes[0].key_class", "integer 0-7"]),
    ((*KEY0, "key_class"), True, ["body.session.keystrokes[0].key_class", "integer 0-7"]),
    ((*KEY0, "key_class"), 0.0, ["body.session.keystrokes[0].key_class", "integer 0-7"]),
    ((*KEY0, "press"), "1", ["body.session.keystrokes[0].press", "must be an integer"]),
    ((*KEY0, "press"), True, ["body.session.keystrokes[0].press", "must be an integer"]),
    ((*KEY0, "press"), 0.0, ["body.session.keystrokes[0].press", "must be an integer"]),
    ((*PTR0, "x"), "402", ["body.session.pointer[0].x", "must be a number"]),
    ((*PTR0, "y"), False, ["body.session.pointer[0].y", "must be a number"]),
    (("session", "meta", "screen_width"), "1920", ["body.session.meta.screen_width", "must be an integer"]),
    (("session", "signals", "paste"), True, ["body.session.signals.paste", "must be an integer"]),
    (("session", "session_id"), 12345, ["body.session.session_id", "must be a string"]),
    (("update_profile",), "yes", ["body.update_profile", "must be true or false"]),
    (("update_profile",), "true", ["body.update_profile", "must be true or false"]),
    (("update_profile",), 1, ["body.update_profile", "must be true or false"]),
    (("user_id",), 42, ["body.user_id", "must be a string"]),
]


@pytest.mark.parametrize("path,value,words", LOOSE, ids=[f"{p[-1]}={v!r}" for p, v, _ in LOOSE])
def test_loose_types_are_422_naming_the_field(api, path, value, words):
    r = api.client.post("/v1/score", json=_body(path, value), headers=api.headers_a)
    assert r.status_code == 422, r.text
    text = _messages(r)
    for word in words:
        assert word in text, text


def test_touch_fields_are_strict(api):
    touch = [{"t": 0, "type": "start", "x": 1, "y": 2, "pressure": "0.5", "pointer_id": "0"}]
    body = {"user_id": "u000", "session": {"schema_version": 2, "touch": touch}}
    text = _messages(api.client.post("/v1/score", json=body, headers=api.headers_a))
    assert "body.session.touch[0].pressure: must be a number" in text
    assert "body.session.touch[0].pointer_id: must be an integer" in text


def test_enroll_is_strict_too(api):
    body = copy.deepcopy(ENROLL_EXAMPLE)
    body["session"]["keystrokes"][0]["t"] = "5"
    r = api.client.post("/v1/users/strict-user/enroll", json=body, headers=api.headers_a)
    assert r.status_code == 422 and "body.session.keystrokes[0].t" in _messages(r)


def test_integers_where_floats_are_expected_are_fine(api):
    body = _body((*KEY0, "t"), 1000)  # JSON 1000, not 1000.0
    body["session"]["pointer"][0].update(x=402, y=310)
    r = api.client.post("/v1/score", json=body, headers=api.headers_a)
    assert r.status_code == 404, r.text  # valid; the user just is not enrolled


DUPLICATES = [
    ("top-level key", '{"user_id": "u000", "user_id": "u001", "session": {"schema_version": 2}}', '"user_id"'),
    ("event key", ('{"user_id": "u000", "session": {"schema_version": 2, "keystrokes": '
                  '[{"t": 5, "t": 9, "type": "down", "press": 0, "key_class": 0}]}}'), '"t"'),
    ("nested object key", ('{"user_id": "u000", "session": {"schema_version": 2, '
                          '"meta": {"device_type": "desktop", "device_type": "mobile"}}}'), '"device_type"'),
]


@pytest.mark.parametrize("name,raw,key", DUPLICATES, ids=[d[0] for d in DUPLICATES])
def test_duplicate_json_keys_are_400_with_a_message(api, name, raw, key):
    r = api.client.post("/v1/score", content=raw, headers={**api.headers_a, **JSON})
    assert r.status_code == 400, r.text
    assert f"key {key} appears twice" in r.json()["detail"]


def test_duplicate_keys_on_enroll_and_odd_keys_not_echoed(api):
    raw = '{"session": {"schema_version": 2, "alice@example.com": 1, "alice@example.com": 2}}'
    r = api.client.post("/v1/users/dup-user/enroll", content=raw, headers={**api.headers_a, **JSON})
    assert r.status_code == 400 and "appears twice" in r.json()["detail"]
    assert "alice" not in r.text
    assert api.client.get("/v1/users/dup-user", headers=api.headers_a).status_code == 404


def test_utf16_body_is_400_not_guessed(api):
    raw = json.dumps({"user_id": "u000", "session": {"schema_version": 2}}).encode("utf-16")
    r = api.client.post("/v1/score", content=raw, headers={**api.headers_a, **JSON})
    assert r.status_code == 400 and "UTF-8" in r.json()["detail"]


@pytest.mark.parametrize("method,path", [("POST", "/v1/score/"), ("GET", "/v1/users/alice/"),
                                         ("POST", "/v1/users/alice/enroll/"), ("GET", "/healthz/")])
def test_trailing_slash_is_404_never_a_redirect_to_the_host_header(api, method, path):
    r = api.client.request(method, path, headers={**api.headers_a, "Host": "evil.example"}, json={},
                           follow_redirects=False)
    assert r.status_code == 404, r.headers
    assert "location" not in r.headers and "evil" not in r.text
    assert "trailing slash" in r.json()["detail"]

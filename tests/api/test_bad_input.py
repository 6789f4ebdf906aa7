"""Every class of bad input gets a 4xx JSON answer that says what is wrong; none reaches the catch-all.

Bad input stores nothing: a body a collector could never produce (a character or key code in a
key event, a v1 ``key_bucket``, a schema version other than 2) leaves the database as it was.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

SECRET_VALUE = "alice.private@example.com"
JSON_A = {"X-API-Key": "key-of-tenant-a", "content-type": "application/json"}


def _key(t: float, kind: str = "down", press: int = 0, **extra) -> dict:
    return {"t": t, "type": kind, "press": press, "key_class": 0, **extra}


def _typing(n: int = 12) -> list[dict]:
    events = []
    for i in range(n):
        events += [_key(200.0 * i, press=i), _key(200.0 * i + 80, "up", press=i)]
    return events


def _session(**fields) -> dict:
    return {"schema_version": 2, **fields}


def _score_body(session: dict | None = None, **top) -> dict:
    session = _session(**session) if session is not None else _session(keystrokes=_typing())
    return {"user_id": "u000", "session": session, **top}


def _messages(r) -> str:
    detail = r.json()["detail"]
    return " | ".join(detail) if isinstance(detail, list) else detail


# (name, request body as JSON-able value or raw text, expected status, words the message must hold)
BAD_BODIES = [
    ("malformed JSON", '{"user_id": "u000", "session": {', 422, ["malformed JSON"]),
    ("not JSON at all", "keystrokes please", 422, ["malformed JSON"]),
    ("NaN timing", ('{"user_id": "u000", "session": {"schema_version": 2, "keystrokes": [{"t": NaN, '
                   '"type": "down", "press": 0, "key_class": 0}]}}'), 422, ["keystrokes[0].t", "finite"]),
    ("infinite timing", ('{"user_id": "u000", "session": {"schema_version": 2, "keystrokes": [{"t": 1e999, '
                        '"type": "down", "press": 0, "key_class": 0}]}}'), 422, ["keystrokes[0].t", "finite"]),
    ("negative timing", _score_body({"keystrokes": [_key(-5.0)]}), 422, ["keystrokes[0].t", ">= 0"]),
    ("unordered timings", _score_body({"keystrokes": [_key(100.0), _key(50.0, "up")]}), 422,
     ["non-decreasing time order"]),
    ("timing beyond the session limit", _score_body({"keystrokes": [_key(9e9)]}), 422, ["session limit"]),
    ("timing as text", _score_body({"keystrokes": [_key("soon")]}), 422, ["keystrokes[0].t", "number"]),
    ("unknown event field (typed character)", _score_body({"keystrokes": [_key(1.0, char=SECRET_VALUE)]}),
     422, ["keystrokes[0].char", "unknown field"]),
    ("unknown session field", _score_body({"keystrokes": _typing(), "text": SECRET_VALUE}), 422,
     ["session.text", "unknown field"]),
    ("unknown top-level field", _score_body(password=SECRET_VALUE), 422, ["body.password", "unknown field"]),
    ("bad event type", _score_body({"keystrokes": [_key(1.0, "press")]}), 422,
     ["keystrokes[0].type", "'down'"]),
    ("bad key class", _score_body({"keystrokes": [{**_key(1.0), "key_class": 99}]}), 422, ["key_class"]),
    ("coordinates out of range", _score_body({"pointer": [{"t": 1, "type": "move", "x": 1e7, "y": 0}]}), 422,
     ["pointer[0].x", "outside"]),
    ("missing session", {"user_id": "u000"}, 422, ["body.session", "required"]),
    ("missing user id", {"session": _session(keystrokes=_typing())}, 422, ["body.user_id", "required"]),
    ("body is a list", [1, 2, 3], 422, ["body"]),
    ("empty body", "", 422, ["body"]),
    ("update_profile not a boolean", _score_body(update_profile="sometimes"), 422, ["update_profile"]),
    ("too many events", _score_body({"pointer": [{"t": 0, "type": "move", "x": 0, "y": 0}] * 20_001}), 422,
     ["at most 20000"]),
    ("user id too long", {**_score_body(), "user_id": "a" * 129}, 422, ["user_id must be 1-128 characters"]),
    ("user id with forbidden characters", {**_score_body(), "user_id": SECRET_VALUE + " <x>"}, 422,
     ["user_id must be"]),
    ("empty user id", {**_score_body(), "user_id": ""}, 422, ["user_id must be"]),
    ("deeply nested JSON", "[" * 100_000 + "]" * 100_000, 400, ["parsing the body"]),
    ("invalid UTF-8", b'{"user_id": "\xff\xfe"}', 400, ["parsing the body"]),
]


@pytest.mark.parametrize("name,body,status,words", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_score_body_is_4xx_with_message(api, name, body, status, words):
    if isinstance(body, (str, bytes)):
        r = api.client.post("/v1/score", content=body, headers={**api.headers_a,
                                                                "content-type": "application/json"})
    else:
        r = api.client.post("/v1/score", json=body, headers=api.headers_a)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    text = _messages(r)
    for word in words:
        assert word in text, text
    assert SECRET_VALUE not in r.text  # never echo payload values
    assert api.app.state.metrics.unhandled == 0


def test_validation_errors_are_a_list_of_messages(api):
    r = api.client.post("/v1/score", json=_score_body({"keystrokes": [_key(-1.0), _key(-2.0)]}),
                        headers=api.headers_a)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert isinstance(detail, list) and all(isinstance(m, str) for m in detail)
    assert any(m.startswith("body.session.keystrokes[0].t: ") for m in detail)
    assert not any("Value error," in m for m in detail)


def test_wrong_content_type_is_422(api):
    r = api.client.post("/v1/score", content=json.dumps(_score_body()),
                        headers={**api.headers_a, "content-type": "text/plain"})
    assert r.status_code == 422 and "body" in _messages(r)


@pytest.mark.parametrize("bad_id", ["a" * 129, "..%2F..%2Fetc", "bad%20id", "-leading-dash", "%C3%A9t%C3%A9"])
def test_bad_user_id_in_path_is_422(api, bad_id):
    for method, path in (("get", f"/v1/users/{bad_id}"), ("delete", f"/v1/users/{bad_id}"),
                         ("post", f"/v1/users/{bad_id}/enroll")):
        kwargs = {"json": {"session": _session(keystrokes=_typing())}} if method == "post" else {}
        r = getattr(api.client, method)(path, headers=api.headers_a, **kwargs)
        assert r.status_code in (404, 422), (method, path, r.text)  # 404: a slash left no route
        assert "detail" in r.json()
        if r.status_code == 422:
            assert "user_id must be" in _messages(r)


def test_missing_or_wrong_api_key_is_401(api):
    for headers in ({}, {"X-API-Key": ""}, {"X-API-Key": "not-a-key"}, {"X-API-Key": "key-of-tenant-a "}):
        for method, path in (("get", "/v1/users/u000"), ("delete", "/v1/users/u000")):
            r = getattr(api.client, method)(path, headers=headers)
            assert r.status_code == 401 and "API key" in r.json()["detail"]
        r = api.client.post("/v1/score", json=_score_body(), headers=headers)
        assert r.status_code == 401 and "X-API-Key" in r.json()["detail"]


def test_unknown_user_is_404(api):
    r = api.client.post("/v1/score", json=_score_body(), headers=api.headers_a)
    assert r.status_code == 404 and "enroll" in r.json()["detail"]
    assert api.client.get("/v1/users/u000", headers=api.headers_a).status_code == 404


def test_declared_oversize_body_is_413(api):
    limit = api.settings.max_request_bytes
    body = b"x" * (limit + 1)
    r = api.client.post("/v1/score", content=body, headers=JSON_A)
    assert r.status_code == 413
    assert f"{limit} bytes" in r.json()["detail"]


def test_streamed_oversize_body_is_413(api):
    limit = api.settings.max_request_bytes

    def chunks():  # no Content-Length: sent chunked, counted as it streams
        sent = 0
        while sent <= limit:
            yield b" " * 65_536
            sent += 65_536

    r = api.client.post("/v1/score", content=chunks(), headers=JSON_A)
    assert r.status_code == 413 and "exceeds the limit" in r.json()["detail"]


def test_body_just_under_the_limit_is_parsed(api):
    body = json.dumps(_score_body()).encode()
    body += b" " * (api.settings.max_request_bytes - len(body))
    r = api.client.post("/v1/score", content=body, headers=JSON_A)
    assert r.status_code == 404  # parsed and validated; the user just does not exist


def test_unknown_route_and_method_are_4xx_json(api):
    assert api.client.get("/v1/nothing", headers=api.headers_a).status_code == 404
    r = api.client.put("/v1/score", headers=api.headers_a, json={})
    assert r.status_code == 405 and "detail" in r.json()


# Bodies a collector of contract v2 could never produce: 422, a message naming the problem, and
# nothing written (no user row for a new user, an existing profile unchanged).
_V1_KEYS = [{"t": 200.0 * i + d, "type": k, "key_class": 0, "key_bucket": 17}
            for i in range(12) for d, k in ((0, "down"), (80, "up"))]
NEVER_FROM_A_COLLECTOR = [
    ("typed character in a key event", _session(keystrokes=[_key(0.0, char="a"), *_typing()[1:]]),
     ["keystrokes[0].char", "unknown field"]),
    ("key field in a key event", _session(keystrokes=[_key(0.0, key="KeyA"), *_typing()[1:]]),
     ["keystrokes[0].key", "unknown field"]),
    ("key code in a key event", _session(keystrokes=[_key(0.0, code="KeyA"), *_typing()[1:]]),
     ["keystrokes[0].code", "unknown field"]),
    ("v1 key_bucket", _session(keystrokes=_V1_KEYS), ["keystrokes[0].key_bucket", "unknown field"]),
    ("schema_version 1", {"schema_version": 1, "keystrokes": _V1_KEYS}, ["schema_version 1", "supported"]),
    ("schema_version 3", _session(schema_version=3, keystrokes=_typing()), ["schema_version 3", "supported"]),
    ("schema_version missing", {"keystrokes": _typing()}, ["schema_version is required"]),
    ("schema_version as text", _session(schema_version="2", keystrokes=_typing()), ["schema_version"]),
    ("schema_version true", _session(schema_version=True, keystrokes=_typing()), ["schema_version"]),
    ("session_id not a UUID", _session(session_id="x" * 36, keystrokes=_typing()), ["session_id", "UUID"]),
]


def _db_rows(api) -> dict[str, list]:
    """Every row of every table, read straight from the SQLite file (WAL included)."""
    api.flush()
    with sqlite3.connect(api.db_path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: db.execute(f'SELECT * FROM "{t}"').fetchall() for t in sorted(tables)}


@pytest.fixture(scope="module")
def existing_user(api, sessions) -> str:
    """A user of tenant A with an enrolled profile (verifying)."""
    for rec in sessions["u002"]["enroll"][:api.min_enroll]:
        assert api.enroll("bad-input-existing", rec.session).status_code == 200
    return "bad-input-existing"


@pytest.mark.parametrize("name,session,words", NEVER_FROM_A_COLLECTOR,
                         ids=[b[0] for b in NEVER_FROM_A_COLLECTOR])
def test_a_body_no_collector_makes_is_422_and_stores_nothing(api, existing_user, name, session, words):
    before = _db_rows(api)
    profile_before = api.client.get(f"/v1/users/{existing_user}", headers=api.headers_a).json()
    requests = [
        ("/v1/users/bad-input-new/enroll", {"session": session}),
        (f"/v1/users/{existing_user}/enroll", {"session": session}),
        ("/v1/score", {"user_id": existing_user, "session": session, "update_profile": True}),
        ("/v1/score", {"user_id": "bad-input-new", "session": session}),
    ]
    for path, body in requests:
        r = api.client.post(path, json=body, headers=api.headers_a)
        assert r.status_code == 422, (path, r.text)
        text = _messages(r)
        for word in words:
            assert word in text, (path, text)
        assert "KeyA" not in r.text  # the offending value is never echoed
    assert _db_rows(api) == before
    assert api.client.get("/v1/users/bad-input-new", headers=api.headers_a).status_code == 404
    assert api.client.get(f"/v1/users/{existing_user}", headers=api.headers_a).json() == profile_before


def test_no_bad_input_reached_the_catch_all(api):
    assert api.app.state.metrics.unhandled == 0
    assert 'kind="internal"' not in api.client.get("/metrics").text

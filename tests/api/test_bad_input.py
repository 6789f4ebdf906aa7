"""Every class of bad input gets a 4xx JSON answer that says what is wrong; none reaches the catch-all."""

from __future__ import annotations

import json

import pytest

SECRET_VALUE = "alice.private@example.com"
JSON_A = {"X-API-Key": "key-of-tenant-a", "content-type": "application/json"}


def _key(t: float, kind: str = "down", **extra) -> dict:
    return {"t": t, "type": kind, "key_class": 0, "key_bucket": 3, **extra}


def _typing(n: int = 12) -> list[dict]:
    events = []
    for i in range(n):
        events += [_key(200.0 * i), _key(200.0 * i + 80, "up")]
    return events


def _score_body(session: dict | None = None, **top) -> dict:
    session = session if session is not None else {"keystrokes": _typing()}
    return {"user_id": "u000", "session": session, **top}


def _messages(r) -> str:
    detail = r.json()["detail"]
    return " | ".join(detail) if isinstance(detail, list) else detail


# (name, request body as JSON-able value or raw text, expected status, words the message must hold)
BAD_BODIES = [
    ("malformed JSON", '{"user_id": "u000", "session": {', 422, ["malformed JSON"]),
    ("not JSON at all", "keystrokes please", 422, ["malformed JSON"]),
    ("NaN timing", ('{"user_id": "u000", "session": {"keystrokes": [{"t": NaN, "type": "down", '
                   '"key_class": 0, "key_bucket": 1}]}}'), 422, ["keystrokes[0].t", "finite"]),
    ("infinite timing", ('{"user_id": "u000", "session": {"keystrokes": [{"t": 1e999, "type": "down", '
                        '"key_class": 0, "key_bucket": 1}]}}'), 422, ["keystrokes[0].t", "finite"]),
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
    ("missing user id", {"session": {"keystrokes": _typing()}}, 422, ["body.user_id", "required"]),
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
        kwargs = {"json": {"session": {"keystrokes": _typing()}}} if method == "post" else {}
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


def test_no_bad_input_reached_the_catch_all(api):
    assert api.app.state.metrics.unhandled == 0
    assert 'kind="internal"' not in api.client.get("/metrics").text

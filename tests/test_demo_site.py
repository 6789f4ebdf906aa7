"""The demo login site's back end against a fake scoring API (no browser, no model)."""

from __future__ import annotations

import json

import httpx
from fastapi.testclient import TestClient
from pydantic import SecretStr

from serving.demo_site import DEMO_PASSWORD, SiteSettings, create_site

KEY = "site-secret-key-123"
SESSION = {"schema_version": 2, "keystrokes": [], "pointer": [], "touch": []}


def _fake_api(calls: list[httpx.Request]):
    enrolled: dict[str, int] = {}

    def handle(req: httpx.Request) -> httpx.Response:
        calls.append(req)
        if req.headers.get("X-API-Key") != KEY:
            return httpx.Response(401, json={"detail": "bad key"})
        path = req.url.path
        status = lambda u: {"user_id": u, "state": "verifying" if enrolled[u] >= 3 else "enrolling",
                            "sessions": enrolled[u], "sessions_needed": max(0, 3 - enrolled[u])}
        if req.method == "GET" and path.startswith("/v1/users/"):
            u = path.rsplit("/", 1)[1]
            return httpx.Response(200, json=status(u)) if u in enrolled else httpx.Response(404, json={"detail": "no"})
        if path.endswith("/enroll"):
            u = path.split("/")[3]
            enrolled[u] = enrolled.get(u, 0) + 1
            return httpx.Response(200, json=status(u))
        if path == "/v1/score":
            return httpx.Response(200, json={"risk": 0.12, "decision": "allow", "confidence": 0.5,
                                             "reasons": [], "modalities": {"keystrokes": {"probability": 0.1}}})
        return httpx.Response(404, json={"detail": "?"})

    return httpx.MockTransport(handle)


def _client(calls):
    settings = SiteSettings(api_url="http://api.test", api_key=SecretStr(KEY))
    return TestClient(create_site(settings, api_transport=_fake_api(calls)))


def test_first_three_logins_enroll_then_score_and_the_password_and_key_stay_put():
    calls: list[httpx.Request] = []
    with _client(calls) as c:
        page = c.get("/").text
        assert KEY not in page and "/static/login.js" in page and "/collector/collector." in page
        phases = []
        for _ in range(4):
            r = c.post("/login", json={"username": "alice", "password": DEMO_PASSWORD, "session": SESSION})
            assert r.status_code == 200
            phases.append(r.json()["phase"])
        assert phases == ["enroll", "enroll", "enroll", "score"]
        assert r.json()["decision"] == "allow" and r.json()["risk"] == 0.12
    posts = [q for q in calls if q.method == "POST"]
    assert [q.url.path for q in posts] == ["/v1/users/alice/enroll"] * 3 + ["/v1/score"]
    for q in posts:
        body = json.loads(q.content)
        assert DEMO_PASSWORD not in q.content.decode() and "password" not in body
        assert body["session"] == SESSION
    assert json.loads(posts[-1].content)["update_profile"] is True


def test_wrong_password_never_calls_the_api():
    calls: list[httpx.Request] = []
    with _client(calls) as c:
        r = c.post("/login", json={"username": "alice", "password": "nope", "session": SESSION})
    assert r.status_code == 401 and r.json() == {"ok": False, "error": "wrong username or password"}
    assert calls == []

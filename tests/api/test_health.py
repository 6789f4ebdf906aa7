"""GET /healthz, /readyz and /metrics."""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient

from biometrics.bundle import BundleError, ModelBundle
from serving.app import create_app


def test_healthz(api):
    r = api.client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_readyz_when_loaded(api):
    r = api.client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body == {"status": "ok", "model_version": "tiny-test", "checks": {"bundle": True, "store": True},
                    "reason": None}


def test_readyz_is_503_when_the_store_does_not_answer(api, monkeypatch):
    monkeypatch.setattr(api.service.store, "ping", lambda: False)
    r = api.client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable" and r.json()["checks"]["store"] is False


def test_not_ready_before_start_up(settings_for):
    app = create_app(settings_for())
    client = TestClient(app)  # no `with`: the lifespan has not run, nothing is loaded
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    r = client.get("/v1/users/u000", headers={"X-API-Key": "key-of-tenant-a"})
    assert r.status_code == 503 and "not loaded" in r.json()["detail"]


def test_start_up_fails_clearly_without_a_bundle(settings_for, tmp_path):
    app = create_app(settings_for(bundle_path=tmp_path / "missing.pt"))
    with pytest.raises(FileNotFoundError, match="BIOMETRICS_BUNDLE_PATH"), TestClient(app):
        pass


def _bundle_payload(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.parametrize("damage, says", [
    (lambda p: {**p, "format": 1}, "re-export it from its run"),
    (lambda p: {**p, "scorers": {k: {**v, "head": {"kind": "forest-pickle"}} for k, v in p["scorers"].items()}},
     "unknown head 'forest-pickle'"),
    (lambda p: {**p, "scorers": {"voice": {**p["scorers"]["keystrokes"], "modality": "voice"}}},
     "unknown modality 'voice'"),
])
def test_a_bundle_that_cannot_be_served_makes_readyz_503_with_the_reason(settings_for, bundle_path, tmp_path,
                                                                          damage, says):
    bad = tmp_path / "bad.pt"
    torch.save(damage(_bundle_payload(bundle_path)), bad)
    with pytest.raises(BundleError, match=says):
        ModelBundle.load(bad)
    with TestClient(create_app(settings_for(bundle_path=bad))) as client:
        r = client.get("/readyz")
        assert r.status_code == 503 and says in r.json()["reason"] and r.json()["checks"]["bundle"] is False
        r = client.get("/v1/users/u000", headers={"X-API-Key": "key-of-tenant-a"})
        assert r.status_code == 503 and says in r.json()["detail"]


def test_metrics_count_requests_by_route_template_and_decisions(api, sessions):
    for rec in sessions["u000"]["enroll"][:3]:
        assert api.enroll("metrics-user", rec.session).status_code == 200
    assert api.score("metrics-user", sessions["u000"]["genuine"][0].session).status_code == 200
    assert api.client.get("/v1/users/nobody", headers=api.headers_a).status_code == 404
    assert api.client.get("/v1/users/nobody").status_code == 401
    r = api.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    enrolls = 'biometrics_http_requests_total{method="POST",route="/v1/users/{user_id}/enroll",status="200"}'
    assert f"{enrolls} 3.0" in text
    assert 'route="/v1/score",status="200"' in text
    assert 'biometrics_http_request_duration_seconds_bucket{le="0.01",method="POST",route="/v1/score"' in text
    assert 'route="/v1/users/{user_id}",status="404"' in text
    assert 'biometrics_decisions_total{decision=' in text
    assert 'biometrics_errors_total{kind="not_found"}' in text
    assert 'biometrics_errors_total{kind="auth"}' in text
    assert "metrics-user" not in text and "nobody" not in text  # route templates, never user ids


def test_oversize_request_is_counted_under_its_route(api):
    api.client.post("/v1/score", content=b"x" * (api.settings.max_request_bytes + 1),
                    headers={**api.headers_a, "content-type": "application/json"})
    text = api.client.get("/metrics").text
    assert 'route="/v1/score",status="413"' in text and 'biometrics_errors_total{kind="too_large"}' in text


def test_openapi_documents_the_api(api):
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {"/v1/users/{user_id}/enroll", "/v1/users/{user_id}", "/v1/score", "/healthz", "/readyz",
            "/metrics"} <= set(paths)


def test_store_failure_is_503_not_500(api, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def locked(*args, **kwargs):
        raise OperationalError("SELECT ...", {}, Exception("database is locked"))

    monkeypatch.setattr(api.service.store, "get", locked)
    r = api.client.get("/v1/users/someone", headers=api.headers_a)
    assert r.status_code == 503 and "retry" in r.json()["detail"]
    assert r.headers["retry-after"] == "1"
    assert api.app.state.metrics.unhandled == 0


def test_catch_all_answers_500_json_and_logs_the_type_only(settings_for, monkeypatch, caplog):
    with TestClient(create_app(settings_for())) as client:
        def boom(*args, **kwargs):
            raise RuntimeError("private detail of alice@example.com")

        monkeypatch.setattr(client.app.state.service, "status", boom)
        with caplog.at_level("ERROR"):
            r = client.get("/v1/users/alice", headers={"X-API-Key": "key-of-tenant-a"})
        assert r.status_code == 500 and r.json()["detail"].startswith("internal error")
        assert "alice" not in r.text
        logged = "\n".join(rec.getMessage() for rec in caplog.records)
        assert "RuntimeError" in logged and "private detail" not in logged and "alice" not in logged
        assert client.app.state.metrics.unhandled == 1
        assert 'biometrics_errors_total{kind="internal"} 1.0' in client.get("/metrics").text


# A client that leaves mid-body is not a server error (issue 13.7) ----------------------------

def _scope(path: str = "/v1/score", method: str = "POST") -> dict:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
            "headers": [(b"content-type", b"application/json"), (b"x-api-key", b"key-of-tenant-a")],
            "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}


def _asgi_call(call, app, scope: dict, messages: list[dict]) -> list[dict]:
    """Run one request on the app with these receive messages; returns what the app sent."""
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    call(app, scope, receive, send)
    return sent


def test_client_leaving_mid_body_counts_as_499_not_500(settings_for):
    import anyio

    app = create_app(settings_for())
    messages = [{"type": "http.request", "body": b'{"user_id": "u0', "more_body": True},
                {"type": "http.disconnect"}]
    sent = _asgi_call(anyio.run, app, _scope(), messages)
    assert sent == []  # nobody to answer
    text = app.state.metrics.render().decode()
    assert 'route="/v1/score",status="499"' in text
    assert 'status="500"' not in text and 'kind="internal"' not in text
    assert app.state.metrics.unhandled == 0


def test_client_disconnect_raised_in_a_route_counts_as_499(settings_for, monkeypatch):
    from starlette.requests import ClientDisconnect

    with TestClient(create_app(settings_for())) as client:
        def gone(*args, **kwargs):
            raise ClientDisconnect()

        monkeypatch.setattr(client.app.state.service, "status", gone)
        sent = _asgi_call(client.portal.call, client.app, _scope("/v1/users/alice", "GET"), [])
        assert sent == []
        text = client.get("/metrics").text
        assert 'route="/v1/users/{user_id}",status="499"' in text and 'status="500"' not in text
        assert client.app.state.metrics.unhandled == 0

"""The access log and the metrics name route templates, never raw paths, on every path (issue 13.4).

Paths that no route matches (a typo of the prefix, an empty segment, a trailing slash) used
to reach uvicorn's access log verbatim, user id included; now every access-log line is
written by the app with the route template, ``<unmatched>`` when there is none, and
uvicorn's own lines (raw path and query string) are dropped.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import httpx

from serving.launch import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
USER = "alice@example.com"
# (method, path as sent, route template the log must show, status)
LEAKY = [
    ("GET", "/v1/user/alice%40example.com", "<unmatched>", 404),
    ("GET", "/v1/users//alice", "<unmatched>", 404),
    ("GET", "/v1/users/alice%40example.com", "/v1/users/{user_id}", 404),
    ("GET", "/v1/users/alice@example.com?email=alice@example.com", "/v1/users/{user_id}", 404),
    ("PUT", "/v1/users/alice@example.com", "/v1/users/{user_id}", 405),
    ("POST", "/v1/users/alice@example.com/enroll/", "<unmatched>", 404),
    ("GET", "/v1/users/alice@example.com/profile", "<unmatched>", 404),
    ("GET", "/alice@example.com", "<unmatched>", 404),
]


def _access_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "uvicorn.access"]


def test_access_log_shows_templates_on_every_path(api, caplog):
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        for method, path, _, status in LEAKY:
            r = api.client.request(method, path, headers=api.headers_a)
            assert r.status_code == status, (method, path, r.text)
    lines = _access_lines(caplog)
    assert len(lines) == len(LEAKY)
    for line, (method, _, template, status) in zip(lines, LEAKY):
        assert f'"{method} {template} HTTP/1.1" {status}' in line, line
    text = "\n".join(lines)
    assert "alice" not in text and "%40" not in text and "email" not in text


def test_uvicorns_own_access_lines_are_dropped(api, caplog):
    """A record as uvicorn writes it (raw path) never reaches a handler."""
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET",
                                                 "/v1/user/alice%40example.com", "1.1", 404)
    assert _access_lines(caplog) == []


def test_metrics_label_unmatched_paths_with_a_placeholder(api):
    for method, path, _, _ in LEAKY:
        api.client.request(method, path, headers=api.headers_a)
    text = api.client.get("/metrics").text
    assert 'route="<unmatched>",status="404"' in text
    assert 'method="PUT",route="/v1/users/{user_id}",status="405"' in text
    assert "alice" not in text and "%40" not in text


def test_uvicorn_server_log_has_no_user_id(bundle_path, tmp_path):
    """The real server with uvicorn's default logging (access log on): stdout and stderr."""
    port = free_port()
    env = {**os.environ, "BIOMETRICS_BUNDLE_PATH": str(bundle_path),
           "BIOMETRICS_DATABASE_URL": f"sqlite:///{tmp_path / 'profiles.db'}",
           "BIOMETRICS_API_KEYS": json.dumps({"key-of-tenant-a": "tenant-a"}),
           "BIOMETRICS_USER_ID_SECRET": "test-user-id-secret-0123456789abcdef"}
    out = tmp_path / "server.log"
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "serving.app:app", "--host", "127.0.0.1",
                                 "--port", str(port)], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_ready(base, proc)
            with httpx.Client(base_url=base, headers={"X-API-Key": "key-of-tenant-a"}) as client:
                for method, path, _, status in LEAKY:
                    assert client.request(method, path).status_code == status, path
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    log = out.read_text()
    assert '"GET <unmatched> HTTP/1.1" 404' in log and '"GET /v1/users/{user_id} HTTP/1.1" 404' in log
    assert '"GET /readyz HTTP/1.1" 200' in log
    assert "alice" not in log and "%40" not in log and USER not in log

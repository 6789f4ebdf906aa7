"""Upgrades through the HTTP API: the status says which model each modality is current for, scoring
says ``profile_model_outdated``, ``python -m serving.reembed`` makes the profiles current."""

from __future__ import annotations

import base64
import json
import warnings

from conftest import SECRET, build_tiny_bundle

from serving import reembed
from serving.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PROFILE_KEY = base64.b64encode(bytes(range(32))).decode()


def test_upgrade_through_the_api(tmp_path, bundle_path, settings_for, sessions, monkeypatch, capsys):
    b_path = build_tiny_bundle(tmp_path / "b.pt", seed=1, model_version="tiny-test-b")
    settings_a = settings_for(profile_key=PROFILE_KEY)
    headers = {"X-API-Key": "key-of-tenant-a"}
    with TestClient(create_app(settings_a)) as client:
        for rec in sessions["u003"]["enroll"][:3]:
            assert client.post("/v1/users/dora/enroll", headers=headers,
                               json={"session": rec.session.model_dump(mode="json", exclude_defaults=True)}
                               ).status_code == 200
    with TestClient(create_app(settings_for(bundle_path=b_path, profile_key=PROFILE_KEY))) as client:
        body = client.get("/v1/users/dora", headers=headers).json()
        assert body["state"] == "verifying" and body["model_version"] == "tiny-test-b"
        assert all(m == {"sessions": 3, "model_version": "tiny-test", "current": False,
                         "current_for": ["tiny-test"], "reembeddable": True} for m in body["modalities"].values())
        session = sessions["u003"]["genuine"][0].session.model_dump(mode="json", exclude_defaults=True,
                                                                     exclude={"session_id"})
        r = client.post("/v1/score", headers=headers, json={"user_id": "dora", "session": session})
        assert r.status_code == 200 and "profile_model_outdated" in r.json()["reasons"]
        assert r.json()["decision"] == "challenge"

        monkeypatch.setenv("BIOMETRICS_DATABASE_URL", settings_a.database_url)
        monkeypatch.setenv("BIOMETRICS_USER_ID_SECRET", SECRET)
        monkeypatch.setenv("BIOMETRICS_PROFILE_KEY", PROFILE_KEY)
        assert reembed.main(["--bundle", str(b_path)]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["users"] == 1 and out["users_current"] == 1 and set(out["modalities"]) == {"reembedded"}

        body = client.get("/v1/users/dora", headers=headers).json()
        assert body["state"] == "verifying" and body["sessions_needed"] == 0
        assert all(m["current"] and m["current_for"] == ["tiny-test", "tiny-test-b"]
                   for m in body["modalities"].values())
        assert "token" not in json.dumps(body) and "input" not in json.dumps(body)
        r = client.post("/v1/score", headers=headers, json={"user_id": "dora", "session": session})
        assert "profile_model_outdated" not in r.json()["reasons"]
        assert any(m["probability"] is not None for m in r.json()["modalities"].values())

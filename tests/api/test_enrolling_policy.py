"""What a session against a still-enrolling profile gets: a per-tenant policy, "challenge" by
default (issue 13.5: a new profile used to allow anyone)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from biometrics.synthetic import replay_session
from serving.app import create_app
from serving.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ALLOW_B = {"tenant-b": {"enrolling_decision": "allow"}}


def _enroll_one(api_or_client, headers, user, rec) -> None:
    r = api_or_client.post(f"/v1/users/{user}/enroll", headers=headers,
                           json={"session": rec.session.model_dump(mode="json", exclude_defaults=True)})
    assert r.status_code == 200 and r.json()["state"] == "enrolling", r.text


def _score(client, headers, user, session) -> dict:
    r = client.post("/v1/score", headers=headers, json={
        "user_id": user, "session": session.model_dump(mode="json", exclude_defaults=True)})
    assert r.status_code == 200, r.text
    return r.json()


def test_an_impostor_against_an_enrolling_profile_is_not_allowed_by_default(api, sessions):
    _enroll_one(api.client, api.headers_a, "victim", sessions["u002"]["enroll"][0])
    for rec in sessions["u002"]["impostor"]:
        body = api.score("victim", api.new_id(rec.session)).json()
        assert body["decision"] == "challenge", body
        assert "profile_enrolling" in body["reasons"] and body["enrollment"]["state"] == "enrolling"
    assert api.settings.enrolling_decision == "challenge"


@pytest.fixture
def client_for(settings_for):
    """A client over an app built from test settings with the given overrides."""
    clients = []

    def make(**overrides) -> TestClient:
        client = TestClient(create_app(settings_for(**overrides)))
        clients.append(client.__enter__())
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def test_a_tenant_configured_to_allow_gets_allow_and_others_keep_the_default(client_for, sessions):
    from tests.api.conftest import HEADERS_A, HEADERS_B

    client = client_for(tenant_policies=ALLOW_B)
    impostor = sessions["u003"]["impostor"][0].session
    for headers, expected in ((HEADERS_B, "allow"), (HEADERS_A, "challenge")):
        _enroll_one(client, headers, "newcomer", sessions["u003"]["enroll"][0])
        body = _score(client, headers, "newcomer", impostor.model_copy(update={"session_id": None}))
        assert body["decision"] == expected and "profile_enrolling" in body["reasons"]


def test_the_global_setting_applies_to_every_tenant_without_its_own(client_for, sessions):
    from tests.api.conftest import HEADERS_A, HEADERS_B

    client = client_for(enrolling_decision="deny", tenant_policies=ALLOW_B)
    rec = sessions["u004"]["genuine"][0]
    _enroll_one(client, HEADERS_A, "newcomer", sessions["u004"]["enroll"][0])
    _enroll_one(client, HEADERS_B, "newcomer", sessions["u004"]["enroll"][0])
    assert _score(client, HEADERS_A, "newcomer", rec.session)["decision"] == "deny"
    assert _score(client, HEADERS_B, "newcomer", rec.session)["decision"] == "allow"


def test_guards_still_deny_while_enrolling_under_an_allow_policy(client_for, sessions):
    from tests.api.conftest import HEADERS_B

    client = client_for(tenant_policies=ALLOW_B)
    enrolled = sessions["u005"]["enroll"][0]
    _enroll_one(client, HEADERS_B, "u005", enrolled)
    bot = _score(client, HEADERS_B, "u005", sessions["u005"]["bot"][0].session)
    assert "bot_like_timing" in bot["reasons"] and bot["decision"] == "deny"
    replay = _score(client, HEADERS_B, "u005", enrolled.session.model_copy(update={"session_id": None}))
    assert "replayed_session" in replay["reasons"] and replay["decision"] == "deny"


def test_a_possible_replay_is_challenged_unless_the_tenant_denies_it(client_for, sessions):
    """Typing as close to a stored session's as a jittered replay: at least challenged (the
    default), denied for a tenant whose policy says so (issue 13.1)."""
    from tests.api.conftest import HEADERS_A, HEADERS_B

    client = client_for(tenant_policies={"tenant-b": {"enrolling_decision": "allow",
                                                      "possible_replay_decision": "deny"}})
    keys_only = sessions["u005"]["enroll"][0].session.model_copy(update={"pointer": [], "touch": [],
                                                                          "session_id": None})
    jittered = replay_session(keys_only, np.random.default_rng(3), max_jitter_ms=20.0)
    for headers, decision in ((HEADERS_A, "challenge"), (HEADERS_B, "deny")):
        r = client.post("/v1/users/u005/enroll", headers=headers,
                        json={"session": keys_only.model_dump(mode="json", exclude_defaults=True)})
        assert r.status_code == 200, r.text
        scored = _score(client, headers, "u005", jittered.model_copy(update={"session_id": None}))
        assert "possible_replay" in scored["reasons"] and scored["decision"] == decision, scored


@pytest.mark.parametrize("env,words", [
    ({"BIOMETRICS_ENROLLING_DECISION": "maybe"},
     "BIOMETRICS_ENROLLING_DECISION must be one of allow, challenge, deny"),
    ({"BIOMETRICS_TENANT_POLICIES": '{"dev": {"enrolling_decision": "yes"}}'},
     "BIOMETRICS_TENANT_POLICIES: tenant 'dev' has enrolling_decision 'yes'"),
    ({"BIOMETRICS_TENANT_POLICIES": '{"dev": {"enroling_decision": "allow"}}'},
     "BIOMETRICS_TENANT_POLICIES: tenant 'dev' has an unknown key 'enroling_decision'"),
    ({"BIOMETRICS_TENANT_POLICIES": '{"dev": {"possible_replay_decision": "block"}}'},
     "BIOMETRICS_TENANT_POLICIES: tenant 'dev' has possible_replay_decision 'block'"),
    ({"BIOMETRICS_TENANT_POLICIES": '{"dev": "allow"}'},
     "BIOMETRICS_TENANT_POLICIES: the policy of tenant 'dev' must be a JSON object"),
    ({"BIOMETRICS_TENANT_POLICIES": '{"acme": {"enrolling_decision": "allow"}}'},
     "BIOMETRICS_TENANT_POLICIES names tenants that no key in BIOMETRICS_API_KEYS maps to: 'acme'"),
])
def test_a_bad_policy_fails_naming_the_variable(monkeypatch, env, words):
    monkeypatch.delenv("BIOMETRICS_API_KEYS", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError, match=words):
        Settings()


def test_the_server_refuses_to_start_with_a_bad_policy():
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIOMETRICS_")}
    env["BIOMETRICS_ENROLLING_DECISION"] = "alow"
    r = subprocess.run([sys.executable, "-c", "import serving.app"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode != 0 and "BIOMETRICS_ENROLLING_DECISION must be one of" in r.stderr

"""POST /v1/users/{user_id}/enroll, GET and DELETE /v1/users/{user_id}: through the real app and SQLite."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from biometrics.profiles import user_key
from biometrics.synthetic import replay_session


def _rows(db_path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql, args).fetchall()


def test_enroll_then_verify_after_min_sessions(api, sessions):
    enroll = sessions["u000"]["enroll"]
    needed = []
    for i, rec in enumerate(enroll[: api.min_enroll]):
        r = api.enroll("alice", rec.session)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["user_id"] == "alice" and body["sessions"] == i + 1
        needed.append(body["sessions_needed"])
        assert body["state"] == ("verifying" if i + 1 >= api.min_enroll else "enrolling")
    assert needed == [2, 1, 0]
    body = api.client.get("/v1/users/alice", headers=api.headers_a).json()
    assert body["state"] == "verifying" and body["sessions"] == api.min_enroll
    assert body["model_version"] == "tiny-test"
    assert set(body["modalities"]) == set(enroll[0].session.modalities())
    assert all(m["sessions"] == api.min_enroll and m["current"] for m in body["modalities"].values())
    assert body["created_at"] <= body["updated_at"]


def test_get_never_returns_embeddings_or_timings(api, sessions):
    for rec in sessions["u001"]["enroll"][:2]:
        assert api.enroll("bob", rec.session).status_code == 200
    r = api.client.get("/v1/users/bob", headers=api.headers_a)
    assert r.status_code == 200
    keys = api.keys_of(r.json())
    assert not {k for k in keys if "embedding" in k or "signature" in k}
    assert "embedding" not in r.text and "signature" not in r.text
    assert len(r.content) < 1_000  # counts and timestamps, not vectors


def test_unknown_user_is_404_with_message(api):
    for method in ("get", "delete"):
        r = getattr(api.client, method)("/v1/users/nobody-here", headers=api.headers_a)
        assert r.status_code == 404
        assert "enroll the user first" in r.json()["detail"]


def test_erasure_removes_the_rows_from_the_database_file(api, sessions):
    for rec in sessions["u002"]["enroll"][:3]:
        assert api.enroll("carol", rec.session).status_code == 200
    key = user_key("tenant-a", "carol", api.secret.encode())
    users = _rows(api.db_path, "SELECT id FROM users WHERE tenant = ? AND user_key = ?", "tenant-a", key)
    assert len(users) == 1
    (uid,) = users[0]
    blobs = _rows(api.db_path, "SELECT embeddings FROM modality_profiles WHERE user_id = ?", uid)
    assert blobs

    r = api.client.delete("/v1/users/carol", headers=api.headers_a)
    assert r.status_code == 204 and r.content == b""
    assert _rows(api.db_path, "SELECT 1 FROM users WHERE user_key = ?", key) == []
    assert _rows(api.db_path, "SELECT 1 FROM modality_profiles WHERE user_id = ?", uid) == []
    # Really gone: not left in free pages or the WAL either (secure_delete + checkpoint).
    raw = api.db_path.read_bytes()
    wal = api.db_path.with_name(api.db_path.name + "-wal")
    raw += wal.read_bytes() if wal.exists() else b""
    assert all(bytes(b)[12:76] not in raw for (b,) in blobs)
    assert key.encode() not in raw
    assert api.client.get("/v1/users/carol", headers=api.headers_a).status_code == 404
    assert api.client.delete("/v1/users/carol", headers=api.headers_a).status_code == 404


def test_tenant_isolation(api, sessions):
    for rec in sessions["u003"]["enroll"][:3]:
        assert api.enroll("shared-id", rec.session, headers=api.headers_a).status_code == 200
    genuine = sessions["u003"]["genuine"][0].session
    # Tenant B sees no such user: cannot read, score or delete tenant A's profile.
    assert api.client.get("/v1/users/shared-id", headers=api.headers_b).status_code == 404
    assert api.score("shared-id", genuine, headers=api.headers_b).status_code == 404
    assert api.client.delete("/v1/users/shared-id", headers=api.headers_b).status_code == 404
    # Enrolling the same id in tenant B makes a separate profile.
    r = api.enroll("shared-id", sessions["u004"]["enroll"][0].session, headers=api.headers_b)
    assert r.status_code == 200 and r.json()["sessions"] == 1
    a = api.client.get("/v1/users/shared-id", headers=api.headers_a).json()
    assert a["sessions"] == 3 and a["state"] == "verifying"
    assert api.client.delete("/v1/users/shared-id", headers=api.headers_b).status_code == 204
    assert api.client.get("/v1/users/shared-id", headers=api.headers_a).json()["sessions"] == 3
    # The stored keys differ per tenant, and no raw user id is stored.
    keys = _rows(api.db_path, "SELECT tenant, user_key FROM users")
    assert all("shared-id" not in k for _, k in keys)


def test_concurrent_enrolls_of_one_user_lose_no_update(api, sessions):
    recs = sessions["u005"]["enroll"] + sessions["u005"]["genuine"][:2]  # 8 distinct sessions
    with ThreadPoolExecutor(max_workers=len(recs)) as pool:
        codes = list(pool.map(lambda rec: api.enroll("dave", rec.session).status_code, recs))
    assert codes == [200] * len(recs)
    body = api.client.get("/v1/users/dave", headers=api.headers_a).json()
    assert body["sessions"] == len(recs)
    assert all(m["sessions"] == len(recs) for m in body["modalities"].values())


def test_enroll_refuses_bot_and_replayed_sessions(api, sessions):
    bot = sessions["u001"]["bot"][0].session if sessions["u001"]["bot"] else None
    bot = bot or next(recs["bot"][0].session for recs in sessions.values() if recs["bot"])
    r = api.enroll("erin", bot)
    assert r.status_code == 422 and "automated" in r.json()["detail"]
    assert api.client.get("/v1/users/erin", headers=api.headers_a).status_code == 404

    first = sessions["u000"]["enroll"][3].session
    assert api.enroll("erin", first).status_code == 200
    assert api.enroll("erin", first).json()["sessions"] == 1  # a retry: the first answer
    again = api.enroll("erin", api.new_id(first))  # the same events in another request: a replay
    assert again.status_code == 422 and "repeats a session" in again.json()["detail"]
    assert api.client.get("/v1/users/erin", headers=api.headers_a).json()["sessions"] == 1


def test_enroll_takes_typing_only_as_close_as_a_jittered_replay(api, sessions):
    """Only an exact repeat is refused: typing within a replay's jitter of a stored session is what
    a practised owner retyping the same login gives, and enrolls (its score says possible_replay)."""
    first = sessions["u000"]["enroll"][3].session
    keys_only = api.new_id(first.model_copy(update={"pointer": [], "touch": []}))
    assert api.enroll("fay", keys_only).status_code == 200
    r = api.enroll("fay", replay_session(keys_only, np.random.default_rng(1), max_jitter_ms=20.0))
    assert r.status_code == 200 and r.json()["sessions"] == 2, r.text
    scored = api.score("fay", replay_session(keys_only, np.random.default_rng(2), max_jitter_ms=20.0)).json()
    assert "possible_replay" in scored["reasons"] and scored["decision"] != "allow"


def test_enroll_refuses_a_session_with_too_little_data(api):
    r = api.client.post("/v1/users/frank/enroll", headers=api.headers_a, json={"session": {
        "schema_version": 2, "keystrokes": [{"t": 0, "type": "down", "press": 0, "key_class": 0},
                                            {"t": 90, "type": "up", "press": 0, "key_class": 0}]}})
    assert r.status_code == 422 and "too little data" in r.json()["detail"]


def test_logs_carry_no_user_id_and_no_payload(api, sessions, caplog):
    user = "grace.hopper@example.com"
    with caplog.at_level("DEBUG"):
        for rec in sessions["u004"]["enroll"][:3]:
            assert api.enroll(user, rec.session).status_code == 200
        assert api.score(user, sessions["u004"]["genuine"][0].session).status_code == 200
        assert api.client.get(f"/v1/users/{user}", headers=api.headers_a).status_code == 200
        assert api.client.delete(f"/v1/users/{user}", headers=api.headers_a).status_code == 204
    # The test's own HTTP client (httpx) logs URLs; everything else is the server's.
    text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "key=" in text  # the service logs, with the hashed key's prefix only
    assert user not in text and "grace" not in text
    key = user_key("tenant-a", user, api.secret.encode())
    assert key not in text and key[:12] in text
    assert '"t":' not in text and "keystrokes" not in text


def test_forgetting_one_scorer_keeps_the_rest_of_the_profile(api, sessions):
    """DELETE /v1/users/{id}/scorers/{scorer}: what a login flow calls after a password change
    (for ``password_timing``); here the tiny bundle's pointer part."""
    for rec in sessions["u003"]["enroll"][:3]:  # without their ids: other tests enroll them elsewhere
        assert api.enroll("dora", rec.session.model_copy(update={"session_id": None})).status_code == 200
    key = user_key("tenant-a", "dora", api.secret.encode())
    parts = lambda: {m for (m,) in _rows(api.db_path, "SELECT m.modality FROM modality_profiles m JOIN users u "
                                                       "ON u.id = m.user_id WHERE u.user_key = ?", key)}
    assert "pointer" in parts()
    r = api.client.delete("/v1/users/dora/scorers/pointer", headers=api.headers_a)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "pointer" not in body["modalities"] and body["state"] == "verifying" and "keystrokes" in body["modalities"]
    assert parts() == set(body["modalities"])
    assert api.client.delete("/v1/users/dora/scorers/pointer", headers=api.headers_a).status_code == 200  # again: no-op
    score = api.score("dora", sessions["u003"]["genuine"][0].session.model_copy(update={"session_id": None}))
    assert score.status_code == 200 and "pointer" in score.json()["modalities"]
    assert score.json()["modalities"]["pointer"]["probability"] is None  # nothing enrolled to compare with


def test_forgetting_a_scorer_the_bundle_lacks_or_of_an_unknown_user_is_404(api, sessions):
    fresh = sessions["u003"]["enroll"][0].session.model_copy(update={"session_id": None})
    assert api.enroll("erin", fresh).status_code == 200
    r = api.client.delete("/v1/users/erin/scorers/no_such_scorer", headers=api.headers_a)
    assert r.status_code == 404 and "no scorer 'no_such_scorer'" in r.json()["detail"]
    r = api.client.delete("/v1/users/nobody-here/scorers/pointer", headers=api.headers_a)
    assert r.status_code == 404 and "enroll the user first" in r.json()["detail"]
    assert api.client.delete("/v1/users/erin/scorers/pointer").status_code == 401
    assert api.client.delete("/v1/users/erin/scorers/bad%20name", headers=api.headers_a).status_code == 422

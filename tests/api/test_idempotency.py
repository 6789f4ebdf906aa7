"""Idempotency by ``session.session_id``: a retried score or enroll gets the first answer.

Through the real app and a real SQLite file: a retry (same tenant, id and body) answers the
same JSON without touching the profile again; the id with another body is a 409 and writes
nothing; erasure removes the recorded answers; concurrent copies score once.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from biometrics.profiles import user_key


def _body(api, user_id: str, session, session_id: str, update_profile: bool = False, **changes) -> dict:
    s = api.session_json(session) | {"session_id": session_id} | changes
    return {"user_id": user_id, "session": s, "update_profile": update_profile}


def _score(api, body: dict, headers=None):
    return api.client.post("/v1/score", json=body, headers=headers or api.headers_a)


def _enroll(api, user_id: str, session, session_id: str, headers=None):
    return api.client.post(f"/v1/users/{user_id}/enroll", headers=headers or api.headers_a,
                           json={"session": api.session_json(session) | {"session_id": session_id}})


def _answers(api) -> list[tuple]:
    """(tenant, operation, session_id, user row id, fingerprint, answer) rows, from the file."""
    api.flush()
    with sqlite3.connect(api.db_path) as db:
        return db.execute("SELECT tenant, operation, session_id, user_id, fingerprint, answer "
                          "FROM scored_sessions ORDER BY created_at").fetchall()


def _profile_rows(api, user_id: str, tenant: str = "tenant-a") -> tuple:
    """The user's users and modality_profiles rows, as stored."""
    key = user_key(tenant, user_id, api.secret.encode())
    api.flush()
    with sqlite3.connect(api.db_path) as db:
        user = db.execute("SELECT * FROM users WHERE tenant = ? AND user_key = ?", (tenant, key)).fetchall()
        mods = db.execute("SELECT m.* FROM modality_profiles m JOIN users u ON u.id = m.user_id "
                          "WHERE u.tenant = ? AND u.user_key = ? ORDER BY m.modality",
                          (tenant, key)).fetchall()
    return user, mods


def _plain(api, session) -> dict:
    """The session as posted without a session id (not idempotent)."""
    return {k: v for k, v in api.session_json(session).items() if k != "session_id"}


def _enrolled(api, sessions, user_id: str, source: str = "u000", headers=None) -> None:
    for rec in sessions[source]["enroll"][:api.min_enroll]:
        r = api.client.post(f"/v1/users/{user_id}/enroll", json={"session": _plain(api, rec.session)},
                            headers=headers or api.headers_a)
        assert r.status_code == 200, r.text


def _sid() -> str:
    return str(uuid.uuid4())


def test_retried_score_gets_the_first_answer_and_updates_nothing(api, sessions):
    _enrolled(api, sessions, "ida")
    # The owner's first session the service allows: only an allowed score keeps a replay signature.
    for rec in sessions["u000"]["genuine"]:
        body = _body(api, "ida", rec.session, _sid(), update_profile=True)
        first = _score(api, body)
        assert first.status_code == 200, first.text
        if first.json()["decision"] == "allow":
            break
    assert first.json()["decision"] == "allow" and "replayed_session" not in first.json()["reasons"]
    stored = _profile_rows(api, "ida")
    for _ in range(3):
        again = _score(api, body)
        assert again.status_code == 200, again.text
        assert again.content == first.content  # byte for byte, not replayed_session
    assert _profile_rows(api, "ida") == stored  # the profile was not updated again
    # The id with upper-case hex names the same session.
    upper = body | {"session": body["session"] | {"session_id": body["session"]["session_id"].upper()}}
    assert _score(api, upper).content == first.content
    # Without a session id the same session is a replay, as before.
    plain = body | {"session": {k: v for k, v in body["session"].items() if k != "session_id"}}
    assert "replayed_session" in _score(api, plain).json()["reasons"]


def test_recorded_answer_holds_no_personal_data(api, sessions):
    _enrolled(api, sessions, "jon.doe@example.com", "u001")
    sid = _sid()
    body = _body(api, "jon.doe@example.com", sessions["u001"]["genuine"][0].session, sid)
    assert _score(api, body).status_code == 200
    [row] = [r for r in _answers(api) if r[2] == sid]
    tenant, operation, _, _, fingerprint, answer = row
    assert (tenant, operation) == ("tenant-a", "score") and len(fingerprint) == 64
    assert "jon" not in answer and "example.com" not in answer
    assert '"t":' not in answer and "key_class" not in answer and "embedding" not in answer
    assert user_key("tenant-a", "jon.doe@example.com", api.secret.encode()) not in answer


@pytest.mark.parametrize("change", ["user_id", "events", "update_profile", "signals"])
def test_same_id_with_another_body_is_409_and_writes_nothing(api, sessions, change):
    user = f"kai-{change}"
    _enrolled(api, sessions, user, "u002")
    _enrolled(api, sessions, user + "-other", "u003")
    genuine = sessions["u002"]["genuine"]
    body = _body(api, user, genuine[0].session, _sid())
    first = _score(api, body)
    assert first.status_code == 200
    if change == "user_id":
        other = body | {"user_id": user + "-other"}
    elif change == "events":
        other = _body(api, user, genuine[1].session, body["session"]["session_id"])
    elif change == "update_profile":
        other = body | {"update_profile": True}
    else:
        other = body | {"session": body["session"] | {"signals": {"paste": 1}}}
    answers = _answers(api)
    rows = _profile_rows(api, user), _profile_rows(api, user + "-other")
    r = _score(api, other)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "session_id was already used for another" in detail
    assert _answers(api) == answers
    assert (_profile_rows(api, user), _profile_rows(api, user + "-other")) == rows
    assert _score(api, body).content == first.content  # the first request still gets its answer


def test_ids_are_per_tenant(api, sessions):
    _enrolled(api, sessions, "lena", "u004")
    rec = sessions["u004"]["enroll"][api.min_enroll]
    assert api.client.post("/v1/users/lena/enroll", json={"session": _plain(api, rec.session)},
                           headers=api.headers_b).status_code == 200
    sid = _sid()
    body = _body(api, "lena", sessions["u004"]["genuine"][0].session, sid)
    a, b = _score(api, body), _score(api, body, headers=api.headers_b)
    assert a.status_code == b.status_code == 200
    assert a.json()["enrollment"] != b.json()["enrollment"]  # scored against each tenant's profile
    assert sorted(r[0] for r in _answers(api) if r[2] == sid) == ["tenant-a", "tenant-b"]


def test_retried_enroll_gets_the_first_answer(api, sessions):
    recs = sessions["u005"]["enroll"]
    sid = _sid()
    first = _enroll(api, "max", recs[0].session, sid)
    assert first.status_code == 200, first.text
    again = _enroll(api, "max", recs[0].session, sid)
    assert again.status_code == 200, again.text  # not 422 replayed_session
    assert again.content == first.content
    status = api.client.get("/v1/users/max", headers=api.headers_a).json()
    assert status["sessions"] == 1
    # Another body under the id: 409, nothing written; a new id enrolls as usual.
    rows = _profile_rows(api, "max")
    r = _enroll(api, "max", recs[1].session, sid)
    assert r.status_code == 409 and "already used" in r.json()["detail"]
    r = _enroll(api, "max-two", recs[0].session, sid)
    assert r.status_code == 409
    assert _profile_rows(api, "max") == rows
    assert api.client.get("/v1/users/max-two", headers=api.headers_a).status_code == 404
    assert _enroll(api, "max", recs[1].session, _sid()).json()["sessions"] == 2
    # Without an id a repeated session is still refused as a replay.
    plain = api.client.post("/v1/users/max/enroll", json={"session": _plain(api, recs[1].session)},
                            headers=api.headers_a)
    assert plain.status_code == 422 and "repeats a session" in plain.json()["detail"]


def test_refused_enroll_records_nothing(api, sessions):
    bot = next(recs["bot"][0].session for recs in sessions.values() if recs["bot"])
    sid = _sid()
    for _ in range(2):
        r = _enroll(api, "nia", bot, sid)
        assert r.status_code == 422 and "automated" in r.json()["detail"]
    assert not [r for r in _answers(api) if r[2] == sid]
    # A score for an unknown user records nothing either: it stays 404.
    body = _body(api, "nobody", sessions["u000"]["genuine"][1].session, sid)
    assert _score(api, body).status_code == 404 and _score(api, body).status_code == 404
    assert not [r for r in _answers(api) if r[2] == sid]


def test_erasure_removes_the_recorded_answers(api, sessions):
    sid = _sid()
    assert _enroll(api, "omar", sessions["u001"]["enroll"][0].session, sid).status_code == 200
    for rec in sessions["u001"]["enroll"][1:api.min_enroll]:
        assert _enroll(api, "omar", rec.session, _sid()).status_code == 200
    score_sid = _sid()
    assert _score(api, _body(api, "omar", sessions["u001"]["genuine"][2].session, score_sid)).status_code == 200
    assert {r[2] for r in _answers(api)} >= {sid, score_sid}
    assert api.client.delete("/v1/users/omar", headers=api.headers_a).status_code == 204
    assert not {r[2] for r in _answers(api)} & {sid, score_sid}
    # After erasure the id is free again: the user enrolls anew.
    again = _enroll(api, "omar", sessions["u001"]["enroll"][0].session, sid)
    assert again.status_code == 200 and again.json()["sessions"] == 1


def test_concurrent_copies_score_once(api, sessions, monkeypatch):
    """Copies sent at once all get one answer; the profile is updated and scored once.

    The pre-check outside the transaction is disabled so that every copy reaches the
    per-user transaction: the check there is what must hold.
    """
    _enrolled(api, sessions, "pia", "u003")
    service = api.service
    monkeypatch.setattr(service, "_prior", lambda tenant, once: None)
    calls, lock = [], threading.Lock()
    score = service.scorer.score

    def counting(observed, profile, policy=None):
        with lock:
            calls.append(1)
        return score(observed, profile, policy)

    monkeypatch.setattr(service.scorer, "score", counting)
    body = _body(api, "pia", sessions["u003"]["genuine"][0].session, _sid(), update_profile=True)
    before = api.client.get("/v1/users/pia", headers=api.headers_a).json()
    n = 6
    start = threading.Barrier(n)

    def send(_):
        start.wait()
        return _score(api, body)

    with ThreadPoolExecutor(n) as pool:
        responses = list(pool.map(send, range(n)))
    assert [r.status_code for r in responses] == [200] * n
    assert len({r.content for r in responses}) == 1
    assert calls == [1]
    assert "replayed_session" not in responses[0].json()["reasons"]
    after = api.client.get("/v1/users/pia", headers=api.headers_a).json()
    assert after["sessions"] - before["sessions"] in (0, 1)  # one update at most (when low risk)
    assert after["sessions"] == responses[0].json()["enrollment"]["sessions"]


def test_concurrent_copies_enroll_once(api, sessions):
    rec = sessions["u004"]["enroll"][0]
    sid, n = _sid(), 5
    start = threading.Barrier(n)

    def send(_):
        start.wait()
        return _enroll(api, "quin", rec.session, sid)

    with ThreadPoolExecutor(n) as pool:
        responses = list(pool.map(send, range(n)))
    assert [r.status_code for r in responses] == [200] * n
    assert len({r.content for r in responses}) == 1
    assert api.client.get("/v1/users/quin", headers=api.headers_a).json()["sessions"] == 1


def test_expired_answers_are_ignored(api, sessions, monkeypatch):
    from datetime import timedelta

    _enrolled(api, sessions, "rosa", "u005")
    body = _body(api, "rosa", sessions["u005"]["genuine"][0].session, _sid())
    assert "replayed_session" not in _score(api, body).json()["reasons"]
    monkeypatch.setattr(api.service, "answer_ttl", timedelta(microseconds=1))
    again = _score(api, body)  # past the TTL: scored anew, so the replay guard sees it
    assert again.status_code == 200 and "replayed_session" in again.json()["reasons"]


def test_openapi_documents_409(api):
    paths = api.client.get("/openapi.json").json()["paths"]
    assert "409" in paths["/v1/score"]["post"]["responses"]
    assert "409" in paths["/v1/users/{user_id}/enroll"]["post"]["responses"]
    assert "409" in api.client.get("/openapi.json").text


def test_no_request_reached_the_catch_all(api):
    assert api.app.state.metrics.unhandled == 0
    assert 'biometrics_errors_total{kind="session_id_reused"}' in api.client.get("/metrics").text

"""Outcome feedback through the real app and a SQLite file: score sessions with session ids,
post the outcomes learnt later, read live FAR, FRR and precision (checked by hand against the
answers the API gave), at the served and at other thresholds; retries, conflicts, bad input,
erasure and tenant isolation."""

from __future__ import annotations

import sqlite3
import uuid

import numpy as np
import pytest

from biometrics.profiles import user_key


def _sid() -> str:
    return str(uuid.uuid4())


def _enrolled(api, sessions, user_id: str, source: str, headers=None) -> None:
    for rec in sessions[source]["enroll"][:api.min_enroll]:
        r = api.enroll(user_id, api.new_id(rec.session), headers=headers or api.headers_a)
        assert r.status_code == 200, r.text


def _scored(api, user_id: str, session, headers=None) -> tuple[str, dict]:
    """Score a session under a fresh session id: (id, answer)."""
    sid = _sid()
    r = api.score(user_id, session.model_copy(update={"session_id": sid}), headers=headers or api.headers_a)
    assert r.status_code == 200, r.text
    return sid, r.json()


def _feedback(api, body: dict, headers=None):
    return api.client.post("/v1/feedback", json=body, headers=headers or api.headers_a)


def _metrics(api, headers=None, **params):
    r = api.client.get("/v1/feedback/metrics", params=params, headers=headers or api.headers_a)
    assert r.status_code == 200, r.text
    return r.json()


def _rows(api, table: str) -> list[tuple]:
    api.flush()
    with sqlite3.connect(api.db_path) as db:
        return db.execute(f"SELECT * FROM {table}").fetchall()


def _expected(labelled: list[tuple[dict, str]], allow_below=None, deny_at_or_above=None) -> dict:
    """FAR, FRR and precisions counted by hand from (answer, outcome) pairs."""
    fraud = [a for a, o in labelled if o != "confirmed_genuine"]
    genuine = [a for a, o in labelled if o == "confirmed_genuine"]

    def decision(a: dict) -> str:
        if allow_below is None or "profile_enrolling" in a["reasons"]:
            return a["decision"]
        return "deny" if a["risk"] >= deny_at_or_above else "allow" if a["risk"] < allow_below else "challenge"

    denied = [a for a, _ in labelled if decision(a) == "deny"]
    not_allowed = [a for a, _ in labelled if decision(a) != "allow"]
    share = lambda n, d: None if d == 0 else n / d
    return {"far": share(sum(decision(a) == "allow" for a in fraud), len(fraud)),
            "frr": share(sum(decision(a) != "allow" for a in genuine), len(genuine)),
            "deny_precision": share(sum(a in fraud for a in denied), len(denied)),
            "not_allow_precision": share(sum(a in fraud for a in not_allowed), len(not_allowed)),
            "fraud": len(fraud), "genuine": len(genuine)}


def _check(model: dict, want: dict) -> None:
    for k, v in want.items():
        assert model[k] == (pytest.approx(v) if v is not None else None), (k, model[k], v)


def test_feedback_to_live_metrics(api, sessions):
    _enrolled(api, sessions, "fb-alice", "u000")
    labelled: list[tuple[str, dict, str]] = []
    for rec in sessions["u000"]["genuine"][:4]:
        sid, a = _scored(api, "fb-alice", rec.session)
        labelled.append((sid, a, "confirmed_genuine"))
    for i, rec in enumerate(sessions["u000"]["impostor"][:4]):
        sid, a = _scored(api, "fb-alice", rec.session)
        labelled.append((sid, a, "chargeback" if i % 2 else "confirmed_fraud"))
    sid, a = _scored(api, "fb-alice", sessions["u000"]["bot"][0].session)
    assert a["decision"] == "deny" and "bot_like_timing" in a["reasons"]
    labelled.append((sid, a, "confirmed_fraud"))
    _scored(api, "fb-alice", sessions["u000"]["genuine"][4].session)  # scored, never labelled
    assert len({a["decision"] for _s, a, _o in labelled}) >= 2, "want a mix of decisions"

    assert _metrics(api) == {"allow_below": None, "deny_at_or_above": None, "labelled": 0, "models": []}
    for sid, _a, outcome in labelled:
        r = _feedback(api, {"session_id": sid, "outcome": outcome, "learnt_at": "2026-05-14T09:30:00+02:00"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["session_id"], body["outcome"], body["created"]) == (sid, outcome, True)
        assert body["learnt_at"].startswith("2026-05-14T07:30:00")

    pairs = [(a, o) for _s, a, o in labelled]
    m = _metrics(api)
    assert m["labelled"] == 9 and m["allow_below"] is None
    (model,) = m["models"]
    assert model["model_version"] == "tiny-test" and model["labelled"] == 9 and model["by_policy"] == 0
    assert model["outcomes"] == {"confirmed_fraud": 3, "confirmed_genuine": 4, "chargeback": 2}
    _check(model, _expected(pairs))
    served = {d: {"fraud": sum(a["decision"] == d and o != "confirmed_genuine" for a, o in pairs),
                  "genuine": sum(a["decision"] == d and o == "confirmed_genuine" for a, o in pairs)}
              for d in ("allow", "challenge", "deny")}
    assert model["decisions"] == served

    # Other thresholds: recomputed from the stored risks.
    for allow, deny in [(1.0, 1.0), (0.000001, 0.000001), (0.3, 0.8)]:
        m = _metrics(api, allow_below=allow, deny_at_or_above=deny)
        assert (m["allow_below"], m["deny_at_or_above"]) == (allow, deny)
        _check(m["models"][0], _expected(pairs, allow, deny))
    (everything_allowed,) = _metrics(api, allow_below=1.0, deny_at_or_above=1.0)["models"]
    # Every fraud below risk 1 is allowed, the bot too: a guard sets the risk to 0.97 and the
    # thresholds decide, as they do when serving (the LLR fusion can saturate at 1.0).
    frauds = [a["risk"] for a, o in pairs if o != "confirmed_genuine"]
    assert everything_allowed["far"] == pytest.approx(np.mean([r < 1.0 for r in frauds]))
    assert everything_allowed["far"] > 0
    assert everything_allowed["frr"] == 0.0
    # One threshold: the other is the served default.
    cfg = api.service.scorer.config
    m = _metrics(api, allow_below=min(0.2, cfg.deny_at_or_above))
    assert m["deny_at_or_above"] == pytest.approx(cfg.deny_at_or_above)


def test_policy_decisions_are_marked_and_kept(api, sessions):
    r = api.enroll("fb-new", api.new_id(sessions["u001"]["enroll"][0].session))
    assert r.status_code == 200
    sid, a = _scored(api, "fb-new", sessions["u001"]["genuine"][0].session)
    assert "profile_enrolling" in a["reasons"] and a["decision"] == "challenge"
    # Tenant B holds nothing yet; the policy decision lives in tenant A only.
    assert _metrics(api, headers=api.headers_b)["models"] == []
    assert _feedback(api, {"session_id": sid, "outcome": "confirmed_genuine"}).status_code == 200
    (model,) = _metrics(api, allow_below=1.0, deny_at_or_above=1.0)["models"]
    assert model["by_policy"] >= 1
    assert model["decisions"]["challenge"]["genuine"] >= 1  # still challenged at thresholds that allow all


def test_same_outcome_is_idempotent_another_is_409_unknown_is_404(api, sessions):
    _enrolled(api, sessions, "fb-bob", "u002")
    sid, _a = _scored(api, "fb-bob", sessions["u002"]["genuine"][0].session)
    first = _feedback(api, {"session_id": sid, "outcome": "confirmed_fraud", "learnt_at": "2026-06-01T00:00:00Z"})
    assert first.status_code == 200 and first.json()["created"] is True
    again = _feedback(api, {"session_id": sid.upper(), "outcome": "confirmed_fraud"})
    assert again.status_code == 200, again.text
    assert again.json() == first.json() | {"created": False}  # the first learnt_at stays
    other = _feedback(api, {"session_id": sid, "outcome": "confirmed_genuine"})
    assert other.status_code == 409 and "confirmed_fraud" in other.json()["detail"]
    unknown = _feedback(api, {"session_id": _sid(), "outcome": "chargeback"})
    assert unknown.status_code == 404 and "no scored session" in unknown.json()["detail"]
    # A score without a session id is logged, but cannot be labelled.
    before = len(_rows(api, "decisions"))
    plain = api.session_json(sessions["u002"]["genuine"][1].session)
    plain.pop("session_id", None)
    r = api.client.post("/v1/score", headers=api.headers_a, json={"user_id": "fb-bob", "session": plain})
    assert r.status_code == 200
    assert len(_rows(api, "decisions")) == before + 1


def test_a_retried_score_logs_one_decision(api, sessions):
    _enrolled(api, sessions, "fb-carol", "u003")
    session = sessions["u003"]["genuine"][0].session.model_copy(update={"session_id": _sid()})
    before = len(_rows(api, "decisions"))
    first = api.score("fb-carol", session)
    assert first.status_code == 200
    assert api.score("fb-carol", session).content == first.content
    assert len(_rows(api, "decisions")) == before + 1
    row = [r for r in _rows(api, "decisions") if r[2] == session.session_id]
    assert len(row) == 1
    # tenant, session id, user row id, risk, decision, by_policy, model version: nothing personal
    assert row[0][1] == "tenant-a" and row[0][4] == pytest.approx(first.json()["risk"])
    assert row[0][5] == first.json()["decision"] and row[0][7] == "tiny-test"
    assert "fb-carol" not in repr(_rows(api, "decisions"))


@pytest.mark.parametrize(("body", "status", "where"), [
    ({"session_id": "not-a-uuid-but-36-characters-long-xx", "outcome": "chargeback"}, 422, "body.session_id"),
    ({"session_id": "0b6f3c1e-2a4d-4e8f-9c7b-5d1a2e3f4b6c", "outcome": "fraud"}, 422, "body.outcome"),
    ({"session_id": "0b6f3c1e-2a4d-4e8f-9c7b-5d1a2e3f4b6c"}, 422, "body.outcome"),
    ({"session_id": "0b6f3c1e-2a4d-4e8f-9c7b-5d1a2e3f4b6c", "outcome": "chargeback", "learnt_at": 1717000000},
     422, "body.learnt_at"),
    ({"session_id": "0b6f3c1e-2a4d-4e8f-9c7b-5d1a2e3f4b6c", "outcome": "chargeback",
      "learnt_at": "2026-05-01T12:00:00"}, 422, "time zone"),
    ({"session_id": "0b6f3c1e-2a4d-4e8f-9c7b-5d1a2e3f4b6c", "outcome": "chargeback",
      "learnt_at": "0001-01-01T00:00:00+01:00"}, 422, "body.learnt_at"),
    ({"session_id": "0b6f3c1e-2a4d-4e8f-9c7b-5d1a2e3f4b6c", "outcome": "chargeback",
      "learnt_at": "9999-12-31T23:59:59Z"}, 422, "between 2000-01-01 and now"),
    ({"session_id": "0b6f3c1e-2a4d-4e8f-9c7b-5d1a2e3f4b6c", "outcome": "chargeback", "extra": 1}, 422,
     "body.extra"),
    ({"session_id": 5, "outcome": "chargeback"}, 422, "body.session_id"),
])
def test_bad_feedback_is_a_4xx_naming_the_field(api, body, status, where):
    r = _feedback(api, body)
    assert r.status_code == status, r.text
    assert where in repr(r.json()["detail"])


def test_feedback_body_errors_and_auth(api):
    dup = b'{"session_id": "0b6f3c1e-2a4d-4e8f-9c7b-5d1a2e3f4b6c", "outcome": "chargeback", "outcome": "x"}'
    r = api.client.post("/v1/feedback", content=dup, headers=api.headers_a | {"content-type": "application/json"})
    assert r.status_code == 400 and "appears twice" in r.json()["detail"]
    assert api.client.post("/v1/feedback", json={"session_id": _sid(), "outcome": "chargeback"}).status_code == 401
    assert api.client.get("/v1/feedback/metrics").status_code == 401
    big = b'{"session_id": "' + b"x" * (api.settings.max_request_bytes + 10) + b'"}'
    r = api.client.post("/v1/feedback", content=big, headers=api.headers_a | {"content-type": "application/json"})
    assert r.status_code == 413
    for params in ({"allow_below": 0.9, "deny_at_or_above": 0.5}, {"allow_below": 0}, {"deny_at_or_above": 1.5},
                   {"allow_below": "nan"}, {"allow_below": "abc"}):
        r = api.client.get("/v1/feedback/metrics", params=params, headers=api.headers_a)
        assert r.status_code == 422, (params, r.text)


def test_erasure_removes_decisions_and_feedback(api, sessions):
    _enrolled(api, sessions, "fb-dave", "u004")
    sid, _a = _scored(api, "fb-dave", sessions["u004"]["genuine"][0].session)
    assert _feedback(api, {"session_id": sid, "outcome": "confirmed_genuine"}).status_code == 200
    key = user_key("tenant-a", "fb-dave", api.secret.encode())
    api.flush()
    with sqlite3.connect(api.db_path) as db:
        (uid,) = db.execute("SELECT id FROM users WHERE user_key = ?", (key,)).fetchone()
        n_dec = db.execute("SELECT count(*) FROM decisions WHERE user_id = ?", (uid,)).fetchone()[0]
        n_fb = db.execute("SELECT count(*) FROM feedback WHERE user_id = ?", (uid,)).fetchone()[0]
    assert n_dec >= 1 and n_fb == 1
    assert api.client.delete("/v1/users/fb-dave", headers=api.headers_a).status_code == 204
    with sqlite3.connect(api.db_path) as db:
        assert db.execute("SELECT count(*) FROM decisions WHERE user_id = ?", (uid,)).fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM feedback WHERE session_id = ?", (sid,)).fetchone()[0] == 0
    assert _feedback(api, {"session_id": sid, "outcome": "confirmed_genuine"}).status_code == 404


def test_tenant_isolation(api, sessions):
    _enrolled(api, sessions, "fb-erin", "u005")
    _enrolled(api, sessions, "fb-erin", "u005", headers=api.headers_b)
    sid, _a = _scored(api, "fb-erin", sessions["u005"]["genuine"][0].session)
    before_a = _metrics(api)
    # Tenant B cannot label tenant A's session, nor see A's labels.
    r = _feedback(api, {"session_id": sid, "outcome": "confirmed_fraud"}, headers=api.headers_b)
    assert r.status_code == 404
    assert _feedback(api, {"session_id": sid, "outcome": "confirmed_genuine"}).status_code == 200
    sid_b, _b = _scored(api, "fb-erin", sessions["u005"]["impostor"][0].session, headers=api.headers_b)
    assert _feedback(api, {"session_id": sid_b, "outcome": "chargeback"}, headers=api.headers_b).status_code == 200
    (model_b,) = _metrics(api, headers=api.headers_b)["models"]
    assert (model_b["labelled"], model_b["fraud"], model_b["genuine"]) == (1, 1, 0)
    after_a = _metrics(api)
    assert after_a["labelled"] == before_a["labelled"] + 1
    assert _feedback(api, {"session_id": sid_b, "outcome": "chargeback"}).status_code == 404


def test_old_decisions_and_outcomes_are_purged_lazily(api, settings_for, sessions):
    import warnings
    from datetime import timedelta

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from serving.app import create_app

    settings = settings_for(decision_retention_days=30)
    with TestClient(create_app(settings)) as client:
        api = type(api)(client, settings.sqlite_path, settings)  # this app, not the module one
        assert api.service.decision_retention == timedelta(days=30)
        _enrolled(api, sessions, "fb-old", "u000")
        sid, _a = _scored(api, "fb-old", sessions["u000"]["genuine"][0].session)
        assert _feedback(api, {"session_id": sid, "outcome": "confirmed_genuine"}).status_code == 200
        assert (len(_rows(api, "decisions")), len(_rows(api, "feedback"))) == (1, 1)
        api.service.decision_retention = timedelta(microseconds=1)  # everything is now past it
        api.service._last_purge = float("-inf")  # the next request sweeps
        _scored(api, "fb-old", sessions["u000"]["genuine"][1].session)
        assert len(_rows(api, "feedback")) == 0
        assert len(_rows(api, "decisions")) <= 1  # at most the decision of the sweeping request
        assert _feedback(api, {"session_id": sid, "outcome": "confirmed_genuine"}).status_code == 404

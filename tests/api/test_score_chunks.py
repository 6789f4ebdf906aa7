"""POST /v1/score with ``chunk``: a session sent in pieces under its session_id, through the real app.

Each chunk's answer is the score of every chunk so far, equal to the score of that much of the
session sent whole; only the final chunk writes (profile update, replay signatures, decision
log, recorded answer); bad sequences are 4xx and change nothing; the per-process buffer is
bounded in sessions and events and expires (an injected clock, no sleeping).
"""

from __future__ import annotations

import itertools
import math
import sqlite3
import uuid
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from biometrics.profiles import user_key
from serving.app import create_app
from serving.schemas import SCORE_CHUNK_EXAMPLE, ScoreIn

ROOT = Path(__file__).resolve().parents[2]
EVENT_LISTS = ("keystrokes", "pointer", "touch")


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _sid() -> str:
    return str(uuid.uuid4())


def _whole(api, session, session_id: str) -> dict:
    return api.session_json(session) | {"session_id": session_id}


def _pieces(api, session, session_id: str, n: int = 3) -> list[dict]:
    """The session cut by time into n chunks (each: its own events of every modality); the first
    cut falls inside a key press, so a press's down and up arrive in different chunks."""
    whole = _whole(api, session, session_id)
    times = sorted(e["t"] for m in EVENT_LISTS for e in whole.get(m, []))
    cuts = [times[len(times) * k // n] for k in range(1, n)]
    keys = whole.get("keystrokes", [])
    downs = {e["press"]: e["t"] for e in keys if e["type"] == "down"}
    straddle = [(downs[e["press"]] + e["t"]) / 2 for e in keys
                if e["type"] == "up" and e["t"] > downs.get(e["press"], math.inf) and e["t"] < cuts[-1]]
    if straddle:
        cuts[0] = straddle[len(straddle) // 3]
    out = []
    for a, b in itertools.pairwise([-math.inf, *cuts, math.inf]):
        out.append(whole | {m: [e for e in whole.get(m, []) if a <= e["t"] < b] for m in EVENT_LISTS})
    assert sum(len(p[m]) for p in out for m in EVENT_LISTS) == sum(len(whole.get(m, [])) for m in EVENT_LISTS)
    return out


def _chunk(api, user_id: str, piece: dict, index: int, final: bool, update_profile: bool = False,
           headers=None, client=None):
    body = {"user_id": user_id, "session": piece, "update_profile": update_profile,
            "chunk": {"index": index, "final": final}}
    return (client or api.client).post("/v1/score", json=body, headers=headers or api.headers_a)


def _score_whole(api, user_id: str, session: dict, update_profile: bool = False, client=None):
    return (client or api.client).post("/v1/score", headers=api.headers_a, json={
        "user_id": user_id, "session": session, "update_profile": update_profile})


def _enrolled(api, sessions, source: str, *users: str, client=None) -> None:
    """Every user enrolled on the same sessions of ``source``: identical profiles."""
    for rec in sessions[source]["enroll"][:api.min_enroll]:
        plain = {k: v for k, v in api.session_json(rec.session).items() if k != "session_id"}
        for user in users:
            r = (client or api.client).post(f"/v1/users/{user}/enroll", json={"session": plain},
                                            headers=api.headers_a)
            assert r.status_code == 200, r.text


def _rows(db_path: Path, user_id: str, secret: str, tenant: str = "tenant-a") -> tuple:
    """The user's profile rows, logged decisions and recorded answers, as stored."""
    key = user_key(tenant, user_id, secret.encode())
    mine = "JOIN users u ON u.id = x.user_id WHERE u.tenant = ? AND u.user_key = ?"
    with sqlite3.connect(db_path) as db:
        user = db.execute("SELECT * FROM users WHERE tenant = ? AND user_key = ?", (tenant, key)).fetchall()
        mods = db.execute(f"SELECT x.* FROM modality_profiles x {mine} ORDER BY x.modality", (tenant, key)).fetchall()
        decisions = db.execute(f"SELECT x.session_id, x.risk, x.decision FROM decisions x {mine} ORDER BY x.id",
                               (tenant, key)).fetchall()
        answers = db.execute(f"SELECT x.operation, x.session_id FROM scored_sessions x {mine} "
                             "ORDER BY x.session_id", (tenant, key)).fetchall()
    return user, mods, decisions, answers


def _same_score(a: dict, b: dict) -> None:
    assert a["risk"] == pytest.approx(b["risk"], abs=1e-6)
    assert (a["decision"], a["reasons"], a["confidence"]) == (b["decision"], b["reasons"], b["confidence"])
    assert a["modalities"].keys() == b["modalities"].keys()
    for name, m in a["modalities"].items():
        for k, v in m.items():
            assert v == (pytest.approx(b["modalities"][name][k], abs=1e-6) if v is not None else None), (name, k)


# The score of a session in chunks is the score of the session ----------------------------------


def test_three_chunks_score_as_the_session_sent_whole(api, sessions):
    rec = sessions["u000"]["genuine"][0]
    _enrolled(api, sessions, "u000", "whole-1", "chunked-1", "prefix-1")
    whole = _score_whole(api, "whole-1", _whole(api, rec.session, _sid()), update_profile=True)
    assert whole.status_code == 200, whole.text
    sid = _sid()
    pieces = _pieces(api, rec.session, sid)
    before = _rows(api.db_path, "chunked-1", api.secret)
    answers = []
    for i, piece in enumerate(pieces):
        final = i == len(pieces) - 1
        r = _chunk(api, "chunked-1", piece, i, final, update_profile=True)
        assert r.status_code == 200, r.text
        answers.append(r.json())
        held = sum(len(p[m]) for p in pieces[:i + 1] for m in EVENT_LISTS)
        assert r.json()["chunk"] == {"index": i, "final": final, "events": held}
        if not final:  # a chunk that is not final writes nothing: profile, signatures, decisions, answers
            assert _rows(api.db_path, "chunked-1", api.secret) == before
            # ... and answers what that much of the session, sent whole, scores
            prefix = pieces[0] | {m: [e for p in pieces[:i + 1] for e in p[m]] for m in EVENT_LISTS}
            alone = _score_whole(api, "prefix-1", prefix | {"session_id": _sid()})
            assert alone.status_code == 200, alone.text
            _same_score(r.json(), alone.json())
    _same_score(answers[-1], whole.json())
    assert answers[-1]["enrollment"]["sessions"] == whole.json()["enrollment"]["sessions"]
    # The final chunk wrote what the whole session wrote, once: a decision under the session id.
    _, mods, decisions, recorded = _rows(api.db_path, "chunked-1", api.secret)
    assert decisions == [(sid, answers[-1]["risk"], answers[-1]["decision"])]
    assert ("score", sid) in recorded
    # Kept enrollment inputs (second-to-last column) are encrypted under a fresh nonce, bound to the user.
    whole_mods = _rows(api.db_path, "whole-1", api.secret)[1]
    assert [m[2:-2] + m[-1:] for m in mods] == [m[2:-2] + m[-1:] for m in whole_mods]
    assert all(m[-2] is not None for m in mods + whole_mods)
    # The whole session under the same id afterwards is a retry of the same request: the same answer.
    again = _score_whole(api, "chunked-1", _whole(api, rec.session, sid), update_profile=True)
    assert again.status_code == 200, again.text
    assert again.json() == {k: v for k, v in answers[-1].items() if k != "chunk"}
    assert "chunk" not in whole.json()


def test_a_retried_chunk_gets_its_answer_and_writes_nothing_again(api, sessions):
    rec = sessions["u001"]["genuine"][0]
    _enrolled(api, sessions, "u001", "retry-1")
    pieces = _pieces(api, rec.session, _sid(), n=2)
    first = _chunk(api, "retry-1", pieces[0], 0, False, update_profile=True)
    assert _chunk(api, "retry-1", pieces[0], 0, False, update_profile=True).content == first.content
    final = _chunk(api, "retry-1", pieces[1], 1, True, update_profile=True)
    assert final.status_code == 200, final.text
    stored = _rows(api.db_path, "retry-1", api.secret)
    for _ in range(2):
        again = _chunk(api, "retry-1", pieces[1], 1, True, update_profile=True)
        assert again.content == final.content  # not a replay of itself
    assert _rows(api.db_path, "retry-1", api.secret) == stored
    r = _chunk(api, "retry-1", pieces[0], 0, False, update_profile=True)
    assert r.status_code == 409 and "final chunk" in r.json()["detail"]


def test_one_final_chunk_is_the_whole_session(api, sessions):
    rec = sessions["u003"]["genuine"][0]
    _enrolled(api, sessions, "u003", "single-1", "single-2")
    whole = _score_whole(api, "single-1", _whole(api, rec.session, _sid()))
    one = _chunk(api, "single-2", _whole(api, rec.session, _sid()), 0, True)
    assert one.status_code == 200, one.text
    _same_score(one.json(), whole.json())
    assert one.json()["chunk"]["final"] is True


# Per-action mouse and per-stroke touch scoring, as the served bundle runs them ---------------


@pytest.fixture(scope="module")
def served(api, tmp_path_factory):
    """A client over the app with the shipped default bundle: pointer scored per action, touch per
    stroke, keystrokes per session (its own SQLite file)."""
    from serving.settings import Settings

    db = tmp_path_factory.mktemp("served") / "profiles.db"
    settings = Settings(bundle_path=ROOT / "bundles" / "default.pt", database_url=f"sqlite:///{db}",
                        api_keys=api.settings.api_keys, user_id_secret=api.secret,
                        min_enroll_sessions=api.min_enroll)
    with TestClient(create_app(settings)) as client:
        units = {s.modality: s.unit for s in client.app.state.service.scorer.bundle.scorers.values()}
        assert units["pointer"] == "action" and units["touch"] == "stroke"
        yield client, db
        assert client.app.state.metrics.unhandled == 0


@pytest.mark.parametrize("source", ["u000", "u002"])  # a desktop (mouse) and a phone (touch) user
def test_per_action_and_per_stroke_scores_in_chunks_equal_the_whole_session(api, sessions, served, source):
    client, _ = served
    _enrolled(api, sessions, source, f"w-{source}", f"c-{source}", client=client)
    for rec in sessions[source]["genuine"][:2]:
        assert {"pointer", "touch"} & set(rec.session.modalities())
        whole = _score_whole(api, f"w-{source}", _whole(api, rec.session, _sid()), True, client=client)
        assert whole.status_code == 200, whole.text
        pieces = _pieces(api, rec.session, _sid(), n=4)
        for i, piece in enumerate(pieces):
            r = _chunk(api, f"c-{source}", piece, i, i == len(pieces) - 1, True, client=client)
            assert r.status_code == 200, r.text
        _same_score(r.json(), whole.json())
        scored = [m for m in r.json()["modalities"] if m != "keystrokes" and not m.startswith("keystrokes")]
        assert scored and all(r.json()["modalities"][m]["probability"] is not None for m in scored)


# Bad sequences: a clear 4xx, nothing written, the session held as it was ---------------------------

def _started(api, sessions, user: str, source: str = "u004", n: int = 3):
    """A user enrolled and a session of theirs whose chunk 0 was accepted: (pieces, stored rows)."""
    _enrolled(api, sessions, source, user)
    pieces = _pieces(api, sessions[source]["genuine"][0].session, _sid(), n=n)
    r = _chunk(api, user, pieces[0], 0, False)
    assert r.status_code == 200, r.text
    return pieces, _rows(api.db_path, user, api.secret)


def _shifted(piece: dict, dt: float) -> dict:
    return piece | {m: [e | {"t": max(0.0, e["t"] + dt)} for e in piece[m]] for m in EVENT_LISTS}


BAD = {
    "index_skipped": (lambda p, u: _chunk_args(p[2], 2, False), 409, "arrived before chunk 1"),
    "index_repeated_with_another_body": (lambda p, u: _chunk_args(p[1], 0, False), 409, "already received"),
    "back_in_time": (lambda p, u: _chunk_args(_shifted(p[1], -10_000.0), 1, False), 409, "time order"),
    "another_user": (lambda p, u: _chunk_args(p[1], 1, False, user=u + "-other"), 409, "another user"),
    "another_update_profile": (lambda p, u: _chunk_args(p[1], 1, False, update_profile=True), 409,
                               "update_profile"),
    "another_device": (lambda p, u: _chunk_args(p[1] | {"meta": {"device_type": "mobile"}}, 1, False), 409,
                       "meta"),
    "signals_decrease": (lambda p, u: _chunk_args(p[1] | {"signals": {"paste": 0}}, 1, False), 409,
                         "signals"),
    "another_tenant": (lambda p, u: _chunk_args(p[1], 1, False, tenant_b=True), 409, "no earlier chunks"),
    "press_repeated_across_chunks": (lambda p, u: _chunk_args(p[1] | {"keystrokes": [
        e | {"t": p[1]["keystrokes"][0]["t"]} for e in p[0]["keystrokes"] if e["type"] == "down"][:1]}, 1, False),
        422, "more than one down"),
}


def _chunk_args(piece: dict, index: int, final: bool, user: str | None = None, update_profile: bool = False,
                tenant_b: bool = False) -> dict:
    return {"piece": piece, "index": index, "final": final, "user": user, "update_profile": update_profile,
            "tenant_b": tenant_b}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_chunk_is_a_4xx_that_changes_nothing(api, sessions, case):
    user = f"bad-{case}".replace("_", "-")
    make, status, needle = BAD[case]
    if case == "signals_decrease":
        _enrolled(api, sessions, "u004", user)
        pieces = _pieces(api, sessions["u004"]["genuine"][0].session, _sid())
        pieces[0] = pieces[0] | {"signals": {"paste": 1}}
        pieces = [pieces[0], *(p | {"signals": {"paste": 1}} for p in pieces[1:])]
        assert _chunk(api, user, pieces[0], 0, False).status_code == 200
        stored = _rows(api.db_path, user, api.secret)
    else:
        pieces, stored = _started(api, sessions, user)
    if case == "another_user":
        _enrolled(api, sessions, "u004", user + "-other")
        stored = _rows(api.db_path, user, api.secret)
    args = make(pieces, user)
    r = _chunk(api, args["user"] or user, args["piece"], args["index"], args["final"], args["update_profile"],
               headers=api.headers_b if args["tenant_b"] else None)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    detail = r.json()["detail"]
    assert isinstance(detail, str) and needle in detail, detail
    assert '"t":' not in detail and "alice" not in detail
    assert _rows(api.db_path, user, api.secret) == stored
    # The session goes on from where it was: the right next chunks are taken.
    for i in (1, 2):
        r = _chunk(api, user, pieces[i], i, i == 2)
        assert r.status_code == 200, r.text
    assert r.json()["chunk"] == {"index": 2, "final": True, "events": sum(len(p[m]) for p in pieces
                                                                          for m in EVENT_LISTS)}


def test_chunks_that_start_no_session_here_are_4xx(api, sessions):
    _enrolled(api, sessions, "u004", "orphan")
    piece = _pieces(api, sessions["u004"]["genuine"][1].session, _sid())[1]
    r = _chunk(api, "orphan", piece, 1, False)
    assert r.status_code == 409 and "no earlier chunks" in r.json()["detail"] and "chunk 0" in r.json()["detail"]
    held = len(api.service.chunks)
    r = _chunk(api, "nobody-enrolled", piece, 0, False)
    assert r.status_code == 404, r.text
    assert len(api.service.chunks) == held  # a refused chunk 0 holds nothing
    # A session id already scored whole cannot start a chunked session.
    sid = _sid()
    assert _score_whole(api, "orphan", _whole(api, sessions["u004"]["genuine"][2].session, sid)).status_code == 200
    r = _chunk(api, "orphan", piece | {"session_id": sid}, 0, False)
    assert r.status_code == 409 and "already used" in r.json()["detail"]


@pytest.mark.parametrize("change", [
    {"chunk": {"index": -1, "final": False}}, {"chunk": {"index": "0", "final": False}},
    {"chunk": {"index": 0, "final": "yes"}}, {"chunk": {"index": 0}}, {"chunk": {"index": 0, "final": False, "n": 3}},
    {"chunk": {"index": 1000, "final": False}}, {"chunk": [0, True]}, "no_session_id",
])
def test_bad_chunk_fields_are_422s_naming_them(api, sessions, change):
    piece = _whole(api, sessions["u004"]["genuine"][3].session, _sid())
    body = {"user_id": "whoever", "session": piece, "chunk": {"index": 0, "final": False}}
    if change == "no_session_id":
        body["session"] = {k: v for k, v in piece.items() if k != "session_id"}
    else:
        body |= change
    r = api.client.post("/v1/score", json=body, headers=api.headers_a)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert any("chunk" in line for line in detail), detail


# The buffer: bounded, expiring, erased with the user ---------------------------------------------


@pytest.fixture
def small(settings_for, sessions):
    """An app whose buffer holds 2 sessions of at most 150 events, for 60 s, on a hand-moved clock."""
    settings = settings_for(chunk_max_sessions=2, chunk_max_events=150, chunk_ttl_s=60)
    with TestClient(create_app(settings)) as client:
        clock = Clock()
        client.app.state.service.chunks.clock = clock
        yield client, clock, Path(settings.sqlite_path)
        assert client.app.state.metrics.unhandled == 0


def test_the_buffer_holds_at_most_max_sessions_and_they_expire(api, sessions, small):
    client, clock, _ = small
    _enrolled(api, sessions, "u004", "b1", client=client)
    genuine = sessions["u004"]["genuine"]
    a, b, c = (_pieces(api, genuine[i].session, _sid()) for i in range(3))
    assert _chunk(api, "b1", a[0], 0, False, client=client).status_code == 200
    clock.now += 30
    assert _chunk(api, "b1", b[0], 0, False, client=client).status_code == 200
    r = _chunk(api, "b1", c[0], 0, False, client=client)  # a third session in progress: no room
    assert r.status_code == 429, r.text
    assert r.headers["retry-after"] == "30" and "limit" in r.json()["detail"]
    assert _chunk(api, "b1", a[1], 1, False, client=client).status_code == 200  # those in progress go on
    clock.now += 61  # a and b idle past the TTL: dropped
    assert _chunk(api, "b1", c[0], 0, False, client=client).status_code == 200
    r = _chunk(api, "b1", b[1], 1, False, client=client)
    assert r.status_code == 409 and "expired" in r.json()["detail"], r.text
    # A final chunk frees its place at once.
    assert _chunk(api, "b1", a[0] | {"session_id": _sid()}, 0, False, client=client).status_code == 200
    assert _chunk(api, "b1", c[1], 1, True, client=client).status_code == 200
    assert len(client.app.state.service.chunks) == 1
    assert _chunk(api, "b1", b[0] | {"session_id": _sid()}, 0, False, client=client).status_code == 200
    assert 'biometrics_errors_total{kind="chunk_buffer_full"} 1.0' in client.get("/metrics").text


def test_a_session_holds_at_most_max_events(api, sessions, small):
    client, _, db = small
    _enrolled(api, sessions, "u004", "b2", client=client)
    rec = max((r for user in sessions.values() for r in user["genuine"]),  # the longest sample session
              key=lambda r: len(r.session.keystrokes) + len(r.session.pointer))
    pieces = _pieces(api, rec.session, _sid(), n=2)
    assert sum(len(p[m]) for p in pieces for m in EVENT_LISTS) > 150
    assert _chunk(api, "b2", pieces[0], 0, False, client=client).status_code == 200
    stored = _rows(db, "b2", api.secret)
    r = _chunk(api, "b2", pieces[1], 1, True, client=client)
    assert r.status_code == 422 and "at most 150 events" in r.json()["detail"], r.text
    assert _rows(db, "b2", api.secret) == stored
    empty = pieces[1] | {m: [] for m in EVENT_LISTS}  # the session ends with what it holds
    r = _chunk(api, "b2", empty, 1, True, client=client)
    assert r.status_code == 200 and r.json()["chunk"]["events"] == sum(len(pieces[0][m]) for m in EVENT_LISTS)


def test_erasure_drops_the_users_chunks_in_progress(api, sessions, small):
    client, _, _ = small
    _enrolled(api, sessions, "u004", "b3", client=client)
    pieces = _pieces(api, sessions["u004"]["genuine"][4].session, _sid())
    assert _chunk(api, "b3", pieces[0], 0, False, client=client).status_code == 200
    assert len(client.app.state.service.chunks) == 1
    assert client.delete("/v1/users/b3", headers=api.headers_a).status_code == 204
    assert len(client.app.state.service.chunks) == 0
    assert _chunk(api, "b3", pieces[1], 1, False, client=client).status_code == 409


# The contract, documented -----------------------------------------------------------------------


def test_the_chunk_fields_and_example_are_documented(api):
    spec = api.client.get("/openapi.json").json()
    op = spec["paths"]["/v1/score"]["post"]
    assert {"409", "422", "429"} <= set(op["responses"]) and "chunk" in op["description"]
    schemas = spec["components"]["schemas"]
    assert {"index", "final"} == set(schemas["ChunkIn"]["properties"]) and "chunk" in schemas["ScoreIn"]["properties"]
    assert "chunk" in schemas["ScoreOut"]["properties"] and "chunk" not in schemas["ScoreOut"].get("required", [])
    shown = op["requestBody"]["content"]["application/json"]["examples"]["first_chunk"]["value"]
    assert shown == SCORE_CHUNK_EXAMPLE
    ScoreIn.model_validate(shown)
    r = api.client.post("/v1/score", json=shown, headers=api.headers_a)
    assert r.status_code == 404, r.text  # valid; its user is not enrolled in this tenant

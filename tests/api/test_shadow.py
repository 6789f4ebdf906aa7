"""Champion and challenger through the real app and SQLite files: a challenger bundle scores every
session in shadow; the answer stays the champion's, both risks reach the metrics and the score-pair
log, a failing challenger is counted and the request succeeds, feedback metrics report both, and
``serving.promote`` swaps the bundle and keeps a backup."""

from __future__ import annotations

import json
import sqlite3
import uuid
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from conftest import HEADERS_A, MIN_ENROLL, build_tiny_bundle, session_json

from biometrics.bundle import ModelBundle
from serving.app import create_app
from serving.promote import main as promote_main
from serving.shadow import ShadowLog

CHALLENGER = "tiny-challenger"


@pytest.fixture(scope="module")
def challenger_path(tmp_path_factory) -> Path:
    return build_tiny_bundle(tmp_path_factory.mktemp("challenger") / "challenger.pt", seed=1,
                             model_version=CHALLENGER)


def _sid(session):
    return session.model_copy(update={"session_id": str(uuid.uuid4())})


def _metric(client, name: str, **labels) -> float:
    """Sum of a metric's samples whose labels include ``labels``."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def _run(settings, sessions, users=("u000", "u001"), n_scores=4, patch=None):
    """Enroll users, score genuine and impostor sessions (fixed session ids); the answers and the app."""
    answers = []
    with TestClient(create_app(settings)) as client:
        if patch is not None:
            patch(client.app)
        for user in users:
            for rec in sessions[user]["enroll"][:MIN_ENROLL]:
                r = client.post(f"/v1/users/{user}/enroll", headers=HEADERS_A,
                                json={"session": session_json(rec.session)})
                assert r.status_code == 200, r.text
        for user in users:
            for kind in ("genuine", "impostor"):
                for i, rec in enumerate(sessions[user][kind][:n_scores]):
                    sid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"shadow-test/{user}/{kind}/{i}"))
                    body = {"user_id": user, "session": session_json(rec.session) | {"session_id": sid},
                            "update_profile": kind == "genuine"}
                    r = client.post("/v1/score", headers=HEADERS_A, json=body)
                    assert r.status_code == 200, r.text
                    answers.append((sid, kind, r.json()))
        metrics = client.get("/metrics").text
        app = client.app
        result = {"answers": answers, "metrics": metrics, "client": client,
                  "comparisons": {k: _metric(client, "biometrics_shadow_comparisons_total", result=k)
                                  for k in ("agree", "disagree", "not_ready")},
                  "errors": _metric(client, "biometrics_shadow_errors_total"),
                  "risk_count": {role: _metric(client, "biometrics_shadow_risk_count", role=role)
                                 for role in ("champion", "challenger")},
                  "unhandled": app.state.metrics.unhandled, "app": app}
        if patch is None:
            result["feedback"] = _feedback(client, answers)
    return result


def _feedback(client, answers) -> dict:
    for sid, kind, _ in answers:
        outcome = "confirmed_genuine" if kind == "genuine" else "confirmed_fraud"
        r = client.post("/v1/feedback", headers=HEADERS_A, json={"session_id": sid, "outcome": outcome})
        assert r.status_code == 200, r.text
    r = client.get("/v1/feedback/metrics", headers=HEADERS_A)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, bundle_path, challenger_path, sessions):
    """The same requests against an app without a challenger and one with it (fresh databases)."""
    from conftest import make_settings

    plain = make_settings(tmp_path_factory.mktemp("plain"), bundle_path)
    tmp = tmp_path_factory.mktemp("shadow")
    shadow = make_settings(tmp, bundle_path, challenger_bundle_path=challenger_path,
                           shadow_log_dir=tmp / "shadow")
    return {"plain": _run(plain, sessions), "shadow": _run(shadow, sessions), "settings": shadow}


def _strip(answer: dict) -> dict:
    out = dict(answer)
    for k in ("created_at", "updated_at"):
        out["enrollment"] = {**out["enrollment"]}
        out["enrollment"].pop(k, None)
    return out


def test_answers_with_a_challenger_equal_answers_without(runs):
    plain, shadow = runs["plain"]["answers"], runs["shadow"]["answers"]
    assert len(plain) == len(shadow) == 16
    for (sid_a, _, a), (sid_b, _, b) in zip(plain, shadow, strict=True):
        assert sid_a == sid_b
        assert _strip(a) == _strip(b)
        assert a["model_version"] == b["model_version"] == "tiny-test"
    assert runs["shadow"]["unhandled"] == 0


def test_both_risks_logged_and_in_metrics(runs):
    s = runs["shadow"]
    settings = runs["settings"]
    rows = list(ShadowLog(settings.shadow_log_dir).rows())
    assert len(rows) == len(s["answers"])
    by_sid = {r["session_id"]: r for r in rows}
    for sid, _, answer in s["answers"]:
        row = by_sid[sid]
        assert row["champion_version"] == "tiny-test" and row["challenger_version"] == CHALLENGER
        assert row["champion_risk"] == pytest.approx(answer["risk"])
        assert row["champion_decision"] == answer["decision"]
        assert row["challenger"] == "scored"  # enrolled while shadowing: every profile is ready
        assert 0.0 <= row["challenger_risk"] <= 1.0 and row["challenger_decision"] in ("allow", "challenge", "deny")
        assert row["agree"] == (row["challenger_decision"] == answer["decision"])
        assert row["challenger_ms"] > 0
    # no personal data: no user id, no user key, no events
    text = "\n".join(json.dumps(r) for r in rows)
    assert "u000" not in text and "u001" not in text and "keystrokes\":" not in text
    assert set(rows[0]) == {"ts", "tenant", "session_id", "champion_version", "challenger_version",
                            "champion_risk", "champion_decision", "champion_modalities", "challenger",
                            "challenger_risk", "challenger_decision", "challenger_modalities", "agree",
                            "challenger_ms"}
    n = len(s["answers"])
    assert s["risk_count"] == {"champion": n, "challenger": n}
    assert s["comparisons"]["agree"] + s["comparisons"]["disagree"] == n
    assert s["errors"] == 0
    assert "biometrics_shadow_duration_seconds_bucket" in s["metrics"]
    # the challenger's risks differ from the champion's: another model scored them
    assert any(abs(r["challenger_risk"] - r["champion_risk"]) > 1e-6 for r in rows)


def test_challenger_profiles_apart_from_the_champion(runs):
    settings = runs["settings"]
    with sqlite3.connect(settings.sqlite_path) as db:
        versions = {v for (v,) in db.execute("SELECT model_version FROM modality_profiles")}
        decided = dict(db.execute("SELECT model_version, count(*) FROM decisions GROUP BY model_version"))
    assert versions == {"tiny-test"}  # the champion's profiles hold only the champion's vectors
    with sqlite3.connect(settings.shadow_log_dir / "challenger_profiles.db") as db:
        shadow_versions = {v for (v,) in db.execute("SELECT model_version FROM modality_profiles")}
        n_users = db.execute("SELECT count(*) FROM users").fetchone()[0]
    assert shadow_versions == {CHALLENGER} and n_users == 2
    assert decided == {"tiny-test": 16, CHALLENGER: 16}


def test_feedback_metrics_report_champion_and_challenger(runs):
    fb = runs["shadow"]["feedback"]
    models = {m["model_version"]: m for m in fb["models"]}
    assert set(models) == {"tiny-test", CHALLENGER}
    assert models["tiny-test"]["role"] == "champion" and models[CHALLENGER]["role"] == "challenger"
    rows = {r["session_id"]: r for r in ShadowLog(runs["settings"].shadow_log_dir).rows()}
    for version, decision_key in (("tiny-test", "champion_decision"), (CHALLENGER, "challenger_decision")):
        m = models[version]
        assert m["labelled"] == 16 and m["fraud"] == 8 and m["genuine"] == 8
        fraud_allowed = sum(rows[sid][decision_key] == "allow" for sid, kind, _ in runs["shadow"]["answers"]
                            if kind == "impostor")
        genuine_refused = sum(rows[sid][decision_key] != "allow" for sid, kind, _ in runs["shadow"]["answers"]
                              if kind == "genuine")
        assert m["far"] == pytest.approx(fraud_allowed / 8) and m["frr"] == pytest.approx(genuine_refused / 8)
    # without a challenger, one model and it is the champion
    plain = runs["plain"]["feedback"]
    assert [m["role"] for m in plain["models"]] == ["champion"]
    assert plain["models"][0]["far"] == models["tiny-test"]["far"]


def test_not_ready_before_the_challenger_profile_fills(settings_for, challenger_path, sessions, tmp_path):
    """A profile enrolled before the challenger came: the challenger is not ready, recorded as such."""
    settings = settings_for()
    with TestClient(create_app(settings)) as client:  # enroll without a challenger
        for rec in sessions["u002"]["enroll"][:MIN_ENROLL]:
            assert client.post("/v1/users/u002/enroll", headers=HEADERS_A,
                               json={"session": session_json(rec.session)}).status_code == 200
    shadowed = settings.model_copy(update={"challenger_bundle_path": challenger_path,
                                           "shadow_log_dir": tmp_path / "shadow"})
    with TestClient(create_app(shadowed)) as client:
        r = client.post("/v1/score", headers=HEADERS_A, json={
            "user_id": "u002", "session": session_json(_sid(sessions["u002"]["genuine"][0].session))})
        assert r.status_code == 200
        assert _metric(client, "biometrics_shadow_comparisons_total", result="not_ready") == 1
        assert _metric(client, "biometrics_shadow_risk_count", role="challenger") == 0
        # erasure reaches the challenger's profile too (here: none yet) and the champion's
        assert client.delete("/v1/users/u002", headers=HEADERS_A).status_code == 204
    (row,) = ShadowLog(tmp_path / "shadow").rows()
    assert row["challenger"] == "not_ready" and row["challenger_risk"] is None and row["agree"] is None


def test_erasure_deletes_the_challenger_profile(runs, tmp_path_factory, bundle_path, challenger_path, sessions):
    from conftest import make_settings

    tmp = tmp_path_factory.mktemp("erase")
    settings = make_settings(tmp, bundle_path, challenger_bundle_path=challenger_path, shadow_log_dir=tmp / "s")
    with TestClient(create_app(settings)) as client:
        for rec in sessions["u003"]["enroll"][:MIN_ENROLL]:
            assert client.post("/v1/users/u003/enroll", headers=HEADERS_A,
                               json={"session": session_json(rec.session)}).status_code == 200
        db = tmp / "s" / "challenger_profiles.db"
        with sqlite3.connect(db) as c:
            assert c.execute("SELECT count(*) FROM modality_profiles").fetchone()[0] > 0
        assert client.delete("/v1/users/u003", headers=HEADERS_A).status_code == 204
        with sqlite3.connect(db) as c:
            assert c.execute("SELECT count(*) FROM users").fetchone()[0] == 0
            assert c.execute("SELECT count(*) FROM modality_profiles").fetchone()[0] == 0


def test_a_failing_challenger_is_counted_and_the_request_succeeds(tmp_path_factory, bundle_path,
                                                                  challenger_path, sessions, runs):
    from conftest import make_settings

    def boom(*_a, **_k):
        raise RuntimeError("challenger exploded")

    def patch(app):
        app.state.service.shadow.scorer.observe = boom  # the challenger's encoders fail, every call

    tmp = tmp_path_factory.mktemp("failing")
    settings = make_settings(tmp, bundle_path, challenger_bundle_path=challenger_path,
                             shadow_log_dir=tmp / "shadow")
    failing = _run(settings, sessions, patch=patch)
    # every enrollment (6) and every score (16) failed in the challenger; the answers are the champion's
    assert failing["errors"] == 6 + 16
    assert failing["unhandled"] == 0
    for (_, _, a), (_, _, b) in zip(runs["plain"]["answers"], failing["answers"], strict=True):
        assert _strip(a) == _strip(b)
    rows = list(ShadowLog(tmp / "shadow").rows())
    assert len(rows) == 16 and {r["challenger"] for r in rows} == {"error"}


def test_a_challenger_that_does_not_load_is_counted(settings_for, tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a bundle")
    with TestClient(create_app(settings_for(challenger_bundle_path=bad, shadow_log_dir=tmp_path / "s"))) as client:
        assert client.get("/readyz").status_code == 200
        assert client.app.state.service.shadow is None
        assert _metric(client, "biometrics_shadow_errors_total", stage="load") == 1


def test_promotion_swaps_the_bundle_and_keeps_a_backup(tmp_path, bundle_path, challenger_path, capsys):
    champion = tmp_path / "bundles" / "served.pt"
    champion.parent.mkdir()
    champion.write_bytes(bundle_path.read_bytes())
    old = champion.read_bytes()
    assert promote_main(["--challenger", str(challenger_path), "--bundle", str(champion)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["promoted"] == CHALLENGER and out["previous"] == "tiny-test"
    assert ModelBundle.load(champion).model_version == CHALLENGER
    assert champion.read_bytes() == challenger_path.read_bytes()
    backup = Path(out["backup"])
    assert backup.parent == champion.parent and backup.read_bytes() == old
    assert "restart" in out["next"]
    assert not list(champion.parent.glob(".*.tmp"))  # no temporary file left
    # promoting it again: nothing to do; a broken challenger: refused, nothing changed
    assert promote_main(["--challenger", str(challenger_path), "--bundle", str(champion)]) == 1
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"garbage")
    assert promote_main(["--challenger", str(broken), "--bundle", str(champion)]) == 1
    assert champion.read_bytes() == challenger_path.read_bytes()
    # rollback: promote the backup
    assert promote_main(["--challenger", str(backup), "--bundle", str(champion)]) == 0
    assert ModelBundle.load(champion).model_version == "tiny-test"


def test_after_promotion_the_api_serves_the_challenger(tmp_path, bundle_path, challenger_path, settings_for):
    champion = tmp_path / "served.pt"
    champion.write_bytes(bundle_path.read_bytes())
    assert promote_main(["--challenger", str(challenger_path), "--bundle", str(champion)]) == 0
    # the old challenger setting left in place: it is the champion now, so no shadow
    settings = settings_for(bundle_path=champion, challenger_bundle_path=challenger_path,
                            shadow_log_dir=tmp_path / "s")
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json()["model_version"] == CHALLENGER
        assert client.app.state.service.shadow is None


def test_pair_log_rotates_per_day_and_drops_old_days(tmp_path):
    from datetime import UTC, datetime, timedelta

    log = ShadowLog(tmp_path / "log", retention_days=30)
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    log.append({"n": 1}, now=now - timedelta(days=40))
    assert [p.name for p in (tmp_path / "log").iterdir()] == ["score_pairs-2026-01-20.jsonl"]
    log.append({"n": 2}, now=now - timedelta(days=1))  # a new day: files past 30 days go
    assert [p.name for p in (tmp_path / "log").iterdir()] == ["score_pairs-2026-02-28.jsonl"]
    log.append({"n": 3}, now=now)
    log.append({"n": 4}, now=now)
    assert sorted(p.name for p in (tmp_path / "log").iterdir()) == [
        "score_pairs-2026-02-28.jsonl", "score_pairs-2026-03-01.jsonl"]
    assert [r["n"] for r in log.rows()] == [2, 3, 4]

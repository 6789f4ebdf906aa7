"""Monitoring through the real app: per-tenant decision and reason counters, per-scorer score
histograms, and the drift PSI gauges, which scoring shifted sessions (a slower typing cohort, a
new device population) moves over the alert threshold; the Grafana dashboard queries only
metrics the app exports."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

with warnings.catch_warnings():  # starlette asks for httpx2, which this project does not use
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from biometrics.bundle import ModelBundle
from biometrics.drift import reference_from_sessions
from biometrics.synthetic import generate_dataset
from serving.app import create_app
from tests.api.conftest import HEADERS_A, HEADERS_B, make_settings, session_json
from tests.api.test_alert_rules import exposed_names, metric_names
from tests.drift_shifts import on_device, slower_typing

MONITORING = Path(__file__).resolve().parents[2] / "serving" / "monitoring"
DASHBOARD = MONITORING / "grafana_dashboard.json"
WINDOW = 80  # drift window and min_samples of the test app: a phase of 80 scores replaces it entirely
PER_PHASE = 2  # sessions per user and phase (40 users)


def alert_threshold() -> float:
    found = set(re.findall(r"biometrics_drift_psi\{[^}]*\}\) > ([0-9.]+)", (MONITORING / "alerts.yml").read_text()))
    assert len(found) == 1, found
    return float(found.pop())


@pytest.fixture(scope="module")
def drift_bundle(bundle_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny test bundle with feature references from 200 sessions of 100 synthetic users."""
    bundle = ModelBundle.load(bundle_path)
    population = generate_dataset(n_users=100, sessions_per_user=2, n_impostor=0, n_bot=0, n_replay=0,
                                  seed=31, n_enroll=1)
    bundle.references = {n: r.payload() for n, r in
                         reference_from_sessions(bundle, [r.session for r in population]).items()}
    path = tmp_path_factory.mktemp("drift") / "with_reference.pt"
    bundle.save(path)
    return path


@pytest.fixture(scope="module")
def users():
    """40 users: 3 enrollment sessions and 6 more each (2 plain, 2 typed slower, 2 from tablets).
    Many users, few sessions each: one person's sessions are alike, so a window of few people's
    sessions differs from the population by who they are (a PSI of 2 for 8 users)."""
    records = generate_dataset(n_users=40, sessions_per_user=3 + 3 * PER_PHASE, n_impostor=0, n_bot=0,
                               n_replay=0, seed=32, n_enroll=3)
    out: dict[str, dict[str, list]] = {}
    for r in records:
        out.setdefault(r.user_id, {"enroll": [], "test": []})[r.split].append(r.session)
    return out


def gauges(text: str, name: str) -> dict[tuple[str, str], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[(s.labels["scorer"], s.labels["feature"])] = s.value
    return out


@pytest.fixture(scope="module")
def drift_api(drift_bundle: Path, tmp_path_factory: pytest.TempPathFactory):
    """The real app over the bundle with references, a drift window of 80 values."""
    settings = make_settings(tmp_path_factory.mktemp("drift-api"), drift_bundle, drift_window=WINDOW,
                             drift_min_samples=WINDOW)
    with TestClient(create_app(settings)) as client:
        yield client
        assert client.app.state.metrics.unhandled == 0


def post_score(client, user_id: str, session, headers=HEADERS_A):
    r = client.post("/v1/score", headers=headers, json={"user_id": user_id, "session": session_json(session)})
    assert r.status_code == 200, r.text
    return r.json()


def enroll_all(client, users, headers=HEADERS_A) -> None:
    for user_id, s in users.items():
        for session in s["enroll"]:
            r = client.post(f"/v1/users/{user_id}/enroll", headers=headers, json={"session": session_json(session)})
            assert r.status_code == 200, r.text


def test_shifted_sessions_move_the_psi_gauge_over_the_alert_threshold(drift_api, users):
    threshold = alert_threshold()
    enroll_all(drift_api, users)
    assert gauges(drift_api.get("/metrics").text, "biometrics_drift_psi") == {}  # no window is full yet
    phases = {"plain": lambda s: s, "slower typing": slower_typing,
              "tablets": lambda s: on_device(s, "tablet")}
    seen = {}
    for k, (phase, shift) in enumerate(phases.items()):
        for user_id, s in users.items():
            for session in s["test"][PER_PHASE * k:PER_PHASE * (k + 1)]:
                post_score(drift_api, user_id, shift(session))
        text = drift_api.get("/metrics").text
        seen[phase] = gauges(text, "biometrics_drift_psi")
        sizes = gauges(text, "biometrics_drift_window_sessions")
        assert sizes[("keystrokes", "down_down_ms")] == WINDOW  # every session has keystrokes
    dd, device = ("keystrokes", "down_down_ms"), ("keystrokes", "device_type")
    assert seen["plain"][dd] < threshold and seen["plain"][device] < threshold, seen["plain"]
    assert seen["slower typing"][dd] > threshold, seen["slower typing"]
    assert seen["slower typing"][device] < threshold
    assert seen["tablets"][device] > threshold, seen["tablets"]
    assert seen["tablets"][dd] < threshold  # the window holds the plain-speed tablet sessions only
    assert ("keystrokes", "score") in seen["plain"]  # verifying profiles: the scores are monitored too


def test_decisions_reasons_and_scores_by_tenant_and_scorer(drift_api, users):
    user_id, s = next(iter(users.items()))
    for session in s["enroll"]:  # the same person enrolls at tenant b under the same id: another profile
        drift_api.post(f"/v1/users/{user_id}/enroll", headers=HEADERS_B, json={"session": session_json(session)})
    answer = post_score(drift_api, user_id, s["test"][-1], headers=HEADERS_B)
    families = {f.name: f for f in text_string_to_metric_families(drift_api.get("/metrics").text)}
    decisions = {(x.labels["tenant"], x.labels["decision"]): x.value for x in families["biometrics_decisions"].samples
                 if x.name == "biometrics_decisions_total"}
    assert decisions[("tenant-b", answer["decision"])] == 1.0
    assert sum(v for (t, _), v in decisions.items() if t == "tenant-a") >= 0
    assert all(x.labels["tenant"] in ("tenant-a", "tenant-b") for x in families["biometrics_reasons"].samples)
    risk = {x.labels["tenant"]: x.value for x in families["biometrics_risk"].samples
            if x.name == "biometrics_risk_count"}
    assert risk["tenant-b"] == 1.0
    scored = {x.labels["scorer"] for x in families["biometrics_modality_score"].samples
              if x.name == "biometrics_modality_score_count"}
    assert {m for m, v in answer["modalities"].items() if v["probability"] is not None} <= scored


def test_grafana_dashboard_queries_only_metrics_the_app_exports(drift_api):
    dashboard = json.loads(DASHBOARD.read_text())
    exposed = exposed_names(drift_api.get("/metrics").text)
    panels = [p for p in dashboard["panels"] if p.get("type") != "row"]
    assert len(panels) >= 8
    used: set[str] = set()
    for panel in panels:
        targets = panel.get("targets", [])
        assert targets, panel["title"]
        for target in targets:
            names = metric_names(target["expr"])
            assert names and names <= exposed, (panel["title"], sorted(names - exposed))
            used |= names
    # what the fraud team looks at is there: scores, decisions per tenant, guard flags, drift, latency
    assert {"biometrics_modality_score_bucket", "biometrics_risk_bucket", "biometrics_decisions_total",
            "biometrics_reasons_total", "biometrics_drift_psi",
            "biometrics_http_request_duration_seconds_bucket"} <= used
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            inner = re.fullmatch(r"label_values\((\w+),\s*\w+\)", query)
            assert inner and inner.group(1) in exposed, query

"""Drift monitoring (biometrics.drift): PSI against a bundle's references, per scorer and feature.

An injected shift, a slower typing cohort (inter-key intervals stretched 1.6x) or a new device
population (tablets), raises the PSI of the shifted feature over the alert threshold of
serving/monitoring/alerts.yml, while an unshifted sample of the same population stays under it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from drift_shifts import on_device, slower_typing
from untrained import untrained_bundle

from biometrics.bundle import ModelBundle
from biometrics.calibration import QUANTILE_LEVELS, fit_calibration
from biometrics.drift import (
    SCORE,
    DriftMonitor,
    DriftReference,
    ScorerReference,
    categorical_psi,
    numeric_psi,
    reference_from_sessions,
    session_features,
)
from biometrics.scoring import ModalityScore
from biometrics.synthetic import generate_dataset

ALERTS = Path(__file__).resolve().parents[1] / "serving" / "monitoring" / "alerts.yml"


def alert_threshold() -> float:
    """The PSI the drift alerts fire above (read from the rules file, so the two agree)."""
    found = set(re.findall(r"biometrics_drift_psi\{[^}]*\}\) > ([0-9.]+)", ALERTS.read_text()))
    assert len(found) == 1, found
    return float(found.pop())


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    rng = np.random.default_rng(0)
    cal = fit_calibration(rng.gamma(2.0, 0.1, 400), rng.gamma(6.0, 0.1, 400))
    return untrained_bundle("drift-test", 8, 8, 64, cal, seed=0)


@pytest.fixture(scope="module")
def population():
    """150 synthetic users (40% on phones), six sessions each: three for the reference, three live
    (with 100, the 120 live phone sessions' PSI noise alone reached the alert threshold)."""
    records = generate_dataset(n_users=150, sessions_per_user=6, n_impostor=0, n_bot=0, n_replay=0,
                               seed=5, n_enroll=3)
    return ([r.session for r in records if r.split == "enroll"],
            [r.session for r in records if r.split == "test"])


def result_of(bundle: ModelBundle, session, probability: float | None = None):
    """A score result naming the scorers that observe the session (what the monitor reads)."""
    mods = {name: ModalityScore(None, probability, 1.0, 10)
            for name, s in bundle.scorers_for(session.meta.device_type).items() if s.spec.present(session)}
    return SimpleNamespace(modalities=mods)


def monitored(bundle, reference, sessions, min_samples: int = 100) -> dict:
    monitor = DriftMonitor(reference, window=1000, min_samples=min_samples)
    for s in sessions:
        monitor.observe(s, result_of(bundle, s))
    return monitor.psi()


def test_psi_basics():
    q = np.quantile(np.random.default_rng(1).normal(size=5000), QUANTILE_LEVELS)
    same = np.random.default_rng(2).normal(size=2000)
    assert numeric_psi(q, same) < 0.02
    assert numeric_psi(q, same + 1.0) > 0.5
    assert categorical_psi({"desktop": 0.6, "mobile": 0.4}, ["desktop"] * 60 + ["mobile"] * 40) < 1e-9
    # a category the reference never saw counts (its reference share floored, not dropped)
    assert categorical_psi({"desktop": 1.0}, ["desktop"] * 70 + ["tablet"] * 30) > 1.0
    # ties in the reference (many zero probabilities) merge bins instead of failing
    assert numeric_psi([0.0] * 150 + list(np.linspace(0, 1, 51)), [0.0] * 75 + [0.5] * 25) < 10


def test_session_features(population):
    reference, _ = population
    desktop = next(s for s in reference if s.meta.device_type == "desktop")
    feats = session_features(desktop, "keystrokes")
    assert set(feats) == {"down_down_ms", "hold_ms"} and 20 < feats["down_down_ms"] < 2000
    slow = session_features(slower_typing(desktop), "keystrokes")
    assert slow["down_down_ms"] == pytest.approx(1.6 * feats["down_down_ms"], rel=0.01)
    assert slow["hold_ms"] == pytest.approx(feats["hold_ms"], abs=0.01)
    assert set(session_features(desktop, "pointer")) == {"speed_px_per_ms"}
    phone = next(s for s in reference if s.meta.device_type == "mobile")
    assert set(session_features(phone, "touch")) == {"speed_px_per_ms", "pressure"}


def test_unshifted_sample_stays_under_the_threshold(bundle, population):
    ref_sessions, live = population
    reference = DriftReference.of_bundle(bundle, reference_from_sessions(bundle, ref_sessions))
    psi = monitored(bundle, reference, live)
    expected = {(n, f) for n, fs in (("keystrokes", ("down_down_ms", "hold_ms", "device_type")),
                                     ("pointer", ("speed_px_per_ms", "device_type")),
                                     ("touch", ("speed_px_per_ms", "pressure", "device_type"))) for f in fs}
    assert set(psi) == expected  # no scores: these results carry no probability
    assert max(v for v, _ in psi.values()) < alert_threshold(), psi


def test_slower_typing_cohort_raises_keystroke_drift(bundle, population):
    ref_sessions, live = population
    reference = DriftReference.of_bundle(bundle, reference_from_sessions(bundle, ref_sessions))
    psi = monitored(bundle, reference, [slower_typing(s) for s in live])
    threshold = alert_threshold()
    assert psi[("keystrokes", "down_down_ms")][0] > threshold
    # the shift is attributed to the feature that moved: holds, pointer and devices stay put
    others = {k: v for k, (v, _) in psi.items() if k != ("keystrokes", "down_down_ms")}
    assert max(others.values()) < threshold, others


def test_new_device_population_raises_device_drift(bundle, population):
    ref_sessions, live = population
    reference = DriftReference.of_bundle(bundle, reference_from_sessions(bundle, ref_sessions))
    shifted = [on_device(s, "tablet") if s.meta.device_type == "mobile" else s for s in live]
    psi = monitored(bundle, reference, shifted)
    threshold = alert_threshold()
    assert psi[("keystrokes", "device_type")][0] > threshold
    assert psi[("touch", "device_type")][0] > threshold
    assert psi[("pointer", "device_type")][0] < threshold  # pointer sessions are all still desktops
    assert psi[("keystrokes", "down_down_ms")][0] < threshold


def test_score_drift_against_the_calibration(bundle):
    """Scores are compared with each scorer's held-out genuine distribution (its calibration)."""
    reference = DriftReference.of_bundle(bundle)
    cal = bundle.scorers["keystrokes"].calibration
    rng = np.random.default_rng(3)
    session = generate_dataset(n_users=2, sessions_per_user=2, n_impostor=0, n_bot=0, n_replay=0, seed=9,
                               n_enroll=1)[0].session
    draws = {"genuine": np.interp(rng.random(400), QUANTILE_LEVELS, cal.genuine_quantiles),
             "impostor": np.interp(rng.random(400), QUANTILE_LEVELS, cal.impostor_quantiles)}
    out = {}
    for kind, probs in draws.items():
        monitor = DriftMonitor(reference, window=400, min_samples=200)
        for p in probs:
            monitor.observe(session, result_of(bundle, session, float(p)))
        out[kind] = monitor.psi()[("keystrokes", SCORE)][0]
    assert out["genuine"] < alert_threshold() < out["impostor"], out


def test_monitor_is_bounded_and_waits_for_min_samples(bundle, population):
    ref_sessions, live = population
    reference = DriftReference.of_bundle(bundle, reference_from_sessions(bundle, ref_sessions))
    monitor = DriftMonitor(reference, window=50, min_samples=40)
    for s in live[:30]:
        monitor.observe(s, result_of(bundle, s))
    assert monitor.psi() == {}  # too few values yet: no PSI at all
    for s in live[30:]:
        monitor.observe(s, result_of(bundle, s))
    assert max(monitor.counts().values()) == 50 and monitor.psi()
    monitor.reset()
    assert max(monitor.counts().values()) == 0


def test_bundle_carries_references_and_old_bundles_still_load(bundle, population, tmp_path):
    ref_sessions, _ = population
    refs = reference_from_sessions(bundle, ref_sessions)
    assert refs["keystrokes"].categorical["device_type"] == {"desktop": 0.6, "mobile": 0.4}
    bundle.save(tmp_path / "old.pt")
    assert ModelBundle.load(tmp_path / "old.pt").references == {}  # written without: none
    bundle.references = {n: r.payload() for n, r in refs.items()}
    try:
        bundle.save(tmp_path / "new.pt")
    finally:
        bundle.references = {}
    loaded = ModelBundle.load(tmp_path / "new.pt")
    back = {n: ScorerReference.from_payload(p) for n, p in loaded.references.items()}
    assert back == refs
    reference = DriftReference.of_bundle(loaded)
    assert SCORE in reference.scorers["keystrokes"].numeric and "hold_ms" in reference.scorers["keystrokes"].numeric
    assert DriftReference.of_bundle(ModelBundle.load(tmp_path / "old.pt")).pairs() == [
        (n, SCORE) for n in loaded.scorers]  # an old bundle: scores only


def test_drift_report_command(bundle, population, tmp_path, capsys):
    """python -m training.drift_report: the period's sessions (slower typists) against reference sessions."""
    from training.drift_report import decision_drift, main

    ref_sessions, live = population
    bundle_file = tmp_path / "b.pt"
    bundle.save(bundle_file)
    (tmp_path / "ref.jsonl").write_text("".join(
        json.dumps({"label": "genuine", "session": s.model_dump(mode="json")}) + "\n" for s in ref_sessions))
    lines = [{"at": f"2026-03-0{1 + i % 2}T12:00:00Z", "session": slower_typing(s).model_dump(mode="json")}
             for i, s in enumerate(live)]  # days 1 and 2; the report's period is day 2
    (tmp_path / "live.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "report.html"
    assert main(["--bundle", str(bundle_file), "--sessions", str(tmp_path / "live.jsonl"), "--reference-sessions",
                 str(tmp_path / "ref.jsonl"), "--from", "2026-03-02T00:00:00Z", "--to", "2026-03-03T00:00:00Z",
                 "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_sessions"] == len(live) // 2
    assert summary["psi"]["keystrokes.down_down_ms"] > alert_threshold() > summary["psi"]["keystrokes.hold_ms"]
    page = out.read_text()
    assert page.count("data:image/png;base64,") == len(summary["psi"]) and "act on it" in page
    # without references in the bundle and without reference sessions: a clear error
    assert main(["--bundle", str(bundle_file), "--sessions", str(tmp_path / "live.jsonl"), "--out", str(out)]) == 2
    # decisions: a period denying more than its baseline
    rng = np.random.default_rng(4)
    def rows(n: int, beta: float) -> list[dict]:
        return [{"tenant": "acme", "risk": float(r), "decision": "deny" if r > 0.9 else "allow",
                 "model_version": "v", "at": datetime(2026, 3, 2, tzinfo=UTC)} for r in rng.beta(1, beta, n)]

    report = decision_drift(rows(300, 1.5), rows(300, 8.0))
    acme = next(r for r in report["tenants"] if r["tenant"] == "acme")
    assert acme["psi"] > alert_threshold() and acme["shares"]["deny"] > acme["baseline_shares"]["deny"]

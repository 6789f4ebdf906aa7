"""`python -m training.model_card` on a tiny synthetic set of result files and datasets (tmp_path)."""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest

from biometrics import fairness as fx
from biometrics.metrics import eer
from training import model_card

ALLOW, DENY = 0.4, 0.8
N_USERS = 30
HEADER = ("PARTICIPANT_ID", "TEST_SECTION_ID", "SENTENCE", "USER_INPUT", "KEYSTROKE_ID", "PRESS_TIME",
          "RELEASE_TIME", "LETTER", "KEYCODE")


def _aalto_archive(root: Path, speeds: dict[int, float]) -> None:
    """A fake Aalto archive: 15 sentences per participant, presses ``speed`` ms apart, sentence j
    with 8 + 2 j keys (so sentence lengths differ)."""
    folder = root / "aalto-desktop"
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("# Fake Aalto\n\nTerms: free for non-commercial use.\n\n## What\nx\n")
    with tarfile.open(folder / "aalto-desktop-dev.tar.gz", "w:gz") as tar:
        for pid, speed in speeds.items():
            lines = ["\t".join(HEADER)]
            t, kid = 1_000_000.0, 0
            for section in range(15):
                for _ in range(8 + 2 * section):
                    lines.append(f"{pid}\t{section}\tabc\tabc\t{kid}\t{t:.0f}\t{t + 80:.0f}\ta\t65")
                    t += speed
                    kid += 1
                t += 5000
            data = ("\n".join(lines) + "\n").encode()
            info = tarfile.TarInfo(f"keystroke-samples/{pid}_keystrokes.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _rows(rng, users: list[str], slow: set[str], decisions: bool = False) -> list[dict]:
    """Served rows as bench/product_accuracy.py writes them: each user's 5 genuine rows, then
    the impostor rows; slow users' genuine risks run higher."""
    gen, imp = [], []
    for u in users:
        shift = 0.45 if u in slow else 0.0
        for r in np.clip(rng.beta(1.2, 6.0, 5) + shift, 0, 1):
            gen.append({"user": u, "kind": "genuine", "risk": round(float(r), 6)})
        for r in rng.beta(6.0, 1.5, 20):
            imp.append({"user": u, "kind": "impostor", "risk": round(float(r), 6)})
    rows = gen + imp
    if decisions:
        for r in rows:
            r["decision"] = str(fx.decide(np.array([r["risk"]]), ALLOW, DENY)[0])
    return rows


def _entry(rows: list[dict], **extra) -> dict:
    t = fx.ScoreTable.from_rows(rows).with_thresholds(ALLOW, DENY)
    n = fx.DecisionCounts.from_decisions(t.genuine, t.decision)
    eers = fx.per_user_eers(t)
    return {"eer_mean_per_user": float(np.mean(list(eers.values()))),
            "eer_pooled": eer(t.risk[t.genuine], t.risk[~t.genuine]), "roc_auc": 0.9, "far_at_frr_1pct": 0.5,
            "decisions": n.table(), "n_genuine": n.n_genuine, "n_impostor": n.n_impostor, **n.shares(), **extra}


@pytest.fixture
def inputs(tmp_path: Path) -> dict:
    rng = np.random.default_rng(0)
    results, datasets = tmp_path / "results", tmp_path / "datasets"
    (results / "served_scores").mkdir(parents=True)
    speeds = {pid: 100.0 + 10 * pid for pid in range(1, N_USERS + 1)}  # user 30 the slowest
    _aalto_archive(datasets, speeds)
    users = [str(p) for p in speeds]
    slow = {str(p) for p in speeds if p > 2 * N_USERS / 3}
    files = {
        "aalto_keystrokes": _rows(rng, users, slow),
        # StrokePIN rows carry their decisions (and the entry no thresholds): the rows' own path.
        "strokepin_phone": _rows(rng, [f"user{k}/123456/{p}" for k in range(1, 7) for p in ("sit", "walk")],
                                 {f"user{k}/123456/walk" for k in range(1, 7)}, decisions=True),
        "balabit_pointer": _rows(rng, [f"user{k}" for k in range(5)], set()),
    }
    product = {}
    for key, rows in files.items():
        with gzip.open(results / "served_scores" / f"{key}.jsonl.gz", "wt") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
        product[key] = _entry(rows)
    product["aalto_keystrokes"].update(thresholds={"allow_below": ALLOW, "deny_at_or_above": DENY},
                                       enrollment_sessions=5, queries_per_user=5, n_users=N_USERS,
                                       impostors_per_user="20", model_version="test-v1")
    product["balabit_pointer"]["protocol"] = "leave one account out (synthetic)"
    (results / "product_accuracy.json").write_text(json.dumps(product))
    (results / "guards.json").write_text(json.dumps({"bots": {"keystroke_bots_caught": {
        "uniform": {"n": 10, "rate": 0.5}, "fixed": {"n": 10, "rate": 1.0}},
        "keystroke_bots_caught_as_touchscreen": {"uniform": {"n": 10, "rate": 0.3}}}}))
    card = tmp_path / "docs" / "model_card.md"
    argv = ["--results-dir", str(results), "--datasets-dir", str(datasets), "--cache-dir", str(tmp_path / "cache"),
            "--bundle", str(tmp_path / "no_bundle.pt"), "--card", str(card), "--bootstrap", "50", "--repeats", "2"]
    return {"argv": argv, "card": card, "product": product, "slow": slow, "files": files}


def test_model_card_sections_plots_and_consistent_numbers(inputs):
    report = model_card.main(inputs["argv"])
    card = inputs["card"].read_text()
    for section in ("## Headline: overall against the worst cohort", "## Intended use", "## Out-of-scope uses",
                    "## Training data and licences", "## Benchmark results", "## Calibration",
                    "## What the default thresholds mean", "## Cohort fairness", "### Per-cohort thresholds",
                    "## Known limits", "## Privacy properties of the session contract", "## How this card is made"):
        assert section in card, section
    plots = inputs["card"].parent / "model_card"
    for png in ("cohort_rates.png", "cohort_eer.png", "score_distributions.png", "calibration.png",
                "aalto_speed_genuine_risk.png"):
        assert (plots / png).stat().st_size > 1000, png
    on_disk = json.loads((plots / "cohorts.json").read_text())
    assert on_disk["dimensions"].keys() == report["dimensions"].keys()

    product = inputs["product"]
    speed = report["dimensions"]["aalto_speed"]
    overall = speed["overall"]
    # The overall figures are the benchmark's served figures.
    assert overall["eer_mean_per_user"] == pytest.approx(product["aalto_keystrokes"]["eer_mean_per_user"])
    assert overall["genuine_denied"] == pytest.approx(product["aalto_keystrokes"]["genuine_denied"])
    assert report["decision_sources"]["aalto_keystrokes"]["check"]["sessions_decided_differently"] == {
        "genuine": 0, "impostor": 0}
    # Cohorts partition the accounts and sessions.
    cohorts = speed["cohorts"]
    assert set(cohorts) == {"fast", "medium", "slow"}
    assert sum(c["n_users"] for c in cohorts.values()) == N_USERS
    assert sum(c["n_genuine"] for c in cohorts.values()) == overall["n_genuine"]
    # Speed bands come from the data: the slowest typists (largest intervals) are "slow".
    assert cohorts["slow"]["n_users"] == len(inputs["slow"])
    # The slow cohort's shifted genuine risks: denied most, flagged, and said so in the card.
    dis = speed["disparities"]["genuine_denied"]
    assert dis["worst_cohort"] == "slow" and not dis["meets_goal"]
    assert dis["ratio"] == pytest.approx(cohorts["slow"]["genuine_denied"] / overall["genuine_denied"])
    assert "genuine_denied" in speed["flagged_goal_metrics"]
    goal = card.split("**Where the 1.5x goal is not met:**")[1].split("\n## ")[0]
    assert "Typing speed, desktop keyboard (Aalto)" in goal and "slow cohort" in goal
    row = next(line for line in card.splitlines() if line.startswith("| Typing speed, desktop keyboard (Aalto) |"))
    assert f"{100 * overall['eer_mean_per_user']:.2f}%" in row
    assert f"{100 * dis['worst']:.2f}% (slow), {dis['ratio']:.2f}x **over goal**" in row
    # Per-cohort thresholds: computed for Aalto (thresholds known), each account decided once per repeat.
    e = report["per_cohort_thresholds"]["aalto_speed"]
    assert sum(e["per_cohort"]["overall"]["decisions"]["genuine"].values()) == 2 * overall["n_genuine"]
    per_cohort = card.split("### Per-cohort thresholds")[1].split("\n## ")[0]
    assert "**Typing speed, desktop keyboard (Aalto)** (shared: allow below 0.400" in per_cohort
    assert "What it costs" in per_cohort
    # StrokePIN: decisions from the rows themselves; posture cohorts from the account ids.
    assert report["decision_sources"]["strokepin_phone"]["source"].startswith("the served decision of every row")
    posture = report["dimensions"]["strokepin_posture"]
    assert set(posture["cohorts"]) == {"sitting", "walking"} and posture["overall"]["n_people"] == 6
    assert posture["disparities"]["genuine_denied"]["worst_cohort"] == "walking"
    # Device dimension: every benchmark, totals as served.
    device = report["dimensions"]["device"]
    assert device["cohorts"]["mouse (remote desktop)"]["genuine_denied"] == pytest.approx(
        product["balabit_pointer"]["genuine_denied"])
    # Short sessions: genuine queries by length, from the dataset's sentences.
    assert set(report["session_length_aalto"]["bands"]) == {"short", "medium", "long"}
    # What could not be computed is said, not invented.
    assert "StrokePIN typing speed not computed" in card and "bundle not found" in card
    assert "no dataset used here records them" in card
    assert "uniform 50.0%" in card  # the guards' limits, from guards.json
    assert "Keystroke bots claiming a phone (no mouse, judged by the touchscreen's jitter rule) caught below 90%: " \
           "uniform 30.0%" in card
    assert not re.search(r"\bnan%|None%", card)


def test_model_card_figures_follow_the_result_files(inputs):
    """Nothing is typed in: other served scores give other figures."""
    model_card.main([*inputs["argv"], "--no-plots"])
    first = inputs["card"].read_text()
    results = Path(inputs["argv"][1])
    rows = inputs["files"]["aalto_keystrokes"]
    for r in rows:
        if r["kind"] == "genuine":
            r["risk"] = round(r["risk"] * 0.5, 6)  # a new calibration, say
    with gzip.open(results / "served_scores" / "aalto_keystrokes.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    product = inputs["product"]
    product["aalto_keystrokes"].update({k: v for k, v in _entry(rows).items() if k != "n_users"})
    (results / "product_accuracy.json").write_text(json.dumps(product))
    report = model_card.main([*inputs["argv"], "--no-plots"])
    second = inputs["card"].read_text()
    assert first != second
    assert report["dimensions"]["aalto_speed"]["overall"]["eer_mean_per_user"] == pytest.approx(
        product["aalto_keystrokes"]["eer_mean_per_user"])


def test_model_card_stops_without_product_results(tmp_path):
    with pytest.raises(SystemExit, match="product_accuracy.json"):
        model_card.main(["--results-dir", str(tmp_path), "--card", str(tmp_path / "card.md")])


def test_recorded_thresholds_take_the_scorers_modality_set():
    pair = {"allow_below": 0.3, "deny_at_or_above": 0.9}
    assert model_card.recorded_thresholds(pair, "keystrokes") == (0.3, 0.9)
    nested = {"allow_below": 0.1, "deny_at_or_above": 0.5, "by_modalities": {"keystrokes": pair}}
    assert model_card.recorded_thresholds(nested, "keystrokes") == (0.3, 0.9)
    assert model_card.recorded_thresholds(nested, "touch") == (0.1, 0.5)
    assert model_card.recorded_thresholds(None, "touch") is None

"""How far the desktop keystroke head should scale distances by the user's own spread, chosen on
validation data only.

    python bench/keystroke_spread.py [--bundle bundles/aalto_keystrokes.pt]

A login's text is the same every time, and two typings of one text lie closer together, for
the owner and for an impostor alike, than two Aalto sentences do: calibrated on free text, the
raw distance lets most fixed-text impostors in. The ``"spread"`` head
(:class:`biometrics.heads.distance.DistanceHead`) multiplies the distance by
``(ref / m) ** alpha``, ``m`` the user's enrollment sessions' own leave-one-out spread. For each
``alpha`` this script calibrates the head on Aalto's 100 validation users (whole sentences and
queries cut to 8 ... 40 presses, as ``training.default_bundle`` does), then reports:

- **aalto_validation**: the ROC AUC of whole sentences and of queries cut to 20 presses;
- **cmu_calibration_subjects**: fixed-text logins (``biometrics.data.cmu_logins``: CMU's
  password typed 1, 2 or 3 times, one login a day) of the CMU subjects the split keeps for
  calibration, never its test subjects: AUC, and at the thresholds the calibration gives for
  the 5% FAR / 1% FRR targets, the impostors allowed, genuine allowed and genuine denied;
- **sample**: the same on the synthetic sample's desktop logins (login name and password).

The rule uses Aalto's validation users only: the largest ``alpha`` whose Aalto AUCs (whole and
20 presses) are at least the raw distance's. More scaling lifts fixed-text impostors' scores
further (their median calibrated probability, reported, rises with ``alpha``) but past that
point costs free-text accuracy. Writes ``bench/results/keystroke_spread.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from biometrics.bundle import ModelBundle
from biometrics.data.cmu import load_cmu
from biometrics.data.cmu_logins import LOGIN_REPS, login_trials, split_subjects
from biometrics.data.keystroke_scorer import (
    Comparison,
    aalto_sessions,
    anomalies,
    calibrations,
    comparisons,
    spread_reference,
)
from biometrics.data.paths import datasets_root
from biometrics.heads.distance import DistanceHead
from biometrics.metrics import roc_auc
from biometrics.reports import publish_result, rerun_command
from biometrics.scoring import derive_thresholds
from biometrics.synthetic import load_sample_sessions

ALPHAS = (0.0, 0.25, 0.5, 0.6, 0.75, 1.0)
RESULTS = ROOT / "bench" / "results" / "keystroke_spread.json"


def cmu_comparisons(scorer, subjects: list[str], datasets: Path) -> list[Comparison]:
    data = load_cmu(datasets)
    out = []
    for reps in LOGIN_REPS:
        for i, (_, enroll, genuine, impostor) in enumerate(login_trials(data, subjects, reps)):
            e = np.concatenate([scorer.vectors(s)[0] for s in enroll])
            for label, queries in (("genuine", genuine), ("impostor", impostor)):
                out += [Comparison(label, 11 * reps, i, e, scorer.vectors(q)[0]) for q in queries]
    return out


def sample_comparisons(scorer, path: Path) -> list[Comparison]:
    by_user: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in load_sample_sessions(path):
        if r.device == "desktop" and r.label in ("genuine", "impostor"):
            by_user[r.user_id]["enroll" if r.split == "enroll" else r.label].append(r.session)
    out = []
    for i, (_, parts) in enumerate(sorted(by_user.items())):
        e = np.concatenate([scorer.vectors(s)[0] for s in parts["enroll"]])
        for label in ("genuine", "impostor"):
            for q in parts[label]:
                v, n = scorer.vectors(q)
                out.append(Comparison(label, n, i, e, v))
    return out


def decisions(scorer, pairs: list[Comparison], far: float = 0.05, frr: float = 0.01) -> dict:
    """AUC, and at the thresholds of each comparison's calibration (by its length): allowed and
    denied shares, and the impostors' median calibrated probability."""
    rows: dict[str, list] = {"genuine": [], "impostor": []}
    for label, by_length in anomalies(scorer, pairs).items():
        for presses, (scores, _) in by_length.items():
            cal = scorer.calibration_for(presses)
            t = derive_thresholds([cal], far, frr)
            p = cal.probability(np.array(scores))
            rows[label] += zip(scores, p < t.allow_below, p >= t.deny_at_or_above, p)
    g, i = np.array(rows["genuine"], float), np.array(rows["impostor"], float)
    return {"auc": round(roc_auc(g[:, 0], i[:, 0]), 4), "impostors_allowed": round(float(i[:, 1].mean()), 4),
            "impostor_median_probability": round(float(np.median(i[:, 3])), 4),
            "genuine_allowed": round(float(g[:, 1].mean()), 4), "genuine_denied": round(float(g[:, 2].mean()), 4),
            "n_genuine": len(g), "n_impostor": len(i)}


def aucs(scorer, pairs: list[Comparison]) -> dict:
    a = anomalies(scorer, pairs)
    return {("whole" if k is None else f"first_{k}"): round(roc_auc(np.array(a["genuine"][k][0]),
                                                                      np.array(a["impostor"][k][0])), 4)
            for k in (None, 20)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=ROOT / "bundles" / "aalto_keystrokes.pt")
    ap.add_argument("--sessions", type=Path, default=ROOT / "sample_data" / "sessions.jsonl")
    ap.add_argument("--datasets-dir", default=None)
    args = ap.parse_args(argv)
    start = time.time()
    datasets = datasets_root(args.datasets_dir)
    raw = dataclasses.replace(ModelBundle.load(args.bundle).scorers["keystrokes"], head=DistanceHead())
    val = comparisons(raw, aalto_sessions(datasets, ROOT / ".cache" / "aalto-desktop", "val"))
    ref = spread_reference(val)
    cmu = cmu_comparisons(raw, split_subjects(load_cmu(datasets))[0], datasets)
    sample = sample_comparisons(raw, args.sessions)
    rows = {}
    for alpha in ALPHAS:
        scorer = dataclasses.replace(raw, head=DistanceHead("spread", spread_alpha=alpha, spread_ref=ref))
        headline, by_length = calibrations(scorer, val)
        scorer = dataclasses.replace(scorer, calibration=headline, item_calibrations=by_length)
        rows[str(alpha)] = {"aalto_validation": aucs(scorer, val), "cmu_calibration_subjects": decisions(scorer, cmu),
                            "sample": decisions(scorer, sample)}
    base = rows["0.0"]["aalto_validation"]
    chosen = max((a for a, r in rows.items() if all(r["aalto_validation"][k] >= base[k] for k in base)), key=float)
    report = {"spread_ref": round(ref, 4), "by_alpha": rows, "chosen_alpha": float(chosen),
              "rule": "the largest alpha whose Aalto validation AUCs (whole, 20 presses) are at least "
                      "the raw distance's",
              "command": rerun_command("bench/keystroke_spread.py", argv), "wall_s": round(time.time() - start, 1)}
    publish_result(report, RESULTS)
    return report


if __name__ == "__main__":
    main()

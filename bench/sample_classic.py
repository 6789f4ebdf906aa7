"""Classic baseline on the sample data: enroll every sample user with one-class detectors, score their sessions.

    python bench/sample_classic.py [--sample-data sample_data] [--detector "Manhattan (scaled)"]

Each user enrolls on their ``enroll`` sessions (one classic one-class model per modality);
every ``test`` session (genuine, impostor, bot, replay) is scored against the claimed
user's profile. The decision threshold is set from enrollment data alone (leave-one-out
scores, target FRR 5%), never from the test sessions.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np

from biometrics.classic import fit_one_class, fuse
from biometrics.features.session import session_vectors
from biometrics.metrics import eer
from biometrics.synthetic import load_sample_sessions

TARGET_FRR = 0.05


def enroll_users(records, detector: str) -> dict:
    """Per user and modality: a one-class model fitted on that user's enrollment sessions."""
    vectors: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r.split == "enroll":
            for m, v in session_vectors(r.session, r.password_presses).items():
                vectors[r.user_id][m].append(v)
    return {u: {m: fit_one_class(np.stack(v), detector) for m, v in mods.items()}
            for u, mods in vectors.items()}


def threshold_from_enrollment(profiles: dict, target_frr: float) -> float:
    """The fused leave-one-out score that ``target_frr`` of enrollment sessions exceed."""
    loo = [np.mean([m.loo_scores for m in mods.values()], axis=0) for mods in profiles.values()]
    return float(np.quantile(np.concatenate(loo), 1.0 - target_frr))


def score_sessions(records, profiles: dict) -> list[dict]:
    """Fused and per-modality normalized scores of every test session."""
    rows = []
    for r in records:
        if r.split != "test":
            continue
        vecs = session_vectors(r.session, r.password_presses)
        per_mod = {m: float(profiles[r.user_id][m].score(v)[0]) for m, v in vecs.items()
                   if m in profiles[r.user_id]}
        rows.append({"label": r.label, "user": r.user_id, "score": fuse(per_mod), **per_mod})
    return rows


def summarize(rows: list[dict], threshold: float) -> dict:
    """Rates at the threshold and the threshold-free genuine-vs-impostor EER."""
    by = defaultdict(list)
    for row in rows:
        by[row["label"]].append(row["score"])
    s = {k: np.array(v) for k, v in by.items()}
    flagged = {k: float((v > threshold).mean()) for k, v in s.items()}
    return {"threshold": threshold, "n": {k: int(v.size) for k, v in s.items()},
            "flagged": flagged, "FRR": flagged["genuine"], "FAR": 1.0 - flagged["impostor"],
            "eer_genuine_vs_impostor": eer(s["genuine"], s["impostor"]),
            "bots_caught": flagged.get("bot"), "replays_caught": flagged.get("replay")}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample-data", default="sample_data")
    ap.add_argument("--detector", default="Manhattan (scaled)")
    ap.add_argument("--json", action="store_true", help="print the summary as one JSON line only")
    args = ap.parse_args(argv)
    records = load_sample_sessions(args.sample_data)
    profiles = enroll_users(records, args.detector)
    threshold = threshold_from_enrollment(profiles, TARGET_FRR)
    summary = summarize(score_sessions(records, profiles), threshold)
    if args.json:
        print(json.dumps(summary))
        return summary
    print(f"{len(profiles)} users enrolled with {args.detector}; threshold {threshold:.2f} "
          f"(enrollment leave-one-out, target FRR {TARGET_FRR:.0%})\n")
    print(f"{'session kind':<12} {'n':>4} {'flagged':>8}")
    for label in ("genuine", "impostor", "bot", "replay"):
        if label in summary["n"]:
            print(f"{label:<12} {summary['n'][label]:>4} {summary['flagged'][label]:>8.1%}")
    print(f"\nFRR {summary['FRR']:.1%}  FAR {summary['FAR']:.1%}  "
          f"EER (genuine vs impostor) {summary['eer_genuine_vs_impostor']:.1%}")
    print("Replays copy the owner's own timing, so a profile distance alone accepts them; "
          "the replay guard of the scoring service catches them.")
    return summary


if __name__ == "__main__":
    main()

"""Fusion across modalities on chimeric users: confidence-weighted mean of probabilities vs LLR sum.

    python bench/fusion.py        # after bench/product_accuracy.py has run on aalto, balabit, serwadda

No public dataset holds one person's typing and mouse or touch, so, as is usual, a chimeric
user pairs a keystroke user of one dataset with a mouse or touch user of another: each
Aalto test user is paired (seeded) with a Serwadda or a Balabit user, and its genuine
(impostor) served probabilities are paired one to one with that user's genuine (impostor)
ones. The inputs are the served answers that ``bench/product_accuracy.py`` recorded in
``bench/results/served_scores/`` (each a probability of one modality's served scorer); the
fusion is :func:`biometrics.scoring.fuse`, the function the scorer calls, at full confidence.
Decisions use the thresholds that ``ScoringConfig.from_targets`` derives for that modality
set from the default bundle's calibrations under each fusion (target FAR 5%, FRR 1%).
Writes ``bench/results/fusion.json``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from biometrics.bundle import ModelBundle
from biometrics.metrics import eer, far_at_frr, roc_auc
from biometrics.reports import publish_result, rerun_command
from biometrics.scoring import FUSIONS, ScoringConfig, fuse

SCORES = ROOT / "bench" / "results" / "served_scores"
OUT = ROOT / "bench" / "results" / "fusion.json"
MODALITY_OF = {"aalto_keystrokes": "keystrokes", "balabit_pointer": "pointer", "serwadda_touch": "touch"}


def load_scores(key: str) -> dict[str, dict[str, np.ndarray]]:
    """``{user: {"genuine": risks, "impostor": risks}}`` of a benchmark's served answers."""
    by: dict[str, dict[str, list]] = defaultdict(lambda: {"genuine": [], "impostor": []})
    with gzip.open(SCORES / f"{key}.jsonl.gz", "rt") as f:
        for line in f:
            r = json.loads(line)
            by[r["user"]][r["kind"]].append(r["risk"])
    return {u: {k: np.array(v) for k, v in d.items()} for u, d in by.items() if d["genuine"] and d["impostor"]}


def chimeric(a: dict, b: dict, rng) -> list[dict[str, np.ndarray]]:
    """Per chimeric user (each user of ``a`` with a user of ``b``, cycling through a seeded order):
    paired ``[n, 2]`` risks."""
    partners = [sorted(b)[k] for k in rng.permutation(len(b))]
    out = []
    for i, u in enumerate(sorted(a)):
        v = partners[i % len(partners)]
        pair = {}
        for kind in ("genuine", "impostor"):
            x, y = rng.permutation(a[u][kind]), rng.permutation(b[v][kind])
            n = min(x.size, y.size)
            pair[kind] = np.stack([x[:n], y[:n]], axis=1)
        out.append(pair)
    return out


def figures(users: list[dict[str, np.ndarray]], score, thresholds) -> dict:
    """Per-user and pooled EER, AUC, FAR at 1% FRR, and the decision rates at the thresholds."""
    g = [score(u["genuine"]) for u in users]
    i = [score(u["impostor"]) for u in users]
    ga, ia = np.concatenate(g), np.concatenate(i)
    out = {"eer_mean_per_user": float(np.mean([eer(x, y) for x, y in zip(g, i)])),
           "eer_pooled": float(eer(ga, ia)), "roc_auc": float(roc_auc(ga, ia)),
           "far_at_frr_1pct": float(far_at_frr(ga, ia, 0.01))}
    if thresholds is not None:
        out["impostors_allowed"] = float(np.mean(ia < thresholds.allow_below))
        out["genuine_denied"] = float(np.mean(ga >= thresholds.deny_at_or_above))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=ROOT / "bundles" / "default.pt")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    start = time.time()
    bundle = ModelBundle.load(args.bundle)
    configs = {f: ScoringConfig.from_targets(bundle, 0.05, 0.01, fusion=f) for f in FUSIONS}
    keys = load_scores("aalto_keystrokes")
    result: dict = {"inputs": "served answers of bench/product_accuracy.py (bench/results/served_scores)",
                    "bundle_thresholds": str(args.bundle.relative_to(ROOT)), "pairs": {}}
    for other in ("serwadda_touch", "balabit_pointer"):
        if not (SCORES / f"{other}.jsonl.gz").exists():
            result["pairs"][other] = "not run: no served scores (run bench/product_accuracy.py first)"
            continue
        users = chimeric(keys, load_scores(other), np.random.default_rng(args.seed))
        mods = ["keystrokes", MODALITY_OF[other]]
        rows = {m: figures(users, lambda x, j=j: x[:, j], configs["mean"].thresholds([m]))
                for j, m in enumerate(mods)}
        for f in FUSIONS:
            rows[f"fused_{f}"] = figures(users, lambda x, f=f: fuse(x, np.ones_like(x), f),
                                         configs[f].thresholds(mods))
        result["pairs"][f"aalto_keystrokes+{other}"] = {
            "chimeric_users": len(users), "genuine": int(sum(len(u["genuine"]) for u in users)),
            "impostor": int(sum(len(u["impostor"]) for u in users)), "figures": rows}
    result["command"] = rerun_command("bench/fusion.py", argv)
    result["wall_s"] = round(time.time() - start, 1)
    publish_result(result, OUT)


if __name__ == "__main__":
    main()

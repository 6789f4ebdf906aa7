"""Serwadda swipes through the servable per-user head (:class:`biometrics.heads.kernel.RBFSVMHead`).

Protocol and user folds of ``bench/serwadda_classic.py``: each user enrolls on its session-1
strokes and is tested on its session-2 strokes; its impostors are the session-2 strokes of
the other users of its fold (5 seeded folds over users). The head's background (what a bundle
ships) holds session-1 strokes of the users *outside* the fold only (``per_user`` seeded
strokes each), so no scored impostor was ever a negative. Decisions over k = 1, 5, 11, 20
consecutive strokes average the per-stroke anomalies (mean per-user EER, median, pooled).

Item vectors come from the served feature path: :func:`biometrics.features.stroke_features`
on the session's touch events, less the three columns the collector never fills, either as
they are (``raw``, the classic's input) or through the encoder's fixed signed-log scaling
:func:`biometrics.features.stroke_tokens.scale_stroke_features` (``log``).

Hyperparameters (input, background strokes per user, C) are chosen per test fold on
validation users only: for test fold f, the users of fold (f + 1) mod 5 are enrolled and
tested among themselves against a background of the three remaining folds; the config with
the lowest mean per-user EER at 11 strokes there, among those within the fit budget
(``MAX_BG_PER_USER``), is the one fold f is served with (``served``); ``recommended_default``
is the in-budget config of the lowest validation EER averaged over the folds. Every config's test figures are given beside it (``test_by_config``), not used
for any choice. ``classic_full``: the classic's own setting (raw, C = 1, every session-1
stroke of the other folds as background) through the numpy head on the same split, to set
against the sklearn figures of ``bench/results/serwadda_classic.json``.

    python bench/serwadda_heads.py [--datasets PATH] [--folds 5] [--seed 0] [--no-classic-full]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from biometrics.data.serwadda import (
    STROKE_COUNTS,
    inter_session_report,
    load_serwadda,
    stroke_feature_matrices,
)
from biometrics.features import STROKE_FEATURES
from biometrics.features.stroke_tokens import STROKE_TOKEN_COLUMNS, scale_stroke_features
from biometrics.heads.kernel import RBFSVMHead, payload_nbytes, sample_background, state_nbytes
from biometrics.reports import publish_result, rerun_command

COLUMNS = [STROKE_FEATURES.index(n) for n in STROKE_TOKEN_COLUMNS]  # the 28 collected features
#: (input, background strokes per user, C); scaler "user" and gamma "scale" throughout.
GRID = [(inp, per, c) for inp in ("raw", "log") for per, c in ((60, 0.3), (60, 1.0), (60, 3.0), (100, 1.0))]
#: The largest background a choice may ship: 60 strokes per training user keeps the fit under
#: ~1 s per user on this machine (100 per user: 0.6 s mean, 1.2 s max) and the payload ~0.3 MB.
MAX_BG_PER_USER = 60
CLASSIC_PATH = Path("bench/results/serwadda_classic.json")


def user_folds(users: list[int], n_folds: int, seed: int) -> dict[int, int]:
    """The classic's seeded fold of each user (``bench/serwadda_classic.py``)."""
    perm = np.random.default_rng(seed).permutation(len(users))
    return {users[i]: rank % n_folds for rank, i in enumerate(perm)}


def vectors(feats: dict[int, dict[int, np.ndarray]], inp: str) -> dict[int, dict[int, np.ndarray]]:
    """Per session and user, the head's item vectors of the raw stroke features ``[S, 31]``."""
    if inp == "raw":
        return {s: {u: f[:, COLUMNS].astype(np.float32) for u, f in d.items()} for s, d in feats.items()}
    return {s: {u: scale_stroke_features(f) for u, f in d.items()} for s, d in feats.items()}


def run_split(vec, evaluated: list[int], bg_users: list[int], per_user: int | None, C: float,
              seed: int, check: bool = False) -> dict:
    """Scores of every ``evaluated`` user's head (background from ``bg_users``), plus costs."""
    enroll, test = vec[1], vec[2]
    bg = sample_background({u: enroll[u] for u in bg_users}, per_user or 10**9, seed)
    head = RBFSVMHead(bg, C=C)
    cuts = np.cumsum([0] + [test[u].shape[0] for u in evaluated])
    everyone = np.concatenate([test[u] for u in evaluated])
    genuine, impostor, fit_s, score_s, state_b, diffs = {}, {}, [], [], [], []
    for i, u in enumerate(evaluated):
        t0 = time.perf_counter()
        state = head.fit(enroll[u])
        fit_s.append(time.perf_counter() - t0)
        state_b.append(state_nbytes(state))
        t0 = time.perf_counter()
        head.score(state, test[u][:11])  # one 11-stroke decision, as served
        score_s.append(time.perf_counter() - t0)
        s = head.score(state, everyone)
        per = {v: s[cuts[j]:cuts[j + 1]] for j, v in enumerate(evaluated)}
        genuine[u] = per.pop(u)
        impostor[u] = per
        if check and i == 0:  # the numpy head against sklearn's decision_function, same fit
            mean, std, _, clf = head.fit_estimator(enroll[u])
            ref = -clf.decision_function((everyone.astype(np.float64) - mean) / std)
            diffs.append(float(np.abs(s - ref).max()))
    return {"genuine": genuine, "impostor": impostor, "fit_s": fit_s, "score_s": score_s,
            "state_bytes": state_b, "payload_bytes": payload_nbytes(head.payload()),
            "background_rows": int(bg.shape[0]), "max_abs_diff_vs_sklearn": diffs}


def summary(runs: list[dict]) -> dict:
    """EERs and costs of the runs of all folds together."""
    gen = {u: g for r in runs for u, g in r["genuine"].items()}
    imp = {u: i for r in runs for u, i in r["impostor"].items()}
    rep = inter_session_report(gen, imp, STROKE_COUNTS)
    cat = lambda key: np.concatenate([np.asarray(r[key], float) for r in runs])
    diffs = cat("max_abs_diff_vs_sklearn")
    return {"eer_by_strokes": rep["eer_mean"], "eer_median_by_strokes": rep["eer_median"],
            "eer_pooled_by_strokes": rep["eer_pooled"], "n_users": len(gen),
            "fit_s_mean": float(cat("fit_s").mean()), "fit_s_max": float(cat("fit_s").max()),
            "score_ms_11_strokes_p50": 1e3 * float(np.median(cat("score_s"))),
            "state_kb_mean": float(cat("state_bytes").mean() / 1024),
            "state_kb_max": float(cat("state_bytes").max() / 1024),
            "payload_kb_max": max(r["payload_bytes"] for r in runs) / 1024,
            "background_rows_max": max(r["background_rows"] for r in runs),
            **({"max_abs_diff_vs_sklearn": float(diffs.max())} if diffs.size else {})}


def eer11(runs: list[dict]) -> float:
    """Mean per-user EER at 11 strokes of some runs."""
    gen = {u: g for r in runs for u, g in r["genuine"].items()}
    imp = {u: i for r in runs for u, i in r["impostor"].items()}
    return inter_session_report(gen, imp, (11,))["eer_mean"]["11"]


def config_name(inp: str, per: int | None, c: float) -> str:
    return f"{inp}_bg{per or 'all'}_C{c:g}"


def main(argv: list[str] | None = None) -> dict:
    """Validation choice per fold, test figures per config, the served figure; one JSON line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=None, help="datasets root (default ../shared/datasets)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-classic-full", action="store_true",
                    help="skip the classic's full background through the head (~6 min)")
    ap.add_argument("--out", default="bench/results/serwadda_heads.json")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    feats = stroke_feature_matrices(load_serwadda(args.datasets))
    vecs = {inp: vectors(feats, inp) for inp in ("raw", "log")}
    users = sorted(feats[1])
    fold = user_folds(users, args.folds, args.seed)
    members = {f: [u for u in users if fold[u] == f] for f in range(args.folds)}
    test_runs: dict[str, list[dict]] = {}
    val_eer: dict[str, list[float]] = {}
    chosen: dict[int, str] = {}
    for f in range(args.folds):
        v = (f + 1) % args.folds
        best = None
        for inp, per, c in GRID:
            name = config_name(inp, per, c)
            val_bg = [u for u in users if fold[u] not in (f, v)]
            e = eer11([run_split(vecs[inp], members[v], val_bg, per, c, args.seed)])
            val_eer.setdefault(name, []).append(e)
            if per <= MAX_BG_PER_USER and (best is None or e < best[0]):
                best = (e, name)
            test_bg = [u for u in users if fold[u] != f]
            test_runs.setdefault(name, []).append(
                run_split(vecs[inp], members[f], test_bg, per, c, args.seed, check=True))
        chosen[f] = best[1]
    served = summary([test_runs[chosen[f]][f] for f in range(args.folds)])
    by_config = {n: summary(r) for n, r in test_runs.items()}
    val_mean = {n: float(np.mean(e)) for n, e in val_eer.items()}
    default = min((config_name(*g) for g in GRID if g[1] <= MAX_BG_PER_USER), key=val_mean.get)
    result = {
        "eer_by_strokes": served["eer_by_strokes"],
        "eer_median_by_strokes": served["eer_median_by_strokes"],
        "eer_pooled_by_strokes": served["eer_pooled_by_strokes"],
        "method": "RBFSVMHead per user (numpy scoring), config chosen per fold on validation users",
        "served": served, "chosen_per_fold": {str(f): n for f, n in chosen.items()},
        "recommended_default": default, "max_background_per_user": MAX_BG_PER_USER,
        "val_eer11_mean_by_config": val_mean, "val_eer11_by_fold": val_eer,
        "test_by_config": by_config,
    }
    if not args.no_classic_full:
        runs = [run_split(vecs["raw"], members[f], [u for u in users if fold[u] != f], None, 1.0,
                          args.seed, check=True) for f in range(args.folds)]
        result["classic_full"] = summary(runs)
    if CLASSIC_PATH.is_file():
        classic = json.loads(CLASSIC_PATH.read_text())
        result["classic_sklearn"] = {k: classic[k] for k in ("eer_by_strokes", "eer_median_by_strokes",
                                                             "eer_pooled_by_strokes", "command")}
    result |= {"n_users": len(users), "folds": args.folds, "seed": args.seed,
               "features": list(STROKE_TOKEN_COLUMNS),
               "command": rerun_command("bench/serwadda_heads.py", argv),
               "wall_s": round(time.perf_counter() - start, 1)}
    publish_result(result, args.out)
    return result


if __name__ == "__main__":
    main()

"""Classic per-action baseline on the Balabit Mouse Dynamics Challenge, published protocol.

Antal & Egyed-Zsigmond, "Intrusion detection using mouse dynamics", IET Biometrics 2019
(arXiv 1810.04668): per-action features and a random forest per account, session score =
mean of the per-action scores. Here:

* events: the loader's conversion of each session file into the collector's pointer
  events (:mod:`biometrics.data.balabit`); actions and their features: the project's
  :func:`biometrics.features.mouse_actions` (move, point-and-click, drag-and-drop and
  scroll; 26 ``ACTION_FEATURES`` columns);
* actions kept: those of at least ``MIN_EVENTS`` = 4 events, and (headline, as Antal)
  not scrolls; a test session with no such action keeps all of its actions;
* ``rf_2class`` (headline): per account, a random forest (200 trees, ``min_samples_leaf``
  2, seeded) of the account's training-session actions (label 1) against as many actions
  drawn at random from the other nine accounts' training sessions (label 0). These are the
  accounts whose users appear as attackers in the test folders, as in the published
  protocol (a closed set). Per-action anomaly = 1 - P(owner);
* ``rf_2class_with_scroll``: the same with scroll actions kept;
* ``gb_2class_with_scroll``: the same with gradient boosting instead of the forest (chosen
  over the forest on the validation sessions of the ``balabit_mouse`` data module, never
  on these test sessions; see ``bench/results/balabit_mouse.md``);
* ``manhattan_scaled``: the one-class scaled-Manhattan detector on log-scaled action
  features, fitted on the account's training actions only (no other account's data), its
  per-action score divided by the median score of the account's training actions so that
  accounts share one scale for the global AUC.

Every labelled test session (816: 411 legal, 405 illegal) is scored by its own account's
model, averaging the per-action anomaly over its first 1, 5, 10, 20 and all actions (a
session shorter than n uses all it has). Reported: the global AUC and EER over the 816
sessions pooled (the challenge metric), and per-account AUC/EER.

    python bench/balabit_classic.py [--datasets PATH] [--cache-dir DIR] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from biometrics.classic import two_class_anomaly
from biometrics.data.balabit import BalabitData, load_balabit
from biometrics.detectors import make_detector
from biometrics.features import ACTION_FEATURES, ACTION_TYPES, mouse_actions
from biometrics.features.action_tokens import log_action_features
from biometrics.metrics import eer, roc_auc
from biometrics.reports import publish_result, rerun_command
from biometrics.streaming import ACTION_COUNTS, first_n_means

MIN_EVENTS = 4
HEADLINE = "rf_2class"
PUBLISHED = {"antal_egyed_zsigmond_2019_auc": 0.92, "wang_2025_auc": 0.9465}
_N_EV = ACTION_FEATURES.index("n_events")
_SCROLL = ACTION_FEATURES.index("act_scroll")


def action_features_by_session(data: BalabitData) -> dict[str, np.ndarray]:
    """Action feature matrix ``[A, 26]`` of every session, by session name."""
    out = {}
    for account in data.accounts:
        for s in data.training[account] + data.test.get(account, []):
            out[s.name] = mouse_actions(s.events)[1]
    return out


def keep_actions(F: np.ndarray, with_scroll: bool, fallback: bool) -> np.ndarray:
    """Actions of at least MIN_EVENTS events (and no scrolls unless asked); all if none left."""
    keep = F[:, _N_EV] >= MIN_EVENTS
    if not with_scroll:
        keep &= F[:, _SCROLL] == 0
    if fallback and not keep.any():
        return F
    return F[keep]


def _manhattan_scorer(pos: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Scaled-Manhattan anomaly of log features, in units of the training actions' median."""
    logged = log_action_features(pos)
    det = make_detector("Manhattan (scaled)").fit(logged)
    ref = float(np.median(det.score(logged)))
    return lambda F: det.score(log_action_features(F)) / ref


def score_method(
    data: BalabitData, actions: dict[str, np.ndarray], method: str, seed: int
) -> dict[str, dict[str, float]]:
    """Session scores (by first-n actions) of every labelled test session, by session name."""
    with_scroll = method.endswith("_with_scroll")
    train = {
        a: np.concatenate(
            [keep_actions(actions[s.name], with_scroll, False) for s in data.training[a]]
        )
        for a in data.accounts
    }
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, float]] = {}
    for account in data.accounts:
        pos = train[account]
        if method == "manhattan_scaled":
            anomaly = _manhattan_scorer(pos)
        else:
            others = np.concatenate([train[b] for b in data.accounts if b != account])
            neg = others[
                rng.choice(others.shape[0], size=min(pos.shape[0], others.shape[0]), replace=False)
            ]
            anomaly = two_class_anomaly(pos, neg, "boosting" if method.startswith("gb_") else "forest", seed)
        for session, _ in data.labelled_test(account):
            F = keep_actions(actions[session.name], with_scroll, True)
            out[session.name] = first_n_means(anomaly(F) if F.shape[0] else np.zeros(0))
    return out


def report(data: BalabitData, scores: dict[str, dict[str, float]]) -> dict[str, object]:
    """Global AUC / EER by number of actions, and per-account AUC / EER on whole sessions."""
    labelled = data.labelled_test()
    y = np.array([label for _, label in labelled])
    by_n = {n: np.array([scores[s.name][n] for s, _ in labelled]) for n in ACTION_COUNTS}
    per_account = {}
    for account in data.accounts:
        rows = [i for i, (s, _) in enumerate(labelled) if s.account == account]
        ya, sa = y[rows], by_n["all"][rows]
        entry: dict[str, float | int] = {
            "n_legal": int((ya == 0).sum()),
            "n_illegal": int((ya == 1).sum()),
        }
        if (ya == 0).any() and (ya == 1).any():
            entry["auc"] = roc_auc(sa[ya == 0], sa[ya == 1])
            entry["eer"] = eer(sa[ya == 0], sa[ya == 1])
        per_account[account] = entry
    aucs = [e["auc"] for e in per_account.values() if "auc" in e]
    eers = [e["eer"] for e in per_account.values() if "eer" in e]
    return {
        "auc_global": roc_auc(by_n["all"][y == 0], by_n["all"][y == 1]),
        "eer_global": eer(by_n["all"][y == 0], by_n["all"][y == 1]),
        "auc_by_actions": {n: roc_auc(v[y == 0], v[y == 1]) for n, v in by_n.items()},
        "eer_by_actions": {n: eer(v[y == 0], v[y == 1]) for n, v in by_n.items()},
        "auc_per_account_mean": float(np.mean(aucs)),
        "eer_per_account_mean": float(np.mean(eers)),
        "per_account": per_account,
    }


def main(argv: list[str] | None = None) -> dict:
    """Score the 816 labelled sessions with each method; print one JSON line, write the file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=None, help="datasets root (default ../shared/datasets)")
    ap.add_argument("--cache-dir", default=None, help="parsed-archive cache (.cache/balabit)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/results/balabit_classic.json")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    data = load_balabit(args.datasets, args.cache_dir)
    actions = action_features_by_session(data)
    variants = {
        m: report(data, score_method(data, actions, m, args.seed))
        for m in (HEADLINE, "rf_2class_with_scroll", "gb_2class_with_scroll", "manhattan_scaled")
    }
    head = variants[HEADLINE]
    labelled = data.labelled_test()
    result = {
        "auc_global": head["auc_global"],
        "eer_global": head["eer_global"],
        "auc_by_actions": head["auc_by_actions"],
        "method": HEADLINE,
        "published": PUBLISHED,
        "variants": variants,
        "n_sessions": len(labelled),
        "n_illegal": int(sum(label for _, label in labelled)),
        "action_types": list(ACTION_TYPES),
        "min_events_per_action": MIN_EVENTS,
        "loader_stats": data.stats,
        "command": rerun_command("bench/balabit_classic.py", argv),
        "wall_s": round(time.perf_counter() - start, 1),
    }
    publish_result(result, args.out)
    return result


if __name__ == "__main__":
    main()

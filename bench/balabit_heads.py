"""Servable per-user mouse head on Balabit: boosted trees against a shipped background set.

The research rows (``bench/balabit_classic.py``, ``biometrics.data.mouse_modules``) fit a
scikit-learn random forest or boosting per account, which a model bundle cannot hold. Here
the per-account model is :class:`biometrics.heads.boosted.BoostedTreesHead`: fitted at
enrollment against a background of other people's actions (the bundle's payload), kept as
plain float32 arrays, scored by numpy tree inference. Protocol (published, Antal &
Egyed-Zsigmond 2019): each account enrolls its training sessions; its 816 labelled test
sessions (411 legal, 405 illegal) are scored by its own head; session score = mean of its
actions' anomalies after 1, 5, 10, 20 and all actions; global AUC and EER over the 816
sessions pooled, and per account.

Items: the served feature path, :func:`biometrics.features.mouse_actions` on the loader's
pointer events (the collector's own events, :mod:`biometrics.data.balabit`); actions of at
least ``MIN_EVENTS`` = 4 events, scrolls kept (a test session with none keeps all its
actions). The bench checks that these are the very features the research module
(:func:`biometrics.features.action_tokens.action_sequences`) uses.

Variants (every fit excludes the evaluated account from the background):

* ``published``: account k's head against the *whole* pool of the other nine accounts'
  training actions (as many drawn as k has actions): the research protocol through the
  servable head (its background, 60-100 k actions, is larger than a payload may be);
* ``loao`` (**headline**): the bundle a new customer's user meets: ONE background of
  ``--background`` actions drawn once from the other nine accounts (leave one account out),
  within the payload budget, shared by nothing k ever contributed to; also scored with
  ``anomaly="probability"`` (``loao_probability``, same trees);
* ``open_set``: Balabit's attackers are the other accounts' users, so in ``loao`` the
  attackers of k are in the background too (a closed set). Here each illegal session of k
  is attributed to the account j whose own ``loao`` head finds it least anomalous, and is
  scored by a head of k whose background also leaves out j (drawn from the eight others);
  each legal session by one such head too (j taken in turn). The attribution is inferred,
  not a label; a wrong one leaves the attacker in the background (optimistic);
* ``sklearn_boosting`` / ``sklearn_forest`` (reference): ``two_class_anomaly`` (default
  ``HistGradientBoostingClassifier`` with its early stopping, and the 200-tree forest) on the
  ``published`` negatives.

    python bench/balabit_heads.py [--background 16000] [--seed 0] [--skip-open-set] [--skip-reference]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from biometrics.classic import two_class_anomaly
from biometrics.data.balabit import BalabitData, load_balabit
from biometrics.data.mouse_modules import session_report
from biometrics.features import ACTION_FEATURES, mouse_actions
from biometrics.features.action_tokens import action_sequences
from biometrics.heads.boosted import BoostedTreesHead
from biometrics.reports import publish_result, rerun_command
from biometrics.streaming import first_n_means

MIN_EVENTS = 4
HEADLINE = "loao"
PUBLISHED = {"antal_egyed_zsigmond_2019_auc": 0.92, "wang_2025_auc": 0.9465}
_N_EV = ACTION_FEATURES.index("n_events")


def kept_actions(F: np.ndarray, fallback: bool) -> np.ndarray:
    """Actions of at least MIN_EVENTS events, as float32 items (all of them if none is left and ``fallback``)."""
    keep = F[:, _N_EV] >= MIN_EVENTS
    if fallback and not keep.any():
        return F.astype(np.float32)
    return F[keep].astype(np.float32)


def features_match_research(data: BalabitData) -> bool:
    """Whether every session's kept served features equal the research module's (``action_sequences``)."""
    for account in data.accounts:
        for s in data.training[account] + data.test.get(account, []):
            served = mouse_actions(s.events)[1]
            research = action_sequences(s.events, MIN_EVENTS, 64, False).features
            if not np.array_equal(served[served[:, _N_EV] >= MIN_EVENTS], research):
                return False
    return True


def _draw(pool: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    return pool[np.sort(rng.choice(pool.shape[0], min(size, pool.shape[0]), replace=False))]


def _report(per_session: dict[str, np.ndarray], labelled, numbers: dict[str, int]) -> dict:
    """Session report (global and per account AUC / EER by actions seen) of per-action anomalies."""
    scores = {
        s.name: {
            "account": numbers[s.account],
            "label": label,
            **first_n_means(per_session[s.name]),
        }
        for s, label in labelled
    }
    r = session_report(scores)
    return {
        k: r[k]
        for k in ("auc_global", "eer_global", "auc_by_actions", "eer_by_actions", "per_account")
    } | {
        "auc_per_account_mean": float(np.mean([v["auc"] for v in r["per_account"].values()])),
        "eer_per_account_mean": float(np.mean([v["eer"] for v in r["per_account"].values()])),
    }


def main(argv: list[str] | None = None) -> dict:
    """Score the 816 labelled sessions with each variant; print one JSON line, write the file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=None, help="datasets root (default ../shared/datasets)")
    ap.add_argument("--cache-dir", default=None, help="parsed-archive cache (.cache/balabit)")
    ap.add_argument(
        "--background", type=int, default=16_000, help="actions in the shipped background"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-open-set", action="store_true")
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--out", default="bench/results/balabit_heads.json")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    data = load_balabit(args.datasets, args.cache_dir)
    accounts = data.accounts
    numbers = {a: int("".join(c for c in a if c.isdigit())) for a in accounts}
    labelled = data.labelled_test()
    train = {
        a: np.concatenate(
            [kept_actions(mouse_actions(s.events)[1], False) for s in data.training[a]]
        )
        for a in accounts
    }
    test = {s.name: kept_actions(mouse_actions(s.events)[1], True) for s, _ in labelled}
    tests_of = {a: [s.name for s, _ in data.labelled_test(a)] for a in accounts}
    match = features_match_research(data)
    rng = np.random.default_rng(args.seed)
    head_kw = {"seed": args.seed}
    timings: dict[str, list[float]] = {"fit_s": [], "score_ms_per_session": []}
    state_bytes, n_nodes, depths, n_enroll = [], [], [], {}
    variants: dict[str, dict] = {}

    def others(excluded: set[str]) -> np.ndarray:
        return np.concatenate([train[b] for b in accounts if b not in excluded])

    # (a) published: negatives drawn from the other nine accounts' whole pool.
    published, pub_heads, pub_states = {}, {}, {}
    for a in accounts:
        pub_heads[a] = head = BoostedTreesHead(others({a}), **head_kw)
        pub_states[a] = state = head.fit(train[a])
        for name in tests_of[a]:
            published[name] = head.score(state, test[name])
    variants["published"] = _report(published, labelled, numbers)

    # (b) leave one account out: one bounded background per held-out account.
    loao, loao_logit, loao_heads, loao_states = {}, {}, {}, {}
    payload_bytes = 0
    for a in accounts:
        bg = _draw(others({a}), args.background, rng)
        loao_heads[a] = head = BoostedTreesHead(bg, **head_kw)
        payload_bytes = max(payload_bytes, head.background.nbytes)
        t = time.perf_counter()
        loao_states[a] = state = head.fit(train[a])
        timings["fit_s"].append(time.perf_counter() - t)
        n_enroll[a] = int(train[a].shape[0])
        state_bytes.append(sum(v.nbytes for v in state.values()))
        n_nodes.append(int(state["split"].size))
        depths.append(int(state["depth"][0]))
        for name in tests_of[a]:
            t = time.perf_counter()
            loao[name] = head.score(state, test[name])
            timings["score_ms_per_session"].append((time.perf_counter() - t) * 1e3)
            loao_logit[name] = loao[name]
    variants["loao"] = _report(loao, labelled, numbers)
    variants["loao_probability"] = _report(
        {k: 1.0 / (1.0 + np.exp(-v)) for k, v in loao_logit.items()}, labelled, numbers
    )

    # (b2) open set: the attributed attacker's account is also left out of the background.
    if not args.skip_open_set:
        attributed = {}
        for a in accounts:
            for s, label in data.labelled_test(a):
                if label == 1:
                    mean = {
                        b: float(loao_heads[b].score(loao_states[b], test[s.name]).mean())
                        for b in accounts
                        if b != a
                    }
                    attributed[s.name] = min(mean, key=mean.get)
        open_set = {}
        for a in accounts:
            rest = [b for b in accounts if b != a]
            heads = {}
            for j in rest:
                head = BoostedTreesHead(_draw(others({a, j}), args.background, rng), **head_kw)
                heads[j] = (head, head.fit(train[a]))
            turn = 0
            for s, label in data.labelled_test(a):
                if label == 1:
                    j = attributed[s.name]
                else:
                    j, turn = rest[turn % len(rest)], turn + 1
                head, state = heads[j]
                open_set[s.name] = head.score(state, test[s.name])
        variants["open_set"] = _report(open_set, labelled, numbers)
        counts = np.unique(list(attributed.values()), return_counts=True)
        variants["open_set"]["attributed_attackers"] = {str(k): int(v) for k, v in zip(*counts)}

    # (c) reference: scikit-learn's boosting (early stopping) and forest on the published negatives.
    if not args.skip_reference:
        for method in ("boosting", "forest"):
            ref, ref_rng = {}, np.random.default_rng(args.seed)
            for a in accounts:
                pool = others({a})
                neg = _draw(pool, train[a].shape[0], ref_rng)
                anomaly = two_class_anomaly(train[a], neg, method, args.seed)
                for name in tests_of[a]:
                    ref[name] = anomaly(test[name])
            variants[f"sklearn_{method}"] = _report(ref, labelled, numbers)

    head = variants[HEADLINE]
    per_account_counts = {}
    for a in accounts:
        y = [label for _, label in data.labelled_test(a)]
        per_account_counts[a] = {
            "n_legal": int(len(y) - sum(y)),
            "n_illegal": int(sum(y)),
            "enroll_actions": n_enroll[a],
            "test_actions_median": float(np.median([test[n].shape[0] for n in tests_of[a]])),
        }
    fit_s, score_ms = np.array(timings["fit_s"]), np.array(timings["score_ms_per_session"])
    result = {
        "auc_global": head["auc_global"],
        "eer_global": head["eer_global"],
        "auc_by_actions": head["auc_by_actions"],
        "method": "BoostedTreesHead (per-user HistGradientBoosting exported to float32 arrays, numpy inference)",
        "headline": HEADLINE,
        "head_config": {
            k: v for k, v in loao_heads[accounts[0]].payload().items() if k != "background"
        },
        "background_actions": args.background,
        "payload_bytes": int(payload_bytes),
        "state_bytes": {"max": int(max(state_bytes)), "mean": float(np.mean(state_bytes))},
        "state_nodes": {"max": int(max(n_nodes)), "mean": float(np.mean(n_nodes))},
        "state_depth_max": int(max(depths)),
        "fit_s": {
            "mean": float(fit_s.mean()),
            "max": float(fit_s.max()),
            "per_account": dict(zip(accounts, fit_s.round(3).tolist())),
        },
        "score_ms_per_session": {
            "p50": float(np.percentile(score_ms, 50)),
            "p99": float(np.percentile(score_ms, 99)),
            "max": float(score_ms.max()),
        },
        "published": PUBLISHED,
        "variants": variants,
        "n_sessions": len(labelled),
        "n_illegal": int(sum(label for _, label in labelled)),
        "per_account_counts": per_account_counts,
        "items": f"mouse_actions (served features) of >= {MIN_EVENTS} events, scrolls kept; session = mean anomaly",
        "features_match_research_module": bool(match),
        "command": rerun_command("bench/balabit_heads.py", argv),
        "wall_s": round(time.perf_counter() - start, 1),
        "note": "OMP_NUM_THREADS=1; timings on a shared 2-core machine (other jobs running)",
    }
    publish_result(result, args.out)
    return result


if __name__ == "__main__":
    main()

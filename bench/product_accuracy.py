"""Served accuracy: a benchmark's test users enrolled and scored through the scoring service.

    python bench/product_accuracy.py --bundle bundles/aalto_keystrokes.pt            # Aalto, G = 5
    python bench/product_accuracy.py --bundle bundles/aalto_keystrokes.pt --impostors all
    python bench/product_accuracy.py --bundle bundles/B.pt --upgrade-from bundles/A.pt   # an upgrade

Aalto (TypeNet protocol): the 400 test users of ``experiment=aalto_typenet`` (same seeded
split, never seen in training). Each user's first ``G`` sentences enroll through
:meth:`BiometricService.enroll` on a real SQLite file (one a guard refuses is replaced by the
next sentence that is not a query); the last 5 are genuine queries;
the impostor queries of a user are other test users' picked sentences (the research
protocol's ``impostor_picks``: all 399 with ``--impostors all``, else a seeded sample).
Every query is a contract-v2 session (``biometrics.data.sessions``) scored by
:meth:`BiometricService.score`, built by ``serving.app.build_service`` from the same
settings the API reads: the bundle's encoder, calibration and default thresholds (target
FAR 5% / FRR 1%). Reported: EER (mean over users, the research table's definition, and
pooled), ROC AUC, FAR at 1% FRR, the allow / challenge / deny table of genuine and
impostor sessions, sessions refused at enrollment, and latency per score call.

With ``--upgrade-from A`` (Aalto), the users enroll under bundle A, ``python -m serving.reembed``'s
:func:`serving.reembed.reembed_store` re-embeds their profiles under ``--bundle`` (B) from the
kept enrollment inputs, and B scores them: the figure of an upgrade, to compare with a fresh
enrollment under B (the same command without the option); written under ``aalto_keystrokes_upgrade``
with the re-embedding counts and how many profiles were back to enrolling.

With ``--max-presses K`` (Aalto) every query is cut to its first K presses (enrollment stays
whole): a login page's username and password hold about 20, an Aalto sentence 46 (median);
written under ``aalto_keystrokes_first<K>``.

CMU (``--benchmark cmu``): fixed-text logins, the same text every time as on a login page
(:mod:`biometrics.data.cmu_logins`: the password typed ``--cmu-reps`` times, one login a day;
the test half of the subjects, none of them in a calibration); written under
``cmu_logins_<presses>``.

Writes ``bench/results/product_accuracy.json`` (one key per benchmark, merged).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `serving` is the project's package, not this folder

from biometrics.bundle import ModelBundle
from biometrics.data.balabit import load_balabit
from biometrics.data.keystroke_scorer import aalto_sessions
from biometrics.data.paths import datasets_root
from biometrics.data.pointer_scorer import CHUNK_EVENTS, account_actions, build_pointer_scorer
from biometrics.data.serwadda import load_serwadda
from biometrics.data.sessions import (
    first_presses,
    keystroke_session,
    pointer_session,
    pointer_sessions,
    touch_stroke_sessions,
)
from biometrics.data.touch_scorer import STROKES_PER_DECISION, build_touch_scorer
from biometrics.data.touch_scorer import enrollment_sessions as touch_enrollment_sessions
from biometrics.data.touch_scorer import folds as touch_folds
from biometrics.protocols import impostor_picks
from biometrics.reports import publish_result, rerun_command
from serving.evaluation import ServedRun, open_service, thresholds_of

RESULTS = ROOT / "bench" / "results" / "product_accuracy.json"
SCORES = ROOT / "bench" / "results" / "served_scores"
TENANT = "bench"
PER_USER, N_QUERIES = 15, 5


def run_aalto(args) -> dict:
    """Enroll and score Aalto's test users through the service; the figures and how they were made."""
    sessions = aalto_sessions(datasets_root(args.datasets_dir), ROOT / ".cache" / "aalto-desktop", "test", args.seed)
    users = list(sessions)
    picks = impostor_picks(len(users), PER_USER, N_QUERIES, args.seed)
    rng = np.random.default_rng(args.seed)
    run = ServedRun()
    upgrade: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        enroll_bundle = args.upgrade_from or args.bundle
        service = open_service(enroll_bundle, Path(tmp) / "product.db", min_enroll_sessions=args.enroll)
        for u in users:
            # The first G sentences enroll; a refused one is replaced by the next sentence that is
            # not a query, as a login flow would ask for another session.
            run.enroll(service, TENANT, str(u), sessions[u][:PER_USER - N_QUERIES], limit=args.enroll)
        if args.upgrade_from is not None:  # enrolled under A; re-embed under B, then B scores
            from serving.reembed import reembed_store

            enrolled_under = service.model_version
            service.store.close()
            service = open_service(args.bundle, Path(tmp) / "product.db", min_enroll_sessions=args.enroll)
            counts = reembed_store(service)
            states = Counter(st.state for u in users if (st := service.status(TENANT, str(u))) is not None)
            upgrade = {"upgraded_from": enrolled_under, "upgrade_bundle": str(args.upgrade_from),
                       "reembed": counts, "profile_states_after_upgrade": dict(states)}
        for ui, u in enumerate(users):
            for s in sessions[u][PER_USER - N_QUERIES:]:
                run.score(service, TENANT, str(u), first_presses(s, args.max_presses), impostor=False)
            others = np.delete(np.arange(len(users)), ui)
            if args.impostors != "all":
                others = rng.choice(others, size=min(int(args.impostors), others.size), replace=False)
            for vi in others:
                run.score(service, TENANT, str(u), first_presses(sessions[users[vi]][picks[vi]], args.max_presses),
                          impostor=True)
        thresholds = thresholds_of(service, ["keystrokes"])["by_modalities"]["keystrokes"]
        service.store.close()
    return {
        **run.figures(), "_rows": (run.genuine, run.impostor),
        "n_users": len(users), "enrollment_sessions": args.enroll, "queries_per_user": N_QUERIES,
        "impostors_per_user": args.impostors, "refused_at_enrollment": dict(run.refused),
        "thresholds": thresholds, "latency_ms": run.latency_ms(),
        "model_version": service.model_version, "bundle": str(args.bundle), **upgrade,
        **({} if args.max_presses is None else {"query_presses": args.max_presses}),
    }


def run_balabit(args) -> dict:
    """Balabit, leave one account out: each account's scorer is built without it (background and
    calibration from the other nine), its training sessions enroll through the service (contract
    sessions of ``CHUNK_EVENTS`` events), its labelled test sessions are scored."""
    data = load_balabit(args.datasets_dir)
    actions = account_actions(data, data.accounts)
    run, enrolled = ServedRun(), Counter()
    with tempfile.TemporaryDirectory() as tmp:
        for a in data.accounts:
            scorer = build_pointer_scorer(data, [b for b in data.accounts if b != a], actions=actions,
                                          seed=args.seed, max_enroll=args.pointer_max_enroll)
            path = Path(tmp) / f"{a}.pt"
            ModelBundle(f"balabit-without-{a}", {"pointer": scorer}).save(path)
            service = open_service(path, Path(tmp) / f"{a}.db", min_enroll_sessions=args.enroll)
            chunks = itertools.chain.from_iterable(pointer_sessions(s.events, CHUNK_EVENTS)
                                                   for s in data.training[a])
            if n := run.enroll(service, TENANT, a, chunks):
                enrolled[a] = n
            for s, illegal in data.labelled_test(a):
                # Building the contract session is timed too (as it always was here).
                run.score(service, TENANT, a, lambda s=s: pointer_session(s.events), impostor=illegal)
            service.store.close()
    return {**run.figures(), "_rows": (run.genuine, run.impostor), "protocol": "leave one account out (background and "
            "calibration from the other nine accounts); train sessions enroll, 816 labelled test sessions",
            "enrollment_sessions_per_account": dict(enrolled), "refused_at_enrollment": dict(run.refused),
            "latency_ms": run.latency_ms(("p50", "p99"))}


def run_serwadda(args) -> dict:
    """Serwadda, user folds: each fold's scorer is built from the other folds (background; the next
    fold calibrates); its users enroll on session 1 (three contract sessions of consecutive
    strokes) and are scored on session-2 windows of 11 strokes, their own and the fold's others'."""
    sessions = load_serwadda(args.datasets_dir)
    fold = touch_folds(sessions, seed=args.seed)  # the scorers' folds: a test user never trains its fold's scorer
    run = ServedRun()
    with tempfile.TemporaryDirectory() as tmp:
        for f in sorted(set(fold.values())):
            path = Path(tmp) / f"fold{f}.pt"
            if args.touch_run is not None:  # the experiment's fold-f scorer (encoder and its head)
                from training.export import export_run

                scorer = export_run(args.touch_run, fold=f).scorers["touch"]
            else:
                scorer = build_touch_scorer(sessions, f, seed=args.seed)
            ModelBundle(f"serwadda-without-fold{f}", {"touch": scorer}).save(path)
            service = open_service(path, Path(tmp) / f"fold{f}.db", min_enroll_sessions=3)
            users = sorted(u for u, g in fold.items() if g == f)
            for u in users:
                run.enroll(service, TENANT, str(u), touch_enrollment_sessions(sessions[1][u]))
            queries = {v: touch_stroke_sessions(sessions[2][v], STROKES_PER_DECISION) for v in users}
            for u in users:
                for v in users:
                    for q in queries[v]:
                        run.score(service, TENANT, str(u), q, impostor=v != u, user=f"{f}:{u}")
            service.store.close()
    return {**run.figures(), "_rows": (run.genuine, run.impostor),
            "strokes_per_decision": STROKES_PER_DECISION,
            "protocol": "5 seeded user folds; each fold's scorer built without it; enroll session 1, "
                        "query session-2 windows of 11 consecutive strokes, impostors from the same fold",
            "refused_at_enrollment": dict(run.refused),
            "latency_ms": run.latency_ms(("p50", "p99"))}


def run_strokepin(args) -> dict:
    """StrokePIN, phones: the default bundle's phone scorer (its encoder never saw fold 0) on fold 0's
    users. Each (user, PIN, posture) cell is an account: its first 3 entries enroll, entries 4-5
    are genuine queries, every entry of that PIN and posture by the fold's other users an impostor
    query (the attacker knows the PIN). Sessions: six masked presses, device_type mobile."""
    from biometrics.data import strokepin
    from biometrics.data.strokepin_modules import test_users

    entries = strokepin.load_entries(datasets_root(args.datasets_dir))
    test = test_users(entries, seed=args.seed)
    cells = strokepin.cells_of(entries, lambda e: e.user in test,
                               lambda e: keystroke_session(e.keys, device_type="mobile"))
    run = ServedRun()
    with tempfile.TemporaryDirectory() as tmp:
        service = open_service(args.bundle, Path(tmp) / "pin.db", min_enroll_sessions=3)
        for (u, pin, posture), enroll, genuine, impostor in strokepin.cell_trials(cells):
            account = f"{u}/{pin}/{posture}"
            run.enroll(service, TENANT, account, enroll)
            for s in genuine:
                run.score(service, TENANT, account, s, impostor=False)
            for s in impostor:
                run.score(service, TENANT, account, s, impostor=True)
        service.store.close()
    return {**run.figures(), "_rows": (run.genuine, run.impostor), "model_version": service.model_version,
            "protocol": "fold 0 of 5 (seeded as experiment=strokepin_phone); within posture, G = 3, one entry "
                        "per decision; accounts = (user, PIN, posture) cells with >= 4 entries",
            "refused_at_enrollment": dict(run.refused), "bundle": str(args.bundle),
            "latency_ms": run.latency_ms(("p50", "p99"))}


def run_cmu(args) -> dict:
    """CMU's test subjects (the half ``biometrics.data.cmu_logins`` keeps out of every calibration)
    logging in one day at a time: CMU's password typed ``--cmu-reps`` times per login, the first
    login of days 1-5 enrolls, the first 5 logins of days 6-8 are genuine queries, the first login
    of 10 other test subjects the impostor queries (module docstring)."""
    from biometrics.data.cmu import load_cmu
    from biometrics.data.cmu_logins import login_trials, split_subjects

    data = load_cmu(datasets_root(args.datasets_dir))
    subjects = split_subjects(data)[1]
    run = ServedRun()
    with tempfile.TemporaryDirectory() as tmp:
        service = open_service(args.bundle, Path(tmp) / "cmu.db", min_enroll_sessions=args.enroll)
        for s, enroll, genuine, impostor in login_trials(data, subjects, args.cmu_reps):
            run.enroll(service, TENANT, s, enroll, limit=args.enroll)
            for q in genuine:
                run.score(service, TENANT, s, q, impostor=False)
            for q in impostor:
                run.score(service, TENANT, s, q, impostor=True)
        thresholds = thresholds_of(service, ["keystrokes"])["by_modalities"]["keystrokes"]
        service.store.close()
    return {**run.figures(), "_rows": (run.genuine, run.impostor), "n_users": len(subjects),
            "login_presses": 11 * args.cmu_reps, "enrollment_sessions": args.enroll,
            "refused_at_enrollment": dict(run.refused), "thresholds_whole_session": thresholds,
            "model_version": service.model_version, "bundle": str(args.bundle),
            "latency_ms": run.latency_ms(("p50", "p99"))}


def write_rows(key: str, genuine: list[dict], impostor: list[dict]) -> Path:
    """Every served answer of a benchmark (claimed user, genuine or impostor, risk), gzipped JSON
    lines under ``bench/results/served_scores/``: the input of ``bench/fusion.py``."""
    path = SCORES / f"{key}.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        for kind, rows in (("genuine", genuine), ("impostor", impostor)):
            for r in rows:
                f.write(json.dumps({"user": r["user"], "kind": kind, "risk": r["risk"]}) + "\n")
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--benchmark", choices=("aalto", "balabit", "serwadda", "strokepin", "cmu"), default="aalto")
    ap.add_argument("--bundle", type=Path, help="the served bundle (aalto; balabit builds its own per account)")
    ap.add_argument("--datasets-dir", default=None)
    ap.add_argument("--touch-run", type=Path, default=None,
                    help="serwadda: serve each fold's scorer exported from this experiment=touch_serwadda "
                         "run (its stroke encoder and per-user head) instead of the stroke-feature scorer")
    ap.add_argument("--pointer-max-enroll", type=int, default=10_000,
                    help="balabit: action vectors a profile keeps (the head's training positives)")
    ap.add_argument("--enroll", type=int, default=5, help="enrollment sessions per user (TypeNet's G)")
    ap.add_argument("--impostors", default="100", help="impostor queries per user, or 'all' (399)")
    ap.add_argument("--seed", type=int, default=12345, help="the training run's seed (its user split)")
    ap.add_argument("--upgrade-from", type=Path, default=None,
                    help="aalto: enroll under this bundle, re-embed the profiles under --bundle, score under it")
    ap.add_argument("--max-presses", type=int, default=None,
                    help="aalto: cut every query to its first K presses (a login page's length)")
    ap.add_argument("--cmu-reps", type=int, default=2, choices=(1, 2, 3),
                    help="cmu: password typings per login (11 presses each)")
    ap.add_argument("--research", type=Path, default=None,
                    help="the run's metrics.json, to print the research figure beside the served one")
    args = ap.parse_args(argv)
    start = time.time()
    if args.benchmark == "balabit":
        args.enroll = 3 if args.enroll == 5 else args.enroll
        result = run_balabit(args)
    elif args.benchmark == "serwadda":
        result = run_serwadda(args)
    elif args.benchmark == "strokepin":
        args.bundle = args.bundle or ROOT / "bundles" / "default.pt"
        result = run_strokepin(args)
    elif args.benchmark == "cmu":
        args.bundle = args.bundle or ROOT / "bundles" / "default.pt"
        result = run_cmu(args)
    else:
        if args.bundle is None:
            ap.error("--bundle is required for the aalto benchmark")
        result = run_aalto(args)
    if args.research:
        enc = json.loads(args.research.read_text())["encoder"]
        result["research_eer_mean_per_user"] = enc["eer_by_g"][str(args.enroll)]
    result["command"] = rerun_command("bench/product_accuracy.py", argv)
    result["wall_s"] = round(time.time() - start, 1)
    key = {"aalto": "aalto_keystrokes", "balabit": "balabit_pointer", "serwadda": "serwadda_touch",
           "strokepin": "strokepin_phone", "cmu": f"cmu_logins_{11 * args.cmu_reps}"}[args.benchmark]
    if args.benchmark == "aalto" and args.upgrade_from is not None:
        key = "aalto_keystrokes_upgrade"
    if args.benchmark == "aalto" and args.max_presses is not None:
        key = f"aalto_keystrokes_first{args.max_presses}"
    if args.benchmark == "serwadda" and args.touch_run is not None:
        key = "serwadda_touch_encoder"
    write_rows(key, *result.pop("_rows"))
    merged = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged[key] = result
    publish_result(merged, RESULTS)


if __name__ == "__main__":
    main()

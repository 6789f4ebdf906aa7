"""Shadow-mode cost: CPU time per score in-process, with and without a challenger.

    python bench/shadow.py [--champion bundles/default.pt] [--challenger bundles/sample.pt]
                           [--users 10] [--scores 8] [--repeats 2]
    python bench/shadow.py --challenger bundles/default.pt   # a challenger as heavy as the champion

A challenger with the champion's model version (a copy of it) is saved once under another
version in a temporary folder, as the API refuses to shadow a bundle with itself.

Builds the service as the API does (``serving.app.build_service``: the champion bundle, a
temporary SQLite store) twice, once plain and once with the challenger of
``serving.shadow.build_challenger`` (its own SQLite profile store, the JSONL score-pair log, the
decision row for feedback metrics), enrolls the same sample users (``sample_data/``) in both (so
the challenger's profiles fill while shadowing, as in production), then times
``BiometricService.score`` on the same genuine and impostor sessions (each under a fresh
``session_id``, ``update_profile`` on). It prints one JSON line: p50 / p99 / mean of the thread
CPU time and of the wall time per score, in milliseconds, for each, and the extra per request.

Both runs share one process and one thread (``torch`` with one intra-op thread, as served);
the runs alternate ``--repeats`` times so that warm-up and a busy machine weigh on both alike.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _run(settings, shadow: bool, users, n_scores: int) -> tuple[list[float], list[float], dict]:
    from prometheus_client import CollectorRegistry

    from serving.app import build_service
    from serving.shadow import ShadowMetrics, build_challenger

    service = build_service(settings)
    challenger = None
    if shadow:
        challenger = build_challenger(settings, service.model_version, service.store,
                                      ShadowMetrics(CollectorRegistry()))
        assert challenger is not None, "the challenger did not load"
        service.shadow = challenger
    for user, recs in users.items():
        for rec in recs["enroll"]:
            service.enroll("bench", user, rec.session)
    cpu, wall, statuses = [], [], {}
    for user, recs in users.items():
        for rec in (recs["genuine"] + recs["impostor"])[:n_scores]:
            session = rec.session.model_copy(update={"session_id": str(uuid.uuid4())})
            c0, w0 = time.thread_time(), time.perf_counter()
            service.score("bench", user, session, update_profile=True)
            cpu.append((time.thread_time() - c0) * 1000.0)
            wall.append((time.perf_counter() - w0) * 1000.0)
    if challenger is not None:
        for row in challenger.log.rows():
            statuses[row["challenger"]] = statuses.get(row["challenger"], 0) + 1
        challenger.close()
    service.store.close()
    return cpu, wall, statuses


def _stats(xs: list[float]) -> dict:
    a = np.asarray(xs)
    return {"p50": round(float(np.percentile(a, 50)), 2), "p99": round(float(np.percentile(a, 99)), 2),
            "mean": round(float(a.mean()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--champion", type=Path, default=ROOT / "bundles" / "default.pt")
    parser.add_argument("--challenger", type=Path, default=ROOT / "bundles" / "sample.pt")
    parser.add_argument("--sessions", type=Path, default=ROOT / "sample_data" / "sessions.jsonl")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--scores", type=int, default=8, help="scored sessions per user")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    from biometrics.synthetic import load_sample_sessions
    from serving.settings import Settings

    users: dict[str, dict[str, list]] = {}
    for r in load_sample_sessions(args.sessions):
        if r.label in ("bot", "replay"):
            continue
        kind = "enroll" if r.split == "enroll" else r.label
        users.setdefault(r.user_id, {"enroll": [], "genuine": [], "impostor": []}).setdefault(kind, []).append(r)
    users = dict(sorted(users.items())[: args.users])
    for recs in users.values():
        recs["enroll"] = recs["enroll"][:3]

    results: dict[str, dict[str, list[float]]] = {"off": {"cpu": [], "wall": []}, "on": {"cpu": [], "wall": []}}
    statuses: dict[str, int] = {}
    from biometrics.bundle import ModelBundle

    with tempfile.TemporaryDirectory() as tmp:
        challenger_path = args.challenger
        bundle = ModelBundle.load(args.challenger)
        if bundle.model_version == ModelBundle.load(args.champion).model_version:
            bundle.model_version += "-copy"
            challenger_path = Path(tmp) / "challenger.pt"
            bundle.save(challenger_path)
        for i in range(args.repeats):
            for mode in ("off", "on"):
                d = Path(tmp) / f"{mode}{i}"
                settings = Settings(bundle_path=args.champion, database_url=f"sqlite:///{d / 'profiles.db'}",
                                    challenger_bundle_path=challenger_path if mode == "on" else None,
                                    shadow_log_dir=d / "shadow")
                cpu, wall, st = _run(settings, mode == "on", users, args.scores)
                results[mode]["cpu"] += cpu
                results[mode]["wall"] += wall
                for k, v in st.items():
                    statuses[k] = statuses.get(k, 0) + v
    out = {"champion": ModelBundle.load(args.champion).model_version, "challenger": bundle.model_version,
           "scores_per_mode": len(results["off"]["cpu"]),
           "cpu_ms": {m: _stats(r["cpu"]) for m, r in results.items()},
           "wall_ms": {m: _stats(r["wall"]) for m, r in results.items()},
           "challenger_rows": statuses}
    out["extra_cpu_ms"] = {k: round(out["cpu_ms"]["on"][k] - out["cpu_ms"]["off"][k], 2) for k in ("p50", "p99", "mean")}
    out["extra_wall_ms"] = {k: round(out["wall_ms"]["on"][k] - out["wall_ms"]["off"][k], 2)
                            for k in ("p50", "p99", "mean")}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

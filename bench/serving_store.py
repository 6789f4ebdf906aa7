"""The profile store's CPU per score, alone: the locked (session id) path and the write-behind path.

    python bench/serving_store.py [--bundle bundles/default.pt] [--calls 1000]

Enrolls ``bench/serving.py``'s users through the service, then times the store's part of a score
with the scoring taken out (a profile function that only returns, or adds a replay signature),
with the process's CPU clock:

- ``locked_denied``: :meth:`ProfileStore.update_once` of a score with a session id that writes
  nothing to the profile (a challenged or denied session): the user's lock, the recorded-answer
  check, the decision row and the answer;
- ``locked_allowed``: the same for an allowed session, which also writes its replay signatures;
- ``write_behind``: :meth:`ProfileStore.read_and_queue` of a score without a session id (the
  cached profile's stamp checked; the decision row queued and written in batches, included).

Run it in two worktrees, alternating, to compare two versions of the store. Prints one JSON
object (milliseconds of CPU per call).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import build_bodies
from biometrics.events import Session
from biometrics.service import with_signatures
from biometrics.store import DecisionRecord, RequestKey, ScoreWrites
from serving.app import build_service
from serving.body import parse_json_body
from serving.settings import Settings

TENANT = "bench"


class _Observed:
    """What :func:`with_signatures` reads of an observed session: a fresh signature per modality."""

    def __init__(self, rng: np.random.Generator, names) -> None:
        self.signatures = {name: rng.random(64).astype(np.float32) for name in names}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=ROOT / "bundles" / "default.pt")
    ap.add_argument("--calls", type=int, default=1000)
    args = ap.parse_args(argv)
    enroll, _, _ = build_bodies(8, 3, 1, 0)
    rng = np.random.default_rng(0)
    answer = {"result": {"risk": 0.5, "decision": "deny", "confidence": 0.9, "modalities": {},
                         "reasons": ["pointer_mismatch"], "model_version": "m"}}
    decision = DecisionRecord(None, 0.5, "deny", False, "m")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        service = build_service(Settings(bundle_path=args.bundle, database_url=f"sqlite:///{tmp}/b.db"))
        for user, sessions in enroll.items():
            for body in sessions:
                service.enroll(TENANT, user, Session.model_validate(parse_json_body(body)["session"]))
        store = service.store
        keys = [service.key(TENANT, u) for u in enroll]
        names = list(store.get(TENANT, keys[0]).modalities)

        def one(kind: str, i: int) -> None:
            key = keys[i % len(keys)]
            if kind == "write_behind":
                store.read_and_queue(TENANT, key, lambda p: ScoreWrites(decision, {}, 50))
                return
            fn = ((lambda p: with_signatures(p, _Observed(rng, names), service.config)) if kind == "locked_allowed"
                  else (lambda p: None))
            store.update_once(TENANT, key, fn, RequestKey("score", str(uuid.uuid4()), "a" * 64), lambda p: answer,
                              not_before=datetime.now(UTC) - timedelta(minutes=10),
                              decision_of=lambda: decision, read_inputs=False)

        for kind in ("locked_denied", "locked_allowed", "write_behind"):
            for i in range(50):
                one(kind, i)
            store.flush()
            start = time.process_time()
            for i in range(args.calls):
                one(kind, i)
            store.flush()
            out[kind] = round((time.process_time() - start) / args.calls * 1e3, 3)
        store.close()
    print(json.dumps({"bundle": str(args.bundle), "calls": args.calls, "cpu_ms_per_call": out,
                      "command": "python bench/serving_store.py " + " ".join(argv or sys.argv[1:])}))


if __name__ == "__main__":
    main()

"""Serving benchmark: the real API under a bounded concurrent load of score requests, on loopback.

    python bench/serving.py [--bundle bundles/sample.pt] [--concurrency 32] [--requests 2000]
                            [--workers 1] [--max-seconds 40] [--rate RPS] [--keys-only] [--columnar]
                            [--session-ids] [--enroll]

Starts ``uvicorn serving.app:app`` in a subprocess on 127.0.0.1 (``serving.launch``: a free
port, a temporary SQLite file, its own API key and secret), enrolls a few synthetic users over HTTP, then
drives ``--requests`` score requests from ``--concurrency`` asyncio clients (httpx), or with
``--rate`` at a fixed arrival rate with at most ``--concurrency`` in flight, and prints one
JSON line:

    {"p50_ms": ..., "p95_ms": ..., "p99_ms": ..., "rps": ..., "concurrency": 32, "requests": 2000,
     "errors": 0, "workers": 1, ...}

Each request is a distinct desktop session of about 100 key events and 300 pointer events
(synthetic login sessions of the enrolled user, joined back to back and cut to size; every
request's intervals get their own jitter and its pointer path its own offset, so that the
replay guard does not short-cut it). The
request bodies are built before the clock starts. ``--columnar`` sends each session in the
contract's columnar form (one array per field and modality, :mod:`biometrics.columnar`)
instead of lists of events. ``--enroll`` times enrollments instead: each session enrolled
into its user (``POST /v1/users/{user_id}/enroll``), the profile growing as a user's would.
Latency is measured by the client, so it
includes HTTP and JSON on both sides; the load generator shares the machine's cores with
the server. Traffic stays on loopback.

Reading the figures: a closed loop keeps ``concurrency`` requests in flight, so by Little's
law its mean latency is ``concurrency / rps`` (32 clients at 300 rps: about 107 ms, however
fast one request is). Latency at a given load is what ``--rate`` measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# This file is bench/serving.py: put the project root first so `serving` is the package, not us.
sys.path.insert(0, str(ROOT))
from serving.launch import running_server_process

API_KEY = "bench-key-0123456789"
TARGET_KEY_EVENTS, TARGET_POINTER_EVENTS = 100, 300


def _compose(parts: list) -> dict:
    """Sessions joined back to back and cut to about 100 key and 300 pointer events (JSON form)."""
    keys, pointer, offset, presses = [], [], 0.0, 0
    for s in parts:
        d = s.model_dump(mode="json", exclude_defaults=True)
        end = 0.0
        for name, out in (("keystrokes", keys), ("pointer", pointer)):
            for e in d.get(name, []):
                out.append({**e, "t": e["t"] + offset} | ({"press": e.get("press", 0) + presses}
                                                           if name == "keystrokes" else {}))
                end = max(end, e["t"])
        offset += end + 800.0
        presses = 1 + max((e["press"] for e in keys), default=-1)
        if len(keys) >= TARGET_KEY_EVENTS and len(pointer) >= TARGET_POINTER_EVENTS:
            break
    return {"schema_version": 2, "keystrokes": keys[:TARGET_KEY_EVENTS],
            "pointer": pointer[:TARGET_POINTER_EVENTS], "meta": parts[0].model_dump(mode="json")["meta"]}


def columnar_body(body: bytes) -> bytes:
    """A request body with its session in the columnar form (the same session)."""
    from biometrics.columnar import session_columns
    from biometrics.events import Session

    d = json.loads(body)
    return json.dumps({**d, "session": session_columns(Session.model_validate(d["session"]))}).encode()


def _without_pointer(body: dict) -> dict:
    """A score request's body with its pointer events dropped: a keystroke-only login."""
    return {**body, "session": {**body["session"], "pointer": []}}


def _with_session_id(body: dict, i: int, seed: int) -> dict:
    """A score request's body whose session carries a UUID of its own (seeded), as the collector's do."""
    sid = str(uuid.UUID(int=int(np.random.default_rng([seed, i]).integers(0, 2**63)) << 64 | i, version=4))
    return {**body, "session": {**body["session"], "session_id": sid}}


def _jittered(session: dict, rng: np.random.Generator) -> dict:
    """The session with every inter-event interval lengthened by its own 0-20 ms (order kept) and
    its pointer path moved by its own whole-pixel offset (up to 40 px each way): the replay guard
    matches exact positions, so a path repeated unmoved would be denied as a replay of an earlier
    request (most requests were, before the offset); a moved one keeps its shape and speeds."""
    out = dict(session)
    dx, dy = (float(v) for v in rng.integers(-40, 41, 2))
    for name in ("keystrokes", "pointer"):
        events = session[name]
        if not events:
            continue
        t = np.array([e["t"] for e in events])
        gaps = np.diff(t, prepend=0.0) + rng.uniform(0.0, 20.0, len(t))
        new_t = np.round(np.cumsum(gaps), 3)
        move = {"x": dx, "y": dy} if name == "pointer" else {}
        out[name] = [{**e, "t": float(v), **{k: e[k] + d for k, d in move.items()}} for e, v in zip(events, new_t)]
    return out


def _request(body: bytes, enroll: bool) -> tuple[str, bytes]:
    """A score body as the request the bench sends: the score itself, or (``enroll``) the same
    session enrolled into its user."""
    if not enroll:
        return "/v1/score", body
    doc = json.loads(body)
    return f"/v1/users/{doc['user_id']}/enroll", json.dumps({"session": doc["session"]}).encode()


def build_bodies(n_users: int, n_enroll: int, n_requests: int, seed: int = 0):
    """Enrollment bodies per user and ``n_requests`` score bodies (bytes), all distinct sessions."""
    from biometrics.synthetic import generate_dataset

    per_session = 4  # synthetic desktop logins joined into one bench session
    pool_per_user = n_enroll + 4
    recs = generate_dataset(n_users=max(2, n_users), sessions_per_user=pool_per_user * per_session + 1,
                            n_impostor=0, n_bot=0, n_replay=0, seed=seed, n_enroll=1, mobile_fraction=0.0)
    rng = np.random.default_rng(seed)
    by_user: dict[str, list] = {}
    for r in recs:
        by_user.setdefault(r.user_id, []).append(r.session)
    users = sorted(by_user)[:n_users]
    composed = {u: [_compose(by_user[u][i * per_session:(i + 1) * per_session])
                    for i in range(pool_per_user)] for u in users}
    enroll = {u: [json.dumps({"session": s}).encode() for s in composed[u][:n_enroll]] for u in users}
    bodies = []
    for i in range(n_requests):
        u = users[i % len(users)]
        base = composed[u][n_enroll + (i // len(users)) % (pool_per_user - n_enroll)]
        bodies.append(json.dumps({"user_id": u, "session": _jittered(base, rng)}).encode())
    sizes = [(len(s["keystrokes"]), len(s["pointer"])) for ss in composed.values() for s in ss]
    return enroll, bodies, np.mean(sizes, axis=0)


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's worker processes), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants so far."""
    total = 0
    for p in process_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def tree_rss_mb(pid: int) -> dict[str, float]:
    """Resident memory (MB) of each process of the server: the parent and every worker."""
    out = {}
    for p in process_tree(pid):
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        out[str(p)] = round(kb / 1024, 1)
    return out


async def drive(args, base_url: str, enroll: dict, requests: list[tuple[str, bytes]],
                server_pid: int | None = None) -> dict:
    """Enroll, warm up, then run the timed load of ``(path, body)`` requests; returns the figures
    (with the server's and the load generator's CPU time over the timed load when ``server_pid``
    is given)."""
    import httpx

    headers = {"X-API-Key": API_KEY, "content-type": "application/json"}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=30.0) as client:
        for user, sessions in enroll.items():
            for body in sessions:
                r = await client.post(f"/v1/users/{user}/enroll", content=body)
                if r.status_code != 200:
                    raise RuntimeError(f"enrollment failed with {r.status_code}: {r.text[:200]}")
        warm, timed = requests[: args.warmup], requests[args.warmup:]
        await asyncio.gather(*(client.post(path, content=b) for path, b in warm))

        latencies: list[float] = []
        errors = 0
        error_kinds: dict[str, int] = {}  # status code, or the client's exception, of each error
        server_cpu0 = tree_cpu_seconds(server_pid) if server_pid else 0.0
        client_cpu0 = time.process_time()
        start = time.perf_counter()
        stop_at = start + args.max_seconds

        async def post(request: tuple[str, bytes], since: float) -> None:
            nonlocal errors
            try:
                r = await client.post(request[0], content=request[1])
                ok, kind = r.status_code == 200, str(r.status_code)
            except httpx.HTTPError as exc:
                ok, kind = False, type(exc).__name__
            latencies.append(time.perf_counter() - since)
            errors += not ok
            if not ok:
                error_kinds[kind] = error_kinds.get(kind, 0) + 1

        if args.rate is None:  # closed loop: each client sends its next request when one returns
            it = iter(timed)

            async def client_loop() -> None:
                for request in it:
                    if time.perf_counter() > stop_at:
                        return
                    await post(request, time.perf_counter())

            await asyncio.gather(*(client_loop() for _ in range(args.concurrency)))
        else:  # open loop: arrivals at a fixed rate, at most `concurrency` in flight
            bound = asyncio.Semaphore(args.concurrency)

            async def arrival(request: tuple[str, bytes], due: float) -> None:
                async with bound:  # latency counts from the due time: queueing included
                    await post(request, due)

            tasks = []
            for i, request in enumerate(timed):
                due = start + i / args.rate
                if due > stop_at:
                    break
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                tasks.append(asyncio.create_task(arrival(request, due)))
            await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
        client_cpu = time.process_time() - client_cpu0
        server_cpu = tree_cpu_seconds(server_pid) - server_cpu0 if server_pid else float("nan")
    ms = np.array(latencies) * 1000.0
    p50, p95, p99 = (round(float(np.percentile(ms, q)), 2) for q in (50, 95, 99))
    return {"p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "rps": round(len(ms) / elapsed, 1),
            "concurrency": args.concurrency, "requests": len(ms), "errors": errors, "error_kinds": error_kinds,
            "workers": args.workers,
            "rate": args.rate, "seconds": round(elapsed, 2), "stopped_by_time_cap": len(ms) < len(timed),
            # CPU figures are stable where wall-clock ones on a shared machine are not.
            "server_cpu_ms_per_request": round(server_cpu / max(1, len(ms)) * 1e3, 3),
            "server_cores_busy": round(server_cpu / elapsed, 2),
            "load_generator_cores_busy": round(client_cpu / elapsed, 2),
            "server_rss_mb": tree_rss_mb(server_pid) if server_pid else {}}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Benchmark POST /v1/score under concurrent load on loopback.")
    ap.add_argument("--bundle", type=Path, default=ROOT / "bundles" / "sample.pt",
                    help="model bundle to serve (default: the shipped bundles/sample.pt)")
    ap.add_argument("--concurrency", type=int, default=32, help="concurrent clients")
    ap.add_argument("--requests", type=int, default=2000, help="timed score requests")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--max-seconds", type=float, default=40.0, help="stop the timed load after this long")
    ap.add_argument("--rate", type=float, default=None,
                    help="open loop: offered requests per second (default: closed loop, each client "
                         "sends when its last request returns)")
    ap.add_argument("--users", type=int, default=8, help="users enrolled before the load")
    ap.add_argument("--warmup", type=int, default=64, help="untimed score requests first")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--label", default=None,
                    help="also record the result under this name in bench/results/serving.json")
    ap.add_argument("--keys-only", action="store_true", help="keystroke-only sessions (no pointer events)")
    ap.add_argument("--session-ids", action="store_true",
                    help="give every session its own random session_id, as the browser collector does "
                         "(idempotent scores: the locked path, not the write-behind one)")
    ap.add_argument("--columnar", action="store_true",
                    help="send sessions in the columnar form (one array per field) instead of event lists")
    ap.add_argument("--enroll", action="store_true",
                    help="time enrollments instead of scores: each session enrolled into the user it is of "
                         "(POST /v1/users/{user_id}/enroll; the profile grows, heads refitted each time)")
    args = ap.parse_args(argv)
    if args.concurrency < 1 or args.requests < 1 or args.workers < 1:
        ap.error("--concurrency, --requests and --workers must be at least 1")

    if not args.bundle.is_file():
        ap.error(f"no bundle at {args.bundle}; build one with `python -m training.sample_bundle`")
    enroll, bodies, sizes = build_bodies(args.users, 3, args.requests + args.warmup, args.seed)
    if args.keys_only:
        bodies = [json.dumps(_without_pointer(json.loads(b))).encode() for b in bodies]
    if args.session_ids:
        bodies = [json.dumps(_with_session_id(json.loads(b), i, args.seed)).encode() for i, b in enumerate(bodies)]
    if args.columnar:
        bodies = [columnar_body(b) for b in bodies]
    secret = {"BIOMETRICS_USER_ID_SECRET": "bench-secret-0123456789abcdef"}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp, \
            running_server_process(args.bundle, Path(tmp) / "bench.db", {API_KEY: "bench"}, args.workers,
                                   extra_env=secret) as (base_url, proc):
        result = asyncio.run(drive(args, base_url, enroll, [_request(b, args.enroll) for b in bodies], proc.pid))
    result.update(bundle=str(args.bundle), key_events=round(float(sizes[0]), 1),
                  pointer_events=0.0 if args.keys_only else round(float(sizes[1]), 1), cpus=os.cpu_count(),
                  body="columnar" if args.columnar else "event lists", operation="enroll" if args.enroll else "score",
                  command="python bench/serving.py " + " ".join(argv if argv is not None else sys.argv[1:]))
    print(json.dumps(result))
    if args.label:
        path = ROOT / "bench" / "results" / "serving.json"
        merged = json.loads(path.read_text()) if path.exists() else {}
        merged[args.label] = result
        path.write_text(json.dumps(merged, indent=1) + "\n")


if __name__ == "__main__":
    main()

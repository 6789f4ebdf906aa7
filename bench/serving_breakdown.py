"""Where a score request's CPU goes, stage by stage, in process (the serving path's own objects).

    OMP_NUM_THREADS=1 python bench/serving_breakdown.py [--bundle bundles/default.pt] [--requests 300]

The request bodies are ``bench/serving.py``'s (desktop sessions of about 100 key and 300
pointer events, each with its own jitter) and a keystroke-only variant of each. Every stage is
timed with the process's CPU clock (stable where wall-clock figures on a shared machine are
not), one core, after a warm-up:

- ``parse``: the body's bytes to a validated contract session (``serving.body`` parser and
  the pydantic model, as the route does); ``parse_columnar``: the same session sent in the
  columnar form (one array per field, :mod:`biometrics.columnar`);
- ``arrays``: the session's columnar arrays, built once (while the session validates, so
  inside ``parse``) and shared by every stage below;
- per scorer: ``items`` (tokens or items of its unit), ``encoder`` (embedding), ``head``
  (the anomaly against the enrolled profile);
- ``guards``: bot checks, replay sketches and the replay search against the profile;
- ``service``: the whole ``BiometricService.score`` on freshly parsed sessions (arrays,
  observe, store read, decision record and replay signatures written behind, their batches
  included), so ``service`` minus the stages above is the store's share;
  ``service_session_ids``: the same with a ``session_id`` in each session, as the browser
  collector sends (the idempotent path: the answer recorded under the user's lock);
- ``app`` / ``app_columnar``: the whole ASGI app in process (middleware, routing, auth,
  parse, service, response), without sockets; ``app`` minus ``parse + service`` is FastAPI's
  share, and ``bench/serving.py``'s server CPU minus ``app`` is uvicorn's (HTTP, sockets).

Prints one JSON object (milliseconds of CPU per request).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import API_KEY, _without_pointer, build_bodies, columnar_body
from biometrics.events import Session
from biometrics.guards import bot_like, signatures
from serving.app import build_service, create_app
from serving.body import parse_json_body
from serving.settings import Settings

TENANT = "bench"


def cpu_ms(fn, items) -> float:
    """Mean CPU milliseconds of ``fn(item)`` over ``items``."""
    start = time.process_time()
    for it in items:
        fn(it)
    return (time.process_time() - start) / max(1, len(items)) * 1e3


def breakdown(service, bodies: list[bytes]) -> dict:
    """CPU ms per request of each stage for these request bodies (users already enrolled)."""
    parsed = [parse_json_body(b) for b in bodies]

    def fresh() -> list[tuple[str, Session]]:  # sessions whose columnar arrays are not built yet
        return [(p["user_id"], Session.model_validate(p["session"])) for p in parsed]

    scorer = service.scorer
    out = {"parse": cpu_ms(lambda b: Session.model_validate(parse_json_body(b)["session"]), bodies),
           "parse_columnar": cpu_ms(lambda b: Session.model_validate(parse_json_body(b)["session"]),
                                    [columnar_body(b) for b in bodies])}
    sessions = fresh()
    out["arrays"] = cpu_ms(lambda us: (us[1].keystroke_arrays(), us[1].pointer_arrays(), us[1].touch_arrays()),
                           sessions)  # built once per session, shared by every stage below
    profiles = {u: service.store.get(TENANT, service.key(TENANT, u)) for u, _ in sessions}
    for name, s in scorer.bundle.scorers_for("desktop").items():
        present = [x for _, x in sessions if s.spec.present(x)]
        if not present:
            continue
        # Timed on fresh sessions: a session computes its mouse pass once, for the scorer's
        # actions and the pointer bot guard (Session.derived), and its key presses once, for the
        # keystroke tokens, the keystroke guards and the drift monitor (keystroke_presses), so
        # the guards below reuse them.
        out[f"{name}.items"] = cpu_ms(s.items, [x for _, x in fresh() if s.spec.present(x)])
        items = [s.items(x) for x in present]
        if s.encoder is not None:
            out[f"{name}.encoder"] = cpu_ms(lambda it, s=s: s.encoder.embed(it.tokens), items)
        vecs = [(u, s.vectors(x)[0]) for u, x in sessions if s.spec.present(x)]
        vecs = [(u, v) for u, v in vecs if v is not None]

        def head(uv, s=s, name=name):
            profile = profiles[uv[0]]
            enroll = profile.embeddings(name, service.model_version)
            return s.anomaly(enroll, profile.head_state(name, service.model_version), uv[1])

        out[f"{name}.head"] = cpu_ms(head, vecs)
    out["guards.bots"] = cpu_ms(lambda us: bot_like(us[1], service.scorer.config.guards), sessions)
    out["guards.sketches"] = cpu_ms(lambda us: signatures(us[1], service.scorer.config.guards), sessions)
    observed = [(u, scorer.observe(x)) for u, x in sessions]
    out["guards.replay_search"] = cpu_ms(lambda uo: uo[1].replay_evidence(profiles[uo[0]], service.scorer.config.guards),
                                         observed)
    sessions = fresh()
    start = time.process_time()
    for user, session in sessions:
        service.score(TENANT, user, session)
    service.store.flush()  # the writes behind the answers count too
    out["service"] = (time.process_time() - start) / max(1, len(sessions)) * 1e3
    # The same sessions with a session_id each, as the browser collector sends them: the idempotent
    # path (the answer recorded under the user's lock), not the write-behind one.
    sessions = [(u, s.model_copy(update={"session_id": str(uuid.uuid4())})) for u, s in fresh()]
    start = time.process_time()
    for user, session in sessions:
        service.score(TENANT, user, session)
    out["service_session_ids"] = (time.process_time() - start) / max(1, len(sessions)) * 1e3
    staged = sum(v for k, v in out.items() if k not in ("parse", "parse_columnar", "service", "service_session_ids"))
    out["store_and_rest"] = out["service"] - staged
    return {k: round(v, 3) for k, v in out.items()}


async def _asgi(app, path: str, body: bytes) -> int:
    """One POST through the ASGI app, in process; its status."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         (b"x-api-key", API_KEY.encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status = []

    async def receive():
        return messages.pop() if messages else await asyncio.Event().wait()

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def app_cpu_ms(bundle: Path, db: str, enroll: dict, bodies: dict[str, list[bytes]]) -> dict[str, float]:
    """CPU ms per score request of the whole app in process, per kind of body (after a warm-up)."""
    app = create_app(Settings(bundle_path=bundle, database_url=db, api_keys={API_KEY: TENANT},
                              user_id_secret="bench-secret-0123456789abcdef"))
    out = {}
    async with app.router.lifespan_context(app):
        for user, sessions in enroll.items():
            for body in sessions:
                assert await _asgi(app, f"/v1/users/{user}/enroll", body) == 200
        for name, items in bodies.items():
            for body in items[:10]:
                await _asgi(app, "/v1/score", body)
            start = time.process_time()
            for body in items[10:]:
                assert await _asgi(app, "/v1/score", body) == 200
            app.state.service.store.flush()
            out[name] = round((time.process_time() - start) / max(1, len(items) - 10) * 1e3, 3)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, default=ROOT / "bundles" / "default.pt")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    enroll, bodies, sizes = build_bodies(args.users, 3, args.requests, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        service = build_service(Settings(bundle_path=args.bundle, database_url=f"sqlite:///{tmp}/b.db"))
        for user, sessions in enroll.items():
            for body in sessions:
                service.enroll(TENANT, user, Session.model_validate(parse_json_body(body)["session"]))
        warm = bodies[: min(20, len(bodies) // 4)]
        breakdown(service, warm)
        rest = bodies[len(warm):]
        half = len(rest) // 2
        desktop = breakdown(service, rest[:half])
        keys_bodies = [json.dumps(_without_pointer(json.loads(b))).encode() for b in rest[half:]]
        keys = breakdown(service, keys_bodies)
        service.store.close()
        app = asyncio.run(app_cpu_ms(args.bundle, f"sqlite:///{tmp}/app.db", enroll, {
            "desktop_keys_and_pointer": rest[:half], "keystrokes_only": keys_bodies}))
        desktop["app"], keys["app"] = app["desktop_keys_and_pointer"], app["keystrokes_only"]
        app = asyncio.run(app_cpu_ms(args.bundle, f"sqlite:///{tmp}/app_columnar.db", enroll, {
            "desktop_keys_and_pointer": [columnar_body(b) for b in rest[:half]],
            "keystrokes_only": [columnar_body(b) for b in keys_bodies]}))
        desktop["app_columnar"], keys["app_columnar"] = app["desktop_keys_and_pointer"], app["keystrokes_only"]
    print(json.dumps({"bundle": str(args.bundle), "requests": len(rest), "key_events": float(sizes[0]),
                      "pointer_events": float(sizes[1]), "cpu_ms_per_request": {
                          "desktop_keys_and_pointer": desktop, "keystrokes_only": keys},
                      "command": "python bench/serving_breakdown.py " + " ".join(argv or sys.argv[1:])}))


if __name__ == "__main__":
    main()

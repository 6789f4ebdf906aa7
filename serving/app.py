"""The HTTP API: ``uvicorn serving.app:app`` (settings from ``BIOMETRICS_*``; see :mod:`serving.settings`).

Thin by design: HTTP, auth, limits and metrics here; all behavioral logic in
:class:`biometrics.service.BiometricService`. The bundle is loaded and the store opened
once per process, in the lifespan. Around the routers, from the outside in:

1. metrics and access log: request counts, latency and one access-log line per request,
   by route *template* (``/v1/users/{user_id}``, ``<unmatched>`` for a path no route
   matches) and status, never the raw path; a client that leaves before it was answered
   counts as 499 (client closed request), not as a 500;
2. catch-all: an exception that escapes a route is logged by type only and answered
   with a 500 JSON (bad input never gets here: it is a 4xx below);
3. request-size limit: 413 JSON when ``Content-Length`` or the streamed body exceeds
   ``max_request_bytes``, before anything parses it.

Bodies are parsed in :mod:`serving.body` (strict UTF-8 JSON, no duplicate keys: 400).
No trailing-slash redirects (``/v1/score/`` is a 404): a redirect would be built from the
``Host`` header. ``/docs`` serves Swagger UI from the installed ``swagger-ui-py`` package,
so it works offline (:mod:`serving.docs`).

Validation errors become ``422 {"detail": ["body.session.keystrokes[3].t: ...", ...]}``:
one readable message per problem, naming the field, never echoing the offending value.
Logs carry no user id and no payload: the access log goes to uvicorn's ``uvicorn.access``
logger (so ``--no-access-log`` and ``--log-config`` work as usual) in uvicorn's own format,
with the route template in place of the path; uvicorn's own lines, which hold the raw
path and query string, are dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from biometrics.bundle import BundleError, ModelBundle
from biometrics.chunks import ChunkBuffer
from biometrics.drift import DriftMonitor, DriftReference
from biometrics.guards import GuardConfig
from biometrics.profiles import ProfileConfig
from biometrics.scoring import Scorer, ScoringConfig, TenantPolicy
from biometrics.service import BiometricService
from biometrics.store import ProfileStore
from serving.body import BODY_ERROR_PREFIX, JsonBodyRoute
from serving.docs import add_docs
from serving.routes import feedback, health, score, users
from serving.routes.health import Metrics
from serving.settings import Settings
from serving.shadow import ShadowMetrics, build_challenger

log = logging.getLogger("serving")
access_log = logging.getLogger("uvicorn.access")

UNMATCHED_ROUTE = "<unmatched>"
#: Status recorded for a client that disconnected before it was answered (nginx's convention).
CLIENT_CLOSED_REQUEST = 499
_DISCONNECTED = "biometrics.client_disconnected"  # scope key set when the client left

_FASTAPI_BODY_UNREADABLE = "There was an error parsing the body"
_BODY_UNREADABLE = (f"{BODY_ERROR_PREFIX}: send UTF-8 JSON "
                    "(objects nested at most a few levels deep)")
# HTTPException status -> errors metric kind (422 here: a session refused by enrollment).
_ERROR_KIND = {401: "auth", 403: "auth", 404: "not_found", 405: "bad_method", 409: "session_id_reused",
               413: "too_large", 422: "rejected_session", 429: "chunk_buffer_full", 503: "unavailable"}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over one settings object (read from the environment when not given)."""
    settings = settings if settings is not None else Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in anyio's thread pool; scoring is CPU-bound, so a few threads per
        # core beat the default 40 (fewer GIL hand-offs while a thread holds the store's lock).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        try:
            app.state.service = build_service(settings)
        except BundleError as err:  # keep answering: /readyz says 503 and why, every route 503
            app.state.unavailable = str(err)
            log.error("not ready: %s", err)
            yield
            return
        if settings.uses_dev_secrets:
            log.warning("serving with the public development API key or user-id secret; set "
                        "BIOMETRICS_API_KEYS and BIOMETRICS_USER_ID_SECRET "
                        "(and BIOMETRICS_REQUIRE_SECRETS)")
        # A challenger in shadow (BIOMETRICS_CHALLENGER_BUNDLE_PATH): recorded, never the answer.
        challenger = build_challenger(settings, app.state.service.model_version, app.state.service.store,
                                      app.state.shadow_metrics)
        app.state.service.shadow = challenger
        # Drift of live features and scores against the bundle's references (biometrics_drift_psi).
        app.state.drift = DriftMonitor(DriftReference.of_bundle(app.state.service.scorer.bundle),
                                       settings.drift_window, settings.drift_min_samples)
        app.state.metrics.drift.monitor = app.state.drift
        app.state.service.observers.append(app.state.drift.observe_score)
        log.info("ready: model %s", app.state.service.model_version)
        try:
            yield
        finally:
            service, app.state.service = app.state.service, None
            service.store.close()
            if challenger is not None:
                challenger.close()

    # redirect_slashes=False: Starlette builds the redirect's Location from the Host header.
    app = FastAPI(title="Behavioral biometrics risk API", version="1",
                  summary="Scores login sessions against users' behavioral profiles",
                  lifespan=lifespan, redirect_slashes=False, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.metrics = metrics = Metrics()
    app.state.shadow_metrics = ShadowMetrics(metrics.registry)
    app.state.service = None
    app.state.drift = None  # the drift monitor, once the bundle is loaded
    app.state.unavailable = None
    for module in (users, score, feedback, health):
        app.include_router(module.router)
    for route in app.routes:  # every body is parsed strictly, in one place (serving.body)
        if isinstance(route, APIRoute) and route.body_field is not None \
                and not isinstance(route, JsonBodyRoute):
            raise TypeError(f"route {route.path} reads a body: give its router route_class=JsonBodyRoute")
    add_docs(app)
    # For labelling requests answered before routing (e.g. 413) by their route template.
    app.state.route_templates = [(r.path_regex, r.path) for m in (users, score, feedback, health)
                                 for r in m.router.routes if isinstance(r, APIRoute)]

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        metrics.errors.labels("validation").inc()
        return JSONResponse({"detail": validation_messages(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = _ERROR_KIND.get(exc.status_code, "bad_request" if exc.status_code < 500 else None)
        if kind:
            metrics.errors.labels(kind).inc()
        detail = _BODY_UNREADABLE if exc.detail == _FASTAPI_BODY_UNREADABLE else exc.detail
        if exc.status_code == 404 and exc.detail == "Not Found":
            path = request.url.path
            detail = ("no route at this path; drop the trailing slash" if len(path) > 1 and path.endswith("/")
                      else "no route at this path; see /docs for the API")
        return JSONResponse({"detail": detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(SQLAlchemyError)
    async def _store(request: Request, exc: SQLAlchemyError) -> JSONResponse:
        metrics.errors.labels("store").inc()
        log.error("profile store error %s in %s %s", type(exc).__name__, request.method,
                  route_of(request.scope))
        return JSONResponse({"detail": "the profile store is busy or unavailable; retry shortly"},
                            status_code=503, headers={"Retry-After": "1"})

    # add_middleware wraps: the last added is the outermost.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes, metrics=metrics)
    app.add_middleware(CatchAllMiddleware, metrics=metrics)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    _redact_access_log()
    return app


def scoring_config(settings: Settings, bundle: ModelBundle) -> ScoringConfig:
    """Thresholds from the target error rates on the bundle's held-out data (per set of modalities
    a session holds), unless set explicitly (then one pair for every session); replay sketches
    keyed by a key derived from the user-id secret (never stored with the profiles)."""
    guards = GuardConfig(sketch_key=hmac.new(settings.user_id_secret.get_secret_value().encode("utf-8"),
                                             b"replay-sketch", hashlib.sha256).digest())
    derived = ScoringConfig.from_targets(bundle, settings.target_far, settings.target_frr,
                                         **settings.policy_of(), guards=guards, fusion=settings.fusion)
    if settings.allow_below is None and settings.deny_at_or_above is None:
        return derived
    deny = settings.deny_at_or_above if settings.deny_at_or_above is not None else derived.deny_at_or_above
    allow = settings.allow_below if settings.allow_below is not None else min(derived.allow_below, deny)
    return ScoringConfig(allow_below=allow, deny_at_or_above=deny,
                         **settings.policy_of(), guards=guards, fusion=settings.fusion)


def build_service(settings: Settings) -> BiometricService:
    """Load the bundle and open the store (once per process)."""
    import torch

    settings.check_files()
    torch.set_num_threads(settings.torch_threads)
    bundle = ModelBundle.load(settings.bundle_path)
    scorer = Scorer(bundle, scoring_config(settings, bundle))
    settings.prepare_database_dir()
    # Kept enrollment inputs are encrypted under the profile key (a wrong key stops start-up here).
    store = ProfileStore(settings.database_url, profile_key=settings.profile_key_bytes,
                         write_behind_s=settings.write_behind_ms / 1000.0,
                         profile_cache_bytes=int(settings.profile_cache_mb * (1 << 20)))
    profile_config = ProfileConfig(min_enroll_sessions=settings.min_enroll_sessions,
                                   auto_update_max_risk=settings.auto_update_max_risk,
                                   keep_inputs=settings.keep_enrollment_inputs)
    policies = {tenant: TenantPolicy(**settings.policy_of(tenant))  # type: ignore[arg-type]
                for tenant in settings.tenant_policies}
    return BiometricService(scorer, store, profile_config,
                            settings.user_id_secret.get_secret_value().encode("utf-8"),
                            answer_ttl=timedelta(seconds=settings.idempotency_ttl_s), policies=policies,
                            decision_retention=timedelta(days=settings.decision_retention_days),
                            chunks=ChunkBuffer(settings.chunk_max_sessions, settings.chunk_max_events,
                                               settings.chunk_ttl_s))


# Validation messages -----------------------------------------------------------------

_MAX_LOC_PART = 40
_REWORDED = {
    "extra_forbidden": "unknown field; remove it (only documented fields are accepted)",
    "missing": "required field is missing",
    # Strict types: no coercion from strings or booleans (pydantic's "Input should be a valid ...").
    "float_type": "must be a number (a JSON number, not a string or a boolean)",
    "int_type": "must be an integer (a JSON number without a fraction, not a string or a boolean)",
    "bool_type": "must be true or false (a JSON boolean, not a string or a number)",
    "string_type": "must be a string",
    "list_type": "must be a list (a JSON array)",
    "model_type": "must be an object (a JSON object)",
    "dict_type": "must be an object (a JSON object)",
}


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            s = str(part)
            s = s if len(s) <= _MAX_LOC_PART else s[:_MAX_LOC_PART] + "..."
            out += f".{s}" if out else s
    return out or "request"


#: ``keystrokes[3].t: ...``: how the session's vectorized value checks name the bad event.
_EVENT_PATH = re.compile(r"^((?:keystrokes|pointer|touch)\[\d+\]\.\w+): ")


def validation_messages(errors: list[dict[str, Any]]) -> list[str]:
    """One ``"where: what"`` line per validation error, without the offending input value."""
    out = []
    for e in errors[:50]:
        kind, loc = e.get("type", ""), tuple(e.get("loc", ()))
        if kind == "json_invalid":
            at = f" at character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
            detail = (e.get("ctx") or {}).get("error", "")
            out.append(f"body: malformed JSON{at}" + (f" ({detail})" if detail else ""))
            continue
        msg = str(e.get("msg", "invalid value")).removeprefix("Value error, ")
        if kind in _REWORDED:
            msg = _REWORDED[kind]
        elif loc and loc[-1] == "user_id" and kind in ("string_pattern_mismatch", "string_too_long",
                                                       "string_too_short"):
            msg = ("user_id must be 1-128 characters of A-Z a-z 0-9 . _ @ + : = -, starting with a "
                   "letter or digit (hash or map other ids first)")
        where = _loc(loc)
        if event := _EVENT_PATH.match(msg):  # a session-level value check names its event
            where, msg = f"{where}.{event.group(1)}", msg[event.end():]
        out.append(f"{where}: {msg}")
    if len(errors) > 50:
        out.append(f"... and {len(errors) - 50} more problems")
    return out


# Middleware ------------------------------------------------------------------------


async def _send_json(send: Send, status: int, detail: str) -> None:
    body = JSONResponse({"detail": detail}).body
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 when the declared or the streamed request body exceeds ``max_bytes``; buffers the rest."""

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: Metrics) -> None:
        self.app, self.max_bytes, self.metrics = app, max_bytes, metrics

    async def _too_large(self, send: Send) -> None:
        self.metrics.errors.labels("too_large").inc()
        await _send_json(send, 413, f"request body exceeds the limit of {self.max_bytes} bytes; "
                                    "send fewer events per session")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > self.max_bytes
            except ValueError:
                await _send_json(send, 400, "invalid Content-Length header")
                return
            if too_large:
                await self._too_large(send)
                return
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                scope[_DISCONNECTED] = True
                return  # the client left; nobody to answer
            body = message.get("body", b"")
            total += len(body)
            if total > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class CatchAllMiddleware:
    """Answers an unhandled exception with a 500 JSON; logs its type only (no message, no payload)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        def mark_started(_: Message) -> None:
            nonlocal started
            started = True

        try:
            await self.app(scope, receive, _on_response_start(send, mark_started))
        except ClientDisconnect:
            scope[_DISCONNECTED] = True  # the client left mid-body: not our error, nobody to answer
        except Exception as exc:  # noqa: BLE001 - the point of a catch-all
            self.metrics.unhandled += 1
            self.metrics.errors.labels("internal").inc()
            log.error("unhandled %s in %s %s", type(exc).__name__, scope.get("method"), route_of(scope))
            if not started:
                await _send_json(send, 500, "internal error; it has been logged (without request data)")


class MetricsMiddleware:
    """Counts requests, observes latency and writes the access log, by method, route template and status.

    A request that got no answer because its client left counts as 499, not as a 500.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), None

        def record_status(message: Message) -> None:
            nonlocal status
            status = message["status"]

        try:
            await self.app(scope, receive, _on_response_start(send, record_status))
        finally:
            if status is None:
                status = CLIENT_CLOSED_REQUEST if scope.get(_DISCONNECTED) else 500
            method, route = scope.get("method", ""), route_of(scope)
            self.metrics.observe_request(method, route, status, time.perf_counter() - start)
            log_access(scope, method, route, status)


def _on_response_start(send: Send, callback: Callable[[Message], None]) -> Send:
    """``send`` that first hands the response-start message (status, headers) to ``callback``."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            callback(message)
        await send(message)

    return wrapped


def route_of(scope: Scope) -> str:
    """The route template of a request (``/v1/users/{user_id}``), or ``<unmatched>``; never the raw path."""
    route = getattr(scope.get("route"), "path", None)
    if route is None and scope.get("app") is not None:  # answered before routing (e.g. 413)
        path = scope.get("path", "")
        route = next((template for regex, template in getattr(scope["app"].state, "route_templates", ())
                      if regex.match(path)), None)
    return route or UNMATCHED_ROUTE


# Access log ------------------------------------------------------------------------


def log_access(scope: Scope, method: str, route: str, status: int) -> None:
    """One access-log line, in uvicorn's format, with the route template in place of the path."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    client = scope.get("client")
    addr = f"{client[0]}:{client[1]}" if client else "-"
    access_log.info('%s - "%s %s HTTP/%s" %d', addr, method, route, scope.get("http_version", "1.1"),
                    status, extra={_OUR_LINE: True})


_OUR_LINE = "biometrics_route_template"  # marks the access-log records this module writes


class _OnlyTemplatedLines(logging.Filter):
    """Drops uvicorn's own access-log lines (raw path and query string); keeps ours (templates)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return bool(getattr(record, _OUR_LINE, False))


def _redact_access_log() -> None:
    if not any(isinstance(f, _OnlyTemplatedLines) for f in access_log.filters):
        access_log.addFilter(_OnlyTemplatedLines())


app = create_app()

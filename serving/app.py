"""The HTTP API: ``uvicorn serving.app:app`` (settings from ``BIOMETRICS_*``; see :mod:`serving.settings`).

Thin by design: HTTP, auth, limits and metrics here; all behavioral logic in
:class:`biometrics.service.BiometricService`. The bundle is loaded and the store opened
once per process, in the lifespan. Around the routers, from the outside in:

1. metrics: request counts and latency by route *template* and status;
2. catch-all: an exception that escapes a route is logged by type only and answered
   with a 500 JSON (bad input never gets here: it is a 4xx below);
3. request-size limit: 413 JSON when ``Content-Length`` or the streamed body exceeds
   ``max_request_bytes``, before anything parses it.

Validation errors become ``422 {"detail": ["body.session.keystrokes[3].t: ...", ...]}``:
one readable message per problem, naming the field, never echoing the offending value.
Logs carry no user id (uvicorn's access log shows route templates) and no payload.
"""

from __future__ import annotations

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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from biometrics.bundle import ModelBundle
from biometrics.profiles import ProfileConfig
from biometrics.scoring import Scorer, ScoringConfig
from biometrics.service import BiometricService
from biometrics.store import ProfileStore
from serving.routes import health, score, users
from serving.routes.health import Metrics
from serving.settings import Settings

log = logging.getLogger("serving")

_FASTAPI_BODY_UNREADABLE = "There was an error parsing the body"
_BODY_UNREADABLE = ("There was an error parsing the body: send UTF-8 JSON "
                    "(objects nested at most a few levels deep)")
# HTTPException status -> errors metric kind (422 here: a session refused by enrollment).
_ERROR_KIND = {401: "auth", 403: "auth", 404: "not_found", 405: "bad_method", 409: "session_id_reused",
               413: "too_large", 422: "rejected_session", 503: "unavailable"}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over one settings object (read from the environment when not given)."""
    settings = settings if settings is not None else Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in anyio's thread pool; scoring is CPU-bound, so a few threads per
        # core beat the default 40 (fewer GIL hand-offs while a thread holds the store's lock).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        app.state.service = build_service(settings)
        if settings.uses_dev_secrets:
            log.warning("serving with the public development API key or user-id secret; set "
                        "BIOMETRICS_API_KEYS and BIOMETRICS_USER_ID_SECRET "
                        "(and BIOMETRICS_REQUIRE_SECRETS)")
        log.info("ready: model %s", app.state.service.model_version)
        try:
            yield
        finally:
            service, app.state.service = app.state.service, None
            service.store.close()

    app = FastAPI(title="Behavioral biometrics risk API", version="1",
                  summary="Scores login sessions against users' behavioral profiles",
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = metrics = Metrics()
    app.state.service = None
    for module in (users, score, health):
        app.include_router(module.router)
    # For labelling requests answered before routing (e.g. 413) by their route template.
    app.state.route_templates = [(r.path_regex, r.path) for m in (users, score, health)
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
    """Thresholds from the target error rates on the bundle's held-out data, unless set explicitly."""
    derived = ScoringConfig.from_targets(bundle, settings.target_far, settings.target_frr)
    deny = settings.deny_at_or_above if settings.deny_at_or_above is not None else derived.deny_at_or_above
    allow = settings.allow_below if settings.allow_below is not None else min(derived.allow_below, deny)
    return ScoringConfig(allow_below=allow, deny_at_or_above=deny)


def build_service(settings: Settings) -> BiometricService:
    """Load the bundle and open the store (once per process)."""
    import torch

    settings.check_files()
    torch.set_num_threads(settings.torch_threads)
    bundle = ModelBundle.load(settings.bundle_path)
    scorer = Scorer(bundle, scoring_config(settings, bundle))
    store = ProfileStore(settings.database_url)
    profile_config = ProfileConfig(min_enroll_sessions=settings.min_enroll_sessions,
                                   auto_update_max_risk=settings.auto_update_max_risk)
    return BiometricService(scorer, store, profile_config,
                            settings.user_id_secret.get_secret_value().encode("utf-8"),
                            answer_ttl=timedelta(seconds=settings.idempotency_ttl_s))


# Validation messages -----------------------------------------------------------------

_MAX_LOC_PART = 40
_REWORDED = {
    "extra_forbidden": "unknown field; remove it (only documented fields are accepted)",
    "missing": "required field is missing",
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
        out.append(f"{_loc(loc)}: {msg}")
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
        except Exception as exc:  # noqa: BLE001 - the point of a catch-all
            self.metrics.unhandled += 1
            self.metrics.errors.labels("internal").inc()
            log.error("unhandled %s in %s %s", type(exc).__name__, scope.get("method"), route_of(scope))
            if not started:
                await _send_json(send, 500, "internal error; it has been logged (without request data)")


class MetricsMiddleware:
    """Counts requests and observes latency by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        def record_status(message: Message) -> None:
            nonlocal status
            status = message["status"]

        try:
            await self.app(scope, receive, _on_response_start(send, record_status))
        finally:
            self.metrics.observe_request(scope.get("method", ""), route_of(scope), status,
                                         time.perf_counter() - start)


def _on_response_start(send: Send, callback: Callable[[Message], None]) -> Send:
    """``send`` that first hands the response-start message (status, headers) to ``callback``."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            callback(message)
        await send(message)

    return wrapped


def route_of(scope: Scope) -> str:
    """The route template of a request (``/v1/users/{user_id}``), or ``unmatched``; never the raw path."""
    route = getattr(scope.get("route"), "path", None)
    if route is None and scope.get("app") is not None:  # answered before routing (e.g. 413)
        path = scope.get("path", "")
        route = next((template for regex, template in getattr(scope["app"].state, "route_templates", ())
                      if regex.match(path)), None)
    return route or "unmatched"


# Access log ------------------------------------------------------------------------

_USER_PATH = re.compile(r"^/v1/users/[^/?]+")


class _RedactPaths(logging.Filter):
    """Rewrites uvicorn access-log paths to carry no user id and no query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = _USER_PATH.sub("/v1/users/{user_id}", args[2].split("?", 1)[0])
            record.args = args[:2] + (path,) + args[3:]
        return True


def _redact_access_log() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _RedactPaths) for f in logger.filters):
        logger.addFilter(_RedactPaths())


app = create_app()

"""Liveness, readiness and Prometheus metrics (no API key: for load balancers and scrapers)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from serving.schemas import HealthOut

router = APIRouter(tags=["health"])

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
                   0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The app's Prometheus metrics, in a registry of its own (one per app, so tests can build many).

    Routes are labelled by their template (``/v1/users/{user_id}``), never by the raw path,
    so no user id reaches the metrics.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("biometrics_http_requests", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("biometrics_http_request_duration_seconds",
                                 "HTTP request latency by route and status", ["method", "route", "status"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.decisions = Counter("biometrics_decisions", "Score decisions by value", ["decision"],
                                 registry=self.registry)
        self.reasons = Counter("biometrics_reasons", "Reason codes of scored sessions", ["reason"],
                               registry=self.registry)
        self.errors = Counter("biometrics_errors", "Errors by kind (validation, auth, not_found, "
                              "too_large, rejected_session, session_id_reused, internal)", ["kind"],
                              registry=self.registry)
        self.unhandled = 0  # exceptions that reached the catch-all handler (tests assert it stays 0)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        s = str(status)
        self.requests.labels(method, route, s).inc()
        self.latency.labels(method, route, s).observe(seconds)

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


@router.get("/healthz", response_model=HealthOut, summary="Liveness: the process answers")
async def healthz() -> HealthOut:
    return HealthOut(status="ok")


@router.get("/readyz", response_model=HealthOut, summary="Readiness: bundle loaded and store answering",
            responses={503: {"model": HealthOut}})
def readyz(request: Request) -> Response:
    service = getattr(request.app.state, "service", None)
    checks = {"bundle": service is not None and bool(service.scorer.bundle.scorers),
              "store": service is not None and service.store.ping()}
    ok = all(checks.values())
    body = HealthOut(status="ok" if ok else "unavailable",
                     model_version=service.model_version if service is not None else None, checks=checks,
                     reason=getattr(request.app.state, "unavailable", None))
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

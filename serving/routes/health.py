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
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from biometrics.drift import DriftMonitor
from biometrics.scoring import ScoreResult
from serving.schemas import HealthOut

router = APIRouter(tags=["health"])

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
                   0.25, 0.5, 1.0, 2.5, 5.0)
#: Buckets of risks and calibrated probabilities (finer near both ends, where thresholds sit).
SCORE_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999)


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
        self.decisions = Counter("biometrics_decisions", "Score decisions by value and tenant",
                                 ["decision", "tenant"], registry=self.registry)
        self.reasons = Counter("biometrics_reasons", "Reason codes of scored sessions by tenant",
                               ["reason", "tenant"], registry=self.registry)
        self.risk = Histogram("biometrics_risk", "Fused risk of scored sessions by tenant", ["tenant"],
                              buckets=SCORE_BUCKETS, registry=self.registry)
        self.modality_score = Histogram("biometrics_modality_score", "Calibrated probability (not the "
                                        "owner) of each scorer that scored a session", ["scorer"],
                                        buckets=SCORE_BUCKETS, registry=self.registry)
        self.drift = DriftCollector(self.registry)
        self.errors = Counter("biometrics_errors", "Errors by kind (validation, auth, not_found, "
                              "too_large, rejected_session, session_id_reused, internal)", ["kind"],
                              registry=self.registry)
        self.unhandled = 0  # exceptions that reached the catch-all handler (tests assert it stays 0)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        s = str(status)
        self.requests.labels(method, route, s).inc()
        self.latency.labels(method, route, s).observe(seconds)

    def observe_score(self, tenant: str, result: ScoreResult) -> None:
        """Count one score answer: decision, reasons, risk and per-scorer probabilities."""
        self.decisions.labels(result.decision, tenant).inc()
        for reason in result.reasons:
            self.reasons.labels(reason, tenant).inc()
        self.risk.labels(tenant).observe(result.risk)
        for name, m in result.modalities.items():
            if m.probability is not None:
                self.modality_score.labels(name).observe(m.probability)

    def render(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


class DriftCollector(Collector):
    """PSI of recent live values against the bundle's references (:class:`biometrics.drift.DriftMonitor`),
    computed at scrape time: ``biometrics_drift_psi`` and ``biometrics_drift_window_sessions`` by
    ``scorer`` and ``feature`` (``score`` or an input feature). A window holding fewer than the
    monitor's ``min_samples`` values exports its size but no PSI."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.monitor: DriftMonitor | None = None  # set once the bundle is loaded
        registry.register(self)

    def describe(self) -> list:
        return [GaugeMetricFamily("biometrics_drift_psi", "", labels=["scorer", "feature"]),
                GaugeMetricFamily("biometrics_drift_window_sessions", "", labels=["scorer", "feature"])]

    def collect(self):
        psi = GaugeMetricFamily("biometrics_drift_psi", "Population stability index of recent live values "
                                "against the bundle's reference, by scorer and feature", labels=["scorer", "feature"])
        size = GaugeMetricFamily("biometrics_drift_window_sessions", "Live values in the drift window, by "
                                 "scorer and feature", labels=["scorer", "feature"])
        monitor = self.monitor
        if monitor is not None:
            for (scorer, feature), value in sorted(monitor.psi().items()):
                psi.add_metric([scorer, feature], value[0])
            for (scorer, feature), n in sorted(monitor.counts().items()):
                size.add_metric([scorer, feature], n)
        yield psi
        yield size


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

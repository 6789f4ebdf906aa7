"""Outcome feedback: what a fraud team learnt about scored sessions, and the live error rates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, status

from biometrics.service import FeedbackConflictError, UnknownSessionError
from serving.body import BODY_ERRORS, JsonBodyRoute
from serving.deps import ServiceDep, TenantDep
from serving.schemas import (
    FEEDBACK_EXAMPLES,
    ErrorOut,
    FeedbackIn,
    FeedbackMetricsOut,
    FeedbackOut,
)

router = APIRouter(prefix="/v1/feedback", tags=["feedback"], route_class=JsonBodyRoute)

Threshold = Annotated[float | None, Query(gt=0.0, le=1.0, allow_inf_nan=False)]


@router.post("", response_model=FeedbackOut,
             responses={**BODY_ERRORS, 401: {"model": ErrorOut}, 404: {"model": ErrorOut},
                        409: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut}},
             summary="Store the outcome learnt for a scored session (fraud, chargeback or genuine)",
             description="Once per session: the same outcome again is a 200 with the stored one "
                         "(`created` false); another outcome is a 409. A session this tenant never "
                         "scored with that `session_id` (or past the retention) is a 404.")
def post_feedback(body: Annotated[FeedbackIn, Body(openapi_examples=FEEDBACK_EXAMPLES)], tenant: TenantDep,
                  service: ServiceDep) -> FeedbackOut:
    try:
        fb = service.feedback(tenant, body.session_id, body.outcome, body.learnt_at)
    except UnknownSessionError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
    except FeedbackConflictError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    return FeedbackOut(session_id=fb.session_id, outcome=fb.outcome, learnt_at=fb.learnt_at,  # type: ignore[arg-type]
                       recorded_at=fb.recorded_at, created=fb.created)


@router.get("/metrics", response_model=FeedbackMetricsOut,
            responses={401: {"model": ErrorOut}, 422: {"model": ErrorOut}},
            summary="Live FAR, FRR and precision of the tenant's labelled sessions, per model version",
            description="Joins the logged decisions with the stored outcomes. Without thresholds, the "
                        "decisions as served; with `allow_below` and/or `deny_at_or_above` (the other "
                        "defaults to the served one), each decision is recomputed from its stored risk "
                        "(policy decisions, e.g. while a profile enrolls, stay as served).")
def feedback_metrics(tenant: TenantDep, service: ServiceDep,
                     allow_below: Annotated[Threshold, Query(description="allow below this risk")] = None,
                     deny_at_or_above: Annotated[Threshold, Query(description="deny at or above this risk")] = None,
                     ) -> FeedbackMetricsOut:
    try:
        m = service.feedback_metrics(tenant, allow_below, deny_at_or_above)
    except ValueError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from None
    return FeedbackMetricsOut.of(m)

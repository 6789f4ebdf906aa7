"""Score: one login session against the claimed user's profile."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, status

from biometrics.service import SessionConflictError, UnknownUserError
from serving.body import BODY_ERRORS, JsonBodyRoute
from serving.deps import MetricsDep, ServiceDep, TenantDep
from serving.schemas import SCORE_EXAMPLES, ErrorOut, ScoreIn, ScoreOut

router = APIRouter(prefix="/v1", tags=["score"], route_class=JsonBodyRoute)


@router.post("/score", response_model=ScoreOut,
             responses={**BODY_ERRORS, 401: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut},
                        413: {"model": ErrorOut}, 422: {"model": ErrorOut}},
             summary="Risk, decision, per-modality scores and reasons for a login session",
             description="Idempotent by `session.session_id`: a retry with the same body gets the first "
                         "answer (the profile is not updated again); the same id with another body is a 409.")
def score_session(body: Annotated[ScoreIn, Body(openapi_examples=SCORE_EXAMPLES)], tenant: TenantDep,
                  service: ServiceDep, metrics: MetricsDep) -> ScoreOut:
    try:
        result, enrollment = service.score(tenant, body.user_id, body.session, body.update_profile)
    except UnknownUserError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
    except SessionConflictError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    metrics.decisions.labels(result.decision).inc()
    for reason in result.reasons:
        metrics.reasons.labels(reason).inc()
    return ScoreOut.of(result, enrollment)

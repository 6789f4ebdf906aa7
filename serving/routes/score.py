"""Score: one login session against the claimed user's profile, whole or in chunks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Response, status

from biometrics.chunks import ChunkBufferFullError, ChunkRejectedError, ChunkSequenceError
from biometrics.service import BiometricService, SessionConflictError, UnknownUserError
from serving.body import BODY_ERRORS, JsonBodyRoute
from serving.deps import MetricsDep, ServiceDep, TenantDep
from serving.routes.health import Metrics
from serving.schemas import SCORE_EXAMPLES, ErrorOut, ScoreIn, ScoreOut, json_response

router = APIRouter(prefix="/v1", tags=["score"], route_class=JsonBodyRoute)


@router.post("/score", response_model=ScoreOut,
             responses={**BODY_ERRORS, 401: {"model": ErrorOut}, 404: {"model": ErrorOut},
                        409: {"model": ErrorOut,
                              "description": "The session_id was already used for another request; or a "
                                             "chunk that does not continue the session held for its id "
                                             "(out of order, repeated with another body, after the final "
                                             "one, another user, update_profile or meta, events earlier "
                                             "than the previous chunk's, or no earlier chunks held here)"},
                        413: {"model": ErrorOut},
                        422: {"model": ErrorOut,
                              "description": "Invalid request; or a chunk that would make the session too "
                                             "large or, joined with the earlier chunks, invalid"},
                        429: {"model": ErrorOut,
                              "description": "A new chunked session while this process holds as many as "
                                             "it may; retry after Retry-After seconds, or send it whole"}},
             summary="Risk, decision, per-modality scores and reasons for a login session",
             description="Idempotent by `session.session_id`: a retry with the same body gets the first "
                         "answer (the profile is not updated again); the same id with another body is a 409. "
                         "With `chunk`, the session arrives in pieces under its `session_id` and each "
                         "answer scores all chunks so far (`chunk` in the answer says how far); only the "
                         "`final` chunk may update the profile, and a retry of the last chunk gets its "
                         "answer again. Chunks in progress are held by the API process that received "
                         "them: with several processes, route a session's chunks to one.")
def score_session(body: Annotated[ScoreIn, Body(openapi_examples=SCORE_EXAMPLES)], tenant: TenantDep,
                  service: ServiceDep, metrics: MetricsDep) -> Response:
    if body.chunk is not None:
        return _score_chunk(body, tenant, service, metrics)
    try:
        result, enrollment = service.score(tenant, body.user_id, body.session, body.update_profile)
    except UnknownUserError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
    except SessionConflictError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    metrics.observe_score(tenant, result)
    return json_response(ScoreOut.of(result, enrollment))


def _score_chunk(body: ScoreIn, tenant: str, service: BiometricService, metrics: Metrics) -> Response:
    """One chunk of a session; decisions and reasons are counted for the final answer only."""
    assert body.chunk is not None
    try:
        result, enrollment, progress = service.score_chunk(tenant, body.user_id, body.session, body.chunk.index,
                                                           body.chunk.final, body.update_profile)
    except UnknownUserError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
    except (SessionConflictError, ChunkSequenceError) as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    except ChunkRejectedError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from None
    except ChunkBufferFullError as err:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(err),
                            headers={"Retry-After": str(err.retry_after_s)}) from None
    if progress.final:
        metrics.observe_score(tenant, result)
    return json_response(ScoreOut.of(result, enrollment, progress))

"""Users: enroll a session, read the profile status, erase the profile."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Path, Response, status

from biometrics.service import SessionConflictError, SessionRejectedError
from serving.body import BODY_ERRORS, JsonBodyRoute
from serving.deps import ServiceDep, TenantDep
from serving.schemas import (
    ENROLL_EXAMPLES,
    USER_ID_MAX_LENGTH,
    USER_ID_PATTERN,
    EnrollIn,
    ErrorOut,
    UserOut,
    json_response,
)

router = APIRouter(prefix="/v1/users", tags=["users"], route_class=JsonBodyRoute)

UserIdPath = Annotated[str, Path(min_length=1, max_length=USER_ID_MAX_LENGTH, pattern=USER_ID_PATTERN,
                                 description="the tenant's own user id (1-128 of A-Z a-z 0-9 . _ @ + : = -)")]
NOT_FOUND = "no profile for this user in this tenant; enroll the user first"
ERRORS = {401: {"model": ErrorOut}, 404: {"model": ErrorOut}, 413: {"model": ErrorOut},
          422: {"model": ErrorOut}}
ENROLL_ERRORS = {**BODY_ERRORS, **ERRORS, 409: {"model": ErrorOut}}


@router.post("/{user_id}/enroll", response_model=UserOut, responses=ENROLL_ERRORS,
             summary="Enroll one genuine session into the user's profile (created on first use)",
             description="Idempotent by `session.session_id`: a retry with the same body gets the first "
                         "answer; the same id with another body is a 409.")
def enroll_user(user_id: UserIdPath, body: Annotated[EnrollIn, Body(openapi_examples=ENROLL_EXAMPLES)],
                tenant: TenantDep, service: ServiceDep) -> Response:
    try:
        enrollment = service.enroll(tenant, user_id, body.session)
    except SessionRejectedError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from None
    except SessionConflictError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    return json_response(UserOut.for_user(user_id, enrollment))


@router.get("/{user_id}", response_model=UserOut, responses=ERRORS,
            summary="The user's profile status (never embeddings or timings)")
def get_user(user_id: UserIdPath, tenant: TenantDep, service: ServiceDep) -> UserOut:
    enrollment = service.status(tenant, user_id)
    if enrollment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return UserOut.for_user(user_id, enrollment)


ScorerPath = Annotated[str, Path(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_]+$",
                                 description="a scorer of the served bundle, e.g. password_timing")]


@router.delete("/{user_id}/scorers/{scorer}", response_model=UserOut, responses=ERRORS,
               summary="Forget one scorer's part of the user's profile (e.g. after a password change)",
               description="After the user changed the password, forget `password_timing`: the new "
                           "password's sessions (enrolled, or allowed with `update_profile`) rebuild it, "
                           "and until three have, the keystroke encoder speaks for the typing. The rest "
                           "of the profile is kept. A scorer the profile has no part of: 200, nothing "
                           "changes; one the served bundle does not have: 404.")
def forget_user_scorer(user_id: UserIdPath, scorer: ScorerPath, tenant: TenantDep,
                       service: ServiceDep) -> UserOut:
    try:
        enrollment = service.forget_scorer(tenant, user_id, scorer)
    except ValueError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from None
    if enrollment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return UserOut.for_user(user_id, enrollment)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               responses=ERRORS, summary="Erase the user's profile: every stored row is deleted")
def delete_user(user_id: UserIdPath, tenant: TenantDep, service: ServiceDep) -> Response:
    if not service.delete(tenant, user_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

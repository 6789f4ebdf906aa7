"""Request and response models of the HTTP API, one set per resource; nothing internal leaks.

Sessions use :class:`biometrics.events.Session` as is: it already validates (finite,
bounded, time-ordered, no unknown fields) with messages that name the problem.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from biometrics.events import Session
from biometrics.scoring import ScoreResult
from biometrics.service import EnrollmentStatus

USER_ID_MAX_LENGTH = 128
#: Letters, digits and ``. _ @ + : = -``; starts with a letter or digit. Hash or map other ids first.
USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+:=-]*$"
UserId = Annotated[str, Field(min_length=1, max_length=USER_ID_MAX_LENGTH, pattern=USER_ID_PATTERN,
                              description="the tenant's own user id (1-128 of A-Z a-z 0-9 . _ @ + : = -)")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Users ------------------------------------------------------------------------------


class EnrollIn(_In):
    """One session of the user, known to be genuine (e.g. after a strong second factor)."""

    session: Session


class ModalityStatusOut(BaseModel):
    """How far one modality has enrolled."""

    sessions: int = Field(description="sessions enrolled under this modality's model version")
    model_version: str = Field(description="model that made this modality's profile")
    current: bool = Field(description="made by the model that serves now")


class EnrollmentOut(BaseModel):
    """A profile's enrollment state; never embeddings or timings."""

    state: Literal["enrolling", "verifying"]
    sessions: int = Field(description="sessions enrolled in all")
    sessions_needed: int = Field(description="more sessions to enroll before scores count (0 when verifying)")
    modalities: dict[str, ModalityStatusOut]
    model_version: str = Field(description="model that serves now")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, status: EnrollmentStatus) -> EnrollmentOut:
        """Response form of a service status."""
        return cls(state=status.state, sessions=status.sessions, sessions_needed=status.sessions_needed,
                   modalities={k: ModalityStatusOut(sessions=m.sessions, model_version=m.model_version,
                                                    current=m.current)
                               for k, m in status.modalities.items()},
                   model_version=status.model_version, created_at=status.created_at,
                   updated_at=status.updated_at)


class UserOut(EnrollmentOut):
    """A user's profile status."""

    user_id: str

    @classmethod
    def for_user(cls, user_id: str, status: EnrollmentStatus) -> UserOut:
        """Response form of a user's status."""
        return cls(user_id=user_id, **EnrollmentOut.of(status).model_dump())


# Scoring ----------------------------------------------------------------------------


class ScoreIn(_In):
    """A login session to score against the claimed user's profile."""

    user_id: UserId
    session: Session
    update_profile: bool = Field(
        False, description="let a low-risk session of a verifying profile update it "
                           "(anti-poisoning rules apply)")


class ModalityScoreOut(BaseModel):
    """One modality's part of the risk (``distance``/``probability`` are null when it was not scored)."""

    distance: float | None
    probability: float | None = Field(description="calibrated probability the modality is not the owner's")
    confidence: float
    n_tokens: int


class ScoreOut(BaseModel):
    """The answer for one session."""

    risk: float = Field(description="fused probability that the session is not the owner's, in [0, 1]")
    decision: Literal["allow", "challenge", "deny"]
    confidence: float = Field(description="how much the risk can be trusted, in [0, 1]")
    modalities: dict[str, ModalityScoreOut]
    reasons: list[str] = Field(description="reason codes, e.g. keystroke_mismatch, bot_like_timing, "
                                           "replayed_session, profile_enrolling, too_little_data")
    enrollment: EnrollmentOut
    model_version: str

    @classmethod
    def of(cls, result: ScoreResult, status: EnrollmentStatus) -> ScoreOut:
        """Response form of a score result and the profile's status after it."""
        return cls(risk=result.risk, decision=result.decision, confidence=result.confidence,
                   modalities={k: ModalityScoreOut(distance=m.distance, probability=m.probability,
                                                   confidence=m.confidence, n_tokens=m.n_tokens)
                               for k, m in result.modalities.items()},
                   reasons=list(result.reasons), enrollment=EnrollmentOut.of(status),
                   model_version=result.model_version)


# Errors and health ------------------------------------------------------------------


class ErrorOut(BaseModel):
    """Every error: a message, or (validation) one message per problem, naming the field."""

    detail: str | list[str]


class HealthOut(BaseModel):
    """Liveness and readiness."""

    status: Literal["ok", "unavailable"]
    model_version: str | None = None
    checks: dict[str, bool] = Field(default_factory=dict)

"""Request and response models of the HTTP API, one set per resource; nothing internal leaks.

Sessions use :class:`biometrics.events.Session` as is: it already validates (finite,
bounded, time-ordered, no unknown fields, strict types) with messages that name the
problem. Request models are strict too (``"update_profile": "yes"`` is a 422, not true).
Every field carries a description, and :data:`SCORE_EXAMPLE` / :data:`ENROLL_EXAMPLE` are
full, valid request bodies shown in the OpenAPI schema and ``/docs``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from biometrics.chunks import MAX_CHUNKS, ChunkProgress
from biometrics.events import SCHEMA_VERSION, KeyClass, Session
from biometrics.feedback import FeedbackMetrics, ModelFeedbackMetrics
from biometrics.scoring import ScoreResult
from biometrics.service import EnrollmentStatus

USER_ID_MAX_LENGTH = 128
#: Letters, digits and ``. _ @ + : = -``; starts with a letter or digit. Hash or map other ids first.
USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+:=-]*$"
UserId = Annotated[str, Field(min_length=1, max_length=USER_ID_MAX_LENGTH, pattern=USER_ID_PATTERN,
                              description="the tenant's own user id (1-128 of A-Z a-z 0-9 . _ @ + : = -)")]


# Down-to-down gaps and hold times (ms) of a person typing: uneven, as real typing is.
_GAPS = (0.0, 212.4, 148.9, 265.1, 177.6, 301.8, 139.2, 228.7)
_HOLDS = (92.3, 78.1, 104.6, 85.9, 97.2, 71.4, 110.8, 88.5)


def _typing(classes: list[KeyClass], start_ms: float, first_press: int) -> list[dict[str, Any]]:
    """Key events of one field: each press a down, then its up after a hold (ups may overlap downs)."""
    events, t = [], start_ms
    for i, key_class in enumerate(classes):
        t += _GAPS[i % len(_GAPS)] + (9.7 * (i // len(_GAPS)))
        press, hold = first_press + i, _HOLDS[(i + first_press) % len(_HOLDS)]
        events += [{"t": round(t, 1), "type": "down", "press": press, "key_class": int(key_class)},
                   {"t": round(t + hold, 1), "type": "up", "press": press, "key_class": int(key_class)}]
    return sorted(events, key=lambda e: e["t"])


_L, _D, _M = KeyClass.LETTER, KeyClass.DIGIT, KeyClass.MASKED
#: A login as the collector sends it: a click into the user-name field, "alice42" typed,
#: tab, an 8-key password (masked: timing only), enter. Valid under contract v2.
EXAMPLE_SESSION: dict[str, Any] = {
    "schema_version": SCHEMA_VERSION,
    "session_id": "3f0c7a52-8d1e-4b6a-9c2f-5e7d1a0b4c68",
    "keystrokes": [
        *_typing([_L, _L, _L, _L, _L, _D, _D], 1_000.0, 0),
        *_typing([KeyClass.OTHER], 2_500.0, 7),
        *_typing([_M] * 8, 2_900.0, 8),
        *_typing([KeyClass.ENTER], 4_600.0, 16),
    ],
    "pointer": [
        {"t": 120.0, "type": "move", "x": 402.0, "y": 310.0},
        {"t": 136.0, "type": "move", "x": 418.5, "y": 302.0},
        {"t": 152.0, "type": "move", "x": 431.0, "y": 297.5},
        {"t": 168.0, "type": "move", "x": 440.0, "y": 295.0},
        {"t": 410.0, "type": "down", "x": 440.0, "y": 295.0, "button": "left"},
        {"t": 492.0, "type": "up", "x": 440.0, "y": 295.0, "button": "left"},
    ],
    "signals": {"paste": 0, "autofill": 0},
    "meta": {"device_type": "desktop", "screen_width": 1920, "screen_height": 1080},
}
SCORE_EXAMPLE: dict[str, Any] = {"user_id": "alice.42", "session": EXAMPLE_SESSION, "update_profile": False}
ENROLL_EXAMPLE: dict[str, Any] = {"session": EXAMPLE_SESSION}
#: The same login sent in two chunks: the first (the click and the user name), then the rest.
SCORE_CHUNK_EXAMPLE: dict[str, Any] = {
    "user_id": "alice.42", "update_profile": False, "chunk": {"index": 0, "final": False},
    "session": EXAMPLE_SESSION | {"keystrokes": [e for e in EXAMPLE_SESSION["keystrokes"] if e["t"] < 2_500.0]},
}
SCORE_EXAMPLES = {"login": {"summary": "a desktop login: user name, masked password, enter",
                            "value": SCORE_EXAMPLE},
                  "first_chunk": {"summary": "chunk 0 of a session sent in chunks (the next ones: index "
                                             "1, 2, ... with the events since; the last final)",
                                  "value": SCORE_CHUNK_EXAMPLE}}
ENROLL_EXAMPLES = {"login": {"summary": "a genuine desktop login (after a second factor)",
                             "value": ENROLL_EXAMPLE}}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def json_response(model: BaseModel) -> Response:
    """An answer model as the JSON FastAPI writes for it (pydantic's serializer, the same bytes),
    without FastAPI validating the returned model again first (a copy and a thread hop per answer)."""
    return Response(model.model_dump_json(), media_type="application/json")


# Users ------------------------------------------------------------------------------


class EnrollIn(_In):
    """One session of the user, known to be genuine (e.g. after a strong second factor)."""

    model_config = ConfigDict(json_schema_extra={"examples": [ENROLL_EXAMPLE]})

    session: Session = Field(description="the genuine session (contract v2) to add to the profile; each "
                                         "modality a list of events or, in the columnar form, an object "
                                         "of one array per event field (docs/session_contract.md)")


class ModalityStatusOut(BaseModel):
    """How far one modality has enrolled."""

    sessions: int = Field(description="sessions enrolled under this modality's model version")
    model_version: str = Field(description="model this modality's profile was last enrolled under")
    current: bool = Field(description="has vectors of the model that serves now (else its sessions are "
                                      "scored with the reason profile_model_outdated)")
    current_for: list[str] = Field(default_factory=list,
                                   description="every model version this modality's profile has vectors for: "
                                               "the enrolled one, then those python -m serving.reembed made")
    reembeddable: bool = Field(False, description="enrollment inputs are kept (encrypted), so a new model can "
                                                  "re-embed this modality without new sessions")


class EnrollmentOut(BaseModel):
    """A profile's enrollment state; never embeddings or timings."""

    state: Literal["enrolling", "verifying"] = Field(
        description="enrolling: too few sessions yet, scores do not count; verifying: scores count")
    sessions: int = Field(description="sessions enrolled in all")
    sessions_needed: int = Field(description="more sessions to enroll before scores count (0 when verifying)")
    modalities: dict[str, ModalityStatusOut] = Field(
        description="per modality (keystrokes, pointer, touch) that has enrolled sessions")
    model_version: str = Field(description="model that serves now")
    created_at: datetime = Field(description="when the profile was created (UTC)")
    updated_at: datetime = Field(description="when a session last changed the profile (UTC)")

    @classmethod
    def of(cls, status: EnrollmentStatus) -> EnrollmentOut:
        """Response form of a service status."""
        return cls(state=status.state, sessions=status.sessions, sessions_needed=status.sessions_needed,
                   modalities={k: ModalityStatusOut(sessions=m.sessions, model_version=m.model_version,
                                                    current=m.current, current_for=list(m.current_for),
                                                    reembeddable=m.reembeddable)
                               for k, m in status.modalities.items()},
                   model_version=status.model_version, created_at=status.created_at,
                   updated_at=status.updated_at)


class UserOut(EnrollmentOut):
    """A user's profile status."""

    user_id: str = Field(description="the tenant's own user id, as given in the path")

    @classmethod
    def for_user(cls, user_id: str, status: EnrollmentStatus) -> UserOut:
        """Response form of a user's status."""
        return cls(user_id=user_id, **EnrollmentOut.of(status).model_dump())


# Scoring ----------------------------------------------------------------------------


class ChunkIn(_In):
    """Which piece of a session sent in chunks this request carries."""

    index: int = Field(ge=0, lt=MAX_CHUNKS, description="the chunk's number: 0, 1, 2, ... in the "
                                                        f"order sent (at most {MAX_CHUNKS} chunks)")
    final: bool = Field(description="the session's last chunk: only its answer may update the profile "
                                    "and remember the session against replays; no chunk may follow")


class ScoreIn(_In):
    """A login session to score against the claimed user's profile, whole or in chunks.

    With ``chunk``, ``session`` holds the events recorded since the previous chunk (times on the
    session's one clock), ``session.session_id`` names the session, and the answer is the score
    of every chunk so far.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [SCORE_EXAMPLE]})

    user_id: UserId
    session: Session = Field(description="the login session (contract v2) to score; with chunk, the "
                                         "events since the previous chunk, under the session's session_id. "
                                         "Each modality a list of events or, in the columnar form, an object "
                                         "of one array per event field (docs/session_contract.md)")
    update_profile: bool = Field(
        False, description="let a low-risk session of a verifying profile update it "
                           "(anti-poisoning rules apply; in chunks, the same in every chunk, and only "
                           "the final chunk updates)")
    chunk: ChunkIn | None = Field(
        None, description="send a long session in pieces: every chunk under the same session.session_id, "
                          "index 0, 1, 2, ... one at a time, each after the previous one's answer, the "
                          "same user_id, update_profile and meta, each chunk's events no earlier than the "
                          "previous chunk's (per modality), signals counted since the session start; the "
                          "last has final true (it may have no events). Each answer scores all chunks so "
                          "far; only the final one may update the profile. Omit to send the session whole")

    @model_validator(mode="after")
    def _chunk_has_session_id(self) -> ScoreIn:
        if self.chunk is not None and self.session.session_id is None:
            raise ValueError("a chunk needs session.session_id: every chunk of a session carries its id")
        return self


class ModalityScoreOut(BaseModel):
    """One modality's part of the risk (``distance``/``probability`` are null when it was not scored)."""

    distance: float | None = Field(description="the modality scorer's anomaly score against the profile (for a distance head: the mean embedding distance; larger: less alike)")
    probability: float | None = Field(description="calibrated probability the modality is not the owner's")
    confidence: float = Field(description="how much this modality's part can be trusted, in [0, 1] "
                                          "(grows with the data it saw)")
    n_tokens: int = Field(description="units scored: key presses, pointer actions or touch strokes")


class ChunkOut(BaseModel):
    """What the answer to a chunk covers."""

    index: int = Field(description="the chunk answered")
    final: bool = Field(description="it was the session's last chunk")
    events: int = Field(description="events of all chunks so far, which the answer scores")


class ScoreOut(BaseModel):
    """The answer for one session (for a chunk: for every chunk of the session so far)."""

    risk: float = Field(description="fused probability that the session is not the owner's, in [0, 1]")
    decision: Literal["allow", "challenge", "deny"] = Field(
        description="allow below the allow threshold, deny at or above the deny threshold, "
                    "challenge (ask for a second factor) between them; while the profile enrolls "
                    "(reason profile_enrolling), the tenant's enrolling policy (default challenge); "
                    "when no modality's profile is of the serving model (reason profile_model_outdated), "
                    "the tenant's outdated policy (default challenge); deny for a bot or a replay, at "
                    "least the tenant's possible-replay policy (default challenge) for a possible_replay")
    confidence: float = Field(description="how much the risk can be trusted, in [0, 1]")
    modalities: dict[str, ModalityScoreOut] = Field(
        description="per modality the session holds (keystrokes, pointer, touch)")
    reasons: list[str] = Field(description="reason codes, e.g. keystroke_mismatch, bot_like_timing, "
                                           "replayed_session, possible_replay, profile_enrolling, "
                                           "profile_model_outdated, "
                                           "too_little_data")
    enrollment: EnrollmentOut = Field(description="the profile's enrollment state after this session")
    model_version: str = Field(description="model that scored the session")
    chunk: ChunkOut | None = Field(None, exclude_if=lambda v: v is None,
                                   description="only in the answer to a chunk: which chunk, whether it "
                                               "was the final one, and the events scored")

    @classmethod
    def of(cls, result: ScoreResult, status: EnrollmentStatus, chunk: ChunkProgress | None = None) -> ScoreOut:
        """Response form of a score result and the profile's status after it (and the chunk answered)."""
        return cls(risk=result.risk, decision=result.decision, confidence=result.confidence,
                   modalities={k: ModalityScoreOut(distance=m.distance, probability=m.probability,
                                                   confidence=m.confidence, n_tokens=m.n_tokens)
                               for k, m in result.modalities.items()},
                   reasons=list(result.reasons), enrollment=EnrollmentOut.of(status),
                   model_version=result.model_version,
                   chunk=None if chunk is None else ChunkOut(index=chunk.index, final=chunk.final,
                                                             events=chunk.events))


# Outcome feedback -------------------------------------------------------------------

UUID_PATTERN = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
FeedbackOutcome = Literal["confirmed_fraud", "confirmed_genuine", "chargeback"]
#: Earliest ``learnt_at`` accepted (older is a client's bug), and how far ahead of the clock.
LEARNT_AT_MIN = datetime(2000, 1, 1, tzinfo=UTC)
LEARNT_AT_SKEW = timedelta(days=1)
_LEARNT_AT_FORMAT = "learnt_at must be an ISO 8601 date-time with a time zone, e.g. 2026-05-01T12:00:00Z"
FEEDBACK_EXAMPLE: dict[str, Any] = {"session_id": EXAMPLE_SESSION["session_id"], "outcome": "chargeback",
                                    "learnt_at": "2026-05-14T09:30:00Z"}
FEEDBACK_EXAMPLES = {"chargeback": {"summary": "a login later disputed by the card holder",
                                    "value": FEEDBACK_EXAMPLE}}


class FeedbackIn(_In):
    """The outcome a fraud team learnt for a scored session (stored once per session)."""

    model_config = ConfigDict(json_schema_extra={"examples": [FEEDBACK_EXAMPLE]})

    session_id: str = Field(min_length=36, max_length=36, pattern=UUID_PATTERN,
                            description="the session.session_id of a session this tenant scored")
    outcome: FeedbackOutcome = Field(
        description="confirmed_fraud or chargeback: not the account owner; confirmed_genuine: the owner")
    learnt_at: datetime | None = Field(
        None, description="when the outcome was learnt (ISO 8601 with a time zone); default: now")

    @field_validator("learnt_at", mode="before")
    @classmethod
    def _learnt_at(cls, v: Any) -> datetime | None:
        # Strict mode takes no string for a datetime: parse it here, a string and nothing else.
        if v is None:
            return None
        if not isinstance(v, str):
            raise ValueError(_LEARNT_AT_FORMAT)  # noqa: TRY004 - pydantic wants ValueError
        try:
            dt = datetime.fromisoformat(v)
            if dt.tzinfo is None:
                raise ValueError(_LEARNT_AT_FORMAT)
            dt = dt.astimezone(UTC)
        except (ValueError, OverflowError):
            raise ValueError(_LEARNT_AT_FORMAT) from None
        if not LEARNT_AT_MIN <= dt <= datetime.now(UTC) + LEARNT_AT_SKEW:
            raise ValueError("learnt_at must lie between 2000-01-01 and now")
        return dt


class FeedbackOut(BaseModel):
    """The outcome stored for the session (the first one, when it was already stored)."""

    session_id: str = Field(description="the session's id (lower-case UUID)")
    outcome: FeedbackOutcome = Field(description="the stored outcome")
    learnt_at: datetime = Field(description="when the outcome was learnt (UTC)")
    recorded_at: datetime = Field(description="when the API stored it (UTC)")
    created: bool = Field(description="true when this request stored it; false when it was already "
                                      "stored (a retry)")


class DecisionCountsOut(BaseModel):
    """Labelled sessions that got one decision, by outcome class."""

    fraud: int = Field(description="sessions labelled confirmed_fraud or chargeback")
    genuine: int = Field(description="sessions labelled confirmed_genuine")


class ModelFeedbackMetricsOut(BaseModel):
    """Live error rates of one model version over its labelled sessions (null: no sessions to count)."""

    model_version: str = Field(description="model that made the decisions")
    labelled: int = Field(description="sessions with an outcome that this model decided")
    fraud: int = Field(description="of them, labelled confirmed_fraud or chargeback")
    genuine: int = Field(description="of them, labelled confirmed_genuine")
    outcomes: dict[str, int] = Field(description="sessions per outcome")
    decisions: dict[str, DecisionCountsOut] = Field(description="per decision (allow, challenge, deny)")
    far: float | None = Field(description="false accept rate: share of fraud-labelled sessions allowed")
    frr: float | None = Field(description="false reject rate: share of genuine sessions not allowed "
                                          "(challenged or denied)")
    deny_precision: float | None = Field(description="share of denied labelled sessions that were fraud")
    not_allow_precision: float | None = Field(
        description="share of challenged or denied labelled sessions that were fraud")
    by_policy: int = Field(description="sessions whose decision was a policy (profile enrolling, too "
                                       "little data), kept as served at any threshold")
    role: Literal["champion", "challenger"] | None = Field(
        None, description="champion: the model serving answers; challenger: the one scoring in shadow "
                          "(its decisions never served); null: another version (e.g. before a promotion)")

    @classmethod
    def of(cls, m: ModelFeedbackMetrics) -> ModelFeedbackMetricsOut:
        """Response form of one model's metrics."""
        return cls(model_version=m.model_version, labelled=m.labelled, fraud=m.fraud, genuine=m.genuine,
                   outcomes=dict(m.outcomes),
                   decisions={k: DecisionCountsOut(**v) for k, v in m.decisions.items()},
                   far=m.far, frr=m.frr, deny_precision=m.deny_precision,
                   not_allow_precision=m.not_allow_precision, by_policy=m.by_policy,
                   role=m.role)  # type: ignore[arg-type]


class FeedbackMetricsOut(BaseModel):
    """The tenant's labelled sessions joined with the decisions, per model version."""

    allow_below: float | None = Field(description="allow threshold the decisions were recomputed at "
                                                  "(null: the decisions as served)")
    deny_at_or_above: float | None = Field(description="deny threshold the decisions were recomputed at "
                                                       "(null: the decisions as served)")
    labelled: int = Field(description="labelled decisions counted, all model versions")
    models: list[ModelFeedbackMetricsOut] = Field(description="one entry per model version")

    @classmethod
    def of(cls, m: FeedbackMetrics) -> FeedbackMetricsOut:
        """Response form of the library's metrics."""
        return cls(allow_below=m.allow_below, deny_at_or_above=m.deny_at_or_above, labelled=m.labelled,
                   models=[ModelFeedbackMetricsOut.of(x) for x in m.models])


# Errors and health ------------------------------------------------------------------


class ErrorOut(BaseModel):
    """Every error: a message, or (validation) one message per problem, naming the field."""

    detail: str | list[str] = Field(description="what is wrong and how to fix it; a validation error "
                                                "has one \"field.path: problem\" line per problem")


class HealthOut(BaseModel):
    """Liveness and readiness."""

    status: Literal["ok", "unavailable"] = Field(description="ok: the process answers (and, for "
                                                          "readiness, every check passed)")
    model_version: str | None = Field(None, description="model that serves (readiness only)")
    checks: dict[str, bool] = Field(default_factory=dict,
                                    description="readiness checks: bundle loaded, store answering")
    reason: str | None = Field(None, description="why the service cannot serve (readiness only), e.g. a "
                                                 "bundle of an old format, with what to do")

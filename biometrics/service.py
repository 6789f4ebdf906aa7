"""The application service: enroll, score, report and erase users' behavioral profiles.

No HTTP here: :mod:`serving` is a thin shell around this class, and a batch job or a test
can drive it directly.

    service = BiometricService(Scorer(bundle, ScoringConfig()), ProfileStore(url), ProfileConfig(), secret)
    status = service.enroll("acme", "alice@example.com", session)
    result, status = service.score("acme", "alice@example.com", session, update_profile=True)

Rules:

- **Users are keyed** by :func:`biometrics.profiles.user_key` (an HMAC of tenant and user id),
  so the store never holds a raw user id and two tenants never share a key. Logs carry at
  most the first characters of that key.
- **Embedding happens outside the database transaction** (it is the slow part); the
  transaction reads the profile, scores against exactly that profile (cheap arithmetic),
  and merges. So concurrent requests for one user lose no update, and two concurrent
  copies of one session cannot both pass the replay guard.
- **A score writes behind** when the store has ``write_behind_s`` (the API's default): a score
  without a ``session_id`` that does not update the profile reads it without a write lock, and
  its decision row and an allowed session's replay signatures are written in batches off the
  request's path (:meth:`biometrics.store.ProfileStore.read_and_queue`; what a crash loses is
  said there). One process's scores of one user stay serialized, and its queued signatures
  count at once; a copy sent to another process within the write-behind time is not caught
  by its signature. A score that would update the profile is scored again under the user's
  lock, as without write-behind.
- **Enrollment refuses** sessions that trip a guard (bot-like timing, a replay of a stored
  session) or hold too little data: an attacker must not be able to enroll a script.
- **Scoring updates a profile** only when asked (``update_profile``), the profile is
  ``verifying``, no guard fired and :func:`biometrics.profiles.may_auto_update` accepts the
  risk (anti-poisoning). The replay signatures of a scored session that was allowed are
  stored whatever the flag, so a later replay of that session is caught; a challenged or
  denied session writes nothing (someone else's failed attempts must neither enter the
  profile nor push the enrolled sessions' signatures out of its bounded replay memory).
- **Idempotent by session id**: a request whose session carries a ``session_id`` is
  answered at most once per tenant, operation (score, enroll) and id within
  ``answer_ttl`` (default 10 min). The answer (risk, decision, reasons, enrollment counts:
  no personal data) is recorded in the same per-user transaction that applies the
  request, beside an HMAC-SHA256 fingerprint of the canonical request (keyed with the
  user-id secret; the session enters it as :meth:`biometrics.events.Session.digest`, so a
  retry may send it in the event or the columnar form; the request itself is never stored).
  A retry with the same body gets the recorded answer, and the profile is not touched again
  (a login flow that retries on a timeout must not trip the replay guard on its own
  session); the same id with another body raises :class:`SessionConflictError`. Refused
  sessions record nothing.
- **Decisions are logged**: every score answer (session id when the request named one, risk,
  decision, model version; no events, no user id) is written to the store's ``decisions``
  log in the same per-user transaction that scores, or behind it (above) (a retry that gets
  a recorded answer logs nothing again). :meth:`BiometricService.feedback` stores the outcome
  a tenant learnt for a decided session, once (another outcome raises
  :class:`FeedbackConflictError`);
  :meth:`BiometricService.feedback_metrics` joins the two (:mod:`biometrics.feedback`).
  Decisions and outcomes are kept ``decision_retention`` (default 90 days), then purged
  lazily with the expired answers.
- **Chunked sessions**: :meth:`BiometricService.score_chunk` takes a session in chunks under
  its ``session_id`` (index 0, 1, 2, ..., each with the events since the previous one) and
  answers each with the score of the whole session so far: the chunks are joined into the
  session a collector would have sent whole (:class:`biometrics.chunks.ChunkedSession`) and
  scored as it would be. A chunk that is not final only reads the profile (nothing written,
  logged or recorded, no replay signature); the final chunk is scored by :meth:`score`, so it
  alone updates the profile, writes signatures, logs the decision and records the answer under
  the session id. The chunks in progress live in this object's :class:`~biometrics.chunks.ChunkBuffer`
  (per process: bounded, expiring), never in the store; a retry of the last chunk gets its answer.
- **Upgrades keep profiles**: with ``ProfileConfig.keep_inputs`` (the store then needs a profile
  key) each enrolled session's item inputs are kept with the profile, encrypted
  (:class:`biometrics.profiles.EnrollmentInputs`). :meth:`BiometricService.reembed_user` makes the
  served bundle's vectors of them for every modality whose vectors are of another model version
  (``python -m serving.reembed`` runs it over the store), filed beside the old ones; an enrollment
  into such a modality re-embeds it first rather than restarting it. A profile not yet current
  for the served model is scored with the reason ``profile_model_outdated``.
- **Per-tenant policy**: ``policies`` maps a tenant to its :class:`TenantPolicy` (what a
  session against a still-enrolling profile gets); other tenants get the scorer's default
  (``challenge``). The scorer stays stateless: the policy goes with each call.
- **Shadow** (champion and challenger): ``shadow``, when given, is told of every fresh score
  answer (after its transaction committed, with what the champion did to the profile:
  ``enrolled``, ``signatures`` or ``none``), every fresh enrollment, and every erasure (first).
  It may score the session with another model and record it, but it never changes an answer or
  writes this store's profiles; an exception from its ``scored`` or ``enrolled`` is logged and
  swallowed (the serving implementation is :class:`serving.shadow.Challenger`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from biometrics.chunks import ChunkBuffer, ChunkedSession, ChunkProgress, ChunkSequenceError
from biometrics.events import Session
from biometrics.feedback import OUTCOMES, FeedbackMetrics, feedback_metrics
from biometrics.modalities import MODALITIES
from biometrics.profiles import (
    ProfileConfig,
    UserProfile,
    enroll,
    forget_scorer,
    may_auto_update,
    new_profile,
    reembed,
    user_key,
)
from biometrics.scoring import (
    ModalityScore,
    Observed,
    Scorer,
    ScoreResult,
    TenantPolicy,
)
from biometrics.store import (
    DecisionRecord,
    ProfileStore,
    RequestKey,
    ScoreWrites,
    StoredAnswer,
    StoredFeedback,
)

log = logging.getLogger(__name__)

#: Characters of the hashed user key that logs may show.
LOG_KEY_CHARS = 12
GUARD_REASONS = ("bot_like_timing", "replayed_session", "possible_replay")
#: How long the answer to a request with a session id is kept for its retries.
#: Long enough for a login flow's retries; short, because within it a verbatim copy of a captured
#: body (same id) gets the recorded answer instead of the replay guard's verdict.
DEFAULT_ANSWER_TTL = timedelta(minutes=10)
#: How long logged decisions and the outcomes learnt for them are kept.
DEFAULT_DECISION_RETENTION = timedelta(days=90)
#: Least time between two sweeps of expired answers (all tenants) by one service.
PURGE_EVERY_S = 600.0


class UnknownUserError(LookupError):
    """The tenant has no profile for this user."""


class SessionConflictError(ValueError):
    """The session id was already used, within the retention window, for another request."""


class UnknownSessionError(LookupError):
    """The tenant has no logged decision with this session id (never scored, or purged)."""


class FeedbackConflictError(ValueError):
    """Another outcome is already stored for this session."""


class SessionRejectedError(ValueError):
    """A session that must not be enrolled; ``reason`` is a reason code such as ``bot_like_timing``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Shadow(Protocol):
    """A model scoring in shadow of the served one (see the module docstring)."""

    @property
    def model_version(self) -> str: ...

    def scored(self, tenant: str, key: str, session: Session, result: ScoreResult, action: str,
               session_id: str | None, policy: TenantPolicy | None = None) -> None: ...

    def enrolled(self, tenant: str, key: str, session: Session) -> None: ...

    def forget(self, tenant: str, key: str) -> None: ...


@dataclass(frozen=True)
class ModalityStatus:
    """How far one modality of a profile has enrolled."""

    sessions: int
    model_version: str  # the model it was last enrolled under
    current: bool  # has vectors of the model that serves now
    current_for: tuple[str, ...] = ()  # every model it has vectors for (enrolled, then re-embedded)
    reembeddable: bool = False  # kept inputs let another model re-embed it

    def __post_init__(self) -> None:
        object.__setattr__(self, "current_for", tuple(self.current_for or (self.model_version,)))


@dataclass(frozen=True)
class EnrollmentStatus:
    """A profile's enrollment state: counts, versions and timestamps, never embeddings."""

    state: str
    sessions: int
    sessions_needed: int  # more sessions to enroll before the profile verifies (0 once verifying)
    modalities: dict[str, ModalityStatus]
    model_version: str  # the model that serves now
    created_at: datetime
    updated_at: datetime


class BiometricService:
    """Enrollment, scoring, status and erasure of per-tenant behavioral profiles."""

    def __init__(self, scorer: Scorer, store: ProfileStore, profile_config: ProfileConfig,
                 user_id_secret: bytes, *, answer_ttl: timedelta = DEFAULT_ANSWER_TTL,
                 policies: Mapping[str, TenantPolicy] | None = None,
                 decision_retention: timedelta = DEFAULT_DECISION_RETENTION,
                 chunks: ChunkBuffer | None = None, shadow: Shadow | None = None) -> None:
        if not user_id_secret:
            raise ValueError("user_id_secret must not be empty")
        if answer_ttl <= timedelta(0):
            raise ValueError("answer_ttl must be positive")
        if decision_retention <= timedelta(0):
            raise ValueError("decision_retention must be positive")
        if profile_config.keep_inputs and not store.keeps_inputs:
            raise ValueError("ProfileConfig.keep_inputs needs a store opened with a profile key "
                             "(kept enrollment inputs are encrypted at rest)")
        self.scorer, self.store, self.config = scorer, store, profile_config
        self.answer_ttl = answer_ttl
        self.decision_retention = decision_retention
        self.policies = dict(policies or {})
        self.default_policy = scorer.config.default_policy()
        self._secret = bytes(user_id_secret)
        self._last_purge = time.monotonic()
        self.chunks = chunks if chunks is not None else ChunkBuffer()  # chunked sessions in progress
        self.shadow = shadow  # a challenger scoring in shadow, or None
        # Told of every fresh score answer as (tenant, session, result), e.g. the drift monitor
        # (biometrics.drift, held by serving.app); an exception is logged and swallowed.
        self.observers: list[Callable[[str, Session, ScoreResult], None]] = []

    @property
    def model_version(self) -> str:
        """Version of the model bundle that embeds sessions."""
        return self.scorer.model_version

    def policy(self, tenant: str) -> TenantPolicy:
        """The tenant's decision policy (the default one unless it has its own)."""
        return self.policies.get(tenant, self.default_policy)

    def key(self, tenant: str, user_id: str) -> str:
        """The stored key of a user: HMAC of tenant and user id (see :func:`user_key`)."""
        return user_key(tenant, user_id, self._secret)

    # Enrollment --------------------------------------------------------------------

    def enroll(self, tenant: str, user_id: str, session: Session) -> EnrollmentStatus:
        """Add one session to a user's profile, creating it; raises :class:`SessionRejectedError`.

        With a ``session_id``: a retry with the same body gets the first answer, and the same
        id with another body raises :class:`SessionConflictError`.
        """
        key = self.key(tenant, user_id)
        once = self._request_key("enroll", tenant, user_id, session, {})
        if once is not None and (prior := self._prior(tenant, once)) is not None:
            return _status_from_json(prior)
        observed = self.scorer.observe(session)  # outside the transaction: the slow part
        if observed.bot_modalities:
            raise SessionRejectedError(
                "bot_like_timing", "the session was not enrolled: its timing or pointer paths look "
                f"automated ({', '.join(observed.bot_modalities)})")
        if not observed.vectors:
            raise SessionRejectedError("too_little_data", _too_little_data(observed))

        shadowed: dict[str, bool] = {}  # set when this call enrolled (not a concurrent copy's answer)

        def merge(current: UserProfile | None) -> UserProfile:
            # Only an exact repeat is refused: a session merely as close as a jittered replay is
            # what a practised owner retyping the same login gives (the policy's possible_replay).
            if current is not None and observed.replay_evidence(current, self.scorer.config.guards) == "exact":
                raise SessionRejectedError(
                    "replayed_session", "the session was not enrolled: its timing repeats a session "
                    "already stored for this user")
            profile = current if current is not None else new_profile(tenant, key)
            shadowed["fresh"] = True
            return self._enroll(profile, observed)

        if once is None:
            profile = self.store.update(tenant, key, merge)
            assert profile is not None  # merge never returns None
            status = self._status(profile)
        else:
            stored = self._update_once(tenant, key, merge, once, lambda p: _status_json(self._status(p)))
            assert stored is not None  # merge never returns None
            status = _status_from_json(stored)
        if "fresh" in shadowed:
            self._shadow("enrolled", tenant, key, session)
        log.info("enrolled key=%s state=%s sessions=%d", key[:LOG_KEY_CHARS], status.state,
                 status.sessions)
        return status

    def _enroll(self, profile: UserProfile, observed: Observed) -> UserProfile:
        """The profile with the observed session enrolled, each scorer's head refitted on its vectors
        (a modality of an earlier model with usable kept inputs is re-embedded first, not restarted)."""
        vectors, _ = self._reembed_vectors(profile, observed.vectors)
        if vectors:
            profile = reembed(profile, vectors, self.model_version, self.config, **self.scorer.enrollment())
        inputs = (self.scorer.enrollment_inputs(observed, profile.n_sessions + 1, self.config.max_input_tokens)
                  if self.config.keep_inputs else None)
        return enroll(profile, observed.vectors, observed.signatures, self.model_version, self.config,
                      **self.scorer.enrollment(), inputs=inputs)

    # Re-embedding under a new bundle ----------------------------------------------

    def _reembed_vectors(self, profile: UserProfile, names=None) -> tuple[dict, dict[str, str]]:
        """The served bundle's vectors of each not-current modality's kept inputs (``names``: only
        those), and per modality what happened: ``current``, ``reembedded`` or why not."""
        vectors, outcome = {}, {}
        for name, m in profile.modalities.items():
            if names is not None and name not in names:
                continue
            if m.vectors_for(self.model_version) is not None:
                outcome[name] = "current"
                continue
            got = self.scorer.reembed_vectors(name, m.inputs)
            if isinstance(got, str):
                outcome[name] = got
            elif len(set(m.inputs.sessions)) < min(m.n_sessions, self.config.min_enroll_sessions):
                outcome[name] = "too_few_inputs"  # e.g. enrolled before inputs were kept
            else:
                vectors[name], outcome[name] = got, "reembedded"
        return vectors, outcome

    def reembed_user(self, tenant: str, key: str) -> dict[str, str]:
        """Re-embed a stored profile (by its stored key) under the served bundle: per modality
        ``current``, ``reembedded``, ``changed_meanwhile`` (enrolled while this ran: run it again)
        or why it cannot be (see :meth:`biometrics.scoring.Scorer.reembed_vectors`, and
        ``too_few_inputs``). Embeds outside the transaction; idempotent."""
        read = self.store.get(tenant, key)
        if read is None:
            return {}
        vectors, outcome = self._reembed_vectors(read)
        if not vectors:
            return outcome
        digests = {name: read.modalities[name].inputs.digest() for name in vectors}

        def merge(current: UserProfile | None) -> UserProfile | None:
            if current is None:
                return None
            for name in list(vectors):
                m = current.modalities.get(name)
                if m is None or m.inputs is None or m.inputs.digest() != digests[name]:
                    del vectors[name]
                    outcome[name] = "changed_meanwhile"
            return (reembed(current, vectors, self.model_version, self.config, **self.scorer.enrollment())
                    if vectors else None)

        if self.store.update(tenant, key, merge) is None:
            return {}
        log.info("re-embedded key=%s %s", key[:LOG_KEY_CHARS],
                 ",".join(f"{k}={v}" for k, v in sorted(outcome.items())))
        return outcome

    # Scoring -----------------------------------------------------------------------

    def score(self, tenant: str, user_id: str, session: Session,
              update_profile: bool = False) -> tuple[ScoreResult, EnrollmentStatus]:
        """Risk of a session against the user's profile; raises :class:`UnknownUserError`.

        With a ``session_id``: a retry with the same body gets the first answer (the profile
        is not updated again), and the same id with another body raises
        :class:`SessionConflictError`.
        """
        key = self.key(tenant, user_id)
        once = self._request_key("score", tenant, user_id, session,
                                 {"update_profile": bool(update_profile)})
        # No read of a recorded answer before the work (as enroll does): the user's transaction
        # looks for it anyway, and a retry is rare, so a first request pays one transaction less
        # and a retry observes its session for nothing.
        observed = self.scorer.observe(session)  # outside the transaction: the slow part
        policy = self.policy(tenant)
        answer: dict[str, Any] = {}  # result, and the action on the profile (for the shadow)

        def merge(current: UserProfile | None) -> UserProfile | None:
            answer.clear()  # a first, write-behind try may have scored already (see plan)
            if current is None:
                return None
            result = answer["result"] = self.scorer.score(observed, current, policy)
            action = self._action(result, current, observed, update_profile)
            if action is None:
                return None  # a bot, a replay, a denied or challenged attempt writes nothing
            answer["action"] = action
            if action == "enrolled":
                return self._enroll(current, observed)
            return with_signatures(current, observed, self.config)

        session_id = once.session_id if once is not None else None

        def decision_of() -> DecisionRecord | None:
            result = answer.get("result")
            return None if result is None else _decision_record(session_id, result)

        def plan(current: UserProfile) -> ScoreWrites | None:
            # The write-behind score: only the decision and the signatures, never an enrollment.
            result = answer["result"] = self.scorer.score(observed, current, policy)
            action = self._action(result, current, observed, update_profile)
            if action is not None:
                answer["action"] = action
            if action == "enrolled":
                return None  # needs the user's lock: merge runs again under it, below
            sigs = signatures_to_keep(current, observed, self.config) if action == "signatures" else {}
            return ScoreWrites(_decision_record(None, result), sigs, self.config.max_signatures)

        if once is None:
            if self.store.writes_behind:  # no write lock; the decision and signatures written behind
                profile = self.store.read_and_queue(tenant, key, plan)
                if profile is not None and answer.get("action") == "enrolled":
                    profile = self.store.update(tenant, key, merge, decision_of=decision_of)
            else:
                profile = self.store.update(tenant, key, merge, decision_of=decision_of)
            self._maybe_purge()
            if profile is None or "result" not in answer:
                raise UnknownUserError(_UNKNOWN_USER)
            result, status = answer["result"], self._status(profile)
        else:
            # Without update_profile nothing here enrolls: the kept inputs stay encrypted.
            stored = self._update_once(tenant, key, merge, once,
                                       lambda p: _score_json(answer["result"], self._status(p)),
                                       decision_of=decision_of, read_inputs=update_profile)
            if stored is None:
                raise UnknownUserError(_UNKNOWN_USER)
            result, status = _score_from_json(stored)
        if "result" in answer:  # scored here, not a recorded answer
            self._shadow("scored", tenant, key, session, answer["result"], answer.get("action", "none"),
                         session_id, policy)
            for observe in self.observers:
                try:
                    observe(tenant, session, answer["result"])
                except Exception as exc:  # noqa: BLE001 - monitoring never fails a request
                    log.warning("score observer failed: %s", type(exc).__name__)
        log.info("scored key=%s decision=%s risk=%.3f reasons=%s", key[:LOG_KEY_CHARS],
                 result.decision, result.risk, ",".join(result.reasons) or "-")
        return result, status

    def _action(self, result: ScoreResult, current: UserProfile, observed: Observed,
                update_profile: bool) -> str | None:
        """What a score does to the profile: ``enrolled`` (a low-risk session of a verifying profile,
        when asked), ``signatures`` (an allowed session is remembered against replays) or None."""
        if any(r in result.reasons for r in GUARD_REASONS):
            return None  # a bot or a replay teaches the profile nothing, not even its timing
        if result.decision != "allow":
            return None  # a denied or challenged attempt writes nothing (it cannot flush the replay memory)
        if (update_profile and current.state == "verifying" and observed.vectors
                and may_auto_update(result.risk, self.config)):
            return "enrolled"
        return "signatures"

    # Chunked sessions --------------------------------------------------------------

    def score_chunk(self, tenant: str, user_id: str, chunk: Session, index: int, final: bool,
                    update_profile: bool = False) -> tuple[ScoreResult, EnrollmentStatus, ChunkProgress]:
        """Add chunk ``index`` (its events since the previous chunk) to the session named by its
        ``session_id`` and score the whole session so far (see the module docstring).

        Only a ``final`` chunk may update the profile or write replay signatures (as :meth:`score`
        with the joined session). A retry of the last chunk (same body) gets its answer again.
        Raises :class:`UnknownUserError`, :class:`SessionConflictError` (the id was already used
        for a session scored whole), :class:`biometrics.chunks.ChunkSequenceError` (the chunk does
        not continue the session held for its id), :class:`biometrics.chunks.ChunkRejectedError`
        (the session would be invalid or too large) and
        :class:`biometrics.chunks.ChunkBufferFullError` (no room for another session in progress).
        """
        if chunk.session_id is None:
            raise ValueError("a chunk needs session.session_id: it names the session its chunks build")
        sid = str(uuid.UUID(chunk.session_id))
        key = self.key(tenant, user_id)
        request = self.fingerprint({"operation": "score-chunk", "tenant": tenant, "user_id": user_id,
                                    "update_profile": bool(update_profile), "index": int(index),
                                    "final": bool(final), "session": chunk.digest()})
        held = self.chunks.get(tenant, sid)
        if held is not None and (answer := held.answer_to(request)) is not None:
            return answer  # a retry of the last chunk
        if held is None:
            if index != 0:
                raise ChunkSequenceError(
                    f"no earlier chunks of this session are held here (chunk {index} needs chunks 0 to "
                    f"{index - 1}): never sent, expired ({self.chunks.ttl_s:g} s after the last chunk), "
                    "erased, or sent to another API process; send the session from chunk 0 again, or whole")
            if not final:
                self.chunks.check_room()
                if self.store.answer_for(tenant, "score", sid, not_before=self._not_before()) is not None:
                    raise SessionConflictError(
                        "session_id was already used for a scored session; a new session needs a new "
                        "session_id")
            start = ChunkedSession.start(tenant, sid, chunk, key, update_profile)
        else:
            start = held
        state = start.append(chunk, index, final, key, update_profile, self.chunks.max_events)
        session = state.session()
        if final:
            result, status = self.score(tenant, user_id, session, update_profile)
        else:
            result, status = self._score_read_only(tenant, key, session)
        progress = ChunkProgress(index, bool(final), state.n_events)
        stands = self.chunks.commit(held, state.answered(request, (result, status, progress)))
        return stands.answer

    def _score_read_only(self, tenant: str, key: str, session: Session) -> tuple[ScoreResult, EnrollmentStatus]:
        """A session's score against the stored profile, writing nothing (a chunk that is not final)."""
        observed = self.scorer.observe(session)
        profile = self.store.get(tenant, key)
        if profile is None:
            raise UnknownUserError(_UNKNOWN_USER)
        return self.scorer.score(observed, profile, self.policy(tenant)), self._status(profile)

    # Idempotency -------------------------------------------------------------------

    def fingerprint(self, request: dict[str, Any]) -> str:
        """HMAC-SHA256 (hex, keyed with the user-id secret) of a request's canonical JSON."""
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                               allow_nan=False)
        return hmac.new(self._secret, canonical.encode("ascii"), hashlib.sha256).hexdigest()

    def _request_key(self, operation: str, tenant: str, user_id: str, session: Session,
                     extra: dict[str, Any]) -> RequestKey | None:
        """The idempotency key of a request, or None when its session has no id."""
        if session.session_id is None:
            return None
        # The session by its digest (its arrays, not its events' JSON: cheaper, and the same for
        # the event and the columnar form of one session).
        request = {"operation": operation, "tenant": tenant, "user_id": user_id, "session": session.digest(),
                   **extra}
        return RequestKey(operation, str(uuid.UUID(session.session_id)), self.fingerprint(request))

    def _not_before(self) -> datetime:
        return datetime.now(UTC) - self.answer_ttl

    def _prior(self, tenant: str, once: RequestKey) -> dict[str, Any] | None:
        """The answer already recorded for this request (a retry), before any work; None when new."""
        stored = self.store.answer_for(tenant, once.operation, once.session_id,
                                       not_before=self._not_before())
        return None if stored is None else _checked(stored, once)

    def _update_once(self, tenant: str, key: str, merge: Callable[[UserProfile | None], UserProfile | None],
                     once: RequestKey, answer_of: Callable[[UserProfile], dict[str, Any]],
                     decision_of: Callable[[], DecisionRecord | None] | None = None,
                     read_inputs: bool = True) -> dict[str, Any] | None:
        """Apply ``merge`` and record its answer, or return the answer a concurrent copy recorded."""
        stored = self.store.update_once(tenant, key, merge, once, answer_of, not_before=self._not_before(),
                                        decision_of=decision_of, read_inputs=read_inputs)
        self._maybe_purge()
        return None if stored is None else _checked(stored, once)

    def _shadow(self, hook: str, *args: Any) -> None:
        """Tell the shadow (if any) of a fresh answer; its failure never reaches the caller."""
        if self.shadow is None:
            return
        try:
            getattr(self.shadow, hook)(*args)
        except Exception as exc:  # noqa: BLE001 - the shadow never fails a request
            log.warning("shadow %s failed: %s", hook, type(exc).__name__)

    def _maybe_purge(self) -> None:
        """Delete expired answers, and decisions and outcomes past their retention, of every
        tenant, at most once per ``PURGE_EVERY_S`` (best effort)."""
        now = time.monotonic()
        if now - self._last_purge < PURGE_EVERY_S:
            return
        self._last_purge = now
        try:
            n = self.store.purge_answers(self._not_before())
            m = self.store.purge_decisions(datetime.now(UTC) - self.decision_retention)
        except Exception as exc:  # noqa: BLE001 - a sweep that fails is retried on a later request
            log.warning("purging expired answers and decisions failed: %s", type(exc).__name__)
            return
        if n or m:
            log.info("purged %d expired answers, %d old decisions and outcomes", n, m)

    # Outcome feedback --------------------------------------------------------------

    def feedback(self, tenant: str, session_id: str, outcome: str,
                 learnt_at: datetime | None = None) -> StoredFeedback:
        """Store the outcome learnt for a scored session (once per tenant and session id).

        Raises :class:`UnknownSessionError` when the tenant has no decision with this session
        id, :class:`FeedbackConflictError` when another outcome is already stored; the same
        outcome again returns the stored one (``created`` False).
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        sid = str(uuid.UUID(session_id))
        stored = self.store.record_feedback(tenant, sid, outcome, learnt_at or datetime.now(UTC))
        self._maybe_purge()
        if stored is None:
            raise UnknownSessionError(
                "no scored session with this session_id in this tenant (never scored with this id, "
                f"or older than the {self.decision_retention.days}-day retention)")
        if stored.outcome != outcome:
            raise FeedbackConflictError(
                f"this session already has the outcome {stored.outcome!r}; an outcome is stored "
                "once and cannot be changed")
        log.info("feedback outcome=%s created=%s", outcome, stored.created)
        return stored

    def feedback_metrics(self, tenant: str, allow_below: float | None = None,
                         deny_at_or_above: float | None = None) -> FeedbackMetrics:
        """Live FAR, FRR and precisions of the tenant's labelled sessions, per model version.

        With neither threshold, the decisions as served; with one or both, every decision that
        was a threshold on the risk is recomputed, the missing threshold being the scorer's
        default. Raises ValueError when ``allow_below`` would exceed ``deny_at_or_above``.
        """
        if allow_below is not None or deny_at_or_above is not None:
            cfg = self.scorer.config
            allow_below = cfg.allow_below if allow_below is None else allow_below
            deny_at_or_above = cfg.deny_at_or_above if deny_at_or_above is None else deny_at_or_above
        roles = {self.model_version: "champion"}
        if self.shadow is not None:
            roles[self.shadow.model_version] = "challenger"
        return feedback_metrics(self.store.labelled_decisions(tenant), allow_below, deny_at_or_above, roles=roles)

    # Status and erasure ------------------------------------------------------------

    def status(self, tenant: str, user_id: str) -> EnrollmentStatus | None:
        """The user's enrollment status, or None when the tenant has no profile for the user."""
        profile = self.store.get(tenant, self.key(tenant, user_id))
        return self._status(profile) if profile is not None else None

    def forget_scorer(self, tenant: str, user_id: str, name: str) -> EnrollmentStatus | None:
        """Forget one scorer's part of the user's profile and return the status after (None: no
        profile). Raises ``ValueError`` for a name none of the bundle's scorers has. After a password
        change a login flow forgets ``password_timing``: the new password's sessions rebuild it,
        and until three have, the keystroke encoder speaks for the typing. A challenger in shadow
        keeps its own copy."""
        if name not in self.scorer.bundle.scorers:
            raise ValueError(f"the served bundle has no scorer {name!r}; it has "
                             f"{', '.join(sorted(self.scorer.bundle.scorers))}")
        key = self.key(tenant, user_id)
        profile = self.store.update(  # None: no user (nothing written); a profile without the part: as stored
            tenant, key, lambda current: forget_scorer(current, name, self.config) if current is not None else None)
        if profile is None:
            return None
        log.info("scorer forgotten key=%s scorer=%s state=%s", key[:LOG_KEY_CHARS], name, profile.state)
        return self._status(profile)

    def delete(self, tenant: str, user_id: str) -> bool:
        """Erase every stored row of the user's profile; False when there was none."""
        key = self.key(tenant, user_id)
        self.chunks.forget_user(tenant, key)  # chunked sessions in progress go too
        if self.shadow is not None:  # first: a failure leaves the profile, so a retry erases both
            self.shadow.forget(tenant, key)
        deleted = self.store.delete(tenant, key)
        log.info("erasure key=%s deleted=%s", key[:LOG_KEY_CHARS], deleted)
        return deleted

    # Helpers -----------------------------------------------------------------------

    def _status(self, profile: UserProfile) -> EnrollmentStatus:
        version = self.model_version
        mods = {name: ModalityStatus(m.n_sessions, m.model_version, m.vectors_for(version) is not None,
                                     m.current_for(), m.keeps_inputs)
                for name, m in sorted(profile.modalities.items())}
        best = max((m.sessions for m in mods.values() if m.current), default=0)
        needed = 0 if profile.state == "verifying" else max(0, self.config.min_enroll_sessions - best)
        return EnrollmentStatus(profile.state, profile.n_sessions, needed, mods, version,
                                profile.created_at, profile.updated_at)


_UNKNOWN_USER = "no profile for this user in this tenant; enroll the user first"


def _checked(stored: StoredAnswer, once: RequestKey) -> dict[str, Any]:
    """The recorded answer when it answered this very request; else :class:`SessionConflictError`."""
    if not hmac.compare_digest(stored.fingerprint, once.fingerprint):
        raise SessionConflictError(
            f"session_id was already used for another {once.operation} request (another user, "
            "session or options); a retry must repeat the request exactly, and a new session "
            "needs a new session_id")
    return stored.answer


def _status_json(status: EnrollmentStatus) -> dict[str, Any]:
    """An enrollment status as recorded JSON (counts, versions, timestamps)."""
    return {"state": status.state, "sessions": status.sessions, "sessions_needed": status.sessions_needed,
            "modalities": {k: {"sessions": int(m.sessions), "model_version": m.model_version,
                               "current": bool(m.current), "current_for": list(m.current_for),
                               "reembeddable": bool(m.reembeddable)} for k, m in status.modalities.items()},
            "model_version": status.model_version, "created_at": status.created_at.isoformat(),
            "updated_at": status.updated_at.isoformat()}


def _status_from_json(d: dict[str, Any]) -> EnrollmentStatus:
    return EnrollmentStatus(d["state"], d["sessions"], d["sessions_needed"],
                            {k: ModalityStatus(**m) for k, m in d["modalities"].items()},
                            d["model_version"], datetime.fromisoformat(d["created_at"]),
                            datetime.fromisoformat(d["updated_at"]))


def _score_json(result: ScoreResult, status: EnrollmentStatus) -> dict[str, Any]:
    """A score answer as recorded JSON: the result and the profile's status after it."""
    mods = {k: {"distance": _num(m.distance), "probability": _num(m.probability),
                "confidence": float(m.confidence), "n_tokens": int(m.n_tokens), "reason": m.reason}
            for k, m in result.modalities.items()}
    return {"result": {"risk": float(result.risk), "decision": str(result.decision),
                       "confidence": float(result.confidence), "modalities": mods,
                       "reasons": [str(r) for r in result.reasons],
                       "model_version": result.model_version},
            "enrollment": _status_json(status)}


def _decision_record(session_id: str | None, result: ScoreResult) -> DecisionRecord:
    """How the decisions log keeps a score answer: a policy decision (no modality scored, no
    guard fired: an enrolling profile or too little data) is marked, as no threshold made it."""
    guarded = any(r in result.reasons for r in GUARD_REASONS)
    scored = any(m.probability is not None for m in result.modalities.values())
    return DecisionRecord(session_id, float(result.risk), str(result.decision), not (guarded or scored),
                          result.model_version)


def _num(x: float | None) -> float | None:
    return None if x is None else float(x)


def _score_from_json(d: dict[str, Any]) -> tuple[ScoreResult, EnrollmentStatus]:
    r = d["result"]
    result = ScoreResult(r["risk"], r["decision"], r["confidence"],
                         {k: ModalityScore(**m) for k, m in r["modalities"].items()},
                         list(r["reasons"]), r["model_version"])
    return result, _status_from_json(d["enrollment"])


def signatures_to_keep(profile: UserProfile, observed: Observed, cfg: ProfileConfig) -> dict[str, np.ndarray]:
    """The session's replay signatures that an allowed score remembers: one per modality the profile
    already has (a signature lives beside that modality's embeddings), cut to ``signature_len``."""
    return {name: sig[: cfg.signature_len] for name, sig in observed.signatures.items()
            if name in profile.modalities and sig.size}


def with_signatures(profile: UserProfile, observed: Observed, cfg: ProfileConfig) -> UserProfile | None:
    """The profile with the session's replay signatures (:func:`signatures_to_keep`) added to its
    modalities' recent rings (the last ``max_signatures`` kept). None (nothing to write) when no
    signature applies."""
    keep = signatures_to_keep(profile, observed, cfg)
    if not keep:
        return None
    mods = dict(profile.modalities)
    for name, sig in keep.items():
        m = mods[name]
        mods[name] = dataclasses.replace(m, replay_signatures=(m.replay_signatures + (sig,))[-cfg.max_signatures:])
    return dataclasses.replace(profile, modalities=mods)


def _too_little_data(observed: Observed) -> str:
    need = ", ".join(f"{m.name} >= {m.min_tokens}" for m in MODALITIES.values())
    have = ", ".join(f"{m} {n}" for m, n in observed.n_tokens.items()) or "none"
    return (f"the session holds too little data to enroll: some modality needs enough tokens ({need}); "
            f"it has {have}")

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
- **Enrollment refuses** sessions that trip a guard (bot-like timing, a replay of a stored
  session) or hold too little data: an attacker must not be able to enroll a script.
- **Scoring updates a profile** only when asked (``update_profile``), the profile is
  ``verifying``, no guard fired and :func:`biometrics.profiles.may_auto_update` accepts the
  risk (anti-poisoning). The replay signatures of every scored session that tripped no
  guard are stored whatever the flag, so a later replay of that session is caught.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime

from biometrics.events import Session
from biometrics.guards import is_replay
from biometrics.profiles import (
    ProfileConfig,
    UserProfile,
    enroll,
    may_auto_update,
    new_profile,
    user_key,
)
from biometrics.scoring import MIN_TOKENS, Observed, Scorer, ScoreResult
from biometrics.store import ProfileStore

log = logging.getLogger(__name__)

#: Characters of the hashed user key that logs may show.
LOG_KEY_CHARS = 12
GUARD_REASONS = ("bot_like_timing", "replayed_session")


class UnknownUserError(LookupError):
    """The tenant has no profile for this user."""


class SessionRejectedError(ValueError):
    """A session that must not be enrolled; ``reason`` is a reason code such as ``bot_like_timing``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ModalityStatus:
    """How far one modality of a profile has enrolled."""

    sessions: int
    model_version: str
    current: bool  # made by the model that serves now (else it restarts on its next enrollment)


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
                 user_id_secret: bytes) -> None:
        if not user_id_secret:
            raise ValueError("user_id_secret must not be empty")
        self.scorer, self.store, self.config = scorer, store, profile_config
        self._secret = bytes(user_id_secret)

    @property
    def model_version(self) -> str:
        """Version of the model bundle that embeds sessions."""
        return self.scorer.model_version

    def key(self, tenant: str, user_id: str) -> str:
        """The stored key of a user: HMAC of tenant and user id (see :func:`user_key`)."""
        return user_key(tenant, user_id, self._secret)

    # Enrollment --------------------------------------------------------------------

    def enroll(self, tenant: str, user_id: str, session: Session) -> EnrollmentStatus:
        """Add one session to a user's profile, creating it; raises :class:`SessionRejectedError`."""
        key = self.key(tenant, user_id)
        observed = self.scorer.observe(session)  # outside the transaction: the slow part
        if observed.bot_modalities:
            raise SessionRejectedError(
                "bot_like_timing", "the session was not enrolled: its timing or pointer paths look "
                f"automated ({', '.join(observed.bot_modalities)})")
        if not observed.embeddings:
            raise SessionRejectedError("too_little_data", _too_little_data(observed))
        version = self.model_version

        def merge(current: UserProfile | None) -> UserProfile:
            if current is not None and self._replayed(observed, current):
                raise SessionRejectedError(
                    "replayed_session", "the session was not enrolled: its timing repeats a session "
                    "already stored for this user")
            profile = current if current is not None else new_profile(tenant, key)
            return enroll(profile, observed.embeddings, observed.signatures, version, self.config)

        profile = self.store.update(tenant, key, merge)
        assert profile is not None  # merge never returns None
        log.info("enrolled key=%s state=%s sessions=%d", key[:LOG_KEY_CHARS], profile.state,
                 profile.n_sessions)
        return self._status(profile)

    # Scoring -----------------------------------------------------------------------

    def score(self, tenant: str, user_id: str, session: Session,
              update_profile: bool = False) -> tuple[ScoreResult, EnrollmentStatus]:
        """Risk of a session against the user's profile; raises :class:`UnknownUserError`."""
        key = self.key(tenant, user_id)
        observed = self.scorer.observe(session)  # outside the transaction: the slow part
        version = self.model_version
        answer: dict[str, ScoreResult] = {}

        def merge(current: UserProfile | None) -> UserProfile | None:
            if current is None:
                return None
            result = self.scorer.score(observed, current)
            answer["result"] = result
            if any(r in result.reasons for r in GUARD_REASONS):
                return None  # a bot or a replay teaches the profile nothing, not even its timing
            if (update_profile and current.state == "verifying" and observed.embeddings
                    and may_auto_update(result.risk, self.config)):
                return enroll(current, observed.embeddings, observed.signatures, version, self.config)
            return _with_signatures(current, observed, self.config)

        profile = self.store.update(tenant, key, merge)
        if profile is None or "result" not in answer:
            raise UnknownUserError("no profile for this user in this tenant; enroll the user first")
        result = answer["result"]
        log.info("scored key=%s decision=%s risk=%.3f reasons=%s", key[:LOG_KEY_CHARS],
                 result.decision, result.risk, ",".join(result.reasons) or "-")
        return result, self._status(profile)

    # Status and erasure ------------------------------------------------------------

    def status(self, tenant: str, user_id: str) -> EnrollmentStatus | None:
        """The user's enrollment status, or None when the tenant has no profile for the user."""
        profile = self.store.get(tenant, self.key(tenant, user_id))
        return self._status(profile) if profile is not None else None

    def delete(self, tenant: str, user_id: str) -> bool:
        """Erase every stored row of the user's profile; False when there was none."""
        key = self.key(tenant, user_id)
        deleted = self.store.delete(tenant, key)
        log.info("erasure key=%s deleted=%s", key[:LOG_KEY_CHARS], deleted)
        return deleted

    # Helpers -----------------------------------------------------------------------

    def _replayed(self, observed: Observed, profile: UserProfile) -> bool:
        guards = self.scorer.config.guards
        return any(is_replay(sig, profile.replay_signatures(m), guards, m)
                   for m, sig in observed.signatures.items())

    def _status(self, profile: UserProfile) -> EnrollmentStatus:
        version = self.model_version
        mods = {name: ModalityStatus(m.n_sessions, m.model_version, m.model_version == version)
                for name, m in sorted(profile.modalities.items())}
        best = max((m.sessions for m in mods.values() if m.current), default=0)
        needed = 0 if profile.state == "verifying" else max(0, self.config.min_enroll_sessions - best)
        return EnrollmentStatus(profile.state, profile.n_sessions, needed, mods, version,
                                profile.created_at, profile.updated_at)


def _with_signatures(profile: UserProfile, observed: Observed, cfg: ProfileConfig) -> UserProfile | None:
    """The profile with the session's replay signatures added to the modalities it already has.

    A modality the profile lacks gets none: a signature lives beside that modality's
    embeddings. Returns None (nothing to write) when no signature applies.
    """
    mods = dict(profile.modalities)
    changed = False
    for name, sig in observed.signatures.items():
        m = mods.get(name)
        if m is None or sig.size == 0:
            continue
        sigs = (m.replay_signatures + (sig[: cfg.signature_len],))[-cfg.max_signatures:]
        mods[name] = dataclasses.replace(m, replay_signatures=sigs)
        changed = True
    return dataclasses.replace(profile, modalities=mods) if changed else None


def _too_little_data(observed: Observed) -> str:
    need = ", ".join(f"{m} >= {MIN_TOKENS.get(m, 1)}" for m in ("keystrokes", "pointer", "touch"))
    have = ", ".join(f"{m} {n}" for m, n in observed.n_tokens.items()) or "none"
    return (f"the session holds too little data to enroll: some modality needs enough tokens ({need}); "
            f"it has {have}")

"""Serving settings: one pydantic-settings object, read from ``BIOMETRICS_*`` environment variables.

    BIOMETRICS_BUNDLE_PATH=bundles/default.pt
    BIOMETRICS_DATABASE_URL=sqlite:///var/biometrics.db    # or postgresql+psycopg://user:pw@host/db
    BIOMETRICS_API_KEYS='{"key-of-acme": "acme", "key-of-globex": "globex"}'
    BIOMETRICS_USER_ID_SECRET=<32+ random bytes: python -c "import secrets; print(secrets.token_hex(32))">
    BIOMETRICS_TARGET_FAR=0.05  BIOMETRICS_TARGET_FRR=0.01     # thresholds derived from the bundle
    BIOMETRICS_ALLOW_BELOW=0.5  BIOMETRICS_DENY_AT_OR_ABOVE=0.9  # or explicit thresholds
    BIOMETRICS_MIN_ENROLL_SESSIONS=3
    BIOMETRICS_ENROLLING_DECISION=challenge   # decision while a profile enrolls: allow, challenge or deny
    BIOMETRICS_TENANT_POLICIES='{"acme": {"enrolling_decision": "allow"}}'   # per-tenant overrides
    BIOMETRICS_PROFILE_KEY=<base64 of 32 random bytes: python -c "import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())">
    BIOMETRICS_KEEP_ENROLLMENT_INPUTS=true    # keep enrolled sessions' item inputs (encrypted) to re-embed
    BIOMETRICS_OUTDATED_DECISION=challenge    # decision when the profile is of another model version
    BIOMETRICS_MAX_REQUEST_BYTES=2000000
    BIOMETRICS_DRIFT_WINDOW=1000  BIOMETRICS_DRIFT_MIN_SAMPLES=200   # live values behind each drift PSI
    BIOMETRICS_IDEMPOTENCY_TTL_S=600      # answers to requests with a session_id kept for retries
    BIOMETRICS_DECISION_RETENTION_DAYS=90 # score decisions and outcome feedback kept, then purged
    BIOMETRICS_CHUNK_MAX_SESSIONS=500  BIOMETRICS_CHUNK_MAX_EVENTS=20000  BIOMETRICS_CHUNK_TTL_S=300
                                          # sessions sent to /v1/score in chunks, held per process
    BIOMETRICS_CHALLENGER_BUNDLE_PATH=bundles/challenger.pt   # optional: a bundle scoring in shadow
    BIOMETRICS_SHADOW_LOG_DIR=var/shadow  # score-pair log (JSONL per day) and challenger profiles
    BIOMETRICS_SHADOW_DATABASE_URL=       # challenger profiles (default: SQLite in the log folder)

The defaults start a development server on a fresh clone: API key ``dev-key`` for tenant
``dev`` and a fixed user-id secret. Both are public, so ``BIOMETRICS_REQUIRE_SECRETS=true``
(set it in production) refuses to start with either default. Everything is validated when
the object is built, i.e. at start-up, with a message that names the variable.

While a profile enrolls (fewer than ``BIOMETRICS_MIN_ENROLL_SESSIONS`` sessions) its scores
do not count, so the decision is a policy: ``BIOMETRICS_ENROLLING_DECISION`` (default
``challenge``: a new profile lets nobody in on its own) for every tenant, unless
``BIOMETRICS_TENANT_POLICIES`` (a JSON object: tenant -> ``{"enrolling_decision": ...}``)
gives that tenant its own; ``allow`` suits a tenant that enrolls only sessions vouched for by
a strong second factor. The answer carries the reason ``profile_enrolling`` either way, and a
bot or a replay is denied whatever the policy. A policy for a tenant no API key maps to, an
unknown key or value fails at start-up.

Every score answer is logged (``decisions``: session id when the request named one, risk,
decision, model version; no events, no user id) so that ``POST /v1/feedback`` can attach the
outcome a fraud team learnt later and ``GET /v1/feedback/metrics`` can give live FAR, FRR and
precision. ``BIOMETRICS_DECISION_RETENTION_DAYS`` (default 90, 1 to 3650) bounds how long
decisions and outcomes are kept: older rows are purged lazily (at most every ten minutes, on
a score or a feedback request); a user's erasure removes them at once.

With ``BIOMETRICS_CHALLENGER_BUNDLE_PATH`` a challenger bundle scores every session in shadow
(:mod:`serving.shadow`): the answer is the champion's (``BIOMETRICS_BUNDLE_PATH``), both risks go
to Prometheus, to a score-pair log in ``BIOMETRICS_SHADOW_LOG_DIR`` and (the challenger's, for
feedback metrics) to the decisions log; the challenger's own profiles live in
``BIOMETRICS_SHADOW_DATABASE_URL`` (default ``sqlite:///<log dir>/challenger_profiles.db``; with
several hosts, a shared database other than the champion's). ``python -m serving.promote``
makes it the champion.

**Upgrades keep profiles.** With ``BIOMETRICS_KEEP_ENROLLMENT_INPUTS`` (default true) each
enrolled session's item inputs (token sequences / item features: timings, geometry and key classes,
never characters or events) are kept with the profile, encrypted with AES-256-GCM under
``BIOMETRICS_PROFILE_KEY`` (base64 of 32 bytes), so ``python -m serving.reembed --bundle NEW``
re-embeds every profile for a new bundle. Without the variable, a development server derives the
key from the user-id secret (public by default, like it); ``BIOMETRICS_REQUIRE_SECRETS=true``
refuses to start without an explicit key while inputs are kept. A session scored against a
profile of another model version gets the reason ``profile_model_outdated`` and, when nothing
else could be scored, ``BIOMETRICS_OUTDATED_DECISION`` (default ``challenge``; per tenant as
``outdated_decision`` in ``BIOMETRICS_TENANT_POLICIES``).

**Replays.** A session that repeats a stored one exactly (a copy, cut or stretched; or its mouse
or touch positions) gets ``replayed_session`` and is denied, and is never enrolled. One whose
typing is only as close to a stored session's as a jittered replay gets ``possible_replay``
and at least ``BIOMETRICS_POSSIBLE_REPLAY_DECISION`` (default ``challenge``; per tenant as
``possible_replay_decision``): a practised owner retyping the same login gives that too
(about one pair of sessions in ten on CMU's password typists), so it enrolls and steps up.

The default SQLite file lives in ``var/`` (relative to the working directory; git ignores
it), which start-up creates: a server run from a clone leaves nothing else behind.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from biometrics.chunks import DEFAULT_MAX_EVENTS, DEFAULT_MAX_SESSIONS, DEFAULT_TTL_S

DEV_API_KEYS = {"dev-key": "dev"}
DEV_USER_ID_SECRET = "dev-only-user-id-secret-do-not-use-in-production"
#: The SQLite file a development server uses: in a data directory, never the project root.
DEFAULT_DATABASE_URL = "sqlite:///var/biometrics.db"
ENROLLING_DECISIONS = ("allow", "challenge", "deny")
#: What a tenant may set in BIOMETRICS_TENANT_POLICIES (each defaults to the global setting).
TENANT_POLICY_KEYS = ("enrolling_decision", "outdated_decision", "possible_replay_decision")
TENANT_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class Settings(BaseSettings):
    """Everything the API reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="BIOMETRICS_", extra="ignore", frozen=True)

    bundle_path: Path = Field(Path("bundles/default.pt"),
                              description="model bundle (.pt) to serve (default: the real-data bundle "
                                          "of python -m training.default_bundle)")
    database_url: str = Field(DEFAULT_DATABASE_URL, description="profile store URL")
    api_keys: dict[str, str] = Field(default_factory=lambda: dict(DEV_API_KEYS),
                                     description="API key -> tenant (JSON object)")
    user_id_secret: SecretStr = Field(SecretStr(DEV_USER_ID_SECRET),
                                      description="HMAC secret that turns user ids into stored keys")
    require_secrets: bool = Field(False, description="refuse the public development key and secret")
    target_far: float = Field(0.05, gt=0.0, lt=1.0,
                              description="share of impostor sessions the allow threshold lets through")
    target_frr: float = Field(0.01, gt=0.0, lt=1.0,
                              description="share of genuine sessions the deny threshold refuses")
    allow_below: float | None = Field(None, gt=0.0, le=1.0,
                                      description="explicit allow threshold (default: from target_far)")
    deny_at_or_above: float | None = Field(None, gt=0.0, le=1.0,
                                           description="explicit deny threshold (default: from target_frr)")
    min_enroll_sessions: int = Field(3, ge=1, le=100, description="sessions before a profile verifies")
    fusion: Literal["mean", "llr"] = Field(
        "llr", description="how modalities' probabilities fuse: llr sums their calibrated log-likelihood "
                           "ratios (the default: better on chimeric users, bench/results/fusion.json), "
                           "mean averages them")
    enrolling_decision: Literal["allow", "challenge", "deny"] = Field(
        "challenge", description="decision for a session against a profile that is still enrolling "
                                 "(reason profile_enrolling; guards still deny)")
    outdated_decision: Literal["allow", "challenge", "deny"] = Field(
        "challenge", description="decision for a session none of whose modalities could be scored because "
                                 "the profile is of another model version (reason profile_model_outdated; "
                                 "python -m serving.reembed makes it current)")
    possible_replay_decision: Literal["allow", "challenge", "deny"] = Field(
        "challenge", description="least decision for a session whose typing is as close to a stored session's "
                                 "as a jittered replay and repeats nothing exactly (reason possible_replay): "
                                 "a practised owner retyping the same login can give it too")
    profile_key: SecretStr | None = Field(
        None, description="base64 of 32 bytes: the AES-256-GCM key of kept enrollment inputs (default: "
                          "derived from the user-id secret; required with require_secrets)")
    keep_enrollment_inputs: bool = Field(
        True, description="keep enrolled sessions' item inputs (encrypted) so that python -m serving.reembed "
                          "can re-embed profiles under a new bundle")
    tenant_policies: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description='per-tenant policy overrides (JSON object: tenant -> '
                                          '{"enrolling_decision": "allow" | "challenge" | "deny"})')
    auto_update_max_risk: float = Field(0.3, ge=0.0, le=1.0,
                                        description="risk below which a scored session may update a profile")
    idempotency_ttl_s: int = Field(600, ge=10, le=30 * 86_400,
                                   description="seconds the answer to a request with a session_id is "
                                               "kept, so a retry gets it again (then deleted)")
    write_behind_ms: float = Field(
        20.0, ge=0.0, le=10_000.0,
        description="milliseconds a score's decision row and an allowed session's replay signatures may "
                    "wait to be written, in batches, off the request's path (a crash loses at most that "
                    "much of them; another process sees a signature once written); 0: written in the "
                    "score's own locked transaction. Enrollments, profile updates and idempotent answers "
                    "are never deferred")
    profile_cache_mb: float = Field(
        64.0, ge=0.0, le=65_536.0,
        description="megabytes per process for decoded profiles that scores reuse while the database says "
                    "they are unchanged (one small query per score instead of reading and decoding the "
                    "profile; the database's triggers version every change, whoever writes it); 0: none")
    decision_retention_days: int = Field(90, ge=1, le=3650,
                                         description="days score decisions and outcome feedback are "
                                                     "kept (then purged lazily)")
    chunk_max_sessions: int = Field(DEFAULT_MAX_SESSIONS, ge=1, le=1_000_000,
                                    description="chunked sessions in progress one process holds (a new "
                                                "one beyond is a 429)")
    chunk_max_events: int = Field(DEFAULT_MAX_EVENTS, ge=1, le=60_000,
                                  description="events one chunked session may hold, all chunks and "
                                              "modalities together")
    chunk_ttl_s: int = Field(int(DEFAULT_TTL_S), ge=1, le=3_600,
                             description="seconds after its last chunk that a chunked session in progress "
                                         "is dropped")
    challenger_bundle_path: Path | None = Field(
        None, description="optional challenger bundle (.pt) scored in shadow: recorded, never the answer")
    shadow_log_dir: Path = Field(Path("var/shadow"), description="folder of the score-pair log (one JSONL "
                                                                 "file per UTC day) and, by default, of "
                                                                 "the challenger's profiles")
    shadow_database_url: str | None = Field(None, description="store of the challenger's profiles (default: "
                                                              "SQLite in shadow_log_dir)")
    max_request_bytes: int = Field(2_000_000, ge=1_024, le=100_000_000, description="largest request body")
    torch_threads: int = Field(1, ge=1, le=256, description="intra-op threads per process for the encoders")
    worker_threads: int = Field(8, ge=1, le=1024,
                                description="threads per process that run requests "
                                            "(CPU-bound: a few per core)")
    drift_window: int = Field(1000, ge=10, le=100_000,
                              description="live values per scorer and feature in the drift window "
                                          "(biometrics_drift_psi)")
    drift_min_samples: int = Field(200, ge=10, le=100_000,
                                   description="values a drift window needs before its PSI is exported")

    @field_validator("api_keys")
    @classmethod
    def _keys_valid(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("BIOMETRICS_API_KEYS must map at least one API key to a tenant")
        for key, tenant in v.items():
            if len(key) < 6:
                raise ValueError("every API key in BIOMETRICS_API_KEYS must be at least 6 characters")
            if not TENANT_PATTERN.fullmatch(tenant):
                raise ValueError("tenant names in BIOMETRICS_API_KEYS must be 1-128 letters, digits, "
                                 "'.', '_' or '-', starting with a letter or digit")
        return v

    @field_validator("enrolling_decision", mode="before")
    @classmethod
    def _enrolling_decision_valid(cls, v: Any) -> Any:
        if v not in ENROLLING_DECISIONS:
            raise ValueError(f"BIOMETRICS_ENROLLING_DECISION must be one of {', '.join(ENROLLING_DECISIONS)} "
                             f"(got {v!r})")
        return v

    @field_validator("tenant_policies", mode="before")
    @classmethod
    def _tenant_policies_valid(cls, v: Any) -> Any:
        var = "BIOMETRICS_TENANT_POLICIES"
        if not isinstance(v, dict):
            raise ValueError(f'{var} must be a JSON object: tenant -> {{"enrolling_decision": ...}}')  # noqa: TRY004
        for tenant, policy in v.items():
            if not isinstance(policy, dict):
                raise ValueError(f"{var}: the policy of tenant {tenant!r} must be a JSON object "  # noqa: TRY004
                                 f"with some of: {', '.join(TENANT_POLICY_KEYS)}")
            for key, value in policy.items():
                if key not in TENANT_POLICY_KEYS:
                    raise ValueError(f"{var}: tenant {tenant!r} has an unknown key {key!r} "
                                     f"(known: {', '.join(TENANT_POLICY_KEYS)})")
                if value not in ENROLLING_DECISIONS:
                    raise ValueError(f"{var}: tenant {tenant!r} has {key} {value!r}; "
                                     f"use one of {', '.join(ENROLLING_DECISIONS)}")
        return v

    @field_validator("user_id_secret")
    @classmethod
    def _secret_valid(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value().encode("utf-8")) < 16:
            raise ValueError("BIOMETRICS_USER_ID_SECRET must be at least 16 bytes "
                             "(32 random bytes recommended)")
        return v

    @field_validator("profile_key")
    @classmethod
    def _profile_key_valid(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None:
            try:
                key = base64.b64decode(v.get_secret_value(), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("BIOMETRICS_PROFILE_KEY must be base64 (of 32 random bytes)") from None
            if len(key) != 32:
                raise ValueError(f"BIOMETRICS_PROFILE_KEY must decode to 32 bytes (AES-256), got {len(key)}")
        return v

    @field_validator("database_url")
    @classmethod
    def _url_valid(cls, v: str) -> str:
        if not v.startswith(("sqlite:///", "postgresql")):
            raise ValueError("BIOMETRICS_DATABASE_URL must be sqlite:///path.db or postgresql+psycopg://...")
        return v

    @field_validator("shadow_database_url")
    @classmethod
    def _shadow_url_valid(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("sqlite:///", "postgresql")):
            raise ValueError("BIOMETRICS_SHADOW_DATABASE_URL must be sqlite:///path.db or "
                             "postgresql+psycopg://... (a database other than BIOMETRICS_DATABASE_URL)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.allow_below is not None and self.deny_at_or_above is not None \
                and not self.allow_below <= self.deny_at_or_above:
            raise ValueError("BIOMETRICS_ALLOW_BELOW must not exceed BIOMETRICS_DENY_AT_OR_ABOVE")
        if self.drift_min_samples > self.drift_window:
            raise ValueError("BIOMETRICS_DRIFT_MIN_SAMPLES must not exceed BIOMETRICS_DRIFT_WINDOW")
        unknown = sorted(set(self.tenant_policies) - set(self.api_keys.values()))
        if unknown:
            raise ValueError(f"BIOMETRICS_TENANT_POLICIES names tenants that no key in BIOMETRICS_API_KEYS "
                             f"maps to: {', '.join(map(repr, unknown))}")
        if self.shadow_database_url is not None and self.shadow_database_url == self.database_url:
            raise ValueError("BIOMETRICS_SHADOW_DATABASE_URL must name another database than "
                             "BIOMETRICS_DATABASE_URL: the challenger's profiles never mix with the champion's")
        if self.require_secrets and self.uses_dev_secrets:
            raise ValueError("BIOMETRICS_REQUIRE_SECRETS is set but BIOMETRICS_API_KEYS or "
                             "BIOMETRICS_USER_ID_SECRET still holds the public development default")
        if self.require_secrets and self.keep_enrollment_inputs and self.profile_key is None:
            raise ValueError("BIOMETRICS_REQUIRE_SECRETS is set and enrollment inputs are kept, but "
                             "BIOMETRICS_PROFILE_KEY (base64 of 32 bytes) is not set (or set "
                             "BIOMETRICS_KEEP_ENROLLMENT_INPUTS=false)")
        return self

    @property
    def uses_dev_secrets(self) -> bool:
        """True when the public development API key or user-id secret is in use."""
        return (any(k in DEV_API_KEYS for k in self.api_keys)
                or self.user_id_secret.get_secret_value() == DEV_USER_ID_SECRET)

    def policy_of(self, tenant: str | None = None) -> dict[str, str]:
        """A tenant's decisions (:data:`TENANT_POLICY_KEYS`): its own where it set them, else the global ones."""
        own = self.tenant_policies.get(tenant, {}) if tenant is not None else {}
        return {key: own.get(key, getattr(self, key)) for key in TENANT_POLICY_KEYS}

    @property
    def profile_key_bytes(self) -> bytes:
        """The 32-byte key of kept enrollment inputs: ``profile_key``, else derived from the user-id secret."""
        if self.profile_key is not None:
            return base64.b64decode(self.profile_key.get_secret_value())
        return hmac.new(self.user_id_secret.get_secret_value().encode("utf-8"), b"profile-inputs-key",
                        hashlib.sha256).digest()

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file of ``database_url`` (None for PostgreSQL or an in-memory database)."""
        if not self.database_url.startswith("sqlite:///"):
            return None
        path = self.database_url.removeprefix("sqlite:///").split("?", 1)[0]
        return Path(path) if path and path != ":memory:" else None

    def prepare_database_dir(self) -> None:
        """Create the folder of the SQLite file (``var/`` by default); called at start-up."""
        if (path := self.sqlite_path) is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    @property
    def shadow_profiles_url(self) -> str:
        """Where the challenger's profiles live (``shadow_database_url``, else SQLite in the log folder)."""
        return self.shadow_database_url or f"sqlite:///{self.shadow_log_dir / 'challenger_profiles.db'}"

    def check_files(self) -> None:
        """Raise a clear error when the bundle file is missing (called at start-up)."""
        if not self.bundle_path.is_file():
            raise FileNotFoundError(
                f"no model bundle at {self.bundle_path}; set BIOMETRICS_BUNDLE_PATH to a bundle made "
                "by `python -m training.export`")

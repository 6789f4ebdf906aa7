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
    BIOMETRICS_MAX_REQUEST_BYTES=2000000
    BIOMETRICS_IDEMPOTENCY_TTL_S=600      # answers to requests with a session_id kept for retries
    BIOMETRICS_DECISION_RETENTION_DAYS=90 # score decisions and outcome feedback kept, then purged
    BIOMETRICS_CHUNK_MAX_SESSIONS=500  BIOMETRICS_CHUNK_MAX_EVENTS=20000  BIOMETRICS_CHUNK_TTL_S=300
                                          # sessions sent to /v1/score in chunks, held per process

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

The default SQLite file lives in ``var/`` (relative to the working directory; git ignores
it), which start-up creates: a server run from a clone leaves nothing else behind.
"""

from __future__ import annotations

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
TENANT_POLICY_KEYS = ("enrolling_decision",)
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
    tenant_policies: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description='per-tenant policy overrides (JSON object: tenant -> '
                                          '{"enrolling_decision": "allow" | "challenge" | "deny"})')
    auto_update_max_risk: float = Field(0.3, ge=0.0, le=1.0,
                                        description="risk below which a scored session may update a profile")
    idempotency_ttl_s: int = Field(600, ge=10, le=30 * 86_400,
                                   description="seconds the answer to a request with a session_id is "
                                               "kept, so a retry gets it again (then deleted)")
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
    max_request_bytes: int = Field(2_000_000, ge=1_024, le=100_000_000, description="largest request body")
    torch_threads: int = Field(1, ge=1, le=256, description="intra-op threads per process for the encoders")
    worker_threads: int = Field(8, ge=1, le=1024,
                                description="threads per process that run requests "
                                            "(CPU-bound: a few per core)")

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
                if key == "enrolling_decision" and value not in ENROLLING_DECISIONS:
                    raise ValueError(f"{var}: tenant {tenant!r} has enrolling_decision {value!r}; "
                                     f"use one of {', '.join(ENROLLING_DECISIONS)}")
        return v

    @field_validator("user_id_secret")
    @classmethod
    def _secret_valid(cls, v: SecretStr) -> SecretStr:
        if len(v.get_secret_value().encode("utf-8")) < 16:
            raise ValueError("BIOMETRICS_USER_ID_SECRET must be at least 16 bytes "
                             "(32 random bytes recommended)")
        return v

    @field_validator("database_url")
    @classmethod
    def _url_valid(cls, v: str) -> str:
        if not v.startswith(("sqlite:///", "postgresql")):
            raise ValueError("BIOMETRICS_DATABASE_URL must be sqlite:///path.db or postgresql+psycopg://...")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.allow_below is not None and self.deny_at_or_above is not None \
                and not self.allow_below <= self.deny_at_or_above:
            raise ValueError("BIOMETRICS_ALLOW_BELOW must not exceed BIOMETRICS_DENY_AT_OR_ABOVE")
        unknown = sorted(set(self.tenant_policies) - set(self.api_keys.values()))
        if unknown:
            raise ValueError(f"BIOMETRICS_TENANT_POLICIES names tenants that no key in BIOMETRICS_API_KEYS "
                             f"maps to: {', '.join(map(repr, unknown))}")
        if self.require_secrets and self.uses_dev_secrets:
            raise ValueError("BIOMETRICS_REQUIRE_SECRETS is set but BIOMETRICS_API_KEYS or "
                             "BIOMETRICS_USER_ID_SECRET still holds the public development default")
        return self

    @property
    def uses_dev_secrets(self) -> bool:
        """True when the public development API key or user-id secret is in use."""
        return (any(k in DEV_API_KEYS for k in self.api_keys)
                or self.user_id_secret.get_secret_value() == DEV_USER_ID_SECRET)

    def enrolling_decision_of(self, tenant: str) -> str:
        """The decision a tenant's sessions get against a still-enrolling profile."""
        return self.tenant_policies.get(tenant, {}).get("enrolling_decision", self.enrolling_decision)

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

    def check_files(self) -> None:
        """Raise a clear error when the bundle file is missing (called at start-up)."""
        if not self.bundle_path.is_file():
            raise FileNotFoundError(
                f"no model bundle at {self.bundle_path}; set BIOMETRICS_BUNDLE_PATH to a bundle made "
                "by `python -m training.export`")

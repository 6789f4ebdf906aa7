"""Champion and challenger: a second model bundle scores every session in shadow.

With ``BIOMETRICS_CHALLENGER_BUNDLE_PATH`` set, every session the API scores whole (or the
final chunk of one) is scored by the served bundle, the **champion**, which gives the answer,
and then by the **challenger**, whose result is only recorded:

- Prometheus: ``biometrics_shadow_risk{role, modalities}`` (risk histograms of both, by the set
  of modalities each scored), ``biometrics_shadow_comparisons_total{result}`` (``agree`` /
  ``disagree`` on the decision, ``not_ready``), ``biometrics_shadow_errors_total{stage}``
  (challenger failures: ``load``, ``score``, ``profile``, ``log``) and
  ``biometrics_shadow_duration_seconds{operation}`` (the time the challenger adds);
- the **score-pair log**: append-only JSONL under ``BIOMETRICS_SHADOW_LOG_DIR``, one file per
  UTC day (``score_pairs-YYYY-MM-DD.jsonl``; ``pyarrow.json.read_json`` reads one into a
  table), files older than ``BIOMETRICS_DECISION_RETENTION_DAYS`` deleted. A row: time,
  tenant, the client's random ``session_id`` (null when the request named none), both model
  versions, risks, decisions and scored modalities, ``challenger`` (``scored``, ``not_ready``
  or ``error``), whether the decisions agree and the challenger's milliseconds. No user id,
  no user key, no events;
- the **decisions log** of the profile store (the one ``POST /v1/feedback`` joins): a session
  with a ``session_id`` that the challenger scored gets a second row under the challenger's
  model version, so ``GET /v1/feedback/metrics`` reports live FAR, FRR and precision for
  champion and challenger alike (per model version, with its ``role``), from the same shared
  store on every host, kept and erased like the champion's rows. That row is written through
  :meth:`ProfileStore.update` with an update that returns None: the champion's profile is
  never written.

**Challenger profiles.** Embeddings of two models are not comparable, and the store keeps one
model version per user and modality, so the challenger's profiles live in a store of their
own (``BIOMETRICS_SHADOW_DATABASE_URL``; by default a SQLite file in the log folder; with
several API hosts, point it at a shared database other than the champion's), under the same
hashed user keys. They fill up while shadowing: every session the champion enrolls, and every
scored session the champion lets update its profile (allowed, low risk, ``update_profile``), is
embedded by the challenger and enrolled into its profile; a session the champion allowed adds
its replay signatures there too (the champion's rules decide, never the challenger's). The
challenger scores a session only against a profile with at least
``BIOMETRICS_MIN_ENROLL_SESSIONS`` sessions under its own model version; before that the pair
is logged with ``challenger: not_ready`` (no risk, no decision row). A user's erasure erases
the challenger's profile first.

**Never in the way.** The challenger runs after the champion's transaction has committed;
it never changes the answer, and any exception in it is counted
(``biometrics_shadow_errors_total``) and logged by type, never raised. A challenger bundle that
does not load at start-up is counted (``stage="load"``) and the API serves without a
challenger; one with the champion's model version (already promoted) is ignored with a
warning. Retries that get a recorded answer, and chunks before the final one, are not
shadowed. The challenger runs in the request's thread, so it adds its own scoring time to
each score request (``python bench/shadow.py`` measures it; see the README).

Promotion: ``python -m serving.promote`` (:mod:`serving.promote`).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from biometrics.events import Session
from biometrics.profiles import ProfileConfig, UserProfile, enroll, new_profile
from biometrics.scoring import Observed, Scorer, ScoreResult, TenantPolicy, modality_set_key
from biometrics.service import GUARD_REASONS, with_signatures
from biometrics.store import DecisionRecord, ProfileStore

log = logging.getLogger("serving.shadow")

ROLES = ("champion", "challenger")
RISK_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5,
                    1.0, 2.5)
LOG_PREFIX = "score_pairs-"


class ShadowMetrics:
    """The shadow's Prometheus metrics, registered in the app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.risk = Histogram("biometrics_shadow_risk", "Risk of shadowed sessions by role (champion, "
                              "challenger) and the set of modalities that role scored", ["role", "modalities"],
                              buckets=RISK_BUCKETS, registry=registry)
        self.comparisons = Counter("biometrics_shadow_comparisons", "Shadowed sessions: the decisions agree, "
                                   "disagree, or the challenger's profile is not ready", ["result"],
                                   registry=registry)
        self.errors = Counter("biometrics_shadow_errors", "Challenger failures by stage (load, score, profile, "
                              "log); never a failed request", ["stage"], registry=registry)
        self.duration = Histogram("biometrics_shadow_duration_seconds", "Time the challenger adds to a "
                                  "request, by operation (score, enroll)", ["operation"],
                                  buckets=DURATION_BUCKETS, registry=registry)


class ShadowLog:
    """Append-only JSONL of score pairs, one file per UTC day, old days deleted (thread- and process-safe
    appends: one ``write`` of one line to a file opened with ``O_APPEND``)."""

    def __init__(self, directory: Path, retention_days: int = 90) -> None:
        self.directory = Path(directory)
        self.retention_days = retention_days
        self._lock = threading.Lock()
        self._day: date | None = None

    def path(self, day: date) -> Path:
        """The file of one UTC day."""
        return self.directory / f"{LOG_PREFIX}{day.isoformat()}.jsonl"

    def append(self, row: dict[str, Any], now: datetime | None = None) -> None:
        """Append one row (a JSON object) to today's file."""
        now = now or datetime.now(UTC)
        line = (json.dumps(row, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n").encode()
        day = now.astimezone(UTC).date()
        with self._lock:
            if self._day != day:  # first row of a day: make the folder, drop days past the retention
                self.directory.mkdir(parents=True, exist_ok=True)
                self._day = day
                self.purge(day - timedelta(days=self.retention_days))
            fd = os.open(self.path(day), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def purge(self, before: date) -> int:
        """Delete the files of days before ``before``; the count deleted."""
        n = 0
        for p in self.directory.glob(f"{LOG_PREFIX}*.jsonl"):
            try:
                day = date.fromisoformat(p.stem.removeprefix(LOG_PREFIX))
            except ValueError:
                continue
            if day < before:
                p.unlink(missing_ok=True)
                n += 1
        return n

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every logged row, oldest day first (for analysis and tests)."""
        for p in sorted(self.directory.glob(f"{LOG_PREFIX}*.jsonl")):
            with p.open(encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        yield json.loads(line)


def _scored_modalities(result: ScoreResult) -> str:
    return modality_set_key(k for k, m in result.modalities.items() if m.probability is not None) or "none"


def _decision_record(session_id: str, result: ScoreResult) -> DecisionRecord:
    """As the champion's decisions are logged: a decision no threshold made is marked as a policy."""
    guarded = any(r in result.reasons for r in GUARD_REASONS)
    scored = any(m.probability is not None for m in result.modalities.values())
    return DecisionRecord(session_id, float(result.risk), str(result.decision), not (guarded or scored),
                          result.model_version)


class Challenger:
    """A challenger bundle scoring in shadow: its own profiles, the pair log, metrics and decision rows.

    Satisfies :class:`biometrics.service.Shadow`: the service calls :meth:`scored` after each
    fresh score answer, :meth:`enrolled` after each fresh enrollment and :meth:`forget` before
    an erasure. Only :meth:`forget` may raise.
    """

    def __init__(self, scorer: Scorer, profiles: ProfileStore, decisions: ProfileStore,
                 profile_config: ProfileConfig, pair_log: ShadowLog, metrics: ShadowMetrics,
                 champion_version: str) -> None:
        if scorer.model_version == champion_version:
            raise ValueError(f"the challenger has the champion's model version {champion_version!r}")
        self.scorer, self.profiles, self.decisions = scorer, profiles, decisions
        self.config, self.log, self.metrics = profile_config, pair_log, metrics
        self.champion_version = champion_version

    @property
    def model_version(self) -> str:
        """The challenger bundle's model version."""
        return self.scorer.model_version

    def ready(self, profile: UserProfile | None) -> bool:
        """True when the challenger's profile holds enough sessions under its model version to score."""
        return profile is not None and any(
            m.model_version == self.model_version and m.n_sessions >= self.config.min_enroll_sessions
            for m in profile.modalities.values())

    # Hooks of the service -----------------------------------------------------------

    def scored(self, tenant: str, key: str, session: Session, result: ScoreResult, action: str,
               session_id: str | None, policy: TenantPolicy | None = None) -> None:
        """Score the session with the challenger and record the pair; then follow the champion's
        ``action`` on the challenger's profile (``enrolled``: enroll it; ``signatures``: keep its
        replay signatures; ``none``). Never raises."""
        t0 = time.perf_counter()
        challenger: ScoreResult | None = None
        observed: Observed | None = None
        status = "error"
        try:
            observed = self.scorer.observe(session)
            profile = self.profiles.get(tenant, key)
            if self.ready(profile):
                challenger = self.scorer.score(observed, profile, policy)
                status = "scored"
            else:
                status = "not_ready"
        except Exception as exc:  # noqa: BLE001 - the challenger never fails a request
            self._failed("score", exc)
        if observed is not None and action in ("enrolled", "signatures"):
            try:
                self._follow(tenant, key, observed, action)
            except Exception as exc:  # noqa: BLE001
                self._failed("profile", exc)
        seconds = time.perf_counter() - t0
        try:
            self._record(tenant, key, session_id, result, challenger, status, seconds)
        except Exception as exc:  # noqa: BLE001
            self._failed("log", exc)
        self.metrics.duration.labels("score").observe(time.perf_counter() - t0)

    def enrolled(self, tenant: str, key: str, session: Session) -> None:
        """Enroll a session the champion enrolled into the challenger's profile. Never raises."""
        t0 = time.perf_counter()
        try:
            self._follow(tenant, key, self.scorer.observe(session), "enrolled")
        except Exception as exc:  # noqa: BLE001
            self._failed("profile", exc)
        self.metrics.duration.labels("enroll").observe(time.perf_counter() - t0)

    def forget(self, tenant: str, key: str) -> None:
        """Erase the challenger's profile of a user (raises: an erasure must not half succeed)."""
        self.profiles.delete(tenant, key)

    def close(self) -> None:
        """Close the challenger's profile store."""
        self.profiles.close()

    # Internals ------------------------------------------------------------------------

    def _failed(self, stage: str, exc: BaseException) -> None:
        self.metrics.errors.labels(stage).inc()
        log.warning("challenger %s failed (%s); the answer is the champion's", stage, type(exc).__name__)

    def _follow(self, tenant: str, key: str, observed: Observed, action: str) -> None:
        """Apply the champion's profile action to the challenger's profile (its own store)."""
        if action == "enrolled":
            if not observed.vectors:
                return
            self.profiles.update(tenant, key, lambda current: enroll(
                current if current is not None else new_profile(tenant, key), observed.vectors,
                observed.signatures, self.model_version, self.config, **self.scorer.enrollment()))
        elif action == "signatures":
            self.profiles.update(tenant, key, lambda current: None if current is None else with_signatures(current, observed, self.config))

    def _record(self, tenant: str, key: str, session_id: str | None, champion: ScoreResult,
                challenger: ScoreResult | None, status: str, seconds: float) -> None:
        m = self.metrics
        m.risk.labels("champion", _scored_modalities(champion)).observe(champion.risk)
        agree: bool | None = None
        if challenger is not None:
            m.risk.labels("challenger", _scored_modalities(challenger)).observe(challenger.risk)
            agree = challenger.decision == champion.decision
            m.comparisons.labels("agree" if agree else "disagree").inc()
        elif status == "not_ready":
            m.comparisons.labels("not_ready").inc()
        self.log.append({
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "tenant": tenant,
            "session_id": session_id, "champion_version": champion.model_version,
            "challenger_version": self.model_version, "champion_risk": float(champion.risk),
            "champion_decision": str(champion.decision), "champion_modalities": _scored_modalities(champion),
            "challenger": status,
            "challenger_risk": float(challenger.risk) if challenger is not None else None,
            "challenger_decision": str(challenger.decision) if challenger is not None else None,
            "challenger_modalities": _scored_modalities(challenger) if challenger is not None else None,
            "agree": agree, "challenger_ms": round(seconds * 1000.0, 3)})
        if challenger is not None and session_id is not None:
            record = _decision_record(session_id, challenger)
            # fn returns None: the champion's profile is never written, only the decision row
            self.decisions.update(tenant, key, lambda _current: None, decision_of=lambda: record)


def build_challenger(settings: Any, champion_version: str, decisions: ProfileStore,
                     metrics: ShadowMetrics) -> Challenger | None:
    """The challenger of ``settings`` (None when none is configured, it does not load, or it is the
    champion already); ``decisions``: the champion's store, whose decisions log it writes to."""
    from biometrics.bundle import ModelBundle
    from serving.app import scoring_config

    path = settings.challenger_bundle_path
    if path is None:
        return None
    try:
        bundle = ModelBundle.load(path)
    except Exception as exc:  # noqa: BLE001 - serve without a challenger, say why
        metrics.errors.labels("load").inc()
        log.error("challenger bundle %s not loaded (%s: %s); serving without a challenger", path,
                  type(exc).__name__, exc)
        return None
    if bundle.model_version == champion_version:
        log.warning("the challenger bundle %s is the champion (model %s): already promoted? Unset "
                    "BIOMETRICS_CHALLENGER_BUNDLE_PATH; serving without a challenger", path, champion_version)
        return None
    scorer = Scorer(bundle, scoring_config(settings, bundle))
    try:
        settings.shadow_log_dir.mkdir(parents=True, exist_ok=True)
        profiles = ProfileStore(settings.shadow_profiles_url)
    except Exception as exc:  # noqa: BLE001
        metrics.errors.labels("load").inc()
        log.error("the challenger's profile store cannot be opened (%s); serving without a challenger",
                  type(exc).__name__)
        return None
    config = ProfileConfig(min_enroll_sessions=settings.min_enroll_sessions,
                           auto_update_max_risk=settings.auto_update_max_risk)
    log.info("challenger %s in shadow of champion %s", bundle.model_version, champion_version)
    return Challenger(scorer, profiles, decisions, config,
                      ShadowLog(settings.shadow_log_dir, settings.decision_retention_days), metrics,
                      champion_version)

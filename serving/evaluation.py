"""Served evaluation: enroll users and score sessions through the scoring service itself.

A figure counts only if the served model produced it (``DESIGN.md``): every function here
goes through :class:`~biometrics.service.BiometricService` as the API builds it
(``serving.app.build_service`` from a ``serving.settings.Settings``, on a real SQLite file),
so the bundle's scorers, calibration, fusion, guards and default thresholds are the ones the
API serves. Used by ``bench/product_accuracy.py`` (the public benchmarks) and by
``python -m training.evaluate_bundle`` (a bundle on a customer's own labelled sessions).

The pieces, each in one place:

* :func:`open_service` / :func:`temporary_service`: the service on an SQLite file;
* :class:`ServedRun`: enrollment with refused sessions skipped and counted by reason (a login
  flow asks for another session), scoring with the latency of each call, the rows kept;
* :func:`served_figures`: EER (mean per user and pooled), ROC AUC, FAR at 1% FRR, the
  allow / challenge / deny table, impostors allowed, genuine denied, reasons;
* :func:`read_labelled_sessions` and :func:`evaluate_labelled_sessions`: the file format of
  labelled sessions (JSON lines, or Parquet with pyarrow) and the report on it.

A shell module of ``serving`` (it builds the service as the API does); the serving core
never imports it.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from biometrics.events import Session
from biometrics.labelled_sessions import InputError, LabelledRecord
from biometrics.metrics import eer, far_at_frr, roc_auc
from biometrics.scoring import ScoreResult, modality_set_key
from biometrics.service import BiometricService, SessionRejectedError
from serving.app import build_service
from serving.settings import Settings

#: The tenant every evaluation enrolls its users under (each run has its own database).
TENANT = "evaluation"
ATTACK_REASONS = {"bot": ("bot_like_timing",), "replay": ("replayed_session", "possible_replay")}
LATENCY_STATS = ("p50", "p99", "mean")


class ServedRow(TypedDict):
    """One served answer: the account it was scored against (or a label for it), risk, decision, reasons."""

    user: str
    risk: float
    decision: str
    reasons: list[str]


# The service ----------------------------------------------------------------------------


def open_service(bundle_path: str | Path, database: str | Path, *,
                 min_enroll_sessions: int | None = None, **settings: Any) -> BiometricService:
    """The scoring service as the API builds it, on the SQLite file ``database``.

    ``min_enroll_sessions`` (None: the settings' default) and any other ``settings`` are
    :class:`serving.settings.Settings` fields; the rest comes from ``BIOMETRICS_*`` environment
    variables as for the API (e.g. ``BIOMETRICS_TARGET_FAR``, ``BIOMETRICS_FUSION``). Close
    it with ``service.store.close()``.
    """

    if min_enroll_sessions is not None:
        settings["min_enroll_sessions"] = min_enroll_sessions
    return build_service(Settings(bundle_path=Path(bundle_path), database_url=f"sqlite:///{database}",
                                  **settings))


@contextmanager
def temporary_service(bundle_path: str | Path, *, min_enroll_sessions: int | None = None,
                      **settings: Any) -> Iterator[BiometricService]:
    """:func:`open_service` on a fresh SQLite file in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        service = open_service(bundle_path, Path(tmp) / "profiles.db",
                               min_enroll_sessions=min_enroll_sessions, **settings)
        try:
            yield service
        finally:
            service.store.close()


# Enrolling and scoring ------------------------------------------------------------------


def latency_ms(seconds: Sequence[float], stats: Sequence[str] = LATENCY_STATS) -> dict[str, float]:
    """Latency figures in milliseconds of a list of durations in seconds: ``p50``, ``p99``, ``mean``."""
    lat = np.asarray(seconds, dtype=np.float64) * 1e3
    if lat.size == 0:
        return {}
    values = {"p50": lambda: np.percentile(lat, 50), "p99": lambda: np.percentile(lat, 99),
              "mean": lat.mean}
    return {s: float(values[s]()) for s in stats}


@dataclass
class ServedRun:
    """What one evaluation served: genuine and impostor rows, the latency of each score call,
    the enrollment sessions refused (by reason) and the modality sets scored."""

    genuine: list[ServedRow] = field(default_factory=list)
    impostor: list[ServedRow] = field(default_factory=list)
    latency_s: list[float] = field(default_factory=list)
    refused: Counter = field(default_factory=Counter)
    modality_sets: Counter = field(default_factory=Counter)

    def enroll(self, service: BiometricService, tenant: str, user_id: str,
               sessions: Iterable[Session], limit: int | None = None) -> int:
        """Enroll ``sessions`` in order until ``limit`` are accepted (None: all of them).

        A session a guard refuses (bot-like, replayed, too little data) is counted in
        :attr:`refused` by its reason and the next one is tried, as a login flow would ask for
        another session. Returns how many were enrolled.
        """
        enrolled = 0
        for s in sessions:
            if enrolled == limit:
                break
            try:
                service.enroll(tenant, user_id, s)
                enrolled += 1
            except SessionRejectedError as err:
                self.refused[err.reason] += 1
        return enrolled

    def score(self, service: BiometricService, tenant: str, claimed: str,
              session: Session | Callable[[], Session], *, impostor: bool,
              user: str | None = None) -> ScoreResult:
        """Score ``session`` against the account ``claimed`` (not updating its profile), time the
        call, and keep the answer as a genuine or impostor row labelled ``user`` (default: ``claimed``).

        ``session`` may be a function that builds it: it is then called inside the timed region
        (a benchmark that counts building the contract session, as the API's validation of a
        request body, in the latency)."""
        t0 = time.perf_counter()
        result, _ = service.score(tenant, claimed, session if isinstance(session, Session) else session())
        self.latency_s.append(time.perf_counter() - t0)
        self.modality_sets[modality_set_key(result.modalities)] += 1
        (self.impostor if impostor else self.genuine).append(
            {"user": claimed if user is None else user, "risk": result.risk, "decision": result.decision,
             "reasons": result.reasons})
        return result

    def figures(self) -> dict[str, Any]:
        """:func:`served_figures` of the rows so far."""
        return served_figures(self.genuine, self.impostor)

    def latency_ms(self, stats: Sequence[str] = LATENCY_STATS) -> dict[str, float]:
        """:func:`latency_ms` of the score calls so far."""
        return latency_ms(self.latency_s, stats)


def served_figures(genuine: list[ServedRow], impostor: list[ServedRow]) -> dict[str, Any]:
    """EER (per-user mean and pooled), AUC, FAR at 1% FRR and decision tables from served answers.

    The per-user EER is over the users (``row["user"]``) that have both genuine and impostor
    rows (None when none has); the other figures pool every row. Needs at least one genuine
    and one impostor row.
    """
    by_user: dict[str, tuple[list, list]] = {}
    for row, kind in [(r, 0) for r in genuine] + [(r, 1) for r in impostor]:
        by_user.setdefault(row["user"], ([], []))[kind].append(row["risk"])
    per_user = [eer(np.array(g), np.array(i)) for g, i in by_user.values() if g and i]
    g_all = np.array([r["risk"] for r in genuine])
    i_all = np.array([r["risk"] for r in impostor])
    table = {kind: dict(Counter(r["decision"] for r in rows))
             for kind, rows in (("genuine", genuine), ("impostor", impostor))}
    n_g, n_i = len(genuine), len(impostor)
    return {
        "eer_mean_per_user": float(np.mean(per_user)) if per_user else None,
        "eer_pooled": float(eer(g_all, i_all)),
        "roc_auc": float(roc_auc(g_all, i_all)), "far_at_frr_1pct": float(far_at_frr(g_all, i_all, 0.01)),
        "decisions": table, "n_genuine": n_g, "n_impostor": n_i,
        "impostors_allowed": table["impostor"].get("allow", 0) / max(1, n_i),
        "genuine_denied": table["genuine"].get("deny", 0) / max(1, n_g),
        "genuine_not_allowed": 1.0 - table["genuine"].get("allow", 0) / max(1, n_g),
        "reasons": dict(Counter(x for r in genuine + impostor for x in r["reasons"])),
    }


def thresholds_of(service: BiometricService, modality_sets: Iterable[str] = ()) -> dict[str, Any]:
    """The service's default thresholds and, per modality set key (``"keystrokes+pointer"``), the
    thresholds a session scored on that set is decided with."""
    config = service.scorer.config
    out: dict[str, Any] = {"allow_below": config.allow_below, "deny_at_or_above": config.deny_at_or_above}
    by = {}
    for key in sorted(set(modality_sets)):
        t = config.thresholds(key.split("+") if key else ())
        by[key] = {"allow_below": t.allow_below, "deny_at_or_above": t.deny_at_or_above}
    if by:
        out["by_modalities"] = by
    return out


# Labelled sessions: the evaluation -----------------------------------------------------


def _fresh(session: Session) -> Session:
    """The session without its ``session_id``: each trial is a new request (the same session may be
    scored against several accounts, which the service's idempotency would refuse as a conflict)."""
    return session if session.session_id is None else session.model_copy(update={"session_id": None})


_NO_IMPOSTORS = ("no impostor trials: the file has no test session labelled \"impostor\" (someone "
                 "else's session claiming an account); add some, or pass --impostors K to score each "
                 "genuine test session against K other accounts")


def check_records(records: Sequence[LabelledRecord], impostors: int = 0) -> None:
    """Raise :class:`InputError` when the records cannot make an evaluation: an enrollment
    session that is not genuine, a test session of an account with no enrollment session, no
    genuine test session, or no impostor test session while ``impostors`` (derived trials) is 0."""
    enrolling = {r.user_id for r in records if r.split == "enroll"}
    for n, r in enumerate(records, 1):
        if r.split == "enroll" and r.label != "genuine":
            raise InputError(f"record {n} (user {r.user_id!r}): an enrollment session must be genuine, "
                             f"not {r.label!r}")
    missing = sorted({r.user_id for r in records if r.split == "test"} - enrolling)
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise InputError(f"user {missing[0]!r}{more} has test sessions but no enrollment session "
                         "(split \"enroll\")")
    labels = {r.label for r in records if r.split == "test"}
    if "genuine" not in labels:
        raise InputError("no genuine test sessions (split \"test\", label \"genuine\") to score")
    if "impostor" not in labels and not impostors:
        raise InputError(_NO_IMPOSTORS)


def evaluate_labelled_sessions(records: Sequence[LabelledRecord], bundle_path: str | Path, *,
                               enroll: int | None = None, impostors: int = 0, seed: int = 0,
                               **settings: Any) -> dict[str, Any]:
    """Enroll the accounts of ``records`` and score their test sessions through the service.

    * Enrollment: each account's ``enroll`` sessions in file order; with ``enroll`` = N, the
      first N the service accepts (one a guard refuses is replaced by the next) and the
      service's ``min_enroll_sessions`` is N; without it every enrollment session, and the
      settings' ``min_enroll_sessions`` (default 3).
    * Genuine and impostor trials: every ``test`` session against its ``user_id``, and with
      ``impostors`` = K, each genuine test session also against K other enrolled accounts drawn
      without replacement (``numpy.random.default_rng(seed)``, accounts in sorted order, sessions
      in file order): zero-effort impostor trials, as the Aalto benchmark's.
    * ``bot`` and ``replay`` test sessions against their ``user_id``, reported under ``attacks``.

    Returns the report: :func:`served_figures` plus ``n_users``, ``enrollment_sessions``,
    ``impostor_trials``, ``refused_at_enrollment``, ``thresholds``, ``latency_ms``,
    ``model_version``, ``bundle``, ``attacks`` and ``by_device`` (the figures per device type of
    the test sessions, where it has genuine and impostor trials). Raises :class:`InputError`
    (see :func:`check_records`) and, where the trials have no genuine or no impostor row, too.
    """
    if enroll is not None and enroll < 1:
        raise InputError(f"--enroll must be at least 1, got {enroll}")
    if impostors < 0:
        raise InputError(f"--impostors must be 0 or more, got {impostors}")
    check_records(records, impostors)
    enroll_of: dict[str, list[Session]] = defaultdict(list)
    for r in records:
        if r.split == "enroll":
            enroll_of[r.user_id].append(_fresh(r.session))
    tests = [r for r in records if r.split == "test"]
    users = sorted(enroll_of)
    run, attacks = ServedRun(), ServedRun()
    attack_rows: dict[str, list[ServedRow]] = defaultdict(list)
    devices: dict[str, list[str]] = {"genuine": [], "impostor": []}  # per row: the session's device type
    with temporary_service(bundle_path, min_enroll_sessions=enroll, **settings) as service:
        enrolled = {u: run.enroll(service, TENANT, u, enroll_of[u], enroll) for u in users}
        not_enrolled = [u for u in users if enrolled[u] == 0]
        pool = np.array([u for u in users if enrolled[u] > 0])
        rng = np.random.default_rng(seed)
        derived = 0
        for r in tests:
            if enrolled[r.user_id] == 0:
                continue
            session, device = _fresh(r.session), r.session.meta.device_type
            if r.label in ("genuine", "impostor"):
                run.score(service, TENANT, r.user_id, session, impostor=r.label == "impostor")
                devices[r.label].append(device)
            else:
                attacks.score(service, TENANT, r.user_id, session, impostor=True)
                attack_rows[r.label].append(attacks.impostor[-1])
                continue
            if r.label == "genuine" and impostors:
                others = pool[pool != r.user_id]
                for v in rng.choice(others, size=min(impostors, others.size), replace=False):
                    run.score(service, TENANT, str(v), session, impostor=True)
                    devices["impostor"].append(device)
                    derived += 1
        model_version = service.model_version
        thresholds = thresholds_of(service, run.modality_sets + attacks.modality_sets)
    if not run.genuine or not run.impostor:  # every account with such trials failed to enroll
        raise InputError("no genuine trials were scored: every enrollment session of their accounts was "
                         "refused" if not run.genuine else _NO_IMPOSTORS)
    by_device = {}
    for d in sorted(set(devices["genuine"]) | set(devices["impostor"])):
        g = [row for row, dev in zip(run.genuine, devices["genuine"], strict=True) if dev == d]
        i = [row for row, dev in zip(run.impostor, devices["impostor"], strict=True) if dev == d]
        if g and i:
            by_device[d] = served_figures(g, i)
    return {
        **run.figures(),
        "n_users": len(users) - len(not_enrolled),
        "enrollment_sessions": enroll if enroll is not None else "all",
        "enrolled_sessions_per_user": {"min": min(enrolled.values()), "max": max(enrolled.values())},
        "impostor_trials": {"from_file": len(run.impostor) - derived, "derived": derived,
                            "derived_per_genuine_session": impostors, "seed": seed},
        "refused_at_enrollment": dict(run.refused),
        "users_not_enrolled": not_enrolled,
        "attacks": {label: _attack_summary(label, rows) for label, rows in sorted(attack_rows.items())},
        "by_device": by_device,
        "thresholds": thresholds,
        "latency_ms": latency_ms(run.latency_s + attacks.latency_s),
        "model_version": model_version, "bundle": str(bundle_path),
    }


def _attack_summary(label: str, rows: list[ServedRow]) -> dict[str, Any]:
    """Decisions of a kind of attack, the share not allowed and the share its guard flagged."""
    n = len(rows)
    decisions = dict(Counter(r["decision"] for r in rows))
    return {"n": n, "decisions": decisions, "caught": 1.0 - decisions.get("allow", 0) / n,
            **{"flagged_" + reason: sum(reason in r["reasons"] for r in rows) / n for reason in ATTACK_REASONS[label]}}

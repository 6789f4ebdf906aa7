"""Outcome feedback: what a fraud team learnt about scored sessions, and the live error rates it gives.

A tenant learns days later that a login was fraud (``confirmed_fraud``, or a ``chargeback``)
or genuine (``confirmed_genuine``). Joined with the decisions the API gave (the
``decisions`` log of :mod:`biometrics.store`), those labels measure the served model:

- **FAR**: share of fraud-labelled sessions that were allowed;
- **FRR**: share of genuine-labelled sessions that were not allowed (challenged or denied);
- **precision** of ``deny`` (share of denied labelled sessions that were fraud) and of
  "not allow" (challenge or deny).

:func:`feedback_metrics` is a pure function over joined rows, per model version (so a
champion and a challenger, or two bundles either side of a promotion, are measured
apart). At thresholds other than the served ones the decisions are recomputed from the
stored risks; a decision that was a policy rather than a threshold on the risk (a profile
still enrolling, too little data) is kept as it was.

A challenger scoring in shadow (:mod:`serving.shadow`) logs its own decision for each session
it scored, under its model version, so it is measured here beside the champion on the sessions
it was ready for; ``roles`` names which version is which.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Outcome = Literal["confirmed_fraud", "confirmed_genuine", "chargeback"]
OUTCOMES: tuple[str, ...] = ("confirmed_fraud", "confirmed_genuine", "chargeback")
#: Outcomes that say the session was not the account owner's.
FRAUD_OUTCOMES = frozenset({"confirmed_fraud", "chargeback"})
DECISIONS: tuple[str, ...] = ("allow", "challenge", "deny")


@dataclass(frozen=True)
class LabelledDecision:
    """One recorded decision joined with the outcome learnt for its session."""

    session_id: str
    model_version: str
    risk: float
    decision: str  # allow, challenge or deny, as served
    by_policy: bool  # the decision was a policy (enrolling profile, too little data), not a threshold
    outcome: str  # one of OUTCOMES
    created_at: datetime  # when the decision was made


@dataclass(frozen=True)
class ModelFeedbackMetrics:
    """Live error rates of one model version over the labelled sessions it decided."""

    model_version: str
    labelled: int
    fraud: int  # confirmed_fraud + chargeback
    genuine: int
    outcomes: dict[str, int]
    decisions: dict[str, dict[str, int]]  # decision -> {"fraud": n, "genuine": n}
    far: float | None  # fraud allowed / fraud (None without fraud labels)
    frr: float | None  # genuine not allowed / genuine (None without genuine labels)
    deny_precision: float | None  # fraud among denied / denied (None when none was denied)
    not_allow_precision: float | None  # fraud among challenged or denied / those
    by_policy: int = 0  # labelled sessions whose decision was a policy, kept at any threshold
    role: str | None = None  # champion or challenger (serving now), None for another version


@dataclass(frozen=True)
class FeedbackMetrics:
    """Per model version, at the given thresholds (None: the decisions as served)."""

    allow_below: float | None
    deny_at_or_above: float | None
    labelled: int
    models: list[ModelFeedbackMetrics] = field(default_factory=list)


def decide(risk: float, allow_below: float, deny_at_or_above: float) -> str:
    """The decision a risk gets at a pair of thresholds (as :class:`biometrics.scoring.Thresholds`)."""
    if risk >= deny_at_or_above:
        return "deny"
    if risk < allow_below:
        return "allow"
    return "challenge"


def _share(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def feedback_metrics(rows: Iterable[LabelledDecision], allow_below: float | None = None,
                     deny_at_or_above: float | None = None, *,
                     roles: Mapping[str, str] | None = None) -> FeedbackMetrics:
    """Counts, FAR, FRR and precisions per model version over labelled decisions.

    A session decided more than once by one model version (scored again after its idempotency
    window) counts once, with its latest decision. With both thresholds None the served
    decisions are used; otherwise both must be given, ``allow_below <= deny_at_or_above``, and
    every decision that was a threshold on the risk is recomputed (policy decisions are kept).
    ``roles`` maps model versions to their role (``champion``, ``challenger``).
    """
    if (allow_below is None) != (deny_at_or_above is None):
        raise ValueError("give both thresholds or neither")
    if allow_below is not None and deny_at_or_above is not None and not allow_below <= deny_at_or_above:
        raise ValueError("allow_below must not exceed deny_at_or_above")
    latest: dict[tuple[str, str], LabelledDecision] = {}
    for r in rows:
        if r.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {r.outcome!r}")
        if r.decision not in DECISIONS:
            raise ValueError(f"unknown decision {r.decision!r}")
        k = (r.model_version, r.session_id)
        if k not in latest or r.created_at >= latest[k].created_at:
            latest[k] = r
    per_model: dict[str, list[LabelledDecision]] = {}
    for (version, _sid), r in sorted(latest.items()):
        per_model.setdefault(version, []).append(r)
    models = []
    for version, labelled in per_model.items():
        outcomes = dict.fromkeys(OUTCOMES, 0)
        table = {d: {"fraud": 0, "genuine": 0} for d in DECISIONS}
        policy = 0
        for r in labelled:
            if r.by_policy or allow_below is None or deny_at_or_above is None:
                decision = r.decision
            else:
                decision = decide(r.risk, allow_below, deny_at_or_above)
            policy += r.by_policy
            outcomes[r.outcome] += 1
            table[decision]["fraud" if r.outcome in FRAUD_OUTCOMES else "genuine"] += 1
        fraud = sum(t["fraud"] for t in table.values())
        genuine = sum(t["genuine"] for t in table.values())
        denied = table["deny"]["fraud"] + table["deny"]["genuine"]
        not_allowed_fraud = table["challenge"]["fraud"] + table["deny"]["fraud"]
        not_allowed = not_allowed_fraud + table["challenge"]["genuine"] + table["deny"]["genuine"]
        models.append(ModelFeedbackMetrics(
            model_version=version, labelled=len(labelled), fraud=fraud, genuine=genuine,
            outcomes=outcomes, decisions=table,
            far=_share(table["allow"]["fraud"], fraud),
            frr=_share(table["challenge"]["genuine"] + table["deny"]["genuine"], genuine),
            deny_precision=_share(table["deny"]["fraud"], denied),
            not_allow_precision=_share(not_allowed_fraud, not_allowed), by_policy=policy,
            role=(roles or {}).get(version)))
    return FeedbackMetrics(allow_below, deny_at_or_above, sum(m.labelled for m in models), models)

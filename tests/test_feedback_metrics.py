"""Outcome feedback in the library: the pure metrics function (counted by hand) and the
store's decisions log and feedback table (one outcome per session, erasure, retention)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from biometrics.feedback import LabelledDecision, decide, feedback_metrics
from biometrics.profiles import new_profile, user_key
from biometrics.store import DecisionRecord, ProfileStore

T0 = datetime(2026, 5, 1, tzinfo=UTC)
SECRET = b"test-secret-0123456789abcdef0123"


def _row(n: int, risk: float, decision: str, outcome: str, version: str = "v1", *, policy: bool = False,
         minutes: int = 0) -> LabelledDecision:
    return LabelledDecision(f"s{n}", version, risk, decision, policy, outcome, T0 + timedelta(minutes=minutes))


# Six labelled sessions of model v1: 3 fraud (2 confirmed, 1 chargeback), 3 genuine.
ROWS = [
    _row(1, 0.10, "allow", "confirmed_fraud"),      # fraud allowed
    _row(2, 0.60, "challenge", "chargeback"),       # fraud challenged
    _row(3, 0.95, "deny", "confirmed_fraud"),       # fraud denied
    _row(4, 0.05, "allow", "confirmed_genuine"),
    _row(5, 0.55, "challenge", "confirmed_genuine"),  # genuine not allowed
    _row(6, 0.92, "deny", "confirmed_genuine"),     # genuine denied
]


def test_served_decisions_by_hand():
    m = feedback_metrics(ROWS)
    assert (m.allow_below, m.deny_at_or_above, m.labelled) == (None, None, 6)
    (v1,) = m.models
    assert (v1.model_version, v1.labelled, v1.fraud, v1.genuine) == ("v1", 6, 3, 3)
    assert v1.outcomes == {"confirmed_fraud": 2, "confirmed_genuine": 3, "chargeback": 1}
    assert v1.decisions == {"allow": {"fraud": 1, "genuine": 1}, "challenge": {"fraud": 1, "genuine": 1},
                            "deny": {"fraud": 1, "genuine": 1}}
    assert v1.far == pytest.approx(1 / 3)            # 1 of 3 fraud allowed
    assert v1.frr == pytest.approx(2 / 3)            # 2 of 3 genuine not allowed
    assert v1.deny_precision == pytest.approx(1 / 2)  # 1 fraud of 2 denied
    assert v1.not_allow_precision == pytest.approx(2 / 4)


def test_recomputed_at_other_thresholds_by_hand():
    # allow < 0.5, deny >= 0.9: s1 s4 allow; s2 s5 challenge; s3 s6 deny: as served.
    assert feedback_metrics(ROWS, 0.5, 0.9).models == feedback_metrics(ROWS).models
    # allow < 0.7, deny >= 0.93: allow s1 s2 s4 s5; deny s3; challenge s6.
    (v1,) = feedback_metrics(ROWS, 0.7, 0.93).models
    assert v1.decisions == {"allow": {"fraud": 2, "genuine": 2}, "challenge": {"fraud": 0, "genuine": 1},
                            "deny": {"fraud": 1, "genuine": 0}}
    assert (v1.far, v1.frr, v1.deny_precision, v1.not_allow_precision) == pytest.approx((2 / 3, 1 / 3, 1.0, 0.5))
    # Everything denied: FAR 0, FRR 1, deny precision = share of fraud.
    (v1,) = feedback_metrics(ROWS, 0.01, 0.01).models
    assert (v1.far, v1.frr, v1.deny_precision) == pytest.approx((0.0, 1.0, 0.5))


def test_policy_decisions_are_kept_and_versions_apart():
    rows = [*ROWS, _row(7, 0.5, "challenge", "confirmed_genuine", policy=True),
            _row(1, 0.2, "allow", "confirmed_fraud", "v2"), _row(2, 0.99, "deny", "chargeback", "v2")]
    m = feedback_metrics(rows, 0.7, 0.93)
    v1, v2 = m.models
    assert m.labelled == 9 and (v1.model_version, v2.model_version) == ("v1", "v2")
    assert v1.by_policy == 1 and v1.decisions["challenge"]["genuine"] == 2  # s7 stays challenged
    assert (v2.labelled, v2.fraud, v2.genuine, v2.far, v2.frr) == (2, 2, 0, 0.5, None)
    assert (v2.deny_precision, v2.not_allow_precision) == (1.0, 1.0)


def test_a_session_decided_twice_counts_once_with_its_latest_decision():
    rows = [_row(1, 0.95, "deny", "confirmed_fraud"), _row(1, 0.10, "allow", "confirmed_fraud", minutes=30)]
    (v1,) = feedback_metrics(rows).models
    assert (v1.labelled, v1.far) == (1, 1.0)


def test_empty_and_undefined_shares():
    assert feedback_metrics([]).models == [] and feedback_metrics([]).labelled == 0
    (v1,) = feedback_metrics([_row(1, 0.1, "allow", "confirmed_genuine")]).models
    assert (v1.far, v1.frr, v1.deny_precision, v1.not_allow_precision) == (None, 0.0, None, None)


def test_bad_arguments():
    with pytest.raises(ValueError, match="both thresholds"):
        feedback_metrics(ROWS, 0.5, None)
    with pytest.raises(ValueError, match="must not exceed"):
        feedback_metrics(ROWS, 0.9, 0.5)
    with pytest.raises(ValueError, match="outcome"):
        feedback_metrics([_row(1, 0.1, "allow", "fraud")])
    assert [decide(r, 0.5, 0.9) for r in (0.49, 0.5, 0.89, 0.9)] == ["allow", "challenge", "challenge", "deny"]


# The store ---------------------------------------------------------------------------


def _user(store: ProfileStore, tenant: str, name: str) -> str:
    key = user_key(tenant, name, SECRET)
    store.update(tenant, key, lambda p: new_profile(tenant, key))
    return key


def _decide(store: ProfileStore, tenant: str, key: str, sid: str | None, risk: float = 0.2,
            decision: str = "allow") -> None:
    store.update(tenant, key, lambda p: None,
                 decision_of=lambda: DecisionRecord(sid, risk, decision, False, "v1"))


def test_store_feedback_once_per_session_erasure_and_retention(profile_store: ProfileStore):
    s = profile_store
    alice, bob = _user(s, "acme", "alice"), _user(s, "acme", "bob")
    sa, sb = str(uuid.uuid4()), str(uuid.uuid4())
    _decide(s, "acme", alice, sa, 0.1, "allow")
    _decide(s, "acme", alice, None)  # no session id: logged, cannot be labelled
    _decide(s, "acme", bob, sb, 0.95, "deny")
    assert s.count_decisions("acme") == 3 and s.count_decisions("globex") == 0
    # An unknown user's decision is never logged (no user row is created for it).
    ghost = user_key("acme", "ghost", SECRET)
    _decide(s, "acme", ghost, str(uuid.uuid4()))
    assert s.count_decisions("acme") == 3 and s.get("acme", ghost) is None

    first = s.record_feedback("acme", sa, "chargeback", T0)
    assert first is not None and first.created and first.learnt_at == T0
    again = s.record_feedback("acme", sa, "confirmed_genuine", T0 + timedelta(days=1))
    assert again is not None and not again.created and again.outcome == "chargeback"
    assert s.record_feedback("globex", sa, "chargeback", T0) is None  # another tenant's session
    assert s.record_feedback("acme", str(uuid.uuid4()), "chargeback", T0) is None
    assert s.record_feedback("acme", sb, "confirmed_fraud", T0) is not None
    assert [(r.session_id, r.outcome) for r in s.labelled_decisions("acme")] == [(sa, "chargeback"),
                                                                                  (sb, "confirmed_fraud")]
    assert s.labelled_decisions("globex") == []

    assert s.delete("acme", bob)  # erasure takes bob's decisions and feedback
    assert s.count_decisions("acme") == 2 and s.count_feedback("acme") == 1
    assert s.purge_decisions(datetime.now(UTC) - timedelta(days=1)) == 0
    assert s.purge_decisions(datetime.now(UTC) + timedelta(seconds=1)) == 3  # 2 decisions, 1 outcome
    assert s.count_decisions("acme") == 0 and s.count_feedback("acme") == 0
    assert s.get("acme", alice) is not None  # the profile stays

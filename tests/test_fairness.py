"""Cohort fairness figures (biometrics.fairness) on small synthetic score sets."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics import fairness as fx
from biometrics.metrics import eer

ALLOW, DENY = 0.4, 0.8


def synthetic(shift_genuine: float = 0.0, shift_all: float = 0.0, users_per_cohort: int = 40, seed: int = 0,
              ) -> tuple[fx.ScoreTable, dict[str, str]]:
    """Two cohorts, ``a`` and ``b``: each user 10 genuine and 40 impostor scores. Cohort ``b``'s
    genuine risks are shifted up by ``shift_genuine``; ``shift_all`` moves all of ``b``'s risks
    by a monotone map (same ranking within each user, so the same EERs)."""
    rng = np.random.default_rng(seed)
    users, genuine, risk, cohort = [], [], [], {}
    for c in ("a", "b"):
        for k in range(users_per_cohort):
            u = f"{c}{k}"
            cohort[u] = c
            g = np.clip(rng.beta(1.2, 6.0, 10) + (shift_genuine if c == "b" else 0.0), 0, 1)
            i = rng.beta(6.0, 1.5, 40)
            r = np.concatenate([g, i])
            if c == "b" and shift_all:
                r = r ** (1.0 / (1.0 + shift_all))  # monotone: pushes every risk up, keeps the order
            users += [u] * r.size
            genuine += [True] * g.size + [False] * i.size
            risk += r.tolist()
    t = fx.ScoreTable(np.array(users), np.array(genuine), np.array(risk))
    return t.with_thresholds(ALLOW, DENY), cohort


def test_decide_follows_the_thresholds_rule():
    d = fx.decide(np.array([0.0, 0.39, 0.4, 0.79, 0.8, 1.0]), ALLOW, DENY)
    assert d.tolist() == ["allow", "allow", "challenge", "challenge", "deny", "deny"]
    # Deny wins when the thresholds cross (as Thresholds.decide); per-row thresholds.
    assert fx.decide(np.array([0.5]), 0.9, 0.5).tolist() == ["deny"]
    assert fx.decide(np.array([0.5, 0.5]), np.array([0.6, 0.1]), np.array([0.9, 0.9])).tolist() == [
        "allow", "challenge"]


def test_score_table_from_rows_keeps_decisions_only_when_every_row_has_one():
    rows = [{"user": 7, "kind": "genuine", "risk": 0.1}, {"user": "7", "kind": "impostor", "risk": 0.9}]
    t = fx.ScoreTable.from_rows(rows)
    assert t.users.tolist() == ["7", "7"] and t.genuine.tolist() == [True, False] and t.decision is None
    t = fx.ScoreTable.from_rows([{**r, "decision": d} for r, d in zip(rows, ["allow", "deny"], strict=True)])
    assert t.decision.tolist() == ["allow", "deny"]
    with pytest.raises(ValueError, match="unknown kinds"):
        fx.ScoreTable.from_rows([{"user": 1, "kind": "bot", "risk": 0.5}])
    with pytest.raises(ValueError, match="unknown decisions"):
        fx.ScoreTable.from_rows([{**rows[0], "decision": "maybe"}])


def test_decision_counts_round_trip_and_shares():
    table = {"genuine": {"allow": 90, "challenge": 6, "deny": 4}, "impostor": {"allow": 5, "deny": 40, "challenge": 5}}
    n = fx.DecisionCounts.from_table(table)
    assert n.table() == table
    sh = n.shares()
    assert sh == {"genuine_denied": 0.04, "genuine_not_allowed": 0.10, "impostors_allowed": 0.1, "impostors_denied": 0.8}
    assert (n + n).shares() == sh and (n + n).n_genuine == 200
    assert fx.DecisionCounts(0, 0, 0, 0, 0, 0).shares()["genuine_denied"] is None
    g = np.array([True, True, False])
    assert fx.DecisionCounts.from_decisions(g, np.array(["deny", "allow", "allow"])).as_tuple() == (2, 1, 1, 1, 1, 0)


def test_per_user_eers_are_the_metrics_eer_of_each_user():
    t, _ = synthetic()
    eers = fx.per_user_eers(t)
    assert len(eers) == 80
    m = t.users == "b3"
    assert eers["b3"] == pytest.approx(eer(t.risk[m & t.genuine], t.risk[m & ~t.genuine]))
    # A user with only genuine rows has no EER.
    only = fx.ScoreTable(np.array(["x", "x"]), np.array([True, True]), np.array([0.1, 0.2]))
    assert fx.per_user_eers(only) == {}


def test_a_cohort_with_shifted_genuine_risks_is_denied_more_and_flagged():
    t, cohort = synthetic(shift_genuine=0.35)
    rep = fx.dimension_report(t, cohort, "synthetic", bootstrap=200)
    a, b = rep.cohorts["a"], rep.cohorts["b"]
    assert b.value("genuine_denied") > 3 * a.value("genuine_denied")
    dis = rep.disparities["genuine_denied"]
    assert dis.worst_cohort == "b" and dis.ratio > fx.GOAL_RATIO and not dis.meets_goal
    assert dis.ratio == pytest.approx(b.value("genuine_denied") / rep.overall.value("genuine_denied"))
    assert "genuine_denied" in [d.metric for d in rep.flagged(fx.GOAL_METRICS)]
    # Overall = both cohorts: counts add up.
    assert a.n_genuine + b.n_genuine == rep.overall.n_genuine
    assert a.counts + b.counts == rep.overall.counts


def test_same_ranking_same_eer_yet_one_cohort_denied_several_times_as_often():
    base, cohort = synthetic()
    moved, _ = synthetic(shift_all=1.5)
    # The monotone map leaves every user's EER as it was...
    e0, e1 = fx.per_user_eers(base), fx.per_user_eers(moved)
    assert all(e1[u] == pytest.approx(e0[u]) for u in e0)
    rep = fx.dimension_report(moved, cohort, "monotone", bootstrap=0)
    assert rep.disparities["eer_mean_per_user"].ratio < 1.5
    # ...but at shared thresholds cohort b's genuine sessions are denied far more often.
    assert rep.cohorts["b"].value("genuine_denied") > 3 * rep.cohorts["a"].value("genuine_denied")
    assert not rep.disparities["genuine_denied"].meets_goal


def test_equal_cohorts_meet_the_goal():
    t, cohort = synthetic(users_per_cohort=150, seed=3)
    rep = fx.dimension_report(t, cohort, "equal", bootstrap=0)
    for m in ("eer_mean_per_user", "genuine_not_allowed", "impostors_allowed"):
        assert rep.disparities[m].ratio < 1.3


def test_bootstrap_intervals_bracket_the_estimate_and_are_seeded():
    t, _ = synthetic(shift_genuine=0.2)
    f1 = fx.cohort_figures(t, bootstrap=300, seed=5)
    f2 = fx.cohort_figures(t, bootstrap=300, seed=5)
    assert f1.intervals == f2.intervals
    for m in ("eer_mean_per_user", "genuine_denied", "genuine_not_allowed", "impostors_allowed"):
        lo, hi = f1.intervals[m]
        assert lo <= f1.value(m) <= hi and lo < hi
    assert fx.cohort_figures(t, bootstrap=0).intervals == {}


def test_people_with_several_accounts_are_resampled_together():
    t, _ = synthetic()
    person = {u: u[0] + str(int(u[1:]) // 4) for u in set(t.users.tolist())}  # 4 accounts per person
    f = fx.cohort_figures(t, bootstrap=200, person_of=person)
    assert f.n_users == 80 and f.n_people == 20
    wide = f.intervals["eer_mean_per_user"]
    assert wide[0] <= f.eer_mean_per_user <= wide[1]


def test_counts_override_when_rows_carry_no_decisions():
    t, _ = synthetic()
    bare = fx.ScoreTable(t.users, t.genuine, t.risk)
    f = fx.cohort_figures(bare, bootstrap=50)
    assert f.counts is None and f.value("genuine_denied") is None and "genuine_denied" not in f.intervals
    served = fx.DecisionCounts(100, 90, 5, 100, 4, 80)
    f = fx.cohort_figures(bare, counts=served, bootstrap=50)
    assert f.value("genuine_denied") == 0.05 and "genuine_denied" not in f.intervals


def test_ratio_edge_cases_and_unknown_metrics():
    assert fx.ratio(0.0, 0.0) == 1.0 and fx.ratio(0.1, 0.0) == float("inf") and fx.ratio(0.3, 0.2) == pytest.approx(1.5)
    t, cohort = synthetic()
    bare = fx.ScoreTable(t.users, t.genuine, t.risk)
    rep = fx.dimension_report(bare, cohort, "no decisions", bootstrap=0)
    assert "genuine_denied" not in rep.disparities and "eer_mean_per_user" in rep.disparities
    with pytest.raises(ValueError, match="no row's user has a cohort"):
        fx.dimension_report(t, {}, "empty")


def test_quantile_bands_terciles():
    vals = {str(i): float(i) for i in range(1, 10)}
    band, cuts = fx.quantile_bands(vals)
    assert [band[str(i)] for i in range(1, 10)] == ["fast"] * 3 + ["medium"] * 3 + ["slow"] * 3
    assert cuts == pytest.approx([11 / 3, 19 / 3])
    band, _ = fx.quantile_bands({"a": 1.0, "b": 1.0, "c": 1.0})  # ties go to the faster band
    assert set(band.values()) == {"fast"}
    with pytest.raises(ValueError):
        fx.quantile_bands({})


def test_per_cohort_thresholds_even_out_denials_and_show_the_cost():
    t, cohort = synthetic(shift_genuine=0.35, users_per_cohort=60)
    e = fx.cross_fitted_thresholds(t, cohort, ALLOW, DENY, ("a", "b"), repeats=4, seed=1)
    shared, per = e["shared"], e["per_cohort"]
    ratio = lambda s: max(s["a"]["genuine_denied"], s["b"]["genuine_denied"]) / s["overall"]["genuine_denied"]
    assert ratio(shared) > 1.5 > ratio(per)
    # The shifted cohort gets a higher deny threshold, which lets more impostors on its accounts
    # past "deny": the cost shows up there.
    assert e["mean_thresholds"]["b"]["deny_at_or_above"] > e["mean_thresholds"]["a"]["deny_at_or_above"]
    assert per["b"]["impostors_denied"] < shared["b"]["impostors_denied"]
    # Every account is decided once per repeat, under both threshold sets.
    n = shared["overall"]["decisions"]
    assert sum(n["genuine"].values()) == 4 * int(t.genuine.sum())
    assert per["overall"]["decisions"]["genuine"].keys() == n["genuine"].keys()


def test_per_cohort_thresholds_are_not_set_on_the_scores_they_judge():
    """Whatever the risks of one fold's rows, the thresholds those rows get stay the same: they
    are set on the other folds' people only (and a person's accounts share a fold)."""
    t, cohort = synthetic(shift_genuine=0.3, users_per_cohort=30, seed=2)
    person = {u: u[0] + str(int(u[1:]) // 3) for u in cohort}  # 3 accounts per person
    fit = fx.cross_fitted_row_thresholds(t, cohort, ALLOW, DENY, folds=2, rng=np.random.default_rng(4),
                                         person_of=person)
    persons = np.array([person[u] for u in t.users])
    for q in np.unique(persons):
        assert np.unique(fit.fold[persons == q]).size == 1
    held = fit.fold == 0
    scrambled = t.risk.copy()
    scrambled[held] = np.random.default_rng(7).random(held.sum())  # any other scores for fold 0
    t2 = fx.ScoreTable(t.users, t.genuine, scrambled)
    fit2 = fx.cross_fitted_row_thresholds(t2, cohort, ALLOW, DENY, folds=2, rng=np.random.default_rng(4),
                                          person_of=person)
    assert np.array_equal(fit.fold, fit2.fold)
    assert np.array_equal(fit.allow_below[held], fit2.allow_below[held])
    assert np.array_equal(fit.deny_at_or_above[held], fit2.deny_at_or_above[held])
    # ...while fold 1's thresholds, fitted on fold 0, do move.
    assert not np.array_equal(fit.deny_at_or_above[~held], fit2.deny_at_or_above[~held])
    # Cohort b (shifted) gets a higher deny threshold than cohort a.
    b = np.array([cohort[u] == "b" for u in t.users])
    assert fit.deny_at_or_above[b].mean() > fit.deny_at_or_above[~b].mean()


def test_balanced_reliability_of_calibrated_and_overconfident_risks():
    rng = np.random.default_rng(0)
    r = rng.random(20_000)
    imp = rng.random(r.size) < r  # P(impostor | r) = r, classes about balanced
    t = fx.ScoreTable(np.array(["u"] * r.size), ~imp, r)
    good = fx.balanced_reliability(t)
    bad = fx.balanced_reliability(fx.ScoreTable(t.users, t.genuine, r ** 4))
    assert good["ece"] < 0.03 < bad["ece"]
    assert len(good["impostor_share"]) == 10 and sum(good["weight"]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        fx.balanced_reliability(fx.ScoreTable(np.array(["u"]), np.array([True]), np.array([0.2])))

"""Error-rate metrics on hand-worked score sets (scores are anomaly scores: high = impostor)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from biometrics.metrics import (
    det_curve,
    eer,
    far_at_frr,
    frr_at_far,
    per_user_summary,
    roc_auc,
    threshold_at_far,
    threshold_at_frr,
    verification_report,
)

GEN, IMP = [1.0, 2.0, 3.0], [2.5, 4.0, 5.0]


def _eer_reference(genuine: list[float], impostor: list[float]) -> float:
    """Killourhy's calculateEqualError, transcribed loop by loop (ROCR cut-offs: inf, then
    the distinct scores in decreasing order; impostors are the positives)."""
    cutoffs = [math.inf] + sorted(set(genuine) | set(impostor), reverse=True)
    miss = [sum(s < c for s in impostor) / len(impostor) for c in cutoffs]
    fa = [sum(s >= c for s in genuine) / len(genuine) for c in cutoffs]
    dists = [m - f for m, f in zip(miss, fa)]
    idx1 = dists.index(min(d for d in dists if d >= 0))
    idx2 = dists.index(max(d for d in dists if d < 0))
    assert abs(idx1 - idx2) == 1
    x, y = (miss[idx1], fa[idx1]), (miss[idx2], fa[idx2])
    a = (x[0] - x[1]) / (y[1] - x[1] - y[0] + x[0])
    return x[0] + a * (y[0] - x[0])


def test_det_curve_hand_example() -> None:
    far, frr, thr = det_curve(GEN, IMP)
    np.testing.assert_array_equal(thr, [np.inf, 5, 4, 3, 2.5, 2, 1])
    np.testing.assert_allclose(far, [1, 2 / 3, 1 / 3, 1 / 3, 0, 0, 0])
    np.testing.assert_allclose(frr, [0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])


def test_eer_hand_example_hits_a_roc_point() -> None:
    # At threshold 3: impostor 2.5 accepted (FAR 1/3), genuine 3 rejected (FRR 1/3).
    assert eer(GEN, IMP) == pytest.approx(1 / 3)


def test_eer_interpolates_across_a_tie() -> None:
    # Threshold 4: (FAR 1/2, FRR 0); threshold 3 moves a genuine and an impostor at once:
    # (FAR 0, FRR 1/2). The line between them crosses FAR == FRR at 1/4.
    assert eer([1, 3], [3, 4]) == pytest.approx(0.25)


def test_eer_interpolates_along_one_axis() -> None:
    # Bracket (FAR .5, FRR .25) at threshold 4 and (FAR 0, FRR .25) at 3.5: EER = FRR = .25.
    assert eer([1, 2, 3, 4], [3.5, 5]) == pytest.approx(0.25)


def test_eer_edge_cases() -> None:
    assert eer([1, 2, 3], [4, 5]) == 0.0  # perfect separation
    assert eer([4, 5], [1, 2, 3]) == 1.0  # perfectly wrong
    assert eer([1, 1, 1], [1, 1]) == pytest.approx(0.5)  # all ties
    assert eer([1, 2, 3], [1, 2, 3]) == pytest.approx(0.5)  # same distribution


def test_eer_matches_the_published_rule_on_random_tied_scores() -> None:
    rng = np.random.default_rng(0)
    for _ in range(30):
        gen = rng.integers(0, 8, rng.integers(1, 15)).astype(float).tolist()
        imp = rng.integers(3, 12, rng.integers(1, 15)).astype(float).tolist()
        assert eer(gen, imp) == pytest.approx(_eer_reference(gen, imp))


def test_eer_is_invariant_to_monotone_rescaling_and_order() -> None:
    rng = np.random.default_rng(1)
    gen, imp = rng.normal(0, 1, 50), rng.normal(1, 1, 40)
    assert eer(np.exp(gen), np.exp(imp)) == pytest.approx(eer(gen, imp))
    assert eer(gen[::-1], rng.permutation(imp)) == pytest.approx(eer(gen, imp))


def test_roc_auc_counts_ties_as_half() -> None:
    assert roc_auc(GEN, IMP) == pytest.approx(8 / 9)  # 2.5 beats 2 genuine, 4 and 5 beat 3
    assert roc_auc([1, 1], [1, 1, 1]) == pytest.approx(0.5)
    assert roc_auc([1, 2], [2, 3]) == pytest.approx(3.5 / 4)
    assert roc_auc([1, 2], [3, 4]) == 1.0


def test_roc_auc_agrees_with_sklearn() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(2)
    gen, imp = rng.integers(0, 10, 60).astype(float), rng.integers(2, 12, 45).astype(float)
    labels = np.r_[np.zeros(gen.size), np.ones(imp.size)]
    assert roc_auc(gen, imp) == pytest.approx(roc_auc_score(labels, np.r_[gen, imp]))


def test_operating_points_hand_example() -> None:
    # FRR <= 1%: only thresholds above every genuine score; the lowest is 4 (FAR 1/3).
    assert threshold_at_frr(GEN, IMP, 0.01) == 4.0
    assert far_at_frr(GEN, IMP, 0.01) == pytest.approx(1 / 3)
    # FAR <= 1%: thresholds at or below every impostor; the highest is 2.5 (FRR 1/3).
    assert threshold_at_far(GEN, IMP, 0.01) == 2.5
    assert frr_at_far(GEN, IMP, 0.01) == pytest.approx(1 / 3)
    # Loose targets: FRR <= 1/2 allows threshold 2.5 (FRR 1/3, FAR 0); FAR <= 1/2 allows
    # threshold 4 (FAR 1/3, FRR 0).
    assert threshold_at_frr(GEN, IMP, 0.5) == 2.5
    assert far_at_frr(GEN, IMP, 0.5) == 0.0
    assert threshold_at_far(GEN, IMP, 0.5) == 4.0
    assert frr_at_far(GEN, IMP, 0.5) == 0.0


def test_threshold_at_frr_is_the_lowest_feasible_one() -> None:
    rng = np.random.default_rng(3)
    gen, imp = rng.normal(0, 1, 1000), rng.normal(2, 1, 1000)
    t = threshold_at_frr(gen, imp, 0.01)
    assert np.mean(gen >= t) <= 0.01
    lower = np.max(np.r_[gen, imp][np.r_[gen, imp] < t])
    assert np.mean(gen >= lower) > 0.01


def test_threshold_can_be_infinite_when_nothing_may_be_rejected() -> None:
    assert threshold_at_frr([1, 5], [3], 0.0) == math.inf
    assert far_at_frr([1, 5], [3], 0.0) == 1.0


def test_perfect_separation_operating_points() -> None:
    assert far_at_frr([1, 2], [3, 4], 0.0) == 0.0
    assert frr_at_far([1, 2], [3, 4], 0.0) == 0.0


def test_verification_report_keys_and_values() -> None:
    report = verification_report(GEN, IMP)
    assert set(report) == {"eer", "far_at_frr_1pct", "frr_at_far_1pct", "frr_at_far_0.1pct", "auc"}
    assert report["eer"] == pytest.approx(1 / 3)
    assert report["auc"] == pytest.approx(8 / 9)
    assert report["frr_at_far_0.1pct"] == pytest.approx(1 / 3)


def test_per_user_summary_mean_and_sample_sd() -> None:
    summary = per_user_summary({"u1": ([1, 2], [3, 4]), "u2": ([1, 1], [1, 1])})
    assert summary["per_user_eer"] == {"u1": 0.0, "u2": 0.5}
    assert summary["eer_mean"] == pytest.approx(0.25)
    assert summary["eer_sd"] == pytest.approx(np.std([0.0, 0.5], ddof=1))
    assert summary["n_users"] == 2
    assert per_user_summary({"solo": ([1], [2])})["eer_sd"] == 0.0


@pytest.mark.parametrize(
    "genuine, impostor, match",
    [
        ([], [1.0], "genuine scores are empty"),
        ([1.0], [], "impostor scores are empty"),
        ([1.0, np.nan], [2.0], "NaN"),
        ([1.0], [np.inf], "NaN or infinity"),
        ([[1.0, 2.0]], [2.0], "1-D"),
    ],
)
def test_bad_scores_are_rejected(genuine, impostor, match) -> None:
    with pytest.raises(ValueError, match=match):
        eer(genuine, impostor)


def test_bad_targets_and_empty_summary_are_rejected() -> None:
    with pytest.raises(ValueError, match="frr must be a rate"):
        far_at_frr(GEN, IMP, 1.5)
    with pytest.raises(ValueError, match="far must be a rate"):
        frr_at_far(GEN, IMP, -0.1)
    with pytest.raises(ValueError, match="at least one user"):
        per_user_summary({})

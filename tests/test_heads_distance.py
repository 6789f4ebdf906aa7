"""The distance head: raw, z-scored and spread-scaled distances to a user's enrollment vectors."""

import numpy as np
import pytest

from biometrics.distances import mean_distance
from biometrics.bundle import HEADS
from biometrics.heads.distance import DistanceHead, loo_distances


def _user(spread: float, rng: np.random.Generator, n: int = 6, k: int = 8) -> np.ndarray:
    centre = rng.normal(0, 1, k)
    return centre + rng.normal(0, spread, (n, k))


def test_spread_scaling_with_alpha_zero_is_the_raw_distance():
    rng = np.random.default_rng(0)
    enroll, items = _user(0.3, rng), rng.normal(0, 1, (4, 8))
    raw = DistanceHead().score({"enroll": enroll}, items)
    spread = DistanceHead("spread", spread_alpha=0.0, spread_ref=0.7).score({"enroll": enroll}, items)
    assert np.allclose(raw, spread) and np.allclose(raw, mean_distance(enroll, items))


def test_spread_scaling_makes_a_tight_users_distances_relative_to_their_own_spread():
    """A user who types one text alike every time (tight enrollment) and a free-text typist
    (loose): with alpha 1 an impostor the same multiple of each one's own spread away scores
    the same; raw, the tight user's impostor looks closer than the loose user's genuine."""
    rng = np.random.default_rng(1)
    tight, loose = _user(0.05, rng), _user(0.5, rng)
    m_tight, m_loose = loo_distances(tight).mean(), loo_distances(loose).mean()
    head = DistanceHead("spread", spread_alpha=1.0, spread_ref=1.0)
    for enroll, m in ((tight, m_tight), (loose, m_loose)):
        query = enroll.mean(0, keepdims=True) + 3.0 * m
        assert head.score({"enroll": enroll}, query)[0] == pytest.approx(
            mean_distance(enroll, query)[0] / m, rel=1e-9)
    assert DistanceHead().score({"enroll": tight}, tight.mean(0, keepdims=True) + 3 * m_tight)[0] < m_loose


def test_spread_scaling_needs_two_enrollment_vectors():
    one = np.ones((1, 8))
    head = DistanceHead("spread", spread_alpha=1.0, spread_ref=0.5)
    assert head.spread_scale(one) == 1.0
    assert head.score({"enroll": one}, np.zeros((1, 8)))[0] == pytest.approx(np.sqrt(8))


def test_the_head_round_trips_through_its_payload_and_refuses_bad_parameters():
    head = DistanceHead("spread", spread_alpha=0.5, spread_ref=0.77)
    again = HEADS[head.payload()["kind"]].from_payload(head.payload())
    assert again == head
    assert DistanceHead.from_payload({"kind": "distance"}) == DistanceHead()  # bundles before the field
    with pytest.raises(ValueError, match="spread_alpha"):
        DistanceHead("spread", spread_alpha=-1.0)
    with pytest.raises(ValueError, match="normalize"):
        DistanceHead("relative")

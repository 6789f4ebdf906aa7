"""One-class detectors: shared interface behaviour and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics.detectors import DETECTORS, Detector, make_detector
from biometrics.metrics import roc_auc

# Detector names of Killourhy & Maxion (2009) Table 2; the registry must use these.
PAPER_NAMES = {
    "Manhattan (scaled)",
    "Nearest Neighbor (Mahalanobis)",
    "Outlier Count (z-score)",
    "SVM (one-class)",
    "Mahalanobis",
    "Mahalanobis (normed)",
    "Manhattan (filter)",
    "Manhattan",
    "Neural Network (auto-assoc)",
    "Euclidean",
    "Euclidean (normed)",
    "Fuzzy Logic",
    "k Means",
    "Neural Network (standard)",
}


@pytest.fixture(scope="module")
def blob() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Timing-like data: train and held-out samples of one blob, plus a shifted blob."""
    rng = np.random.default_rng(0)
    mean = np.array([0.10, 0.25, 0.15, 0.30, 0.12])

    def draw(n: int, shift: float) -> np.ndarray:
        return mean + shift + rng.normal(0.0, 0.02, (n, mean.size))

    return draw(200, 0.0), draw(100, 0.0), draw(100, 0.08)


def test_registry_uses_the_paper_names_and_is_read_only() -> None:
    assert set(DETECTORS) <= PAPER_NAMES
    assert {"Euclidean", "Manhattan", "Manhattan (scaled)", "Mahalanobis"} <= set(DETECTORS)
    with pytest.raises(TypeError):
        DETECTORS["mine"] = object  # type: ignore[index]


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_shifted_samples_score_higher(name: str, blob) -> None:
    train, inliers, shifted = blob
    det = make_detector(name).fit(train)
    assert isinstance(det, Detector)
    s_in, s_out = det.score(inliers), det.score(shifted)
    assert s_in.shape == (100,) and s_out.shape == (100,)
    assert np.all(np.isfinite(s_in)) and np.all(np.isfinite(s_out))
    assert np.median(s_out) > np.median(s_in)
    assert roc_auc(s_in, s_out) > 0.9


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_fit_and_score_are_deterministic(name: str, blob) -> None:
    train, inliers, _ = blob
    first = make_detector(name).fit(train).score(inliers)
    np.testing.assert_array_equal(first, make_detector(name).fit(train).score(inliers))


def test_manhattan_scaled_hand_computation() -> None:
    X = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 9.0]])
    # mean (2, 5); mean absolute deviations (2/3, 8/3)
    det = make_detector("Manhattan (scaled)").fit(X)
    scores = det.score(np.array([[4.0, 1.0], [2.0, 5.0]]))
    np.testing.assert_allclose(scores, [2 / (2 / 3) + 4 / (8 / 3), 0.0])


def test_euclidean_and_manhattan_hand_computation() -> None:
    X = np.array([[0.0, 0.0], [2.0, 4.0]])  # mean (1, 2)
    test = np.array([[4.0, 6.0]])
    np.testing.assert_allclose(make_detector("Euclidean").fit(X).score(test), [9 + 16])
    np.testing.assert_allclose(make_detector("Manhattan").fit(X).score(test), [3 + 4])
    normed = make_detector("Euclidean (normed)").fit(X).score(test)
    np.testing.assert_allclose(normed, [25 / (np.hypot(4, 6) * np.hypot(1, 2))])


def test_outlier_count_counts_features_beyond_1_96_sd() -> None:
    X = np.array([[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]])  # mean 1, sd sqrt(2)
    det = make_detector("Outlier Count (z-score)").fit(X)
    # |z| per feature: 0, 2/sqrt(2) = 1.41, 3/sqrt(2) = 2.12 -> one outlier
    np.testing.assert_array_equal(det.score(np.array([[1.0, 3.0, 4.0]])), [1.0])


def test_mahalanobis_with_singular_covariance_matches_the_reduced_problem() -> None:
    # Like CMU's UD = DD - H columns: a feature that is an exact linear combination makes
    # the covariance singular; the pseudo-inverse must give the distance of the free part.
    rng = np.random.default_rng(1)
    free = rng.normal(size=(50, 3))
    X = np.column_stack([free, free[:, 0] - free[:, 1]])
    test_free = rng.normal(size=(10, 3))
    test = np.column_stack([test_free, test_free[:, 0] - test_free[:, 1]])
    assert np.linalg.matrix_rank(np.cov(X, rowvar=False)) == 3
    full = make_detector("Mahalanobis").fit(X).score(test)
    reduced = make_detector("Mahalanobis").fit(free).score(test_free)
    np.testing.assert_allclose(full, reduced, rtol=1e-8)
    nn = make_detector("Nearest Neighbor (Mahalanobis)").fit(X).score(test)
    assert np.all(np.isfinite(nn))


def test_mahalanobis_with_fewer_samples_than_features() -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(4, 10))
    scores = make_detector("Mahalanobis").fit(X).score(rng.normal(size=(3, 10)))
    assert scores.shape == (3,) and np.all(np.isfinite(scores))


def test_nearest_neighbor_scores_a_training_vector_zero() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 4))
    scores = make_detector("Nearest Neighbor (Mahalanobis)").fit(X).score(X[:5])
    np.testing.assert_allclose(scores, 0.0, atol=1e-9)


def test_constant_feature_does_not_break_scaled_detectors() -> None:
    X = np.column_stack([np.linspace(0, 1, 20), np.full(20, 0.5)])
    for name in ("Manhattan (scaled)", "Outlier Count (z-score)", "SVM (one-class)"):
        scores = make_detector(name).fit(X).score(np.array([[0.5, 0.5], [0.5, 0.9]]))
        assert np.all(np.isfinite(scores)), name


def test_interface_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="unknown detector"):
        make_detector("Cosine")
    with pytest.raises(RuntimeError, match="not fitted"):
        make_detector("Manhattan").score(np.zeros((1, 2)))
    det = make_detector("Manhattan").fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="3 features"):
        det.score(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="NaN"):
        make_detector("Manhattan").fit(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="non-empty"):
        make_detector("Manhattan").fit(np.zeros((0, 2)))

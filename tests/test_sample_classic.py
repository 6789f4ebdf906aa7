"""Classic baseline on the shipped sample data: one-class profiles separate owners from attackers."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from biometrics.classic import fit_one_class, fuse, two_class_anomaly

_spec = importlib.util.spec_from_file_location(
    "sample_classic", Path(__file__).resolve().parents[1] / "bench" / "sample_classic.py")
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)


@pytest.fixture(scope="module")
def summary():
    return demo.main(["--json"])


def test_sample_data_genuine_vs_impostor_separated(summary):
    assert summary["n"]["genuine"] == 120 and summary["n"]["impostor"] == 60
    assert summary["eer_genuine_vs_impostor"] < 0.10


def test_sample_data_bots_scored_anomalous(summary):
    assert summary["bots_caught"] >= 0.95


def test_threshold_comes_from_enrollment_near_target_frr(summary):
    # The threshold targets 5% FRR on enrollment leave-one-out scores; test FRR lands near it.
    assert summary["FRR"] < 0.15


def test_one_class_model_normalizes_owner_near_zero_and_outsider_high():
    rng = np.random.default_rng(0)
    owner = rng.normal(0, 1, (10, 6))
    model = fit_one_class(owner)
    assert abs(model.loo_scores.mean()) < 1e-9
    assert model.score(rng.normal(0, 1, 6))[0] < model.score(rng.normal(4, 1, 6))[0]
    with pytest.raises(ValueError, match="at least 3"):
        fit_one_class(owner[:2])


def test_fuse_is_mean_and_needs_a_modality():
    assert fuse({"keystrokes": 1.0, "pointer": 3.0}) == 2.0
    with pytest.raises(ValueError):
        fuse({})


@pytest.mark.parametrize("method", ["forest", "boosting", "logistic"])
def test_two_class_anomaly_is_low_for_the_owner_and_high_for_others(method):
    rng = np.random.default_rng(0)
    owner, other = rng.normal(0, 1, (200, 5)), rng.normal(1.5, 1, (200, 5))
    anomaly = two_class_anomaly(owner[:150], other[:150], method, seed=0)
    held_owner, held_other = anomaly(owner[150:]), anomaly(other[150:])
    assert held_owner.mean() < 0.35 and held_other.mean() > 0.65
    again = two_class_anomaly(owner[:150], other[:150], method, seed=0)
    assert np.array_equal(again(owner[150:]), held_owner)  # seeded: refitting gives the same model


def test_two_class_anomaly_rejects_an_unknown_method():
    with pytest.raises(ValueError, match="boosting"):
        two_class_anomaly(np.zeros((4, 2)), np.ones((4, 2)), "svm")

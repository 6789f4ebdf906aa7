"""Touch stroke encoder: tokens, folds and the inter-session protocol, training on synthetic phone users."""

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.core.hydra_config import HydraConfig

from biometrics.data.serwadda import STROKE_COUNTS
from biometrics.data.touch_modules import (
    SESSION_STRIDE,
    SerwaddaFoldDataModule,
    SyntheticTouchFoldDataModule,
    fold_of_users,
    inter_session_scores,
    stroke_report,
    synthetic_touch_sessions,
    two_class_scorer,
)
from biometrics.features import stroke_features, touch_tokens
from biometrics.features.stroke_tokens import STROKE_TOKEN_FEATURES, stroke_token_sequences
from tests.test_training import compose_train
from training.train import pool_by_k, train

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
HAVE_SERWADDA = (DATASETS / "touch-serwadda" / "LandscapeSession1.mat").is_file()


@pytest.fixture(scope="module")
def sessions():
    return synthetic_touch_sessions(n_users=24, sessions_per_user=16, seed=3)


def test_stroke_tokens_match_the_scoring_features(sessions):
    arr = sessions[1][0]
    seqs = stroke_token_sequences(arr)
    points, sid = touch_tokens(arr)
    feats, _ = stroke_features(arr)
    assert len(seqs) == feats.shape[0] == np.unique(sid).size
    assert all(s.shape[1] == len(STROKE_TOKEN_FEATURES) and s.dtype == np.float32 for s in seqs)
    np.testing.assert_array_equal(np.concatenate(seqs)[:, : points.shape[1]], points)
    # Stroke columns are constant along a stroke, finite and of moderate size.
    for s in seqs:
        assert np.all(s[:, points.shape[1]:] == s[0, points.shape[1]:])
    flat = np.concatenate(seqs)
    assert np.all(np.isfinite(flat)) and np.abs(flat).max() < 30


def test_folds_match_the_classic_baseline_and_never_leak_users(tmp_path, sessions):
    users = np.arange(59)
    fold = fold_of_users(users, 5, 0)
    perm = np.random.default_rng(0).permutation(59)  # bench/serwadda_classic.py's user_folds
    assert all(fold[int(users[i])] == rank % 5 for rank, i in enumerate(perm))
    dm = SyntheticTouchFoldDataModule(n_users=24, fold=1, n_val_users=3, background_per_user=5,
                                      cache_dir=tmp_path, seed=3)
    dm.load_sessions = lambda: sessions
    dm.setup()
    tr, va, te = (dm.sets[s] for s in ("train", "val", "test"))
    test_users = np.unique(te.users[te.order >= 0])
    val_users = np.unique(va.users[va.order >= 0])
    assert test_users.size == 5 and val_users.size == 3 and np.unique(tr.users).size == 16
    assert not set(test_users) & set(tr.users) and not set(val_users) & set(tr.users)
    # Negatives: other-fold users' session-1 strokes only, never an evaluated user's.
    for s, evaluated in ((te, test_users), (va, val_users)):
        bg = s.order < 0
        assert bg.any() and not np.isin(s.users[bg], evaluated).any()
    assert np.isin(va.users[va.order < 0], tr.users).all()
    assert set(tr.order // SESSION_STRIDE) == {0, 1}


def test_protocol_on_separable_vectors_gives_low_eer_and_k_curve():
    rng = np.random.default_rng(0)
    from biometrics.data.sequences import SequenceSet

    users, order, vec = [], [], []
    centers = rng.normal(0, 1, (8, 4))
    for u in range(8):
        for s in (0, 1):
            n = 60
            vec.append(centers[u] + rng.normal(0, 1.0, (n, 4)))
            users += [u] * n
            order += list(s * SESSION_STRIDE + np.arange(n))
    vec.append(rng.normal(0, 1.5, (40, 4)))
    users += [99] * 40
    order += list(-1 - np.arange(40))
    data = SequenceSet([np.zeros((1, 1))] * len(users), np.array(users), np.array(order))
    rep = stroke_report(inter_session_scores(np.concatenate(vec), data, "logistic"))
    eers = [rep["eer_by_strokes"][str(k)] for k in STROKE_COUNTS]
    assert rep["eer"] == eers[0] and eers[-1] < eers[0] / 2
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(eers))
    pooled = pool_by_k([rep["per_subject_by_k"], rep["per_subject_by_k"]])
    assert pooled["n_subjects_by_k"]["1"] == 16
    assert pooled["eer_by_k"]["1"] == pytest.approx(rep["eer_by_strokes"]["1"])


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory):
    """One short training of the stroke encoder on synthetic phone users (one fold)."""
    tmp = tmp_path_factory.mktemp("touch_run")
    cfg = compose_train(["experiment=touch_serwadda", "folds=null", "logger=none", "callbacks=none",
                         "data._target_=biometrics.data.touch_modules.SyntheticTouchFoldDataModule",
                         "+data.n_users=30", "+data.sessions_per_user=16", "data.n_val_users=4",
                         "data.background_per_user=20", "data.batches_per_epoch=8", "trainer.max_epochs=3",
                         "data.m_per_user=8", f"paths.cache_dir={tmp / 'cache'}", "seed=1"], tmp)
    HydraConfig.instance().set_config(cfg)
    torch.set_num_threads(1)  # two threads thrash when the machine's two cores are busy
    return tmp, train(cfg)


def test_encoder_separates_synthetic_touch_users(synthetic_run):
    tmp, report = synthetic_run
    enc = report["encoder"]
    assert report["n_test_users"] > 6  # evaluated users plus other-fold background users
    # Chance is 0.5; the simulated users differ in swipe style, so a short fit separates them.
    assert enc["eer_by_strokes"]["1"] < 0.35
    assert enc["eer_by_strokes"]["11"] < 0.15
    assert {"logistic", "distance"} <= set(enc["variants"])
    assert (tmp / "det.png").exists() and (tmp / "eer_by_strokes.png").exists()


def test_eer_does_not_grow_with_more_strokes_on_synthetic_users(synthetic_run):
    _, report = synthetic_run
    eers = [report["encoder"]["eer_by_strokes"][str(k)] for k in STROKE_COUNTS]
    assert all(b <= a + 0.02 for a, b in itertools.pairwise(eers)), eers
    assert eers[-1] < eers[0]


@pytest.mark.skipif(not HAVE_SERWADDA, reason="Serwadda data not available")
def test_serwadda_module_on_a_slice_of_real_users(tmp_path):
    dm = SerwaddaFoldDataModule(datasets=DATASETS, users=list(range(139, 154)), n_folds=3, n_val_users=2,
                                background_per_user=10, cache_dir=tmp_path)
    dm.setup()
    te = dm.sets["test"]
    assert np.unique(te.users[te.order >= 0]).size == 5
    vec = dm.baseline_vectors("test")
    assert vec.shape == (len(te), 28)
    rep = dm.evaluate_embeddings(vec, "test")
    assert 0.0 <= rep["eer"] < 0.5 and set(rep["eer_by_strokes"]) == {"1", "5", "11", "20"}


@pytest.mark.parametrize("kind", ["logistic", "svm", "boosting"])
def test_two_class_scorer_scores_the_owner_below_others(kind):
    rng = np.random.default_rng(0)
    owner, others = rng.normal(0, 1, (150, 6)), rng.normal(1.5, 1, (300, 6))
    score = two_class_scorer(owner[:100], others[:200], kind)
    assert np.median(score(owner[100:])) < np.median(score(others[200:]))
    assert np.mean(score(owner[100:])[:, None] < score(others[200:])[None, :]) > 0.9  # AUC

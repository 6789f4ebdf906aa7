"""Boosted-trees head: numpy tree inference equals scikit-learn's, float32 state, payload round trip."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics.heads.boosted import BoostedTreesHead, export_trees, tree_decision

K = 6


def _users(seed: int = 0, n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(background of 3 other users, owner A's vectors, impostor B's vectors), seeded."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(5, K))
    scales = rng.lognormal(sigma=1.0, size=K)  # columns on very different scales, like raw features

    def user(u: int, m: int) -> np.ndarray:
        return ((centers[u] + rng.normal(size=(m, K))) * scales).astype(np.float32)

    bg = np.concatenate([user(u, n) for u in (2, 3, 4)])
    return bg, user(0, n), user(1, n)


def _head(bg: np.ndarray, **kw) -> BoostedTreesHead:
    return BoostedTreesHead(bg, **{"n_trees": 30, "max_leaf_nodes": 8, **kw})


def test_separates_two_synthetic_users() -> None:
    bg, a, b = _users()
    head = _head(bg)
    state = head.fit(a[:300])
    genuine, impostor = head.score(state, a[300:]), head.score(state, b)
    assert genuine.mean() < impostor.mean()
    # session-level (mean of 10 items) genuine and impostor scores barely overlap
    g, i = genuine[:100].reshape(10, 10).mean(1), impostor[:100].reshape(10, 10).mean(1)
    assert g.max() < i.min()


@pytest.mark.parametrize("max_depth", [None, 3])
def test_numpy_inference_equals_sklearn(max_depth: int | None) -> None:
    bg, a, b = _users(1)
    head = _head(bg, max_depth=max_depth)
    clf = head.classifier(a)
    state = export_trees(clf)
    x = np.concatenate([a, b, bg[:200]])
    np.testing.assert_allclose(tree_decision(state, x), clf.decision_function(x), atol=1e-5, rtol=0)
    assert np.array_equal(tree_decision(state, x) > 0, clf.predict(x) == 1)
    p = head.score(state, x)
    np.testing.assert_allclose(p, -clf.decision_function(x), atol=1e-5, rtol=0)
    prob = BoostedTreesHead(
        bg, n_trees=30, max_leaf_nodes=8, max_depth=max_depth, anomaly="probability"
    )
    np.testing.assert_allclose(prob.score(state, x), clf.predict_proba(x)[:, 0], atol=1e-6, rtol=0)
    # float32 inputs take the classifier's exact branch, even at a threshold itself
    on_split = x[:50].copy()
    internal = state["child"] != np.arange(state["child"].size)
    cols = (np.abs(state["feature"][internal]).astype(int) - 1)[:50]
    on_split[np.arange(cols.size), cols] = state["split"][internal][:50]
    np.testing.assert_allclose(
        tree_decision(state, on_split), clf.decision_function(on_split), atol=1e-5, rtol=0
    )


def test_missing_values_follow_the_classifier() -> None:
    bg, a, _ = _users(2)
    rng = np.random.default_rng(0)
    a = a.copy()
    a[rng.random(a.shape) < 0.1] = np.nan  # the classifier learns where missing values go
    head = _head(bg)
    clf = head.classifier(np.nan_to_num(a[:200], nan=0.0))
    x = a[200:]
    np.testing.assert_allclose(
        tree_decision(export_trees(clf), x), clf.decision_function(x), atol=1e-5, rtol=0
    )


def test_fit_shifts_the_log_odds_to_balanced_classes() -> None:
    bg, a, _ = _users(6)
    head = _head(bg, neg_ratio=2.0)  # 800 negatives for 400 owner items
    clf = head.classifier(a)
    x = np.concatenate([a[:50], bg[:50]])
    shift = np.log(800 / 400)
    np.testing.assert_allclose(
        -head.score(head.fit(a), x), clf.decision_function(x) + shift, atol=1e-5
    )
    plain = _head(bg, neg_ratio=2.0, prior_correction=False)
    np.testing.assert_allclose(-plain.score(plain.fit(a), x), clf.decision_function(x), atol=1e-5)


def test_state_float32_within_size_and_deterministic() -> None:
    bg, a, _ = _users(3, n=150)
    head = BoostedTreesHead(bg)  # the defaults: 200 trees of up to 31 leaves, 8 deep
    s1, s2 = head.fit(a), head.fit(a)
    assert set(s1) == {"feature", "split", "child", "root", "baseline", "depth"}
    for k, v in s1.items():
        assert v.dtype == np.float32 and v.flags.c_contiguous, k
        assert np.array_equal(v, s2[k]), k
    assert sum(v.nbytes for v in s1.values()) <= 200_000
    assert s1["root"].size == 200


def test_payload_round_trip_through_a_weights_only_file(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    bg, a, b = _users(4)
    head = _head(bg, max_depth=4, neg_ratio=1.5, seed=3)
    payload = head.payload()
    assert payload["kind"] == "boosted_trees"
    torch.save({"head": payload}, tmp_path / "bundle.pt")
    loaded = torch.load(tmp_path / "bundle.pt", weights_only=True)["head"]
    state = head.fit(a)
    for p in (loaded, {**payload, "background": bg}):  # a torch or a numpy background
        again = BoostedTreesHead.from_payload(p)
        assert again.background.dtype == np.float32 and np.array_equal(again.background, bg)
        assert {k: v for k, v in vars(again).items() if k != "background"} == {
            k: v for k, v in vars(head).items() if k != "background"
        }
        assert all(np.array_equal(v, again.fit(a)[k]) for k, v in state.items())
        np.testing.assert_array_equal(again.score(state, b), head.score(state, b))
    with pytest.raises(ValueError, match="not a boosted_trees payload"):
        BoostedTreesHead.from_payload({"kind": "distance"})


def test_bad_inputs_are_refused() -> None:
    bg, a, _ = _users(5)
    head = _head(bg)
    with pytest.raises(ValueError, match="enrollment vectors must be"):
        head.fit(a[:, :3])
    state = head.fit(a)
    with pytest.raises(ValueError, match="items must be"):
        head.score(state, a[:, :3])
    assert head.score(state, np.zeros((0, K), np.float32)).shape == (0,)
    with pytest.raises(ValueError, match="anomaly"):
        BoostedTreesHead(bg, anomaly="odds")


def test_a_small_enrollment_still_gets_a_head_that_separates() -> None:
    # A login page gives a few mouse actions per session: with as many negatives as items and
    # leaves of 20, 15 items (30 rows) allow no split at all, and the head said 0 for everyone.
    bg, a, b = _users(n=400)
    head = _head(bg, min_samples_leaf=20)
    state = head.fit(a[:15])
    genuine, impostor = head.score(state, a[300:]), head.score(state, b)
    assert np.ptp(genuine) > 0 and genuine.mean() < impostor.mean()
    assert head.training_set(a[:15])[0].shape[0] == 15 + 256
    old = _head(bg, min_samples_leaf=20, min_negatives=0)
    assert np.ptp(old.score(old.fit(a[:15]), b)) == 0  # the failure this guards against

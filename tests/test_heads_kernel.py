"""RBFSVMHead: separates users, numpy scoring equals sklearn, payload round trip, float32 state."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics.heads import Head
from biometrics.heads.kernel import RBFSVMHead, payload_nbytes, sample_background, state_nbytes
from biometrics.metrics import eer

K = 12
# Columns on very different scales, as raw stroke features (ms, px, px/ms, rad).
SCALE = np.geomspace(1e-3, 1e4, K)


def _user(rng: np.random.Generator, n: int, center: np.ndarray) -> np.ndarray:
    return ((center + rng.normal(size=(n, K))) * SCALE).astype(np.float32)


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(7)
    centers = rng.normal(scale=1.5, size=(8, K))
    bg = np.concatenate([_user(rng, 60, c) for c in centers[2:]])  # training users only
    owner, other = centers[0], centers[1]
    return {"bg": bg, "enroll": _user(rng, 120, owner), "genuine": _user(rng, 80, owner),
            "impostor": _user(rng, 80, other)}


def test_is_a_head(world):
    assert isinstance(RBFSVMHead(world["bg"]), Head)


def test_separates_two_users(world):
    head = RBFSVMHead(world["bg"])
    state = head.fit(world["enroll"])
    g, i = head.score(state, world["genuine"]), head.score(state, world["impostor"])
    assert g.shape == (80,) and i.shape == (80,)
    assert g.mean() < i.mean()  # higher = less like the owner
    assert eer(g, i) < 0.1


@pytest.mark.parametrize("kw", [{}, {"scaler": "background"}, {"gamma": 0.05, "C": 3.0}])
def test_numpy_equals_sklearn_decision_function(world, kw):
    head = RBFSVMHead(world["bg"], **kw)
    state = head.fit(world["enroll"])
    mean, std, _, clf = head.fit_estimator(world["enroll"])
    items = np.concatenate([world["genuine"], world["impostor"], world["bg"][:50]])
    ref = clf.decision_function((items.astype(np.float64) - mean) / std)
    np.testing.assert_allclose(head.score(state, items), -ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(head.decision(state, items), ref, rtol=0, atol=1e-5)


def test_fit_is_deterministic(world):
    head = RBFSVMHead(world["bg"])
    a, b = head.fit(world["enroll"]), head.fit(world["enroll"])
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_payload_round_trip(world, tmp_path):
    torch = pytest.importorskip("torch")
    head = RBFSVMHead(world["bg"], C=0.3, scaler="background")
    payload = head.payload()
    assert payload["kind"] == RBFSVMHead.kind
    assert all(isinstance(v, (str, float, torch.Tensor)) for v in payload.values())
    assert payload_nbytes(payload) == world["bg"].nbytes <= 2 * 1024 * 1024
    torch.save(payload, tmp_path / "head.pt")  # as a bundle stores it
    again = RBFSVMHead.from_payload(torch.load(tmp_path / "head.pt", weights_only=True))
    state = head.fit(world["enroll"])
    np.testing.assert_array_equal(head.score(state, world["impostor"]), again.score(state, world["impostor"]))
    for k, v in again.fit(world["enroll"]).items():
        np.testing.assert_array_equal(v, state[k])
    as_numpy = {**payload, "background": payload["background"].numpy()}
    np.testing.assert_array_equal(RBFSVMHead.from_payload(as_numpy).score(state, world["genuine"]),
                                  head.score(state, world["genuine"]))
    with pytest.raises(ValueError, match="kind"):
        RBFSVMHead.from_payload({**payload, "kind": "other"})


def test_state_is_float32_and_small(world):
    head = RBFSVMHead(world["bg"])
    state = head.fit(world["enroll"])
    for v in state.values():
        assert v.dtype == np.float32 and v.flags["C_CONTIGUOUS"]
    assert state_nbytes(state) <= 200 * 1024
    idx = state["bg_index"]
    assert np.array_equal(idx, np.round(idx)) and idx.min() >= 0 and idx.max() < len(world["bg"])
    assert state["own_sv"].shape[1] == K and len(state["own_sv"]) <= len(world["enroll"])
    # the user's own support vectors are its enrollment rows, as given
    rows = {r.tobytes() for r in world["enroll"]}
    assert all(r.tobytes() in rows for r in state["own_sv"])


def test_rejects_bad_input(world):
    head = RBFSVMHead(world["bg"])
    with pytest.raises(ValueError):
        head.fit(world["enroll"][:, :3])
    with pytest.raises(ValueError):
        head.fit(np.zeros((0, K)))
    bad = world["enroll"].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        head.fit(bad)
    with pytest.raises(ValueError):
        head.score(head.fit(world["enroll"]), np.zeros((2, K + 1)))
    with pytest.raises(ValueError):
        RBFSVMHead(world["bg"], scaler="global")


def test_sample_background_is_seeded_and_capped():
    rng = np.random.default_rng(0)
    per = {u: rng.normal(size=(n, 3)) for u, n in ((3, 10), (1, 50), (2, 5))}
    a, b = sample_background(per, 8, seed=1), sample_background(per, 8, seed=1)
    assert a.dtype == np.float32 and a.shape == (8 + 8 + 5, 3)
    np.testing.assert_array_equal(a, b)

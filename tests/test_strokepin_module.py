"""StrokePIN data module: the protocol's cells, queries and impostors on synthetic entries (fast),
and the served path on a tiny real subset (slow)."""

import numpy as np
import pytest

from biometrics.data.paths import datasets_root
from biometrics.data.strokepin import ARCHIVE, PINS, PinEntry, load_entries
from biometrics.data.strokepin_modules import (
    CELL_STRIDE,
    PinBatchSampler,
    StrokePINDataModule,
    condition_scores,
    decode_order,
    entry_tokens,
    fold_roles,
    fuse,
    protocol_report,
    summarize,
)
from biometrics.events import KeyClass, KeystrokeArrays
from biometrics.protocols import detector_scorer

N_USERS = 10


def _entry(user: int, posture: str, pin: str, start: int, rng: np.random.Generator, speed: float) -> PinEntry:
    """Six taps with a user-specific rhythm (holds and gaps scaled by ``speed``)."""
    hold = speed * (60 + 10 * rng.random(6))
    gap = speed * (150 + 30 * rng.random(6))
    down = np.cumsum(np.r_[0, gap[:5]])
    t = np.ravel(np.c_[down, down + hold])
    order = np.argsort(t, kind="stable")
    keys = KeystrokeArrays(t=t[order], is_down=np.tile([True, False], 6)[order],
                           key_class=np.full(12, int(KeyClass.MASKED), np.int8), key_bucket=np.zeros(12, np.int32),
                           press=np.repeat(np.arange(6, dtype=np.int32), 2)[order])
    return PinEntry(f"user{user}", posture, start, keys, pin)


def synthetic_entries(n_users: int = N_USERS, pins: tuple[str, ...] = PINS[:3], per_cell: int = 5) -> list[PinEntry]:
    rng = np.random.default_rng(0)
    out, start = [], 0
    for u in range(1, n_users + 1):
        speed = 0.6 + 0.1 * u
        for posture in ("sit", "walk"):
            for pin in pins:
                n = per_cell - (1 if (u == 2 and pin == pins[0]) else 0)  # one cell with 4 entries
                for _ in range(n):
                    start += 10**9
                    out.append(_entry(u, posture, pin, start, rng, speed * (1.2 if posture == "walk" else 1.0)))
    return out


@pytest.fixture(scope="module")
def dm(tmp_path_factory):
    m = StrokePINDataModule(cache_dir=tmp_path_factory.mktemp("cache"), entries=synthetic_entries(),
                            n_folds=2, n_val_users=2, fold=0)
    m.setup()
    return m


def test_folds_are_disjoint_and_cover_every_user():
    users = np.arange(1, 97)
    seen = []
    for f in range(5):
        r = fold_roles(users, f, 5, 0, 10, 0)
        assert not set(r["test"]) & set(r["val"]) | set(r["test"]) & set(r["train"]) | set(r["val"]) & set(r["train"])
        assert len(r["test"]) + len(r["val"]) + len(r["train"]) == 96 and len(r["val"]) == 10
        seen += r["test"].tolist()
    assert sorted(seen) == users.tolist()


def test_tokens_are_timing_only_and_cells_are_encoded_in_order(dm):
    data = dm.sets["test"]
    assert "key_bucket" not in dm.used_features
    assert all(t.shape == (6, dm.in_features) for t in data.tokens)
    masked = dm.used_features.index("key_masked")
    assert all(np.all(t[:, masked] == 1) for t in data.tokens)
    posture, pin, k = decode_order(data.order)
    assert set(posture) == {0, 1} and set(pin) == {0, 1, 2} and k.max() == 4
    assert dm.baseline_vectors("test").shape == (len(data), 24)
    assert np.all(data.order < 2 * len(PINS) * CELL_STRIDE)


def test_protocol_queries_and_impostors(dm):
    data = dm.sets["test"]
    users = np.unique(data.users)
    vec = np.arange(len(data), dtype=np.float64)[:, None]  # any vectors: the counts are what is checked
    raw = condition_scores(vec, data.users, data.order, detector_scorer("manhattan"))
    n_users = users.size
    # within posture: every cell of >= 4 entries, genuine = entries 4-5, impostors = the other users
    for name in ("within_sit_g1", "within_walk_g3"):
        assert len(raw[name]) == n_users * 3
        for cid, gen, imp in raw[name]:
            short = cid.startswith("2-") and cid.endswith(PINS[0])
            assert gen.size == (1 if short else 2)
            assert len(imp) == n_users - 1 and int(cid.split("-")[0]) not in imp
    # across postures: all walking entries of the same PIN are genuine
    for cid, gen, imp in raw["sit_to_walk"]:
        assert gen.size in (4, 5) and len(imp) == n_users - 1
    rep = protocol_report(raw)
    within = rep["conditions"]["within_sit_g3"]
    assert within["1"]["n_cells"] == n_users * 3
    assert within["2"]["n_cells"] == n_users * 3 - (1 if 2 in users else 0)  # mean of 2 needs entries 4 and 5
    assert rep["conditions"]["sit_to_walk"]["3"]["n_genuine"] == sum(g.size - 2 for _, g, _ in raw["sit_to_walk"])
    assert 0.0 <= rep["eer"] <= 1.0 and len(rep["per_subject"]) == 2 * n_users * 3


def test_a_perfect_score_has_zero_eer_and_fusion_keeps_it(dm):
    data = dm.sets["test"]
    vec = data.users.astype(np.float64)[:, None] * 10.0  # each user its own point
    raw = condition_scores(vec, data.users, data.order, detector_scorer("manhattan"))
    rep = protocol_report(raw)
    assert rep["eer"] == 0.0
    assert all(s["eer_pooled"] == 0.0 for by_k in rep["conditions"].values() for s in by_k.values())
    fused = protocol_report(fuse([raw, raw]))
    assert fused["eer"] == 0.0


def test_summarize_windows_never_mix_impostors():
    gen = np.array([0.0, 0.0, 0.0])
    imp = {1: np.array([1.0, 1.0]), 2: np.array([5.0])}  # user 2 has too few entries for k = 2
    s = summarize([("c", gen, imp)], k=2)
    assert s["n_genuine"] == 2 and s["n_impostor"] == 1 and s["eer_mean"] == 0.0


def test_the_synthetic_users_are_separable_by_the_classic_and_the_encoder_report_has_the_fusion(dm):
    rep = dm.evaluate_embeddings(dm.baseline_vectors("test"), "test", scorer=detector_scorer("manhattan"))
    assert rep["eer"] < 0.2  # a user's speed is its signature here
    emb = np.random.default_rng(0).normal(size=(len(dm.sets["test"]), 8)).astype(np.float32)
    enc = dm.evaluate_embeddings(emb, "test")
    assert "encoder+manhattan_scaled" in enc["variants"] and enc["eer"] > 0.2  # random embeddings


def test_pin_batches_hold_m_entries_of_classes_of_few_pins(dm):
    dm.train_label = "user_pin"
    try:
        labels = dm.train_labels()
        _, pin, _ = decode_order(dm.sets["train"].order)
        sampler = PinBatchSampler(labels, pin, batch_size=24, m=2, pins_per_batch=2, n_batches=3)
        for batch in sampler:
            assert len(set(pin[batch])) <= 2
            assert all(np.sum(labels[batch] == c) % 2 == 0 for c in set(labels[batch]))
        batch = next(iter(dm.train_dataloader()))
        assert batch["x"].shape[1:] == (6, dm.in_features)
    finally:
        dm.train_label = "user"


ROOT = datasets_root(None)


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / ARCHIVE).exists(), reason=f"{ROOT / ARCHIVE} is not there")
def test_real_entries_through_the_served_path(tmp_path):
    entries = load_entries(ROOT, max_users=6)
    assert {e.pin for e in entries} <= set(PINS) and all(len(e.pin) == 6 for e in entries)
    tok = entry_tokens(entries[0])
    assert tok.shape[0] == 6 and np.all(tok[1:, 1] > 0)  # down-down latencies of presses 2..6
    m = StrokePINDataModule(cache_dir=tmp_path, entries=entries, n_folds=3, n_val_users=1)
    m.setup()
    rep = m.evaluate_embeddings(m.baseline_vectors("test"), "test", scorer=detector_scorer("manhattan_scaled"))
    assert 0.0 <= rep["eer"] < 0.5 and rep["conditions"]["within_sit_g3"]["1"]["n_cells"] > 0


def test_heldout_pins_are_never_trained_on(tmp_path):
    m = StrokePINDataModule(cache_dir=tmp_path, entries=synthetic_entries(n_users=6, pins=PINS, per_cell=2),
                            n_folds=2, n_val_users=1, heldout_pins=7)
    m.setup()
    unseen = set(m.unseen_pins.tolist())
    assert len(unseen) == 7
    assert not set(decode_order(m.sets["train"].order)[1]) & unseen
    for s in ("val", "test"):
        assert set(decode_order(m.sets[s].order)[1]) == unseen


def test_the_experiment_composes_and_builds_this_module(tmp_path):
    from pathlib import Path

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate

    GlobalHydra.instance().clear()
    configs = str(Path(__file__).resolve().parents[1] / "configs")
    with initialize_config_dir(config_dir=configs, version_base="1.3"):
        cfg = compose("train.yaml", overrides=["experiment=strokepin_phone"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    assert cfg.folds == 5 and cfg.data.train_label == "user_pin" and cfg.data.max_len == 8
    m = instantiate(cfg.data, cache_dir=str(tmp_path), n_folds=2, n_val_users=2)
    m.entries = synthetic_entries()  # not through instantiate: it would turn the entries into configs
    m.setup()
    assert isinstance(m, StrokePINDataModule) and m.in_features == 13

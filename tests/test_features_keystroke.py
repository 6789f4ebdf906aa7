"""Keystroke pairing, latencies, tokens, batching and edge cases (hand-computed values)."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics.events import KeyClass, KeyEvent, KeystrokeArrays, Session
from biometrics.features import (
    KEYSTROKE_FEATURES,
    KeystrokeFeatureConfig,
    keystroke_presses,
    keystroke_presses_batch,
    keystroke_tokens,
    keystroke_tokens_batch,
    summary_names,
    summary_vector,
)

L, D, SP = KeyClass.LETTER, KeyClass.DIGIT, KeyClass.SEPARATOR
F = len(KEYSTROKE_FEATURES)
COL = {n: i for i, n in enumerate(KEYSTROKE_FEATURES)}


def keys(*events: tuple[float, str, int, int]) -> KeystrokeArrays:
    """Build arrays from (t ms, 'd'|'u', key class, bucket) tuples, already in time order."""
    return KeystrokeArrays(
        t=np.array([e[0] for e in events], dtype=np.float64),
        is_down=np.array([e[1] == "d" for e in events], dtype=bool),
        key_class=np.array([int(e[2]) for e in events], dtype=np.int8),
        key_bucket=np.array([e[3] for e in events], dtype=np.int32),
    )


def slog(x, scale=100.0, clip=5000.0):
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.log1p(np.minimum(np.abs(x), clip) / scale)


# Three presses: A [0, 100], B [150, 250], C [180, 300] (B and C overlap: rollover).
THREE = keys(
    (0, "d", L, 1),
    (100, "u", L, 1),
    (150, "d", L, 2),
    (180, "d", D, 3),
    (250, "u", L, 2),
    (300, "u", D, 3),
)


def test_three_presses_raw_latencies():
    p = keystroke_presses(THREE)
    assert len(p) == 3
    np.testing.assert_array_equal(p.down_t, [0, 150, 180])
    np.testing.assert_array_equal(p.up_t, [100, 250, 300])
    np.testing.assert_array_equal(p.hold, [100, 100, 120])
    np.testing.assert_array_equal(p.down_down, [0, 150, 30])
    np.testing.assert_array_equal(p.up_down, [0, 50, -70])  # rollover: negative flight
    np.testing.assert_array_equal(p.up_up, [0, 150, 50])
    np.testing.assert_array_equal(p.first, [True, False, False])
    np.testing.assert_array_equal(p.key_class, [L, L, D])
    np.testing.assert_array_equal(p.key_bucket, [1, 2, 3])
    np.testing.assert_array_equal(p.down_index, [0, 2, 3])
    assert (p.n_unmatched_down, p.n_unmatched_up, p.n_repeat_down) == (0, 0, 0)


def test_three_presses_tokens():
    tok = keystroke_tokens(THREE)
    assert tok.dtype == np.float32 and tok.shape == (3, F)
    expected_timing = np.stack(
        [slog([100, 100, 120]), slog([0, 150, 30]), slog([0, 50, -70]), slog([0, 150, 50])], axis=1
    )
    np.testing.assert_allclose(tok[:, :4], expected_timing, rtol=1e-6)
    assert tok[1, COL["up_down"]] == pytest.approx(np.log1p(0.5), rel=1e-6)
    assert tok[2, COL["up_down"]] == pytest.approx(-np.log1p(0.7), rel=1e-6)
    np.testing.assert_array_equal(tok[:, COL["first_press"]], [1, 0, 0])
    onehot = tok[:, COL["key_letter"] : COL["key_other"] + 1]
    np.testing.assert_array_equal(onehot.sum(axis=1), [1, 1, 1])
    np.testing.assert_array_equal(onehot.argmax(axis=1), [L, L, D])
    np.testing.assert_array_equal(tok[:, COL["key_bucket"]], [1, 2, 3])


def test_feature_names_and_config():
    assert KEYSTROKE_FEATURES[:5] == ("hold", "down_down", "up_down", "up_up", "first_press")
    assert len(KEYSTROKE_FEATURES) == 4 + 1 + 8 + 1
    assert KEYSTROKE_FEATURES[-1] == "key_bucket"
    cfg = KeystrokeFeatureConfig()
    assert cfg.token_range == pytest.approx(np.log1p(50.0))
    with pytest.raises(ValueError):
        KeystrokeFeatureConfig(scale_ms=0)


def test_clipping_bounds_long_latencies():
    arr = keys((0, "d", L, 1), (60_000, "u", L, 1), (3_000_000, "d", L, 2), (3_000_001, "u", L, 2))
    tok = keystroke_tokens(arr)
    cfg = KeystrokeFeatureConfig()
    assert np.abs(tok[:, :4]).max() == pytest.approx(cfg.token_range, rel=1e-6)


def test_empty_session():
    arr = keys()
    assert keystroke_tokens(arr).shape == (0, F)
    p = keystroke_presses(arr)
    assert len(p) == 0 and p.n_unmatched_down == 0
    tok, sess = keystroke_tokens_batch(arr, np.zeros(0, dtype=np.int64))
    assert tok.shape == (0, F) and sess.shape == (0,)


def test_one_key():
    only_down = keys((5, "d", L, 1))
    assert keystroke_tokens(only_down).shape == (0, F)
    assert keystroke_presses(only_down).n_unmatched_down == 1
    one = keys((5, "d", L, 1), (85, "u", L, 1))
    tok = keystroke_tokens(one)
    assert tok.shape == (1, F)
    assert tok[0, COL["hold"]] == pytest.approx(np.log1p(0.8), rel=1e-6)
    assert tok[0, COL["first_press"]] == 1
    np.testing.assert_array_equal(tok[0, 1:4], [0, 0, 0])


def test_unmatched_down_and_up_are_dropped_and_counted():
    arr = keys(
        (0, "u", L, 9), (10, "d", L, 1), (90, "u", L, 1), (100, "d", SP, 4), (200, "u", L, 7)
    )
    p = keystroke_presses(arr)
    assert len(p) == 1
    assert p.hold[0] == 80
    assert p.n_unmatched_down == 1 and p.n_unmatched_up == 2
    assert np.isfinite(keystroke_tokens(arr)).all()


def test_auto_repeat_press_runs_from_first_down():
    arr = keys(
        (0, "d", L, 1),
        (500, "d", L, 1),
        (530, "d", L, 1),
        (560, "d", L, 1),
        (600, "u", L, 1),
        (700, "d", L, 2),
        (780, "u", L, 2),
    )
    p = keystroke_presses(arr)
    np.testing.assert_array_equal(p.down_t, [0, 700])
    np.testing.assert_array_equal(p.hold, [600, 80])
    assert p.n_repeat_down == 3 and p.n_unmatched_down == 3 and p.n_unmatched_up == 0


def test_bucket_collision_rollover_keeps_both_presses():
    # Two different keys hashed to the same (class, bucket), overlapping in time.
    arr = keys((0, "d", L, 5), (40, "d", L, 5), (100, "u", L, 5), (150, "u", L, 5))
    p = keystroke_presses(arr)
    np.testing.assert_array_equal(p.down_t, [0, 40])
    np.testing.assert_array_equal(p.up_t, [100, 150])
    np.testing.assert_array_equal(p.up_down, [0, -60])


def test_rollover_of_three_keys():
    arr = keys(
        (0, "d", L, 1),
        (20, "d", L, 2),
        (40, "d", L, 3),
        (90, "u", L, 1),
        (95, "u", L, 3),
        (130, "u", L, 2),
    )
    p = keystroke_presses(arr)
    np.testing.assert_array_equal(p.key_bucket, [1, 2, 3])
    np.testing.assert_array_equal(p.hold, [90, 110, 55])
    np.testing.assert_array_equal(p.up_down, [0, 20 - 90, 40 - 130])
    np.testing.assert_array_equal(p.up_up, [0, 40, -35])


def test_zero_durations_and_identical_timestamps():
    arr = keys(
        (100, "d", L, 1),
        (100, "u", L, 1),
        (100, "d", L, 2),
        (100, "u", L, 2),
        (100, "d", SP, 0),
        (100, "u", SP, 0),
    )
    p = keystroke_presses(arr)
    assert len(p) == 3
    np.testing.assert_array_equal(p.hold, [0, 0, 0])
    np.testing.assert_array_equal(p.down_down, [0, 0, 0])
    tok = keystroke_tokens(arr)
    assert np.isfinite(tok).all()
    np.testing.assert_array_equal(tok[:, :4], 0)


def test_same_key_pressed_twice():
    arr = keys((0, "d", L, 1), (50, "u", L, 1), (120, "d", L, 1), (160, "u", L, 1))
    p = keystroke_presses(arr)
    np.testing.assert_array_equal(p.hold, [50, 40])
    np.testing.assert_array_equal(p.up_down, [0, 70])


def test_max_len_keeps_first_presses():
    arr = keys(
        *[(100.0 * i + d, "d" if d == 0 else "u", L, i % 7) for i in range(10) for d in (0, 50)]
    )
    tok = keystroke_tokens(arr, KeystrokeFeatureConfig(max_len=4))
    np.testing.assert_array_equal(tok, keystroke_tokens(arr)[:4])


def test_invalid_input_is_rejected():
    bad = keys((0, "d", L, 1), (10, "u", L, 1))
    bad = KeystrokeArrays(
        t=bad.t, is_down=bad.is_down, key_class=np.array([0, 9], np.int8), key_bucket=bad.key_bucket
    )
    with pytest.raises(ValueError, match="key_class"):
        keystroke_tokens(bad)
    with pytest.raises(ValueError):
        keystroke_tokens(
            KeystrokeArrays(
                t=np.zeros(2),
                is_down=np.zeros(3, bool),
                key_class=np.zeros(2, np.int8),
                key_bucket=np.zeros(2, np.int32),
            )
        )


def test_large_buckets_use_the_wide_key_path():
    arr = keys((0, "d", L, 60_000), (10, "d", L, 1), (50, "u", L, 60_000), (70, "u", L, 1))
    p = keystroke_presses(arr)
    np.testing.assert_array_equal(p.hold, [50, 60])


def _random_sessions(rng: np.random.Generator, n_sessions: int) -> list[KeystrokeArrays]:
    out = []
    for _ in range(n_sessions):
        n = int(rng.integers(0, 40))
        key = rng.integers(0, 6, n)  # few keys: collisions, repeats and rollover happen
        down = np.cumsum(rng.exponential(80.0, n)).round()
        up = down + rng.exponential(90.0, n).round()
        t = np.concatenate([down, up])
        d = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
        k = np.concatenate([key, key])
        drop = rng.random(2 * n) < 0.05  # lost events: unmatched downs and ups
        o = np.argsort(t, kind="stable")
        o = o[~drop[o]]
        out.append(
            KeystrokeArrays(
                t=t[o],
                is_down=d[o],
                key_class=(k[o] % 3).astype(np.int8),
                key_bucket=(k[o] // 3).astype(np.int32),
            )
        )
    return out


def _concat(sessions: list[KeystrokeArrays]) -> tuple[KeystrokeArrays, np.ndarray]:
    cat = KeystrokeArrays(
        **{
            f: np.concatenate([getattr(s, f) for s in sessions])
            for f in ("t", "is_down", "key_class", "key_bucket")
        }
    )
    ids = np.repeat(np.arange(len(sessions)) * 3 + 7, [s.t.shape[0] for s in sessions])
    return cat, ids


def test_batch_equals_per_session():
    rng = np.random.default_rng(0)
    sessions = _random_sessions(rng, 60)
    cat, ids = _concat(sessions)
    for cfg in (KeystrokeFeatureConfig(), KeystrokeFeatureConfig(max_len=5)):
        tok, sess = keystroke_tokens_batch(cat, ids, cfg)
        per = [keystroke_tokens(s, cfg) for s in sessions]
        np.testing.assert_array_equal(tok, np.concatenate(per))
        np.testing.assert_array_equal(sess, np.repeat(np.arange(60) * 3 + 7, [len(x) for x in per]))
        assert np.isfinite(tok).all()
    pb = keystroke_presses_batch(cat, ids)
    singles = [keystroke_presses(s) for s in sessions]
    np.testing.assert_array_equal(pb.hold, np.concatenate([s.hold for s in singles]))
    assert pb.n_unmatched_up == sum(s.n_unmatched_up for s in singles)
    assert pb.n_repeat_down == sum(s.n_repeat_down for s in singles)


def test_presses_never_pair_across_sessions():
    a = keys((0, "d", L, 1))
    b = keys((5, "u", L, 1))
    cat, ids = _concat([a, b])
    assert len(keystroke_presses_batch(cat, ids)) == 0


def test_matches_a_reference_loop_on_random_streams():
    """Vectorized pairing == a plain per-key FIFO-within-runs loop (the documented rule)."""
    rng = np.random.default_rng(3)
    for s in _random_sessions(rng, 80):
        expected = []
        groups: dict[tuple[int, int], list[int]] = {}
        for i in range(s.t.shape[0]):
            groups.setdefault((int(s.key_class[i]), int(s.key_bucket[i])), []).append(i)
        for idx in groups.values():
            j = 0
            while j < len(idx):
                if not s.is_down[idx[j]]:
                    j += 1
                    continue
                downs = []
                while j < len(idx) and s.is_down[idx[j]]:
                    downs.append(idx[j])
                    j += 1
                ups = []
                while j < len(idx) and not s.is_down[idx[j]]:
                    ups.append(idx[j])
                    j += 1
                expected += list(zip(downs, ups, strict=False))
        expected.sort()
        p = keystroke_presses(s)
        np.testing.assert_array_equal(p.down_index, [d for d, _ in expected])
        np.testing.assert_array_equal(p.up_t, [s.t[u] for _, u in expected])


def test_validated_session_path():
    sess = Session(
        schema_version=2,
        keystrokes=[
            KeyEvent(t=0, type="down", key_class=L, press=0),
            KeyEvent(t=90, type="up", key_class=L, press=0),
            KeyEvent(t=140, type="down", key_class=SP, press=1),
            KeyEvent(t=200, type="up", key_class=SP, press=1),
        ]
    )
    p = keystroke_presses(sess.keystroke_arrays())
    np.testing.assert_array_equal(p.hold, [90, 60])
    np.testing.assert_array_equal(p.up_down, [0, 50])


def test_summary_vector():
    tok = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]], dtype=np.float32)
    v = summary_vector(tok)
    assert v.shape == (10,)
    np.testing.assert_allclose(v[:2], [2, 3])
    np.testing.assert_allclose(v[2:4], np.std(tok, axis=0))
    np.testing.assert_allclose(v[4:6], [0.4, 1.4])  # p10
    np.testing.assert_allclose(v[6:8], [2, 3])  # p50
    np.testing.assert_allclose(v[8:10], [3.6, 4.6])  # p90
    np.testing.assert_array_equal(summary_vector(np.zeros((0, F), np.float32)), np.zeros(5 * F))
    assert summary_vector(keystroke_tokens(THREE)).shape == (5 * F,)
    names = summary_names(KEYSTROKE_FEATURES)
    assert len(names) == 5 * F and names[0] == "hold_mean" and names[-1] == "key_bucket_p90"
    with pytest.raises(ValueError):
        summary_vector(np.zeros(3))


def test_a_sessions_presses_are_paired_once_and_shared_read_only():
    """The scorer's tokens, the guards and the drift monitor of one score pair the session's
    keys once: read-only arrays keep their presses; arrays that can change are paired anew."""
    import dataclasses

    from biometrics.events import Session

    session = Session.model_validate({"schema_version": 2, "keystrokes": [
        {"t": t, "type": k, "key_class": 1, "press": i // 2} for i, (t, k) in enumerate(
            [(0, "down"), (90, "up"), (150, "down"), (230, "up"), (300, "down"), (370, "up")])]})
    arr = session.keystroke_arrays()
    p = keystroke_presses(arr)
    assert keystroke_presses(session.keystroke_arrays()) is p  # shared
    assert not p.hold.flags.writeable and not p.down_t.flags.writeable
    np.testing.assert_array_equal(keystroke_tokens(arr), _tokens_of_fresh(arr))
    writable = dataclasses.replace(arr, t=arr.t.copy())  # its own writable copy: never kept
    q = keystroke_presses(writable)
    assert q is not p and keystroke_presses(writable) is not q and q.hold.flags.writeable
    np.testing.assert_array_equal(q.hold, p.hold)
    view = np.array(arr.t)  # a read-only view of a writable array can still change under it
    ro = view[:]
    ro.flags.writeable = False
    assert keystroke_presses(dataclasses.replace(arr, t=ro)) is not keystroke_presses(dataclasses.replace(arr, t=ro))


def _tokens_of_fresh(arr):
    """Tokens of a writable copy of the arrays (paired anew)."""
    import dataclasses

    return keystroke_tokens(dataclasses.replace(arr, t=arr.t.copy()))

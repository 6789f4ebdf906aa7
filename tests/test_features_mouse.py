"""Mouse action segmentation, per-event tokens, per-action features and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics.events import POINTER_BUTTONS, POINTER_TYPES, PointerArrays, PointerEvent, Session
from biometrics.features import (
    ACTION_FEATURES,
    ACTION_TYPES,
    MOUSE_FEATURES,
    MouseFeatureConfig,
    mouse_action_ids,
    mouse_actions,
    mouse_tokens,
    mouse_tokens_and_actions,
    mouse_tokens_batch,
)

MM, PC, DD, SC = (ACTION_TYPES.index(k) for k in ("move", "point_click", "drag_drop", "scroll"))
F = len(MOUSE_FEATURES)
K = len(ACTION_FEATURES)
TOK = {n: i for i, n in enumerate(MOUSE_FEATURES)}
ACT = {n: i for i, n in enumerate(ACTION_FEATURES)}


def pointer(*events: tuple) -> PointerArrays:
    """Build arrays from (t, type, x, y[, delta_y]) tuples in time order."""
    return PointerArrays(
        t=np.array([e[0] for e in events], dtype=np.float64),
        x=np.array([e[2] for e in events], dtype=np.float64),
        y=np.array([e[3] for e in events], dtype=np.float64),
        type=np.array([POINTER_TYPES.index(e[1]) for e in events], dtype=np.int8),
        button=np.array(
            [POINTER_BUTTONS.index("left" if e[1] in ("down", "up") else "none") for e in events],
            dtype=np.int8,
        ),
        delta_y=np.array([e[4] if len(e) > 4 else 0.0 for e in events], dtype=np.float64),
    )


# MM (0-3) | 10 s pause | moves + click = PC (4-8) | moves (MM, 9-10) before a drag DD (11-14)
# | wheel run SC (15-17) | a last move MM (18).
STREAM = pointer(
    (0, "move", 0, 0),
    (10, "move", 10, 0),
    (20, "move", 20, 0),
    (30, "move", 30, 0),
    (20_000, "move", 40, 0),
    (20_010, "move", 50, 5),
    (20_020, "move", 60, 10),
    (20_030, "down", 60, 10),
    (20_100, "up", 61, 10),
    (20_200, "move", 70, 20),
    (20_210, "move", 80, 30),
    (20_220, "down", 80, 30),
    (20_240, "move", 100, 30),
    (20_260, "move", 130, 30),
    (20_280, "up", 130, 30),
    (21_000, "wheel", 130, 30, 100.0),
    (21_050, "wheel", 130, 30, 100.0),
    (21_100, "wheel", 130, 30, -53.0),
    (21_200, "move", 131, 30),
)


def test_segmentation_of_a_hand_built_stream():
    ids, types = mouse_action_ids(STREAM)
    np.testing.assert_array_equal(ids, [0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5])
    np.testing.assert_array_equal(types, [MM, PC, MM, DD, SC, MM])
    aid, feats, names = mouse_actions(STREAM)
    assert names == ACTION_FEATURES and feats.shape == (6, K)
    np.testing.assert_array_equal(aid, ids)
    onehot = feats[:, ACT["act_move"] : ACT["act_scroll"] + 1]
    np.testing.assert_array_equal(onehot.argmax(axis=1), types)
    np.testing.assert_array_equal(feats[:, ACT["n_events"]], [4, 5, 2, 4, 3, 1])
    assert feats[4, ACT["wheel_abs_sum"]] == 253.0
    tok = mouse_tokens(STREAM)
    assert tok.shape == (19, F) and tok.dtype == np.float32
    act = tok[:, TOK["act_move"] : TOK["act_scroll"] + 1].argmax(axis=1)
    np.testing.assert_array_equal(act, types[ids])
    np.testing.assert_array_equal(
        tok[:, TOK["ev_move"] : TOK["ev_wheel"] + 1].argmax(axis=1), STREAM.type
    )
    np.testing.assert_allclose(tok[:4, TOK["act_pos"]], [0, 1 / 3, 2 / 3, 1], rtol=1e-6)
    assert tok[18, TOK["act_pos"]] == 0
    assert np.isfinite(tok).all() and np.isfinite(feats).all()


def test_gap_threshold_is_configurable():
    ids, types = mouse_action_ids(STREAM, MouseFeatureConfig(action_gap_ms=60_000))
    assert ids[4] == 0  # no split at the 20 s pause any more
    np.testing.assert_array_equal(types, [PC, MM, DD, SC, MM])


def test_click_with_jitter_is_a_click_not_a_drag():
    arr = pointer(
        (0, "move", 0, 0),
        (10, "move", 5, 0),
        (20, "down", 5, 0),
        (30, "move", 7, 1),
        (40, "up", 7, 1),
    )
    _, types = mouse_action_ids(arr)
    np.testing.assert_array_equal(types, [PC])
    _, types = mouse_action_ids(arr, MouseFeatureConfig(click_slop_px=1.0))
    np.testing.assert_array_equal(types, [MM, DD])


def test_straight_line_features():
    # 5 points on a straight line at constant speed 0.5 px/ms (3-4-5 steps every 10 ms).
    arr = pointer(*[(10.0 * i, "move", 3.0 * i, 4.0 * i) for i in range(5)])
    _, f, _ = mouse_actions(arr)
    row = f[0]
    assert row[ACT["straightness"]] == pytest.approx(1.0)
    assert row[ACT["distance"]] == pytest.approx(20.0)
    assert row[ACT["end_to_end"]] == pytest.approx(20.0)
    assert row[ACT["duration"]] == 40.0
    assert row[ACT["largest_deviation"]] == pytest.approx(0.0, abs=1e-12)
    assert row[ACT["speed_mean"]] == pytest.approx(0.5)
    assert row[ACT["speed_sd"]] == pytest.approx(0.0, abs=1e-9)
    assert row[ACT["speed_max"]] == pytest.approx(0.5)
    assert row[ACT["curvature_mean"]] == 0 and row[ACT["curvature_abs_mean"]] == 0
    assert row[ACT["dir_cos"]] == pytest.approx(0.6) and row[ACT["dir_sin"]] == pytest.approx(0.8)
    assert row[ACT["dir_bin"]] == 1  # 53 degrees: sector [45, 90)
    # Acceleration from rest on the first step (0.5 / 10), then 0.
    assert row[ACT["accel_max"]] == pytest.approx(0.05)
    assert row[ACT["accel_min"]] == pytest.approx(0.0)
    assert row[ACT["accel_mean"]] == pytest.approx(0.05 / 4)
    assert row[ACT["accel_time_begin"]] == 10.0
    tok = mouse_tokens(arr)
    cfg = MouseFeatureConfig()
    np.testing.assert_allclose(tok[1:, TOK["speed"]], np.log1p(0.5 / cfg.speed_scale), rtol=1e-6)
    np.testing.assert_allclose(tok[1:, TOK["dx"]], np.log1p(3 / cfg.px_scale), rtol=1e-6)
    np.testing.assert_allclose(tok[1:, TOK["dir_cos"]], 0.6, rtol=1e-6)
    np.testing.assert_allclose(tok[1:, TOK["dir_sin"]], 0.8, rtol=1e-6)
    np.testing.assert_allclose(tok[1:, TOK["dt"]], np.log1p(10 / cfg.dt_scale_ms), rtol=1e-6)
    assert tok[1, TOK["accel"]] == pytest.approx(np.log1p(0.05 / cfg.accel_scale), rel=1e-6)
    np.testing.assert_array_equal(tok[2:, TOK["accel"]], 0)
    np.testing.assert_array_equal(tok[:, TOK["curvature"]], 0)
    np.testing.assert_array_equal(tok[0, : TOK["wheel_dy"] + 1], 0)  # first event: no step


def test_right_angle_curvature_and_deviation():
    # (0,0) -> (10,0) -> (10,10): a +90 degree turn (screen coordinates) over a 10 px step.
    arr = pointer((0, "move", 0, 0), (10, "move", 10, 0), (20, "move", 10, 10))
    _, f, _ = mouse_actions(arr)
    assert f[0, ACT["curvature_mean"]] == pytest.approx((0 + np.pi / 2 / 10) / 2)
    assert f[0, ACT["largest_deviation"]] == pytest.approx(10 / np.sqrt(2))
    assert f[0, ACT["straightness"]] == pytest.approx(np.sqrt(200) / 20)
    tok = mouse_tokens(arr)
    cfg = MouseFeatureConfig()
    assert tok[2, TOK["curvature"]] == pytest.approx(
        np.log1p(np.pi / 20 / cfg.curv_scale), rel=1e-6
    )


def test_pauses_are_counted():
    arr = pointer(
        (0, "move", 0, 0),
        (10, "move", 1, 0),
        (800, "move", 2, 0),
        (810, "move", 3, 0),
        (2000, "move", 4, 0),
    )
    _, f, _ = mouse_actions(arr)
    assert f[0, ACT["n_pauses"]] == 2


def test_empty_stream():
    arr = pointer()
    assert mouse_tokens(arr).shape == (0, F)
    ids, f, names = mouse_actions(arr)
    assert ids.shape == (0,) and f.shape == (0, K) and names == ACTION_FEATURES
    assert mouse_tokens_batch(arr, np.zeros(0, dtype=np.int64)).shape == (0, F)


def test_single_event_and_zero_length_actions():
    for arr in (
        pointer((5, "move", 1, 1)),
        pointer((5, "down", 1, 1)),
        pointer((5, "up", 1, 1)),
        pointer((5, "wheel", 1, 1, 100.0)),
    ):
        tok = mouse_tokens(arr)
        _, f, _ = mouse_actions(arr)
        assert tok.shape == (1, F) and f.shape == (1, K)
        assert np.isfinite(tok).all() and np.isfinite(f).all()
        assert f[0, ACT["straightness"]] == 0 and f[0, ACT["speed_max"]] == 0


def test_identical_timestamps_and_positions_stay_finite():
    arr = pointer(
        (0, "move", 0, 0),
        (0, "move", 0, 0),
        (0, "move", 50, 0),
        (0, "move", 50, 0),
        (0, "down", 50, 0),
        (0, "move", 90, 0),
        (0, "up", 90, 0),
        (0, "move", 90, 0),
    )
    tok = mouse_tokens(arr)
    _, f, _ = mouse_actions(arr)
    assert np.isfinite(tok).all() and np.isfinite(f).all()
    assert np.abs(tok).max() <= np.log1p(1e4) + 1e-5  # every column's documented bound
    _, types = mouse_action_ids(arr)
    np.testing.assert_array_equal(types, [MM, DD, MM])


def test_unmatched_down_and_up():
    # A press never released (session ends mid-drag) and a release without a press.
    drag = pointer((0, "move", 0, 0), (10, "down", 0, 0), (20, "move", 30, 0), (30, "move", 60, 0))
    _, types = mouse_action_ids(drag)
    np.testing.assert_array_equal(types, [MM, DD])
    stray_up = pointer((0, "move", 0, 0), (10, "move", 5, 0), (20, "up", 5, 0), (30, "move", 9, 0))
    ids, types = mouse_action_ids(stray_up)
    np.testing.assert_array_equal(ids, [0, 0, 0, 1])
    np.testing.assert_array_equal(types, [PC, MM])
    for arr in (drag, stray_up):
        assert np.isfinite(mouse_tokens(arr)).all() and np.isfinite(mouse_actions(arr)[1]).all()


def _random_session(rng: np.random.Generator, n: int) -> PointerArrays:
    t = np.cumsum(
        rng.choice([0.0, 8.0, 16.0, 900.0, 11_000.0], size=n, p=[0.05, 0.5, 0.4, 0.04, 0.01])
    )
    typ = rng.choice(4, size=n, p=[0.8, 0.07, 0.07, 0.06]).astype(np.int8)
    return PointerArrays(
        t=t,
        x=np.cumsum(rng.normal(0, 6, n)),
        y=np.cumsum(rng.normal(0, 6, n)),
        type=typ,
        button=np.zeros(n, np.int8),
        delta_y=np.where(typ == 3, rng.normal(0, 100, n), 0.0),
    )


def test_batch_equals_per_session_and_everything_is_finite():
    rng = np.random.default_rng(0)
    sessions = [_random_session(rng, int(rng.integers(0, 200))) for _ in range(40)]
    cat = PointerArrays(
        **{
            f: np.concatenate([getattr(s, f) for s in sessions])
            for f in ("t", "x", "y", "type", "button", "delta_y")
        }
    )
    ids = np.repeat(np.arange(40), [s.t.shape[0] for s in sessions])
    tok = mouse_tokens_batch(cat, ids)
    np.testing.assert_array_equal(tok, np.concatenate([mouse_tokens(s) for s in sessions]))
    assert np.isfinite(tok).all()
    assert np.abs(tok).max() <= np.log1p(1e4) + 1e-5
    for s in sessions:
        aid, f, _ = mouse_actions(s)
        assert np.isfinite(f).all()
        if s.t.shape[0]:
            assert aid[0] == 0 and np.all(np.diff(aid) >= 0) and aid[-1] == f.shape[0] - 1
            assert f[:, ACT["n_events"]].sum() == s.t.shape[0]
            assert np.all((f[:, ACT["straightness"]] >= 0) & (f[:, ACT["straightness"]] <= 1))


def test_validated_session_path_and_bad_codes():
    sess = Session(
        schema_version=2,
        pointer=[
            PointerEvent(t=0, type="move", x=0, y=0),
            PointerEvent(t=10, type="move", x=3, y=4),
            PointerEvent(t=20, type="down", x=3, y=4, button="left"),
            PointerEvent(t=90, type="up", x=3, y=4, button="left"),
        ]
    )
    _, types = mouse_action_ids(sess.pointer_arrays())
    np.testing.assert_array_equal(types, [PC])
    bad = pointer((0, "move", 0, 0))
    bad = PointerArrays(
        t=bad.t,
        x=bad.x,
        y=bad.y,
        type=np.array([7], np.int8),
        button=bad.button,
        delta_y=bad.delta_y,
    )
    with pytest.raises(ValueError, match="pointer type"):
        mouse_tokens(bad)


def test_one_pass_tokens_and_actions_equal_the_separate_calls():
    arr = _random_session(np.random.default_rng(5), 400)
    tokens, action_id, features = mouse_tokens_and_actions(arr)
    ids, feats, _ = mouse_actions(arr)
    np.testing.assert_array_equal(tokens, mouse_tokens(arr))
    np.testing.assert_array_equal(action_id, ids)
    np.testing.assert_array_equal(features, feats)

"""Touch stroke splitting, per-point tokens, Touchalytics stroke features and edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from biometrics.events import TOUCH_TYPES, Session, TouchArrays, TouchEvent
from biometrics.features import (
    STROKE_FEATURES,
    TOUCH_FEATURES,
    TOUCHALYTICS_COLUMNS,
    TouchFeatureConfig,
    stroke_features,
    touch_strokes,
    touch_tokens,
    touch_tokens_batch,
)

F = len(TOUCH_FEATURES)
S = len(STROKE_FEATURES)
TOK = {n: i for i, n in enumerate(TOUCH_FEATURES)}
SF = {n: i for i, n in enumerate(STROKE_FEATURES)}


def touch(*events: tuple) -> TouchArrays:
    """Build arrays from (t, type, x, y[, pointer_id[, pressure, area]]) tuples in time order."""

    def get(e, i, default):
        return e[i] if len(e) > i else default

    return TouchArrays(
        t=np.array([e[0] for e in events], dtype=np.float64),
        x=np.array([e[2] for e in events], dtype=np.float64),
        y=np.array([e[3] for e in events], dtype=np.float64),
        pressure=np.array([get(e, 5, 0.5) for e in events], dtype=np.float64),
        area=np.array([get(e, 6, 0.1) for e in events], dtype=np.float64),
        type=np.array([TOUCH_TYPES.index(e[1]) for e in events], dtype=np.int8),
        pointer_id=np.array([get(e, 4, 0) for e in events], dtype=np.int16),
    )


# Stroke 0: a rightward swipe at 1 px/ms; stroke 1: an upward swipe (screen y decreasing).
TWO = touch(
    (0, "start", 100, 500),
    (10, "move", 110, 500),
    (20, "move", 120, 500),
    (30, "end", 130, 500),
    (230, "start", 300, 600),
    (240, "move", 300, 580),
    (250, "end", 300, 560),
)


def test_two_strokes_split():
    order, sid = touch_strokes(TWO)
    np.testing.assert_array_equal(order, np.arange(7))
    np.testing.assert_array_equal(sid, [0, 0, 0, 0, 1, 1, 1])
    tok, sid2 = touch_tokens(TWO)
    assert tok.shape == (7, F) and tok.dtype == np.float32
    np.testing.assert_array_equal(sid2, sid)
    np.testing.assert_array_equal(tok[:, TOK["stroke_start"]], [1, 0, 0, 0, 1, 0, 0])
    cfg = TouchFeatureConfig()
    np.testing.assert_allclose(tok[1:4, TOK["dx"]], np.log1p(10 / cfg.px_scale), rtol=1e-6)
    np.testing.assert_allclose(tok[5:, TOK["dy"]], -np.log1p(20 / cfg.px_scale), rtol=1e-6)
    np.testing.assert_allclose(tok[1:4, TOK["speed"]], np.log1p(1.0 / cfg.speed_scale), rtol=1e-6)
    assert tok[4, TOK["inter_stroke"]] == pytest.approx(np.log1p(200 / cfg.gap_scale_ms), rel=1e-6)
    np.testing.assert_array_equal(tok[[0, 4], TOK["dt"]], 0)
    np.testing.assert_allclose(tok[:, TOK["pressure"]], 0.5)
    assert np.isfinite(tok).all()


def test_stroke_features_hand_values():
    f, names = stroke_features(TWO)
    assert names == STROKE_FEATURES and f.shape == (2, S)
    a, b = f
    assert a[SF["inter_stroke_time"]] == 230 and b[SF["inter_stroke_time"]] == 0
    assert a[SF["duration"]] == 30 and b[SF["duration"]] == 20
    assert (a[SF["start_x"]], a[SF["start_y"]], a[SF["stop_x"]], a[SF["stop_y"]]) == (
        100,
        500,
        130,
        500,
    )
    assert a[SF["end_to_end_dist"]] == 30 and a[SF["trajectory_length"]] == 30
    assert a[SF["end_to_end_ratio"]] == pytest.approx(1.0)
    assert a[SF["mean_resultant_length"]] == pytest.approx(1.0)
    assert a[SF["end_to_end_direction"]] == pytest.approx(0.0)
    assert b[SF["end_to_end_direction"]] == pytest.approx(np.pi / 2)  # y up: upward swipe = +90 deg
    assert b[SF["average_direction"]] == pytest.approx(np.pi / 2)
    # Touchalytics' flag labels where the content moves:
    # finger right -> 2 (left), finger up -> 3 (down).
    assert a[SF["direction_flag"]] == 2 and b[SF["direction_flag"]] == 3
    for q in ("velocity_p20", "velocity_p50", "velocity_p80", "median_velocity_last3"):
        assert a[SF[q]] == pytest.approx(1.0)
        assert b[SF[q]] == pytest.approx(2.0)
    for q in ("accel_p20", "accel_p50", "accel_p80", "median_accel_first5"):
        assert a[SF[q]] == pytest.approx(0.0)
    assert a[SF["average_velocity"]] == pytest.approx(1.0)
    assert a[SF["largest_deviation"]] == 0 and a[SF["deviation_p50"]] == 0
    assert a[SF["mid_pressure"]] == 0.5 and a[SF["mid_area"]] == pytest.approx(0.1)
    for z in ("mid_finger_orientation", "finger_orientation_change", "phone_orientation"):
        assert a[SF[z]] == 0
    assert np.isfinite(f).all()


def test_curved_stroke_velocity_acceleration_and_deviation():
    # Steps (screen coords): +10 x in 10 ms, +20 x in 10 ms, then +10 x / +10 y (down) in 10 ms.
    arr = touch(
        (0, "start", 0, 0, 0, 0.1),
        (10, "move", 10, 0, 0, 0.2),
        (20, "move", 30, 0, 0, 0.3),
        (30, "end", 40, 10, 0, 0.4),
    )
    f, _ = stroke_features(arr)
    row = f[0]
    v = np.array([1.0, 2.0, np.sqrt(200) / 10])
    acc = np.diff(v) / 10
    np.testing.assert_allclose(
        row[[SF["velocity_p20"], SF["velocity_p50"], SF["velocity_p80"]]],
        np.percentile(v, [20, 50, 80]),
    )
    np.testing.assert_allclose(
        row[[SF["accel_p20"], SF["accel_p50"], SF["accel_p80"]]], np.percentile(acc, [20, 50, 80])
    )
    assert row[SF["median_velocity_last3"]] == pytest.approx(np.median(v))
    assert row[SF["median_accel_first5"]] == pytest.approx(np.median(acc))
    # Deviation from the start-end line (0,0)-(40,10), signed as Touchalytics (y up).
    ex, ey = 40.0, -10.0
    pts = np.array([[0, 0], [10, 0], [30, 0], [40, -10]], dtype=float)
    dev = (pts[:, 0] * ey - pts[:, 1] * ex) / np.hypot(ex, ey)
    assert row[SF["largest_deviation"]] == pytest.approx(dev[np.argmax(np.abs(dev))])
    np.testing.assert_allclose(
        row[[SF["deviation_p20"], SF["deviation_p50"], SF["deviation_p80"]]],
        np.percentile(dev, [20, 50, 80]),
    )
    assert row[SF["trajectory_length"]] == pytest.approx(30 + np.sqrt(200))
    assert row[SF["mid_pressure"]] == pytest.approx(0.25)  # mean of the two middle points


def test_multi_touch_strokes_are_grouped_and_ordered_by_start():
    # Finger 1 starts first, finger 2 lands while finger 1 is still down.
    arr = touch(
        (0, "start", 0, 0, 1),
        (10, "move", 5, 0, 1),
        (15, "start", 100, 100, 2),
        (20, "move", 10, 0, 1),
        (25, "move", 100, 110, 2),
        (30, "end", 15, 0, 1),
        (35, "end", 100, 120, 2),
    )
    order, sid = touch_strokes(arr)
    np.testing.assert_array_equal(order, [0, 1, 3, 5, 2, 4, 6])
    np.testing.assert_array_equal(sid, [0, 0, 0, 0, 1, 1, 1])
    tok, _ = touch_tokens(arr)
    cfg = TouchFeatureConfig()
    np.testing.assert_allclose(tok[1:4, TOK["dx"]], np.log1p(5 / cfg.px_scale), rtol=1e-6)
    np.testing.assert_allclose(tok[5:, TOK["dy"]], np.log1p(10 / cfg.px_scale), rtol=1e-6)
    # The second stroke started 15 ms before the first one ended: negative gap.
    assert tok[4, TOK["inter_stroke"]] == pytest.approx(-np.log1p(15 / cfg.gap_scale_ms), rel=1e-6)
    f, _ = stroke_features(arr)
    np.testing.assert_array_equal(f[:, SF["start_x"]], [0, 100])
    assert f[0, SF["inter_stroke_time"]] == 15


def test_missing_start_or_end_and_pointer_reuse():
    arr = touch(
        (0, "move", 0, 0),
        (10, "move", 1, 0),
        (20, "end", 2, 0),  # no start
        (50, "start", 5, 5),
        (60, "move", 6, 5),  # no end ...
        (90, "start", 9, 9),
        (100, "end", 9, 9),
    )  # ... a new start opens a new stroke
    _, sid = touch_strokes(arr)
    np.testing.assert_array_equal(sid, [0, 0, 0, 1, 1, 2, 2])
    f, _ = stroke_features(arr)
    assert f.shape == (3, S) and np.isfinite(f).all()


def test_empty_touch():
    arr = touch()
    tok, sid = touch_tokens(arr)
    assert tok.shape == (0, F) and sid.shape == (0,)
    f, names = stroke_features(arr)
    assert f.shape == (0, S) and names == STROKE_FEATURES
    tok, sid, sess = touch_tokens_batch(arr, np.zeros(0, dtype=np.int64))
    assert tok.shape == (0, F) and sid.shape == (0,) and sess.shape == (0,)


def test_single_point_and_zero_duration_strokes():
    for arr in (
        touch((5, "start", 1, 1)),
        touch((5, "end", 1, 1)),
        touch((5, "start", 1, 1), (5, "move", 1, 1), (5, "end", 1, 1)),
        touch((5, "start", 1, 1), (5, "move", 9, 1), (5, "end", 20, 1)),
    ):
        tok, _ = touch_tokens(arr)
        f, _ = stroke_features(arr)
        assert np.isfinite(tok).all() and np.isfinite(f).all()
        assert f.shape == (1, S)
        if arr.t.shape[0] == 1:
            assert f[0, SF["end_to_end_ratio"]] == 0 and f[0, SF["average_velocity"]] == 0
    # Zero duration but movement: rates use the 1 ms floor, average velocity is 0 (undefined).
    f, _ = stroke_features(touch((5, "start", 1, 1), (5, "move", 9, 1), (5, "end", 20, 1)))
    assert f[0, SF["velocity_p50"]] == pytest.approx((8.0 + 11.0) / 2)
    assert f[0, SF["average_velocity"]] == 0


def _random_session(rng: np.random.Generator) -> TouchArrays:
    n = int(rng.integers(0, 80))
    typ = rng.choice(3, size=n, p=[0.15, 0.7, 0.15]).astype(np.int8)
    return TouchArrays(
        t=np.cumsum(rng.choice([0.0, 16.0, 300.0], size=n)),
        x=rng.uniform(0, 400, n),
        y=rng.uniform(0, 800, n),
        pressure=rng.uniform(0, 1, n),
        area=rng.uniform(0, 1, n),
        type=typ,
        pointer_id=rng.integers(0, 3, n).astype(np.int16),
    )


def test_batch_equals_per_session_and_everything_is_finite():
    rng = np.random.default_rng(0)
    sessions = [_random_session(rng) for _ in range(50)]
    cat = TouchArrays(
        **{
            k: np.concatenate([getattr(s, k) for s in sessions])
            for k in ("t", "x", "y", "pressure", "area", "type", "pointer_id")
        }
    )
    ids = np.repeat(np.arange(50) + 100, [s.t.shape[0] for s in sessions])
    tok, sid, sess = touch_tokens_batch(cat, ids)
    per = [touch_tokens(s) for s in sessions]
    np.testing.assert_array_equal(tok, np.concatenate([p[0] for p in per]))
    np.testing.assert_array_equal(
        sess, np.repeat(np.arange(50) + 100, [p[0].shape[0] for p in per])
    )
    assert np.all(np.diff(sid) >= 0)
    assert np.isfinite(tok).all()
    for s in sessions:
        order, sid1 = touch_strokes(s)
        np.testing.assert_array_equal(np.sort(order), np.arange(s.t.shape[0]))
        f, _ = stroke_features(s)
        assert np.isfinite(f).all()
        assert f.shape[0] == (sid1[-1] + 1 if sid1.size else 0)


def test_touchalytics_column_map_and_validated_session():
    assert len(TOUCHALYTICS_COLUMNS) == S == 31
    assert (
        TOUCHALYTICS_COLUMNS[0] == 3
        and 13 not in TOUCHALYTICS_COLUMNS
        and TOUCHALYTICS_COLUMNS[-1] == 34
    )
    sess = Session(
        schema_version=2,
        touch=[
            TouchEvent(t=0, type="start", x=0, y=0, pressure=0.4, area=20.0),
            TouchEvent(t=16, type="move", x=0, y=30, pressure=0.5, area=22.0),
            TouchEvent(t=32, type="end", x=0, y=60, pressure=0.3, area=18.0),
        ]
    )
    f, _ = stroke_features(sess.touch_arrays())
    assert f[0, SF["end_to_end_direction"]] == pytest.approx(-np.pi / 2)  # finger moved down
    assert f[0, SF["direction_flag"]] == 1  # content moves up
    assert f[0, SF["mid_pressure"]] == 0.5


def test_stroke_unit_options_ignore_a_feature_and_leave_out_taps():
    from biometrics.features.stroke_tokens import STROKE_TOKEN_COLUMNS
    from biometrics.modalities import MODALITIES

    events = [TouchEvent(t=t, type=k, x=x, y=y, area=a) for t, k, x, y, a in (
        (0, "start", 100, 500, 400), (10, "move", 110, 500, 420), (20, "move", 120, 500, 410),
        (30, "end", 130, 500, 400),                                   # a 30 px swipe
        (400, "start", 200, 300, 900), (480, "end", 201, 300, 900))]  # a tap
    session = Session(schema_version=2, touch=events)
    spec, area = MODALITIES["touch"], STROKE_TOKEN_COLUMNS.index("mid_area")
    plain = spec.items(session, "stroke")
    assert len(plain) == 2 and plain.features[:, area].min() > 0
    only = spec.items(session, "stroke", options={"ignore_features": ["mid_area"], "min_path_px": 20.0})
    assert len(only) == 1 and len(only.tokens) == 1 and only.features.shape[0] == 1
    assert only.features[0, area] == 0.0
    np.testing.assert_array_equal(np.delete(only.features[0], area), np.delete(plain.features[0], area))

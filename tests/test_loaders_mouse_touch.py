"""Mouse and touch loaders: conversions on hand-made rows (fast) and small real slices (slow)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from biometrics.data import balabit, serwadda, touchalytics
from biometrics.data.balabit import (
    WHEEL_NOTCH_PX,
    load_balabit,
    parse_session_text,
    read_labels,
    rows_to_pointer_arrays,
)
from biometrics.data.paths import datasets_root
from biometrics.data.serwadda import (
    consecutive_means,
    inter_session_report,
    load_serwadda,
    matrix_to_touch_arrays,
    stroke_feature_matrices,
)
from biometrics.data.touchalytics import clean_features, load_touchalytics, parse_featmat
from biometrics.events import POINTER_BUTTONS, POINTER_TYPES, TOUCH_TYPES
from biometrics.features import STROKE_FEATURES, TOUCHALYTICS_COLUMNS, mouse_actions, touch_strokes

HEADER = "record timestamp,client timestamp,button,state,x,y"


def _codes(names, table):
    return [table.index(n) for n in names]


# --- Balabit conversion ------------------------------------------------------------------


def test_balabit_states_buttons_and_time_unit():
    ev, stats = rows_to_pointer_arrays(
        np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]),
        ["NoButton", "Right", "NoButton", "Right", "Scroll", "Scroll", "Left", "Left"],
        ["Move", "Pressed", "Drag", "Released", "Down", "Up", "Pressed", "Released"],
        np.array([10, 10, 12, 12, 0, 0, 5, 5.0]),
        np.array([20, 20, 22, 22, 0, 0, 6, 6.0]),
    )
    np.testing.assert_allclose(ev.t, [0, 100, 200, 300, 400, 500, 600, 700])  # s -> ms
    assert ev.type.tolist() == _codes(
        ["move", "down", "move", "up", "wheel", "wheel", "down", "up"], POINTER_TYPES
    )
    # The drag move carries the held (right) button; the wheel has no button.
    assert ev.button.tolist() == _codes(
        ["none", "right", "right", "right", "none", "none", "left", "left"], POINTER_BUTTONS
    )
    # Wheel "Down" scrolls the page down: deltaY > 0, as browsers report it.
    assert ev.delta_y.tolist() == [0, 0, 0, 0, WHEEL_NOTCH_PX, -WHEEL_NOTCH_PX, 0, 0]
    # Wheel rows (0, 0 in the file) take the pointer's last position.
    assert ev.x[4:6].tolist() == [12, 12] and ev.y[4:6].tolist() == [22, 22]
    assert stats == {"rows": 8, "dropped_coord": 0, "reordered": 0}


def test_balabit_drag_without_recorded_press_is_left():
    ev, _ = rows_to_pointer_arrays(
        np.array([0.0, 0.1]), ["NoButton", "NoButton"], ["Drag", "Move"], np.zeros(2), np.zeros(2)
    )
    assert ev.button.tolist() == _codes(["left", "none"], POINTER_BUTTONS)


def test_balabit_glitch_rows_dropped_and_times_stably_sorted():
    ev, stats = rows_to_pointer_arrays(
        np.array([0.0, 0.2, 0.1, 0.1, 0.3]),
        ["NoButton"] * 5,
        ["Move"] * 5,
        np.array([1, 2, 3, 65535, 4.0]),
        np.array([1, 2, 3, 65535, 4.0]),
    )
    assert stats["dropped_coord"] == 1 and stats["reordered"] == 1
    np.testing.assert_allclose(ev.t, [0, 100, 200, 300])
    assert ev.x.tolist() == [1, 3, 2, 4]
    assert np.all(np.diff(ev.t) >= 0)


def test_balabit_equal_times_keep_file_order():
    ev, _ = rows_to_pointer_arrays(
        np.array([1.0, 1.0, 1.0]),
        ["Left", "NoButton", "Left"],
        ["Pressed", "Drag", "Released"],
        np.array([1, 2, 3.0]),
        np.zeros(3),
    )
    assert ev.type.tolist() == _codes(["down", "move", "up"], POINTER_TYPES)
    assert ev.x.tolist() == [1, 2, 3]


def test_balabit_unknown_state_and_bad_text_raise():
    with pytest.raises(ValueError, match="unknown Balabit state"):
        rows_to_pointer_arrays(np.zeros(1), ["NoButton"], ["Hover"], np.zeros(1), np.zeros(1))
    with pytest.raises(ValueError, match="header"):
        parse_session_text("0,0,NoButton,Move,1,1\n")
    with pytest.raises(ValueError, match="fields"):
        parse_session_text(HEADER + "\n0,0,NoButton,Move,1\n")


def test_balabit_parse_text_and_labels(tmp_path):
    ev, stats = parse_session_text(
        HEADER + "\n0.0,0.0,NoButton,Move,5,5\n0.1,0.016,Left,Pressed,5,5\n"
        "0.2,0.1,Left,Released,5,5\n"
    )
    np.testing.assert_allclose(ev.t, [0, 16, 100])
    assert stats["rows"] == 3
    path = tmp_path / "public_labels.csv"
    path.write_text("filename,is_illegal\nsession_1,1\nsession_2,0\n")
    assert read_labels(path) == {"session_1": 1, "session_2": 0}


def _add(tar: tarfile.TarFile, name: str, text: str) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def test_balabit_archive_load_and_cache(tmp_path):
    folder = tmp_path / "balabit-mouse"
    folder.mkdir()
    rows = HEADER + "\n0.0,0.0,NoButton,Move,1,1\n0.1,0.1,NoButton,Move,2,2\n"
    with tarfile.open(folder / balabit.ARCHIVE, "w:gz") as tar:
        _add(tar, "Mouse-Dynamics-Challenge/README.md", "readme")
        _add(tar, "Mouse-Dynamics-Challenge/training_files/user7/session_a", rows)
        _add(tar, "Mouse-Dynamics-Challenge/test_files/user7/session_b", rows)
        _add(tar, "Mouse-Dynamics-Challenge/test_files/user9/session_c", rows)
        _add(tar, "Mouse-Dynamics-Challenge/training_files/user9/session_d", rows)
    (folder / "public_labels.csv").write_text("filename,is_illegal\nsession_b,1\n")
    cache = tmp_path / "cache"
    first = load_balabit(tmp_path, cache)
    assert first.accounts == ["user7", "user9"]
    assert [s.name for s in first.training["user7"]] == ["session_a"]
    assert [(s.name, y) for s, y in first.labelled_test()] == [("session_b", 1)]
    assert first.stats["files"] == 4
    assert len(list(cache.glob("*.npz"))) == 1
    second = load_balabit(tmp_path, cache)  # from the cache
    a, b = first.test["user9"][0].events, second.test["user9"][0].events
    for col in ("t", "x", "y", "type", "button", "delta_y"):
        np.testing.assert_array_equal(getattr(a, col), getattr(b, col))
    only = load_balabit(tmp_path, cache, accounts=["user9"])
    assert only.accounts == ["user9"]


# --- Serwadda conversion ------------------------------------------------------------------


def _swipe_rows(user, swipe, t0, n, x0=100.0):
    t = t0 + 15.0 * np.arange(n)
    return np.column_stack(
        [
            np.full(n, user),
            np.full(n, swipe),
            x0 + 10 * np.arange(n),
            np.full(n, 200.0),
            np.full(n, 0.4),
            np.full(n, 0.1),
            t,
        ]
    )


def test_serwadda_rows_to_touch_events():
    m = np.vstack(
        [
            _swipe_rows(140, 2, 5_000.0, 3),  # file order is not time order: swipe 2 is later
            _swipe_rows(140, 1, 1_000.0, 4),
            _swipe_rows(140, 3, 9_000.0, 1),  # a one-sample swipe
            _swipe_rows(139, 1, 2_000.0, 2),
        ]
    )
    out = matrix_to_touch_arrays(m)
    assert sorted(out) == [139, 140]
    a = out[140]
    # EventTime is already ms: only shifted to start the user's session at 0.
    np.testing.assert_allclose(a.t, [0, 15, 30, 45, 4000, 4015, 4030, 8000])
    assert a.type.tolist() == _codes(
        ["start", "move", "move", "end", "start", "move", "end", "start"], TOUCH_TYPES
    )
    assert np.all(a.pointer_id == 0) and np.all(np.diff(a.t) >= 0)
    _, sid = touch_strokes(a)
    assert sid.max() + 1 == 3
    feats = stroke_feature_matrices({1: out})[1]
    assert feats[140].shape == (3, len(STROKE_FEATURES)) and feats[139].shape[0] == 1
    assert matrix_to_touch_arrays(m, users=[139]).keys() == {139}
    with pytest.raises(ValueError, match="7"):
        matrix_to_touch_arrays(m[:, :6])


def test_consecutive_means_and_report():
    np.testing.assert_allclose(consecutive_means([1, 2, 3, 4], 2), [1.5, 2.5, 3.5])
    assert consecutive_means([1, 2], 3).size == 0
    with pytest.raises(ValueError):
        consecutive_means([1.0], 0)
    rng = np.random.default_rng(0)
    genuine = {u: rng.normal(0, 1, 40) for u in range(3)}
    impostor = {u: {v: rng.normal(1, 1, 40) for v in range(3) if v != u} for u in range(3)}
    rep = inter_session_report(genuine, impostor, (1, 11))
    assert rep["eer_mean"]["11"] < rep["eer_mean"]["1"] < 0.5
    assert rep["n_users_by_strokes"] == {"1": 3, "11": 3}
    short = inter_session_report({0: np.zeros(3)}, {0: {1: np.ones(3)}}, (1, 5))
    assert "5" not in short["eer_mean"] and short["eer_mean"]["1"] == 0.0


# --- Touchalytics ---------------------------------------------------------------------------


def _featmat(rows):
    """Hand-made featMat rows: (user, doc, value of every feature column)."""
    a = np.zeros((len(rows), touchalytics.N_COLUMNS))
    for i, (user, doc, v) in enumerate(rows):
        a[i, np.asarray(TOUCHALYTICS_COLUMNS) - 1] = v
        a[i, [0, 1, 12]] = user, doc, 1
    return a


def test_touchalytics_parse_and_nan_policies():
    a = _featmat([(1, 1, 1.0), (1, 1, 3.0), (1, 1, 5.0), (1, 2, 7.0), (2, 1, 9.0)])
    a[0, 16] = np.nan  # featMat column 17 (accel_p20)
    a[3, 16] = np.inf  # the user's only stroke in document 2: the document's median fills in
    data = parse_featmat(a)
    assert data.user.tolist() == [1, 1, 1, 1, 2] and data.doc.tolist() == [1, 1, 1, 2, 1]
    j = STROKE_FEATURES.index("accel_p20")
    assert TOUCHALYTICS_COLUMNS[j] == 17
    imputed = clean_features(data, "impute")
    assert imputed.features[0, j] == 4.0  # median of the user's other doc-1 strokes (3, 5)
    assert imputed.features[3, j] == 0.0  # doc 2 has no finite value at all: 0
    assert np.isfinite(imputed.features).all()
    assert len(clean_features(data, "drop")) == 3
    kept = clean_features(data, "keep")
    assert np.isnan(kept.features[3, j]) and np.isnan(kept.features[0, j])
    with pytest.raises(ValueError, match="nan_policy"):
        clean_features(data, "mean")
    with pytest.raises(ValueError, match="34"):
        parse_featmat(a[:, :30])


def test_touchalytics_direction_from_flag():
    a = _featmat([(1, 1, 0.0)] * 4)
    a[:, 10] = [1, 2, 3, 4]  # featMat column 11: 1 up, 2 left, 3 down, 4 right
    assert parse_featmat(a).direction.tolist() == [
        "vertical",
        "horizontal",
        "vertical",
        "horizontal",
    ]


# --- real data (slow) -----------------------------------------------------------------------


def _dataset(folder: str, file: str) -> Path:
    path = datasets_root() / folder / file
    if not path.is_file():
        pytest.skip(f"{path} not found: set BIOMETRICS_DATASETS to the datasets root to run this")
    return path


@pytest.mark.slow
def test_balabit_one_account_real(tmp_path):
    _dataset(balabit.BALABIT_DIR, balabit.ARCHIVE)
    data = load_balabit(cache_dir=tmp_path, accounts=["user12"])
    assert data.accounts == ["user12"]
    assert len(data.training["user12"]) == 7 and len(data.test["user12"]) == 233
    assert len(data.labels) == 816
    labelled = data.labelled_test()
    assert len(labelled) == 105 and {y for _, y in labelled} == {0, 1}
    for s in data.training["user12"][:2] + [s for s, _ in labelled[:5]]:
        ev = s.events
        assert np.all(np.diff(ev.t) >= 0) and ev.t.shape[0] > 0
        assert ev.x.max() <= balabit.MAX_VALID_COORD and ev.y.max() <= balabit.MAX_VALID_COORD
        _, feats, _ = mouse_actions(ev)
        assert feats.shape[0] > 0 and np.isfinite(feats).all()
    assert data.stats["dropped_coord"] > 0  # the archive's 65535 glitch rows


@pytest.mark.slow
def test_serwadda_two_users_real():
    _dataset(serwadda.SERWADDA_DIR, "LandscapeSession1.mat")
    data = load_serwadda(users=[139, 140])
    assert set(data) == {1, 2} and set(data[1]) == {139, 140}
    feats = stroke_feature_matrices(data)
    for s in (1, 2):
        for u in (139, 140):
            arr = data[s][u]
            assert np.all(np.diff(arr.t) >= 0) and arr.t[0] == 0
            dt = np.diff(arr.t)[arr.type[1:] == TOUCH_TYPES.index("move")]
            assert 5 <= np.median(dt) <= 40  # ms between samples (about 60 Hz)
            assert feats[s][u].shape[0] == (arr.type == TOUCH_TYPES.index("start")).sum()


@pytest.mark.slow
def test_touchalytics_rows_real():
    _dataset(touchalytics.TOUCHALYTICS_DIR, touchalytics.FEATMAT)
    data = load_touchalytics(max_rows=300)
    assert len(data) == 300 and data.features.shape == (300, len(STROKE_FEATURES))
    assert np.isfinite(data.features).all()
    assert set(np.unique(data.features[:, touchalytics.FLAG_INDEX])) <= {1, 2, 3, 4}

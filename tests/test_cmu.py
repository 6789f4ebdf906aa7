"""CMU keystroke loader, protocol split, event rebuild, and the paper's EERs (slow, real data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biometrics.data.cmu import (
    CMU_KEY_CODES,
    CMU_KEYS,
    CmuData,
    cmu_csv_path,
    cmu_protocol_scores,
    cmu_protocol_split,
    cmu_to_keystroke_arrays,
    load_cmu,
)
from biometrics.data.key_identity import key_identity
from biometrics.data.paths import DATASETS_ENV, datasets_root
from biometrics.detectors import make_detector
from biometrics.events import KeyClass
from biometrics.metrics import per_user_summary

# Timing columns in csv order: H.<k>, then DD.<k>.<next>, UD.<k>.<next> for each key.
COLUMNS = tuple(
    col
    for i, key in enumerate(CMU_KEYS)
    for col in (
        [f"H.{key}"]
        + (
            [f"DD.{key}.{CMU_KEYS[i + 1]}", f"UD.{key}.{CMU_KEYS[i + 1]}"]
            if i + 1 < len(CMU_KEYS)
            else []
        )
    )
)

# Subject s002, session 1, rep 1 (the csv's first row), seconds.
S002_1_1 = [
    0.1491,
    0.3979,
    0.2488,
    0.1069,
    0.1674,
    0.0605,
    0.1169,
    0.2212,
    0.1043,
    0.1417,
    1.1885,
    1.0468,
    0.1146,
    1.6055,
    1.4909,
    0.1067,
    0.7590,
    0.6523,
    0.1016,
    0.2136,
    0.1120,
    0.1349,
    0.1484,
    0.0135,
    0.0932,
    0.3515,
    0.2583,
    0.1338,
    0.3509,
    0.2171,
    0.0742,
]


def _one_row(values: list[float]) -> CmuData:
    return CmuData(
        subject=np.array(["s002"]),
        session=np.array([1], dtype=np.int16),
        rep=np.array([1], dtype=np.int16),
        X=np.array([values], dtype=np.float64),
        columns=COLUMNS,
    )


def test_keystroke_arrays_of_one_row_match_hand_computed_times() -> None:
    (ks,) = cmu_to_keystroke_arrays(_one_row(S002_1_1))
    # down_0 = 0, down_i = down_{i-1} + DD, up_i = down_i + H_i (ms); no overlaps in this row.
    down = [0.0, 397.9, 565.3, 786.5, 1975.0, 3580.5, 4339.5, 4553.1, 4701.5, 5053.0, 5403.9]
    up = [149.1, 504.8, 682.2, 928.2, 2089.6, 3687.2, 4441.1, 4688.0, 4794.7, 5186.8, 5478.1]
    np.testing.assert_allclose(ks.t, np.ravel(np.column_stack([down, up])), atol=1e-9)
    np.testing.assert_array_equal(ks.is_down, np.tile([True, False], 11))
    classes = [KeyClass.SEPARATOR] + [KeyClass.LETTER] * 3 + [KeyClass.DIGIT]
    classes += [KeyClass.LETTER] * 5 + [KeyClass.ENTER]
    np.testing.assert_array_equal(ks.key_class, np.repeat(classes, 2))
    np.testing.assert_array_equal(ks.key_bucket, 0)  # the contract's classes carry no key group
    (zones,) = cmu_to_keystroke_arrays(_one_row(S002_1_1), scheme="zones")
    np.testing.assert_array_equal(zones.key_bucket[::2], [key_identity(CMU_KEY_CODES[k], "zones")[1]
                                                          for k in CMU_KEYS])
    assert (ks.t.dtype, ks.is_down.dtype, ks.key_class.dtype, ks.key_bucket.dtype) == (
        np.float64,
        np.bool_,
        np.int8,
        np.int32,
    )


def test_keystroke_arrays_sort_overlapping_keys_stably() -> None:
    # Every key held 200 ms, pressed every 100 ms: key i's up ties with key i+2's down.
    values = [0.2 if c.startswith("H.") else 0.1 for c in COLUMNS]
    (ks,) = cmu_to_keystroke_arrays(_one_row(values))
    assert np.all(np.diff(ks.t) >= 0)
    np.testing.assert_allclose(ks.t[:6], [0, 100, 200, 200, 300, 300])
    # At a tie the up of the earlier key comes first (interleaved order kept).
    np.testing.assert_array_equal(ks.is_down[:6], [True, True, False, True, False, True])
    assert ks.is_down.sum() == 11 and ks.t.size == 22


def test_datasets_root_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DATASETS_ENV, raising=False)
    default = datasets_root()
    assert default.parts[-2:] == ("shared", "datasets")
    assert default.parent.parent == Path(__file__).resolve().parents[1].parent
    monkeypatch.setenv(DATASETS_ENV, str(tmp_path))
    assert datasets_root() == tmp_path
    assert datasets_root(tmp_path / "other") == tmp_path / "other"


def test_missing_dataset_error_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="BIOMETRICS_DATASETS"):
        load_cmu(tmp_path)


@pytest.fixture(scope="module")
def cmu() -> CmuData:
    try:
        cmu_csv_path()
    except FileNotFoundError as err:
        pytest.skip(f"CMU keystroke data not available ({err})")
    return load_cmu()


@pytest.mark.slow
def test_loaded_shape_and_protocol_split(cmu: CmuData) -> None:
    assert cmu.X.shape == (20400, 31) and cmu.columns == COLUMNS
    assert len(cmu.subjects) == 51 and cmu.subjects[0] == "s002"
    np.testing.assert_array_equal(cmu.X[0], S002_1_1)
    split = cmu_protocol_split(cmu, "s002")
    assert (split.train.shape, split.genuine.shape, split.impostor.shape) == (
        (200, 31),
        (200, 31),
        (250, 31),
    )
    np.testing.assert_array_equal(split.train[0], S002_1_1)
    with pytest.raises(ValueError, match="unknown subject"):
        cmu_protocol_split(cmu, "s001")


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, published, tol",
    [
        ("Manhattan (scaled)", 0.0962, 0.002),
        ("Mahalanobis", 0.1101, 0.002),
        ("Manhattan", 0.1529, 0.002),
        ("Euclidean", 0.1706, 0.002),
        ("Nearest Neighbor (Mahalanobis)", 0.0996, 0.01),
        ("Outlier Count (z-score)", 0.1022, 0.01),
        ("SVM (one-class)", 0.1025, 0.01),
        ("Manhattan (filter)", 0.1360, 0.01),
        ("Euclidean (normed)", 0.2153, 0.01),
        ("Neural Network (auto-assoc)", 0.1614, 0.01),
    ],
)
def test_published_eer_is_reproduced(cmu: CmuData, name: str, published: float, tol: float) -> None:
    summary = per_user_summary(cmu_protocol_scores(cmu, lambda: make_detector(name)))
    assert summary["n_users"] == 51
    assert abs(summary["eer_mean"] - published) <= tol, (name, summary["eer_mean"])

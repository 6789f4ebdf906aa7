"""CMU keystroke benchmark (Killourhy & Maxion 2009, DSL-StrongPasswordData.csv).

51 subjects x 8 sessions x 50 repetitions of ``.tie5Roanl`` + Return, one row of 31
timings (seconds) per repetition: hold ``H.<key>``, down-down ``DD.<a>.<b>`` and up-down
``UD.<a>.<b>``. The file is read from the datasets root (see :mod:`biometrics.data.paths`),
never copied into the repo.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from biometrics.data.key_identity import identity_tables
from biometrics.data.paths import dataset_file
from biometrics.events import KeystrokeArrays

if TYPE_CHECKING:
    from biometrics.detectors import Detector

CMU_DIR = "cmu-keystroke"
CMU_FILE = "DSL-StrongPasswordData.csv"
N_FEATURES = 31

# The password's keys as named in the csv, in typing order.
CMU_KEYS: tuple[str, ...] = (
    "period",
    "t",
    "i",
    "e",
    "five",
    "Shift.r",
    "o",
    "a",
    "n",
    "l",
    "Return",
)

# Browser KeyboardEvent.code of each key, so the CMU rows get key classes and buckets from
# the same mapping as live sessions. "Shift.r" is the R key typed with Shift held: the csv
# times only the R key, the Shift key's own events are not recorded.
CMU_KEY_CODES: Mapping[str, str] = MappingProxyType(
    {
        "period": "Period",
        "t": "KeyT",
        "i": "KeyI",
        "e": "KeyE",
        "five": "Digit5",
        "Shift.r": "KeyR",
        "o": "KeyO",
        "a": "KeyA",
        "n": "KeyN",
        "l": "KeyL",
        "Return": "Enter",
    }
)

# Session split of the paper's protocol (section 6).
TRAIN_SESSIONS = 4  # sessions 1-4 (first 200 reps) train; 5-8 are the genuine tests
IMPOSTOR_SESSION = 1
IMPOSTOR_REPS = 5


@dataclass(frozen=True)
class CmuData:
    """The whole benchmark, rows in file order (subject, session, rep)."""

    subject: np.ndarray  # str [N], e.g. "s002"
    session: np.ndarray  # int16 [N], 1..8
    rep: np.ndarray  # int16 [N], 1..50
    X: np.ndarray  # float64 [N, 31], seconds
    columns: tuple[str, ...]  # names of the 31 timing columns

    @property
    def subjects(self) -> list[str]:
        """Distinct subject ids, sorted."""
        return sorted(np.unique(self.subject).tolist())


class CmuSplit(NamedTuple):
    """One subject's evaluation sets under the paper's protocol."""

    train: np.ndarray  # [200, 31] the subject's sessions 1-4
    genuine: np.ndarray  # [200, 31] the subject's sessions 5-8
    impostor: np.ndarray  # [250, 31] reps 1-5 of session 1 of each other subject


def cmu_csv_path(root: str | Path | None = None) -> Path:
    """Path of ``DSL-StrongPasswordData.csv`` under a datasets root (or the csv itself)."""
    return dataset_file(root, CMU_DIR, CMU_FILE)


def load_cmu(root: str | Path | None = None) -> CmuData:
    """Read the CMU benchmark csv into typed arrays (timings stay in seconds)."""
    path = cmu_csv_path(root)
    raw = np.loadtxt(path, delimiter=",", dtype=str)
    header, body = raw[0], raw[1:]
    if tuple(header[:3]) != ("subject", "sessionIndex", "rep") or header.size != 3 + N_FEATURES:
        raise ValueError(f"{path} does not look like {CMU_FILE}: unexpected header {header[:4]}...")
    return CmuData(
        subject=body[:, 0],
        session=body[:, 1].astype(np.int16),
        rep=body[:, 2].astype(np.int16),
        X=body[:, 3:].astype(np.float64),
        columns=tuple(header[3:].tolist()),
    )


def cmu_protocol_split(data: CmuData, subject: str) -> CmuSplit:
    """(train, genuine test, impostor test) for one genuine subject, as in the paper."""
    own = data.subject == subject
    if not own.any():
        raise ValueError(f"unknown subject {subject!r}; expected one of data.subjects")
    impostor = ~own & (data.session == IMPOSTOR_SESSION) & (data.rep <= IMPOSTOR_REPS)
    return CmuSplit(
        train=data.X[own & (data.session <= TRAIN_SESSIONS)],
        genuine=data.X[own & (data.session > TRAIN_SESSIONS)],
        impostor=data.X[impostor],
    )


def cmu_protocol_scores(
    data: CmuData, new_detector: Callable[[], Detector]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per subject: (genuine, impostor) anomaly scores of a fresh detector fitted on its train set."""
    scores: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for subject in data.subjects:
        split = cmu_protocol_split(data, subject)
        detector = new_detector().fit(split.train)
        scores[subject] = (detector.score(split.genuine), detector.score(split.impostor))
    return scores


def _column_block(data: CmuData, prefix: str, names: Sequence[str]) -> np.ndarray:
    """The columns ``<prefix>.<name>`` in the given order, as a [N, k] view."""
    index = {c: i for i, c in enumerate(data.columns)}
    try:
        cols = [index[f"{prefix}.{name}"] for name in names]
    except KeyError as err:
        raise ValueError(f"CMU data lack timing column {err.args[0]!r}") from err
    return data.X[:, cols]


def _key_times_ms(data: CmuData, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Key-down and key-up times [n, 11] in ms, the first key-down at 0."""
    hold = _column_block(data, "H", CMU_KEYS)[rows]
    pairs = [f"{a}.{b}" for a, b in pairwise(CMU_KEYS)]
    dd = _column_block(data, "DD", pairs)[rows]
    down = np.concatenate((np.zeros((rows.size, 1)), np.cumsum(dd, axis=1)), axis=1) * 1000.0
    up = down + hold * 1000.0
    # The csv has 0.1 ms resolution; rounding drops binary noise of the sums so that equal
    # instants compare equal.
    return np.round(down, 6), np.round(up, 6)


def cmu_to_keystroke_arrays(
    data: CmuData,
    rows: Sequence[int] | np.ndarray | None = None,
    scheme: str = "classes",
) -> list[KeystrokeArrays]:
    """Rebuild each repetition's key down/up events (ms, time order) from its H and DD timings."""
    idx = np.arange(len(data.X)) if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
    down, up = _key_times_ms(data, idx)
    n_keys = len(CMU_KEYS)
    # Interleave (down_0, up_0, down_1, up_1, ...) so a stable sort keeps the natural order
    # when an up and the next down share a timestamp.
    t = np.stack((down, up), axis=2).reshape(idx.size, 2 * n_keys)
    is_down = np.tile([True, False], n_keys)
    classes, groups = identity_tables([CMU_KEY_CODES[k] for k in CMU_KEYS], scheme, salt=b"cmu")
    key_class, key_bucket = np.repeat(classes, 2), np.repeat(groups, 2)
    press = np.repeat(np.arange(n_keys, dtype=np.int32), 2)
    order = np.argsort(t, axis=1, kind="stable")
    return [
        KeystrokeArrays(
            t=t[r, o], is_down=is_down[o], key_class=key_class[o], key_bucket=key_bucket[o],
            press=press[o],
        )
        for r, o in enumerate(order)
    ]

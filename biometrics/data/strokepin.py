"""StrokePIN (6-digit PINs typed on a phone): each PIN entry as masked key events.

Read in place from ``mobile-strokepin/strokepin-touch.tar.gz`` (never unpacked into the
repository). Following the dataset README: user77 (a copy of user67) is dropped, entries
that share a timestamp with another entry of the same user (borrowed taps) are dropped, and
so are entries without six alternating Down/Up taps. Each entry becomes one
:class:`~biometrics.events.KeystrokeArrays`: a tap's Down is a key down, its Up the key up,
every key ``masked`` (a PIN field), times in ms from the first Down. The positions,
pressure and size columns are not kept. The PIN (zero-padded, from the ``PIN`` column) is
kept as a label of the entry only, for the protocol's cells (user, PIN, posture) and its
impostors (other users typing the same PIN): it never enters the key events.
"""

from __future__ import annotations

import csv
import io
import tarfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biometrics.events import KeyClass, KeystrokeArrays

ARCHIVE = "mobile-strokepin/strokepin-touch.tar.gz"
DROP_USERS = {"user77"}
#: The 20 PINs every user typed, in the app's fixed order (the dataset README).
PINS = ("194012", "201412", "400101", "141231", "194011", "201499", "111111", "147258", "123456",
        "585520", "121940", "122914", "010140", "123114", "111940", "992914", "121212", "112233",
        "136136", "111222")
POSTURES = ("sit", "walk")


@dataclass(frozen=True)
class PinEntry:
    """One PIN entry (a login attempt): six taps as key events."""

    user: str
    posture: str  # "sit" or "walk"
    start_ns: int
    keys: KeystrokeArrays
    pin: str = ""  # the PIN typed, zero-padded to 6 digits: a label for the protocol, not a feature


def _entry_keys(rows: list[tuple[str, int]]) -> KeystrokeArrays | None:
    """Six alternating Down/Up taps -> key events; None when the entry is defective."""
    taps = [(a, t) for a, t in rows if a != "Move"]
    if len(taps) != 12 or [a for a, _ in taps] != ["Down", "Up"] * 6:
        return None
    t = np.array([tt for _, tt in taps], dtype=np.float64)
    t = (t - t[0]) / 1e6
    if np.any(np.diff(t) < 0):
        return None
    n = 12
    return KeystrokeArrays(t=t, is_down=np.array([i % 2 == 0 for i in range(n)]),
                           key_class=np.full(n, int(KeyClass.MASKED), np.int8),
                           key_bucket=np.zeros(n, np.int32), press=np.repeat(np.arange(6, dtype=np.int32), 2))


def load_entries(datasets_root: str | Path, max_users: int | None = None) -> list[PinEntry]:
    """Every clean entry of every kept user, per user in time order."""
    out: list[PinEntry] = []
    with tarfile.open(Path(datasets_root) / ARCHIVE) as tar:
        members = sorted((m for m in tar.getmembers() if m.name.endswith("_touch.csv")),
                         key=lambda m: int(Path(m.name).name.split("_")[0][4:]))
        members = [m for m in members if Path(m.name).name.split("_")[0] not in DROP_USERS][:max_users]
        for m in members:
            user = Path(m.name).name.split("_")[0]
            entries: dict[str, list[tuple[str, int]]] = defaultdict(list)
            posture: dict[str, str] = {}
            pin: dict[str, str] = {}
            owners: dict[int, set[str]] = defaultdict(set)
            reader = csv.DictReader(io.TextIOWrapper(tar.extractfile(m), encoding="utf-8-sig"))
            for row in reader:
                action = row["ACTION_TYPE"]
                kind = "Down" if action.startswith("Down") else "Up" if action.startswith("Up") else "Move"
                t = int(row["Time"])
                sid = row["Sample ID"]
                entries[sid].append((kind, t))
                posture[sid] = row["Posture"]
                pin[sid] = row["PIN"].strip().zfill(6)
                if kind != "Move":
                    owners[t].add(sid)
            shared = {s for ids in owners.values() if len(ids) > 1 for s in ids}
            kept = []
            for sid, rows in entries.items():
                if sid in shared:
                    continue
                rows.sort(key=lambda r: r[1])
                keys = _entry_keys(rows)
                if keys is not None:
                    kept.append(PinEntry(user, posture[sid], rows[0][1], keys, pin[sid]))
            out += sorted(kept, key=lambda e: e.start_ns)
    return out


#: A protocol cell, the account of the README's protocol: (user, PIN, posture).
Cell = tuple[str, str, str]


def cells_of(entries: list[PinEntry], keep: Callable[[PinEntry], bool] = lambda e: True,
             value: Callable[[PinEntry], Any] = lambda e: e) -> dict[Cell, list]:
    """``value`` of each kept entry, grouped by cell, in time order."""
    cells: dict[Cell, list] = defaultdict(list)
    for e in sorted(entries, key=lambda e: e.start_ns):
        if keep(e):
            cells[(e.user, e.pin, e.posture)].append(value(e))
    return cells


def cell_trials(cells: dict[Cell, list], enroll: int = 3, queries: int = 2
                ) -> Iterator[tuple[Cell, list, list, list]]:
    """The within-posture protocol over cells (values of :func:`cells_of`): per cell with more than
    ``enroll`` entries, (cell, its first ``enroll`` entries, the next ``queries`` as genuine queries,
    every entry of that PIN and posture by the other users as impostor queries)."""
    for (user, pin, posture), values in cells.items():
        if len(values) <= enroll:
            continue
        impostors = [v for (other, p, q), vs in cells.items() if other != user and (p, q) == (pin, posture) for v in vs]
        yield (user, pin, posture), values[:enroll], values[enroll:enroll + queries], impostors

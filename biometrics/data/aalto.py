"""Aalto "136M Keystrokes" desktop subset: raw press/release rows -> per-sentence key events.

The archive is unpacked once into a cache folder; each participant file is parsed into
:class:`~biometrics.events.KeystrokeArrays` per sentence (one sentence = one sequence in
the TypeNet protocol). Only what a key-identity scheme allows (:mod:`biometrics.data.key_identity`;
the contract's key class by default) survives parsing: the typed text columns are never
read into the result.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biometrics.data.key_identity import identity_tables, keycode_to_code
from biometrics.events import KeystrokeArrays

ARCHIVE = "aalto-desktop/aalto-desktop-dev.tar.gz"


def keycode_tables(scheme: str = "classes") -> tuple[np.ndarray, np.ndarray]:
    """Key class and key group under ``scheme`` for every JavaScript keyCode 0..255."""
    return identity_tables(keycode_to_code(), scheme, salt=b"aalto-desktop")


@dataclass(frozen=True)
class AaltoSequence:
    """One typed sentence of one participant, as key events (no text)."""

    user: int
    section: int
    keys: KeystrokeArrays


def unpack(datasets_root: Path, cache_dir: Path) -> Path:
    """Unpack the archive into ``cache_dir`` once; return the folder of participant files."""
    target = cache_dir / "keystroke-samples"
    marker = cache_dir / ".unpacked"
    if not marker.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(datasets_root / ARCHIVE) as tar:
            tar.extractall(cache_dir, filter="data")
        marker.touch()
    return target


def presses_to_events(press: np.ndarray, release: np.ndarray, key_cls: np.ndarray,
                      bucket: np.ndarray) -> KeystrokeArrays:
    """Interleave press/release times (ms) into one time-ordered down/up event stream."""
    n = press.size
    t = np.concatenate([press, release]).astype(np.float64)
    is_down = np.concatenate([np.ones(n, bool), np.zeros(n, bool)])
    # Stable sort with downs before ups at equal times keeps zero-length holds paired.
    order = np.lexsort((~is_down, t))
    return KeystrokeArrays(
        t=t[order] - (t[order][0] if n else 0.0),
        is_down=is_down[order],
        key_class=np.concatenate([key_cls, key_cls]).astype(np.int8)[order],
        key_bucket=np.concatenate([bucket, bucket]).astype(np.int32)[order],
        press=np.tile(np.arange(n, dtype=np.int32), 2)[order],
    )


def parse_participant(path: Path, tables: tuple[np.ndarray, np.ndarray]) -> list[AaltoSequence]:
    """Parse one ``<id>_keystrokes.txt`` file into its sentences, dropping defective rows.

    ``tables``: key class and key group per keyCode, from :func:`keycode_tables`.
    """
    rows = []
    with open(path, encoding="latin-1") as fh:
        next(fh, None)
        for line in fh:
            parts = line.rstrip("\r\n").split("\t")
            if len(parts) < 9:
                continue
            # Text columns may hold tabs: read ids from the front, timings from the back.
            try:
                rows.append((int(parts[0]), int(parts[1]), float(parts[-4]), float(parts[-3]),
                             int(parts[-1])))
            except ValueError:
                continue
    if not rows:
        return []
    a = np.array(rows, dtype=np.float64)
    keep = (a[:, 3] >= a[:, 2]) & (a[:, 4] >= 0) & (a[:, 4] < 256)
    a = a[keep]
    out = []
    for section in np.unique(a[:, 1]):
        s = a[a[:, 1] == section]
        s = s[np.argsort(s[:, 2], kind="stable")]
        code = s[:, 4].astype(np.int64)
        keys = presses_to_events(s[:, 2], s[:, 3], tables[0][code], tables[1][code])
        out.append(AaltoSequence(int(s[0, 0]), int(section), keys))
    return out


def iter_participant_files(folder: Path) -> list[Path]:
    """Participant files in a stable order."""
    return sorted(folder.glob("*_keystrokes.txt"), key=lambda p: int(p.name.split("_")[0]))


def load_sequences(folder: Path, tables: tuple[np.ndarray, np.ndarray], per_user: int,
                   max_users: int | None = None) -> list[AaltoSequence]:
    """The first ``per_user`` sentences of every participant who typed at least that many."""
    out = []
    for f in iter_participant_files(folder)[:max_users]:
        seqs = parse_participant(f, tables)
        if len(seqs) >= per_user:
            out.extend(seqs[:per_user])
    return out

"""Aalto "136M Keystrokes" desktop subset: raw press/release rows -> per-sentence key events.

The archive is unpacked once into a cache folder; each participant file is parsed into
:class:`~biometrics.events.KeystrokeArrays` per sentence (one sentence = one sequence in
the TypeNet protocol). Only the key *class* and a salted bucket of the JavaScript keyCode
survive parsing: the typed text columns are never read into the result.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biometrics.events import KeyClass, KeystrokeArrays, key_bucket

ARCHIVE = "aalto-desktop/aalto-desktop-dev.tar.gz"
#: Salt for the dataset's key buckets; a deployment uses its tenant's own salt.
AALTO_SALT = b"aalto-desktop"


def _keycode_class_table() -> np.ndarray:
    """KeyClass for every JavaScript keyCode 0..255."""
    table = np.full(256, KeyClass.OTHER, dtype=np.int8)
    table[65:91] = KeyClass.LETTER
    table[48:58] = KeyClass.DIGIT
    table[96:106] = KeyClass.DIGIT
    table[32] = KeyClass.SPACE
    table[[8, 46]] = KeyClass.BACKSPACE
    table[[16, 20]] = KeyClass.SHIFT
    table[13] = KeyClass.ENTER
    table[[106, 107, 109, 110, 111, *range(186, 193), *range(219, 223)]] = KeyClass.PUNCTUATION
    return table


KEYCODE_CLASS = _keycode_class_table()


def keycode_buckets(salt: bytes = AALTO_SALT) -> np.ndarray:
    """Salted bucket for every JavaScript keyCode 0..255."""
    return np.array([key_bucket(f"keyCode:{c}", salt) for c in range(256)], dtype=np.int32)


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
    )


def parse_participant(path: Path, buckets: np.ndarray) -> list[AaltoSequence]:
    """Parse one ``<id>_keystrokes.txt`` file into its sentences, dropping defective rows."""
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
        keys = presses_to_events(s[:, 2], s[:, 3], KEYCODE_CLASS[code], buckets[code])
        out.append(AaltoSequence(int(s[0, 0]), int(section), keys))
    return out


def iter_participant_files(folder: Path) -> list[Path]:
    """Participant files in a stable order."""
    return sorted(folder.glob("*_keystrokes.txt"), key=lambda p: int(p.name.split("_")[0]))

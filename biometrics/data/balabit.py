"""Balabit Mouse Dynamics Challenge: session files -> the project's own pointer events.

Fülöp, Kovács, Kurics, Windhager-Pokol (2016), *Balabit Mouse Dynamics Challenge data
set*. The archive ``balabit-mouse/balabit_mouse_dynamics_challenge.tar.gz`` is streamed in
place (never unpacked into the repo); every session file becomes a
:class:`~biometrics.events.PointerArrays`, exactly what the browser collector sends, and the
parsed arrays are cached in one ``.npz`` so a second load takes about a second.

Conversion of one session file (columns ``record timestamp, client timestamp, button,
state, x, y``), see :func:`rows_to_pointer_arrays`:

* time: the ``client timestamp`` (seconds since the session start, RDP client) times 1000
  = ms; rows are **stably** sorted by it (the client clock repeats values and, rarely,
  steps back), so equal times keep the file order;
* state -> event type: ``Move`` -> move; ``Drag`` -> move with the held button (the
  button of the last press, left if the press was not recorded); ``Pressed`` -> down;
  ``Released`` -> up; wheel ``Down`` / ``Up`` -> wheel with ``delta_y`` = +100 / -100
  (one notch; browsers report ``deltaY > 0`` when the wheel scrolls the page down, and 100
  px is Chrome's pixel-mode notch);
* button: ``NoButton`` -> none, ``Left`` -> left, ``Right`` -> right, ``Middle`` and
  ``XButton`` (a side button, once in the data; the collector has no code for it) ->
  middle, ``Scroll`` -> none on wheel rows and middle on a (rare) press or release;
* position: wheel rows carry ``x = y = 0`` in the file; they take the pointer's last known
  position (the next one at the very start), as a browser's ``WheelEvent`` does;
* glitches: rows with ``x`` or ``y`` above :data:`MAX_VALID_COORD` (the dataset's known
  65535 / 65535 rows) or below 0 are dropped before anything else.
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import numpy as np

from biometrics.data.paths import datasets_root
from biometrics.events import POINTER_BUTTONS, POINTER_TYPES, PointerArrays

BALABIT_DIR = "balabit-mouse"
ARCHIVE = "balabit_mouse_dynamics_challenge.tar.gz"
LABELS_FILE = "public_labels.csv"
SPLITS = ("training", "test")
#: Rows with a coordinate above this (the dataset's 65535 glitch rows) are dropped.
MAX_VALID_COORD = 65_000.0
#: ``delta_y`` of one wheel notch (px, browser convention: > 0 scrolls the page down).
WHEEL_NOTCH_PX = 100.0
#: Bump when the conversion changes, so stale caches are rebuilt.
CACHE_VERSION = 1

_MOVE, _DOWN, _UP, _WHEEL = (POINTER_TYPES.index(k) for k in ("move", "down", "up", "wheel"))
_NONE, _LEFT, _RIGHT, _MIDDLE = (
    POINTER_BUTTONS.index(k) for k in ("none", "left", "right", "middle")
)
# state -> (event type, wheel sign)
_STATES = {
    "Move": (_MOVE, 0.0),
    "Drag": (_MOVE, 0.0),
    "Pressed": (_DOWN, 0.0),
    "Released": (_UP, 0.0),
    "Down": (_WHEEL, 1.0),
    "Up": (_WHEEL, -1.0),
}
_BUTTONS = {
    "NoButton": _NONE,
    "Left": _LEFT,
    "Right": _RIGHT,
    "Middle": _MIDDLE,
    "XButton": _MIDDLE,
    "Scroll": _NONE,
}
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class BalabitSession:
    """One session file of one account, as pointer events."""

    account: str  # the account folder, e.g. "user12"
    name: str  # the file name, e.g. "session_0032069206" (the key of the labels)
    events: PointerArrays


@dataclass(frozen=True)
class BalabitData:
    """The whole challenge: per-account training and test sessions, and the public labels."""

    training: dict[str, list[BalabitSession]]  # account -> its owner's long sessions
    test: dict[str, list[BalabitSession]]  # account -> sessions recorded under it
    labels: dict[str, int]  # test session name -> 1 illegal (another user), 0 legal
    stats: dict[str, int] = field(default_factory=dict)  # rows read, dropped, ...

    @property
    def accounts(self) -> list[str]:
        """Account folder names, sorted by their number."""
        return sorted(self.training, key=_account_number)

    def labelled_test(self, account: str | None = None) -> list[tuple[BalabitSession, int]]:
        """(session, is_illegal) for the labelled test sessions (of one account, or all)."""
        accounts = self.accounts if account is None else [account]
        return [
            (s, self.labels[s.name])
            for a in accounts
            for s in self.test.get(a, [])
            if s.name in self.labels
        ]


def _account_number(account: str) -> int:
    digits = "".join(ch for ch in account if ch.isdigit())
    return int(digits) if digits else 0


def balabit_dir(root: str | Path | None = None) -> Path:
    """The ``balabit-mouse`` folder under a datasets root (or that folder itself)."""
    base = datasets_root(root)
    for candidate in (base / BALABIT_DIR, base):
        if (candidate / ARCHIVE).is_file():
            return candidate
    raise FileNotFoundError(
        f"{ARCHIVE} not found under {base} (looked in {base / BALABIT_DIR}); pass the datasets "
        "root, or set BIOMETRICS_DATASETS to the folder that holds balabit-mouse/"
    )


def default_cache_dir() -> Path:
    """``<project root>/.cache/balabit`` (git-ignored)."""
    return _PROJECT_ROOT / ".cache" / "balabit"


# --- conversion -----------------------------------------------------------------------------


def rows_to_pointer_arrays(
    client_s: np.ndarray,
    button: Iterable[str],
    state: Iterable[str],
    x: np.ndarray,
    y: np.ndarray,
) -> tuple[PointerArrays, dict[str, int]]:
    """One session's columns (client time in s, button, state, x, y) -> events and counts.

    Returns the :class:`PointerArrays` (time order, ms) and ``{"rows", "dropped_coord",
    "reordered"}``: rows read, glitch rows dropped, rows whose time stepped back.
    """
    t_s = np.asarray(client_s, dtype=np.float64)
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    btn_s = np.asarray(list(button), dtype=object)
    st_s = np.asarray(list(state), dtype=object)
    n = t_s.shape[0]
    if not (xs.shape == ys.shape == btn_s.shape == st_s.shape == (n,)):
        raise ValueError("client time, button, state, x and y must be 1-D columns of one length")
    typ, sign = _map_states(st_s)
    btn = _map_buttons(btn_s)
    ok = (
        np.isfinite(t_s)
        & np.isfinite(xs)
        & np.isfinite(ys)
        & (xs >= 0)
        & (ys >= 0)
        & (xs <= MAX_VALID_COORD)
        & (ys <= MAX_VALID_COORD)
    )
    stats = {"rows": int(n), "dropped_coord": int(n - ok.sum())}
    t_s, xs, ys, typ, sign, btn, st_s = (a[ok] for a in (t_s, xs, ys, typ, sign, btn, st_s))
    t = np.round(t_s * 1000.0, 3)
    order = np.argsort(t, kind="stable")
    stats["reordered"] = int((np.diff(t) < 0).sum()) if t.size > 1 else 0
    t, xs, ys, typ, sign, btn = (a[order] for a in (t, xs, ys, typ, sign, btn))
    is_drag = (st_s == "Drag")[order]
    is_wheel = typ == _WHEEL

    # A press or release of the wheel button is a middle click; the wheel itself has no button.
    btn = np.where((btn_s[ok][order] == "Scroll") & ((typ == _DOWN) | (typ == _UP)), _MIDDLE, btn)
    # Drag moves carry the held button: the button of the last down (reset by an up).
    if is_drag.any():
        idx = np.arange(t.shape[0])
        clicky = (typ == _DOWN) | (typ == _UP)
        last = np.maximum.accumulate(np.where(clicky, idx, -1))
        held = np.where(
            (last >= 0) & (typ[np.maximum(last, 0)] == _DOWN), btn[np.maximum(last, 0)], _NONE
        )
        btn = np.where(is_drag, np.where(held != _NONE, held, _LEFT), btn)

    # Wheel rows take the pointer's last known position (the next one before any is known).
    if is_wheel.any() and not is_wheel.all():
        idx = np.arange(t.shape[0])
        prev = np.maximum.accumulate(np.where(~is_wheel, idx, -1))
        nxt = np.minimum.accumulate(np.where(~is_wheel, idx, t.shape[0])[::-1])[::-1]
        src = np.where(prev >= 0, prev, nxt)
        xs = np.where(is_wheel, xs[src], xs)
        ys = np.where(is_wheel, ys[src], ys)
    elif is_wheel.all():
        xs = np.zeros_like(xs)
        ys = np.zeros_like(ys)

    arrays = PointerArrays(
        t=t,
        x=xs,
        y=ys,
        type=typ.astype(np.int8),
        button=btn.astype(np.int8),
        delta_y=sign * WHEEL_NOTCH_PX,
    )
    return arrays, stats


def _map_states(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, inv = np.unique(states.astype(str), return_inverse=True)
    unknown = [s for s in uniq if s not in _STATES]
    if unknown:
        raise ValueError(f"unknown Balabit state(s) {unknown}; expected one of {sorted(_STATES)}")
    typ = np.array([_STATES[s][0] for s in uniq], dtype=np.int8)
    sign = np.array([_STATES[s][1] for s in uniq], dtype=np.float64)
    return typ[inv], sign[inv]


def _map_buttons(buttons: np.ndarray) -> np.ndarray:
    uniq, inv = np.unique(buttons.astype(str), return_inverse=True)
    unknown = [b for b in uniq if b not in _BUTTONS]
    if unknown:
        raise ValueError(f"unknown Balabit button(s) {unknown}; expected one of {sorted(_BUTTONS)}")
    return np.array([_BUTTONS[b] for b in uniq], dtype=np.int8)[inv]


def parse_session_text(text: str) -> tuple[PointerArrays, dict[str, int]]:
    """One session file's text (with its header line) -> events and counts."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("record timestamp"):
        raise ValueError("not a Balabit session file: the header 'record timestamp,...' is missing")
    rows = [line.split(",") for line in lines[1:] if line]
    bad = next((i for i, r in enumerate(rows) if len(r) != 6), None)
    if bad is not None:
        raise ValueError(f"Balabit session row {bad + 1} has {len(rows[bad])} fields, expected 6")
    if not rows:
        empty = np.zeros(0)
        return rows_to_pointer_arrays(empty, [], [], empty, empty)
    _, client, button, state, x, y = zip(*rows)
    return rows_to_pointer_arrays(
        np.array(client, dtype=np.float64),
        button,
        state,
        np.array(x, dtype=np.float64),
        np.array(y, dtype=np.float64),
    )


def read_labels(path: str | Path) -> dict[str, int]:
    """``public_labels.csv`` -> {session file name: 1 illegal / 0 legal}."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or set(reader.fieldnames) < {"filename", "is_illegal"}:
            raise ValueError(f"{path} lacks the columns filename,is_illegal")
        return {row["filename"]: int(float(row["is_illegal"])) for row in reader}


# --- archive and cache ----------------------------------------------------------------------


def _member_key(name: str) -> tuple[str, str, str] | None:
    """``.../<split>_files/<account>/<session>`` -> (split, account, session), else None."""
    parts = name.split("/")
    if len(parts) < 3 or not parts[-1].startswith("session_"):
        return None
    folder = parts[-3]
    split = folder[: -len("_files")] if folder.endswith("_files") else None
    if split not in SPLITS:
        return None
    return split, parts[-2], parts[-1]


def iter_archive(
    archive: str | Path, accounts: Iterable[str] | None = None
) -> Iterator[tuple[str, BalabitSession, dict[str, int]]]:
    """Stream (split, session, counts) out of the challenge archive, in archive order."""
    wanted = None if accounts is None else set(accounts)
    with tarfile.open(archive, mode="r:gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            key = _member_key(member.name)
            if key is None or (wanted is not None and key[1] not in wanted):
                continue
            fh = tar.extractfile(member)
            if fh is None:
                continue
            text = io.TextIOWrapper(fh, encoding="utf-8").read()
            try:
                events, stats = parse_session_text(text)
            except ValueError as err:
                raise ValueError(f"{member.name}: {err}") from err
            yield key[0], BalabitSession(key[1], key[2], events), stats


_COLS = ("t", "x", "y", "type", "button", "delta_y")
_STORE_DTYPES = {
    "t": np.float64,
    "x": np.float32,
    "y": np.float32,
    "type": np.int8,
    "button": np.int8,
    "delta_y": np.float32,
}


def _save_cache(path: Path, sessions: list[tuple[str, BalabitSession]], stats: dict) -> None:
    lengths = np.array([s.events.t.shape[0] for _, s in sessions], dtype=np.int64)
    cols = {
        c: np.concatenate([getattr(s.events, c) for _, s in sessions]).astype(_STORE_DTYPES[c])
        if sessions
        else np.zeros(0, _STORE_DTYPES[c])
        for c in _COLS
    }
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        lengths=lengths,
        split=np.array([sp for sp, _ in sessions]),
        account=np.array([s.account for _, s in sessions]),
        name=np.array([s.name for _, s in sessions]),
        stats=np.array(json.dumps(stats)),
        **cols,
    )
    tmp.replace(path)


def _load_cache(path: Path) -> tuple[list[tuple[str, BalabitSession]], dict]:
    z = np.load(path)
    bounds = np.concatenate([[0], np.cumsum(z["lengths"])])
    cols = {c: z[c].astype(np.float64) if c in ("x", "y", "delta_y") else z[c] for c in _COLS}
    out = []
    for i, (a, b) in enumerate(pairwise(bounds)):
        ev = PointerArrays(**{c: cols[c][a:b] for c in _COLS})
        out.append(
            (str(z["split"][i]), BalabitSession(str(z["account"][i]), str(z["name"][i]), ev))
        )
    return out, json.loads(str(z["stats"]))


def _cache_path(cache_dir: Path, archive: Path, accounts: Iterable[str] | None) -> Path:
    st = archive.stat()
    tag = "all" if accounts is None else "-".join(sorted(accounts))
    return cache_dir / f"balabit_v{CACHE_VERSION}_{st.st_size}_{tag}.npz"


def load_balabit(
    root: str | Path | None = None,
    cache_dir: str | Path | None = None,
    accounts: Iterable[str] | None = None,
) -> BalabitData:
    """Every session (of all accounts, or of ``accounts`` like ``["user12"]``) plus the labels.

    The first call streams the archive (about 20 s for all 1,676 files) and writes the
    parsed arrays to ``cache_dir`` (default ``<project>/.cache/balabit``); later calls read
    that ``.npz``.
    """
    folder = balabit_dir(root)
    archive = folder / ARCHIVE
    accounts = None if accounts is None else sorted(set(accounts))
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = _cache_path(cache, archive, accounts)
    if path.is_file():
        sessions, stats = _load_cache(path)
    else:
        sessions, stats = [], {"files": 0, "rows": 0, "dropped_coord": 0, "reordered": 0}
        for split, session, counts in iter_archive(archive, accounts):
            sessions.append((split, session))
            stats["files"] += 1
            for k, v in counts.items():
                stats[k] += v
        sessions.sort(key=lambda p: (p[0], _account_number(p[1].account), p[1].name))
        cache.mkdir(parents=True, exist_ok=True)
        _save_cache(path, sessions, stats)
    training: dict[str, list[BalabitSession]] = {}
    test: dict[str, list[BalabitSession]] = {}
    for split, session in sessions:
        (training if split == "training" else test).setdefault(session.account, []).append(session)
    labels_path = folder / LABELS_FILE
    labels = read_labels(labels_path) if labels_path.is_file() else {}
    return BalabitData(training=training, test=test, labels=labels, stats=stats)

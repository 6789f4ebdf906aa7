"""Keystroke dynamics: key down/up events -> presses -> per-press float32 tokens.

Pairing (vectorized, no per-event loop): events are stable-sorted by their press id (the
session contract numbers each press, so a down and its up are named exactly, whatever the
key) or, for arrays without press ids, by key identity ``(key_class, key_bucket)``; the
sort keeps time order inside each group. Within one key (and one
session) the events then form alternating runs of downs and ups, and the k-th down of a run
is paired with the k-th up of the run right after it (first in, first out):

* the usual ``down, up`` is one press;
* auto-repeat ``down, down, down, up`` is one press from the *first* down to the up, the
  repeat downs are dropped (counted in :attr:`Presses.n_repeat_down`);
* two different keys that share a class and hash bucket and overlap in time
  (``d_a, d_b, u_a, u_b``) still give two presses;
* rollover of different keys needs nothing special (they sort into different groups);
* a down that is never released and an up with no down are dropped and counted.

Presses are ordered by down time. Per press the latencies to the *previous press* are
(ms): hold = up - down, down_down = down - prev down, up_down = down - prev up (the flight
time, negative under rollover) and up_up = up - prev up; the first press of a session has
0 for the three inter-key latencies and ``first_press = 1``.

Tokens (``KEYSTROKE_FEATURES``): the four latencies through
``sign(x) * log1p(min(|x|, clip_ms) / scale_ms)`` (range ``+-log1p(clip_ms / scale_ms)``,
about +-3.93 with the defaults), the first-press flag, a one-hot of the 8 key classes and
the raw hash bucket id as a float (for an embedding lookup; 0..N_KEY_BUCKETS-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biometrics.events import N_KEY_CLASSES, KeyClass, KeystrokeArrays
from biometrics.features._util import (
    check_codes,
    check_lengths,
    check_session,
    session_starts,
    signed_log,
)

TIMING_FEATURES: tuple[str, ...] = ("hold", "down_down", "up_down", "up_up")
KEY_CLASS_FEATURES: tuple[str, ...] = tuple(f"key_{c.name.lower()}" for c in KeyClass)
KEYSTROKE_FEATURES: tuple[str, ...] = (
    *TIMING_FEATURES,
    "first_press",
    *KEY_CLASS_FEATURES,
    "key_bucket",
)
"""Token columns: 4 log-scaled latencies, first-press flag, 8 key-class one-hots, bucket id."""

_N_TOKEN = len(KEYSTROKE_FEATURES)
_ONEHOT0 = KEYSTROKE_FEATURES.index(KEY_CLASS_FEATURES[0])


@dataclass(frozen=True)
class KeystrokeFeatureConfig:
    """How latencies become token values.

    ``scale_ms``: the log scale (a latency of ``scale_ms`` maps to log 2 = 0.69);
    ``clip_ms``: latencies are clipped to ``[-clip_ms, clip_ms]`` first, so every timing
    column lies in ``+-log1p(clip_ms / scale_ms)``; ``max_len``: keep only the first
    ``max_len`` presses of a session (``None``: all).
    """

    scale_ms: float = 100.0
    clip_ms: float = 5000.0
    max_len: int | None = None

    def __post_init__(self) -> None:
        if not (self.scale_ms > 0 and self.clip_ms > 0):
            raise ValueError(
                f"scale_ms and clip_ms must be > 0, got {self.scale_ms}, {self.clip_ms}"
            )
        if self.max_len is not None and self.max_len < 0:
            raise ValueError(f"max_len must be >= 0 or None, got {self.max_len}")

    @property
    def token_range(self) -> float:
        """Largest absolute value a timing column can take."""
        return float(np.log1p(self.clip_ms / self.scale_ms))


@dataclass(frozen=True)
class Presses:
    """Key presses in down-time order with raw latencies in ms (all arrays ``[P]``)."""

    down_t: np.ndarray  # float64, ms
    up_t: np.ndarray  # float64, ms
    hold: np.ndarray  # float64, up - down
    down_down: np.ndarray  # float64, down - previous down (0 on a first press)
    up_down: np.ndarray  # float64, down - previous up (flight; < 0 under rollover)
    up_up: np.ndarray  # float64, up - previous up
    first: np.ndarray  # bool, first press of its session
    key_class: np.ndarray  # int8
    key_bucket: np.ndarray  # int32
    down_index: np.ndarray  # int64, index of the press's down event in the input arrays
    session: np.ndarray  # int64, session id of the press (0 without session ids)
    n_unmatched_down: int  # downs never released (auto-repeat extras included)
    n_unmatched_up: int  # ups with no down to pair with
    n_repeat_down: int  # downs arriving while the same (class, bucket) key was already down

    def __len__(self) -> int:
        return int(self.down_t.shape[0])


def _key_ids(key_class: np.ndarray, key_bucket: np.ndarray) -> np.ndarray:
    """Dense key identity per event: uint16 when it fits (radix sort), else int64."""
    if key_bucket.size == 0:
        return np.zeros(0, dtype=np.uint16)
    if int(key_bucket.min()) < 0:
        raise ValueError(f"key_bucket must be >= 0, got {int(key_bucket.min())}")
    n_buckets = int(key_bucket.max()) + 1
    if N_KEY_CLASSES * n_buckets <= 1 << 16:
        kid = key_class.astype(np.uint16)
        kid *= np.uint16(n_buckets)
        kid += key_bucket.astype(np.uint16)
        return kid
    return key_class.astype(np.int64) * n_buckets + key_bucket


def _pair(
    t: np.ndarray, is_down: np.ndarray, kid: np.ndarray, session: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Pair downs with ups per key (FIFO within runs): (down idx, up idx, n repeat downs)."""
    n = t.shape[0]
    order = np.argsort(kid, kind="stable")
    ks = kid[order]
    ds = is_down[order]
    newgrp = np.empty(n, dtype=bool)
    newgrp[0] = True
    np.not_equal(ks[1:], ks[:-1], out=newgrp[1:])
    if session is not None:
        ss = session[order]
        newgrp[1:] |= ss[1:] != ss[:-1]
    same = ~newgrp[1:]  # sorted j and j+1 belong to one key of one session
    same_type = ds[1:] == ds[:-1]
    stacked = same & same_type  # two downs (or two ups) in a row for one key
    n_repeat = int(np.count_nonzero(stacked & ds[1:]))
    if not stacked.any():
        # Common case: every key alternates down, up, down, up: a press is a down
        # immediately followed (within its key) by an up.
        dpos = np.flatnonzero(same & ds[:-1] & ~ds[1:])
        upos = dpos + 1
    else:
        runstart = newgrp.copy()
        runstart[1:] |= ~same_type
        rs = np.flatnonzero(runstart)
        run_id = np.cumsum(runstart) - 1
        run_len = np.diff(np.append(rs, n))
        # An up run pairs with the run before it when that is a down run of the same key.
        pairs_prev = np.zeros(rs.shape[0], dtype=bool)
        pairs_prev[1:] = ~ds[rs[1:]] & ~newgrp[rs[1:]]
        ups = np.flatnonzero(~ds)
        r = run_id[ups]
        rank = ups - rs[r]
        ok = pairs_prev[r] & (rank < run_len[np.maximum(r - 1, 0)])
        upos = ups[ok]
        dpos = rs[r[ok] - 1] + rank[ok]
    return order[dpos], order[upos], n_repeat


def _presses(arr: KeystrokeArrays, session: np.ndarray | None) -> Presses:
    """Shared single-session / batched press extraction."""
    n = check_lengths(
        "KeystrokeArrays",
        t=arr.t,
        is_down=arr.is_down,
        key_class=arr.key_class,
        key_bucket=arr.key_bucket,
    )
    session = check_session(session, n)
    check_codes("key_class", arr.key_class, N_KEY_CLASSES)
    t = np.asarray(arr.t, dtype=np.float64)
    is_down = np.asarray(arr.is_down, dtype=bool)
    n_down = int(np.count_nonzero(is_down))
    if n == 0:
        down_idx = up_idx = np.zeros(0, dtype=np.int64)
        n_repeat = 0
    else:
        # A press id (the contract's) names a down and its up exactly; without one, pair by key.
        kid = _key_ids(arr.key_class, arr.key_bucket) if arr.press is None else np.asarray(arr.press)
        down_idx, up_idx, n_repeat = _pair(t, is_down, kid, session)
    n_press = down_idx.shape[0]
    # Order presses by down time without a sort: scatter onto the event axis.
    mask = np.zeros(n, dtype=bool)
    mask[down_idx] = True
    up_at = np.empty(n, dtype=np.float64)
    up_at[down_idx] = t[up_idx]
    pidx = np.flatnonzero(mask)
    down_t = t[pidx]
    up_t = up_at[pidx]
    sess = (
        session[pidx].astype(np.int64) if session is not None else np.zeros(n_press, dtype=np.int64)
    )
    first = session_starts(sess if session is not None else None, n_press)
    hold = up_t - down_t
    dd = np.empty(n_press)
    ud = np.empty(n_press)
    uu = np.empty(n_press)
    if n_press:
        dd[0] = ud[0] = uu[0] = 0.0
        np.subtract(down_t[1:], down_t[:-1], out=dd[1:])
        np.subtract(down_t[1:], up_t[:-1], out=ud[1:])
        np.subtract(up_t[1:], up_t[:-1], out=uu[1:])
        if session is not None:
            dd[first] = 0.0
            ud[first] = 0.0
            uu[first] = 0.0
    return Presses(
        down_t=down_t,
        up_t=up_t,
        hold=hold,
        down_down=dd,
        up_down=ud,
        up_up=uu,
        first=first,
        key_class=np.asarray(arr.key_class)[pidx].astype(np.int8, copy=False),
        key_bucket=np.asarray(arr.key_bucket)[pidx].astype(np.int32, copy=False),
        down_index=pidx,
        session=sess,
        n_unmatched_down=n_down - n_press,
        n_unmatched_up=(n - n_down) - n_press,
        n_repeat_down=n_repeat,
    )


def _keep_first(p: Presses, max_len: int | None) -> np.ndarray | None:
    """Indices of presses whose rank within their session is < max_len (None: keep all)."""
    if max_len is None:
        return None
    starts = np.flatnonzero(p.first)
    counts = np.diff(np.append(starts, len(p)))
    if counts.size == 0 or counts.max() <= max_len:
        return None
    rank = np.arange(len(p)) - np.repeat(starts, counts)
    return np.flatnonzero(rank < max_len)


def _tokens(p: Presses, cfg: KeystrokeFeatureConfig) -> np.ndarray:
    """Presses -> float32 tokens ``[P, len(KEYSTROKE_FEATURES)]``."""
    n = len(p)
    lat = np.empty((4, n), dtype=np.float64)
    lat[0] = p.hold
    lat[1] = p.down_down
    lat[2] = p.up_down
    lat[3] = p.up_up
    lat = signed_log(lat, cfg.scale_ms, cfg.clip_ms)
    out = np.zeros((n, _N_TOKEN), dtype=np.float32)
    out[:, :4] = lat.T
    out[:, 4] = p.first
    out[np.arange(n), _ONEHOT0 + p.key_class] = 1.0
    out[:, _N_TOKEN - 1] = p.key_bucket
    return out


def keystroke_presses(arr: KeystrokeArrays) -> Presses:
    """Pair one session's key downs and ups into presses with raw ms latencies.

    Arrays nothing can change (every array read-only, over memory no writable array shares: a
    session's own, :meth:`biometrics.events.Session.keystroke_arrays`) are paired once, and the
    presses are kept with them: the scorer's tokens, the guards and the drift monitor of one
    score share them (four pairings a score before). Those presses' arrays are read-only.
    """
    held = arr.__dict__.get(_PRESSES)
    if held is not None:
        return held
    p = _presses(arr, None)
    if _unchangeable(arr):
        for a in vars(p).values():
            if isinstance(a, np.ndarray):
                a.flags.writeable = False
        arr.__dict__[_PRESSES] = p  # not a field: equality, repr and replace() ignore it
    return p


_PRESSES = "_keystroke_presses"


def password_run(p: Presses) -> np.ndarray:
    """Indices of the last run of masked presses (the password field: a sensitive field's keys,
    typed with no other key between them); empty when there is none."""
    masked = np.flatnonzero(p.key_class == KeyClass.MASKED)
    breaks = np.flatnonzero(np.diff(masked) > 1)  # another field's presses between two runs
    return masked[breaks[-1] + 1:] if breaks.size else masked


def _unchangeable(arr: KeystrokeArrays) -> bool:
    """Whether no array of ``arr`` can change: read-only, and no writable array (or writable
    buffer) under any of them."""
    for a in vars(arr).values():
        if a is None or not isinstance(a, np.ndarray):
            continue
        while isinstance(a, np.ndarray):
            if a.flags.writeable:
                return False
            a = a.base
        if a is not None and not isinstance(a, bytes):
            return False
    return True


def keystroke_tokens(
    arr: KeystrokeArrays, cfg: KeystrokeFeatureConfig = KeystrokeFeatureConfig()
) -> np.ndarray:
    """One session's key events -> float32 tokens ``[P, len(KEYSTROKE_FEATURES)]`` (P presses)."""
    p = keystroke_presses(arr)
    if cfg.max_len is not None and len(p) > cfg.max_len:
        return _tokens(p, cfg)[: cfg.max_len]
    return _tokens(p, cfg)


def keystroke_presses_batch(arr: KeystrokeArrays, session: np.ndarray) -> Presses:
    """Presses of many sessions concatenated in ``arr`` (``session``: id per event, contiguous)."""
    return _presses(arr, session)


def keystroke_tokens_batch(
    arr: KeystrokeArrays,
    session: np.ndarray,
    cfg: KeystrokeFeatureConfig = KeystrokeFeatureConfig(),
) -> tuple[np.ndarray, np.ndarray]:
    """Many sessions at once -> (tokens ``[P, F]`` float32, session id per token row ``[P]`` int64).

    Each session's rows must be contiguous and time-ordered in ``arr``; the result equals
    ``keystroke_tokens`` applied per session and concatenated.
    """
    p = _presses(arr, session)
    tok = _tokens(p, cfg)
    keep = _keep_first(p, cfg.max_len)
    if keep is None:
        return tok, p.session
    return tok[keep], p.session[keep]

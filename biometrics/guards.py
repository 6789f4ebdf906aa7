"""Guards that need no profile match: bot-like timing and replayed sessions.

Both look only at timing and geometry, never at which key was pressed.

**Replay sketches.** What a profile stores to recognise a replay is a keyed sketch, not
timings: every value is the output of a hash keyed by ``GuardConfig.sketch_key`` (a
deployment secret), cast to float32. Without the key the values carry nothing of the
rhythm; with it, each is a many-to-one code of a quantized random projection.

* Keystrokes. Down times and up times are each sorted (a +-20 ms jitter moves every sorted
  value by at most 20 ms, whatever it does to the order of close events). A window of ``w``
  consecutive presses is fitted by a line (down time against press index); its residuals
  and its holds (centred) divided by the fitted tempo are the window's shape: unchanged by
  a uniform time stretch and by cutting the session (a partial replay has the same windows
  at an index offset). Per press ``i`` a signature holds two words: a *fine* 24-bit hash of
  the 3-press window's shape quantized at ``FINE_STEP`` (equal only for an exact copy,
  stretched or cut), and three 8-bit hashes of the 6-press window quantized at
  ``COARSE_STEP`` on random projections with random offsets (locality-sensitive: a jittered
  copy lands in the same cells often, a person typing again seldom).
* Pointer and touch. Timing jitter and stretch leave the path where it was, so the sketch
  is a keyed sample of the session's distinct whole-px positions (a level-sampled set, so
  a replay of any part of a long session is still compared on the same points).

:func:`is_replay` aligns the live sketch against every stored one at every press offset
(partial replays) and sums, per alignment, a log-likelihood ratio per window of how many
coarse hashes agree; two exact (fine) agreements on one alignment, or a sum over
``replay_min_llr``, is a replay. Pointer and touch: the share of the live positions found
in a stored set. Measured in ``bench/guards.py`` (``bench/results/guards.json``).

**Bots** (:func:`bot_like`): typing too regular, too fast, with zero or fixed holds, or with
flat (uniform random) distributions of both intervals and holds; pointer movements that are all ruler-straight
or keep one step length (no speed-up and slow-down).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from biometrics.events import KeystrokeArrays, PointerArrays, Session
from biometrics.features.keystroke import keystroke_presses
from biometrics.features.mouse import ACTION_FEATURES, mouse_actions

#: Most float32 values in one signature (1 KB). Keystroke signatures are a header and two
#: words per press, so any prefix of one is a valid, shorter signature.
SIGNATURE_LEN = 256
#: Header values (never a hash: hashes are >= 0) naming the sketch format.
KEY_SKETCH_V = -21.0
PATH_SKETCH_V = -31.0
#: Presses per fine / coarse window, quantization steps (tempo units), coarse hash tables.
FINE_W, COARSE_W = 3, 6
FINE_STEP, COARSE_STEP = 0.004, 1.5
FINE_PROJ, COARSE_PROJ, COARSE_TABLES = 4, 2, 4
COARSE_BITS = 24 // COARSE_TABLES
#: Distinct positions a pointer/touch sketch keeps at most.
PATH_CAPACITY = 126
#: Key of the sketches when the caller gives none (tests, benches). Deployments set their own
#: (``GuardConfig(sketch_key=...)``); a sketch made under one key matches nothing under another.
DEV_SKETCH_KEY = b"biometrics-dev-replay-sketch-key"

_MISSING = -1  # a coarse word where the press has no full 6-press window


@dataclass(frozen=True)
class GuardConfig:
    """Thresholds of the bot and replay guards (documented in the README)."""

    # Keystrokes, regularity: humans vary their down-down intervals by tens of percent (robust
    # CV: median absolute deviation / median); a script with a fixed delay barely at all.
    min_presses_for_bot_check: int = 8
    bot_max_interval_cv: float = 0.015
    bot_min_median_down_down_ms: float = 40.0
    # Automation presses and releases back to back (holds of a few ms) or with one fixed hold:
    # at least this share of holds at the median (+-2 ms or 2%). A robust CV of the holds (the
    # rule before) is 0 for people whose clock is coarse: it flagged 0.48% of Aalto sessions,
    # this 0.05% (with the flat rule 0.22%); +-40% bots with fixed holds caught 94.8%.
    bot_min_median_hold_ms: float = 15.0
    bot_min_fixed_hold_share: float = 0.8
    # Shape: uniform random waits and holds give flat, bounded distributions; people's are
    # log-normal-like with long tails. Log-likelihood ratios (flat vs log-normal) of the
    # down-down intervals within bursts and of the holds, from ``min_intervals_for_shape`` on;
    # both must look flat (intervals alone also flag very regular people), each by at least
    # this LLR: at (1, 1) genuine Aalto sessions are flagged 0.27%, the synthetic people 0.29%,
    # +-40% uniform-wait bots with uniform holds caught 55%; at (-1, 0) 0.58%, 1.5%, 73%.
    min_intervals_for_shape: int = 12
    bot_max_flat_llr: float = 1.0
    bot_max_hold_flat_llr: float = 1.0
    burst_gap_factor: float = 3.0  # an interval over this x the median is a pause, not rhythm
    # Pointer: a human path bows and speeds up then slows down; a scripted one is a ruler line
    # or keeps a constant step along its path.
    min_actions_for_bot_check: int = 2
    bot_min_straightness: float = 0.9995
    bot_max_step_cv: float = 0.2
    bot_min_action_events: int = 6
    # Replay, keystrokes: log-likelihood ratio per aligned 6-press window by the number of its
    # 3 coarse hashes that agree (fitted on Aalto users outside the benchmark's), the sum over
    # an alignment that makes a replay, and the exact 3-press matches that make one alone.
    replay_coarse_llr: tuple[float, ...] = (-4.9, -2.6, -0.6, 1.5, 3.5)
    replay_min_llr: float = 17.0
    replay_min_fine_matches: int = 2
    # The coarse (jitter-tolerant) evidence counts only for a session of at least this many
    # 6-press windows: a short fixed text (a password) retyped by its practised owner repeats
    # its rhythm within +-20 ms (CMU: 17% of a typist's retypes scored as replays without
    # this), so only exact copies (fine matches, stretched or cut) are flagged there.
    replay_min_coarse_windows: int = 12
    # ... and its LLR sum must also reach this much per window of the live session: a login's
    # username and password retyped by their owner sum to 17-25 over 19-28 windows (synthetic
    # users; ratio <= 1.04, Aalto genuine pairs <= 1.02 at the 99.9th percentile), a jittered
    # replay has a median ratio of 2.2 (Aalto).
    replay_min_llr_per_window: float = 1.2
    # Replay, pointer/touch: share of the live session's sampled positions found in a stored
    # set, over at least this many compared positions.
    replay_min_containment: float = 0.9
    replay_min_points: int = 6
    # Secret that keys the sketches (see the module docstring).
    sketch_key: bytes = DEV_SKETCH_KEY


# --------------------------------------------------------------------------------------
# Keyed hashing and projections
# --------------------------------------------------------------------------------------

_C1, _C2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer (a bijection of uint64 that spreads every input bit)."""
    z = (z ^ (z >> np.uint64(30))) * _C1
    z = (z ^ (z >> np.uint64(27))) * _C2
    return z ^ (z >> np.uint64(31))


@dataclass(frozen=True)
class _Keys:
    fine_a: np.ndarray  # [2*FINE_W, FINE_PROJ]
    fine_b: np.ndarray
    fine_k: np.ndarray  # uint64 [FINE_PROJ + 1]
    coarse_a: np.ndarray  # [TABLES, 2*COARSE_W, COARSE_PROJ]
    coarse_b: np.ndarray
    coarse_k: np.ndarray  # uint64 [TABLES, COARSE_PROJ + 1]
    path_k: np.ndarray  # uint64 [3]


@lru_cache(maxsize=16)
def _keys(secret: bytes) -> _Keys:
    seed = int.from_bytes(hashlib.blake2b(secret, digest_size=16, person=b"bm-replay-v2").digest(), "little")
    rng = np.random.default_rng(seed)
    u64 = lambda *s: rng.integers(1, 2**63, size=s, dtype=np.uint64) | np.uint64(1)
    return _Keys(rng.standard_normal((2 * FINE_W, FINE_PROJ)), rng.uniform(0, FINE_STEP, FINE_PROJ), u64(FINE_PROJ + 1),
                 rng.standard_normal((COARSE_TABLES, 2 * COARSE_W, COARSE_PROJ)),
                 rng.uniform(0, COARSE_STEP, (COARSE_TABLES, COARSE_PROJ)), u64(COARSE_TABLES, COARSE_PROJ + 1),
                 u64(3))


def _hash_rows(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Keyed hash of each row of integers ``q [..., p]`` under ``k [p + 1]`` (uint64)."""
    with np.errstate(over="ignore"):
        acc = np.broadcast_to(k[0], q.shape[:-1]).astype(np.uint64)
        for j in range(q.shape[-1]):
            acc = _mix(acc ^ (q[..., j].astype(np.int64).view(np.uint64) * k[j + 1]))
    return acc


# --------------------------------------------------------------------------------------
# Keystroke sketch
# --------------------------------------------------------------------------------------


def _window_shapes(down: np.ndarray, up: np.ndarray, w: int) -> np.ndarray:
    """``[n - w + 1, 2w]`` tempo-normalized shapes of every window of ``w`` presses."""
    n = min(down.size, up.size) - w + 1
    if n < 1:
        return np.zeros((0, 2 * w))
    idx = np.arange(n)[:, None] + np.arange(w)[None, :]
    d, u = down[idx], up[idx]
    j = np.arange(w) - (w - 1) / 2
    tempo = np.maximum((d * j).sum(1) / (j * j).sum(), 1.0)[:, None]  # ms per press
    resid = (d - d.mean(1, keepdims=True) - tempo * j) / tempo
    hold = (u - d) / tempo
    return np.concatenate([resid, hold - hold.mean(1, keepdims=True)], 1)


def keystroke_sketch(keys: KeystrokeArrays, key: bytes = DEV_SKETCH_KEY) -> np.ndarray:
    """Keyed replay sketch of key events: ``[KEY_SKETCH_V, fine_0, coarse_0, fine_1, ...]``.

    One fine and one coarse word per press with a full 3-press window (float32 integers below
    2**24); ``[]`` when there are fewer than 3 presses.
    """
    t = np.asarray(keys.t, np.float64)
    down, up = np.sort(t[keys.is_down]), np.sort(t[~keys.is_down])
    k = _keys(bytes(key))
    fine_x = _window_shapes(down, up, FINE_W)
    if fine_x.shape[0] == 0:
        return np.zeros(0, np.float32)
    qf = np.floor((fine_x @ k.fine_a + k.fine_b) / FINE_STEP)
    fine = (_hash_rows(qf, k.fine_k) >> np.uint64(40)).astype(np.int64)
    coarse = np.full(fine.size, _MISSING, np.int64)
    cx = _window_shapes(down, up, COARSE_W)
    if cx.shape[0]:
        qc = np.floor((np.einsum("nd,tdk->ntk", cx, k.coarse_a) + k.coarse_b) / COARSE_STEP)
        word = np.zeros(cx.shape[0], np.int64)
        for tb in range(COARSE_TABLES):
            word = (word << COARSE_BITS) | (_hash_rows(qc[:, tb], k.coarse_k[tb]) >> np.uint64(64 - COARSE_BITS)).astype(np.int64)
        coarse[: word.size] = word
    n = min(fine.size, (SIGNATURE_LEN - 1) // 2)
    out = np.empty(1 + 2 * n, np.float32)
    out[0] = KEY_SKETCH_V
    out[1::2], out[2::2] = fine[:n], coarse[:n]
    return out


def _split_key_sketch(sig: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    if sig.size < 3 or sig[0] != KEY_SKETCH_V:
        return None  # another format (e.g. raw intervals of an older release): not comparable
    n = (sig.size - 1) // 2
    body = sig[1: 1 + 2 * n].astype(np.int64)
    return body[0::2], body[1::2]


def _coarse_tables(words: np.ndarray) -> np.ndarray:
    """``[n, TABLES]`` 8-bit codes of coarse words (-1 where the word is missing)."""
    shifts = COARSE_BITS * np.arange(COARSE_TABLES - 1, -1, -1)
    codes = (words[:, None] >> shifts) & ((1 << COARSE_BITS) - 1)
    return np.where(words[:, None] < 0, -1, codes)


def _diagonal_sums(a: np.ndarray) -> np.ndarray:
    """Sums of ``a [m, W]`` along every diagonal: entry ``c`` is offset ``j - i = c - m``."""
    m, w = a.shape
    flat = np.zeros(m * (w + m + 1), a.dtype)
    flat[: m * (w + m)].reshape(m, w + m)[:, m:] = a
    return flat.reshape(m, w + m + 1).sum(0)


def keystroke_replay_score(sig: np.ndarray, stored: list[np.ndarray],
                           cfg: GuardConfig = GuardConfig()) -> tuple[float, int]:
    """Best alignment of ``sig`` with any stored keystroke sketch: (LLR sum, exact matches).

    Every stored sketch is searched at every press offset at once: stored sketches are laid
    end to end, each padded with as many empty words as the live sketch is long (so no
    alignment spans two), and one comparison matrix is summed along its diagonals.
    """
    q = _split_key_sketch(np.asarray(sig, np.float32))
    valid = [s for s in stored if s.size >= 3 and s[0] == KEY_SKETCH_V]
    if q is None or not valid:
        return -math.inf, 0
    qf, qc = q
    m = qf.size
    width = max((s.size - 1) // 2 for s in valid) + m
    body = np.full((len(valid), width, 2), -2, np.int64)  # -2: padding, never equal to a code
    for b, s in enumerate(valid):
        n = (s.size - 1) // 2
        body[b, :n] = s[1: 1 + 2 * n].reshape(n, 2)
    sf, sc = body[..., 0].ravel(), body[..., 1].ravel()
    fine = _diagonal_sums((qf[:, None] == sf[None, :]).astype(np.int16))
    qt, st = _coarse_tables(qc).astype(np.int16), _coarse_tables(sc).astype(np.int16)
    idx = np.where((qc >= 0)[:, None] & (sc >= 0)[None, :], 0, COARSE_TABLES + 1).astype(np.int8)
    for tb in range(COARSE_TABLES):
        idx += qt[:, tb, None] == st[None, :, tb]
    lut = np.zeros(2 * COARSE_TABLES + 2, np.float32)  # indices past COARSE_TABLES: not compared
    lut[: COARSE_TABLES + 1] = cfg.replay_coarse_llr
    score = _diagonal_sums(lut[idx])
    return float(score.max()), int(fine.max())


# --------------------------------------------------------------------------------------
# Pointer / touch sketch
# --------------------------------------------------------------------------------------


def path_sketch(x: np.ndarray, y: np.ndarray, key: bytes = DEV_SKETCH_KEY,
                capacity: int = PATH_CAPACITY) -> np.ndarray:
    """Keyed sample of distinct whole-px positions: ``[PATH_SKETCH_V, level, entries...]``.

    A position's 64-bit keyed hash gives its level (trailing zero bits) and a 16-bit tag; the
    sketch keeps the positions of level ``>= L``, the smallest ``L`` that leaves at most
    ``capacity``, as ``level << 16 | tag`` (sorted). Any two sketches compare on the levels both
    kept, so a part of a session meets the same sample of positions as the whole.
    """
    xy = np.unique(np.round(np.stack([np.asarray(x, float), np.asarray(y, float)], 1)).astype(np.int64), axis=0)
    if xy.shape[0] == 0:
        return np.zeros(0, np.float32)
    k = _keys(bytes(key))
    h = _hash_rows(xy, k.path_k)
    low = (h & np.uint64(0xFFFF)).astype(np.int64)
    level = np.zeros(h.size, np.int64)
    alive = np.ones(h.size, bool)
    for b in range(15):  # trailing zero bits above the tag, at most 15
        alive &= ((h >> np.uint64(16 + b)) & np.uint64(1)) == 0
        level += alive
    lv = 0
    while (level >= lv).sum() > capacity:
        lv += 1
    keep = level >= lv
    entries = np.sort((level[keep] << 16) | low[keep])
    return np.concatenate([[PATH_SKETCH_V, lv], entries]).astype(np.float32)


def path_replay_share(sig: np.ndarray, stored: list[np.ndarray]) -> tuple[float, int]:
    """Highest share of the live sketch's positions found in one stored sketch, and its base."""
    sig = np.asarray(sig, np.float32)
    if sig.size < 3 or sig[0] != PATH_SKETCH_V:
        return 0.0, 0
    lq, q = int(sig[1]), sig[2:].astype(np.int64)
    best = (0.0, 0)
    for s in stored:
        s = np.asarray(s, np.float32)
        if s.size < 3 or s[0] != PATH_SKETCH_V:
            continue
        lv = max(lq, int(s[1]))
        qq = q[(q >> 16) >= lv]
        if qq.size == 0:
            continue
        share = float(np.isin(qq, s[2:].astype(np.int64)).mean())
        if (share, qq.size) > best:
            best = (share, int(qq.size))
    return best


# --------------------------------------------------------------------------------------
# Public replay API
# --------------------------------------------------------------------------------------


def signatures(session: Session, cfg: GuardConfig = GuardConfig()) -> dict[str, np.ndarray]:
    """Per modality, a keyed replay sketch (1-D float32, at most ``SIGNATURE_LEN`` values).

    Keystrokes: :func:`keystroke_sketch`; pointer and touch: :func:`path_sketch` of the
    positions. No timing is stored (see the module docstring).
    """
    out = {}
    if len(session.keystrokes) > 1:
        sk = keystroke_sketch(session.keystroke_arrays(), cfg.sketch_key)
        if sk.size:
            out["keystrokes"] = sk
    for name, events, arrays in (("pointer", session.pointer, session.pointer_arrays),
                                 ("touch", session.touch, session.touch_arrays)):
        if len(events) > 1:
            arr = arrays()
            sk = path_sketch(arr.x, arr.y, cfg.sketch_key)
            if sk.size:
                out[name] = sk
    return out


def is_replay(signature: np.ndarray, stored: list[np.ndarray], cfg: GuardConfig = GuardConfig(),
              modality: str = "keystrokes") -> bool:
    """True when the signature repeats (a part of) a stored one of the same modality."""
    if not stored:
        return False
    if modality == "keystrokes":
        llr, fine = keystroke_replay_score(signature, stored, cfg)
        q = _split_key_sketch(np.asarray(signature, np.float32))
        windows = int((q[1] >= 0).sum()) if q is not None else 0
        coarse = (windows >= cfg.replay_min_coarse_windows and llr >= cfg.replay_min_llr
                  and llr >= cfg.replay_min_llr_per_window * windows)
        return bool(fine >= cfg.replay_min_fine_matches or coarse)
    share, n = path_replay_share(signature, stored)
    return bool(n >= cfg.replay_min_points and share >= cfg.replay_min_containment)


# --------------------------------------------------------------------------------------
# Bots
# --------------------------------------------------------------------------------------


def flat_vs_lognormal_llr(x: np.ndarray) -> float:
    """Log-likelihood ratio of a flat (uniform) fit over a log-normal fit of positive values.

    The uniform's range is widened by (n+1)/(n-1), its unbiased estimate. Positive: the values
    look like uniform random waits; people's intervals give negative values.
    """
    x = np.asarray(x, float)
    n = x.size
    if n < 3 or (x <= 0).any():
        return -math.inf
    lx = np.log(x)
    sd = float(lx.std())
    span = float(x.max() - x.min()) * (n + 1) / (n - 1)
    if sd <= 0 or span <= 0:
        return math.inf
    ll_lognormal = -lx.sum() - n * math.log(sd) - 0.5 * n * (1 + math.log(2 * math.pi))
    return float(-n * math.log(span) - ll_lognormal)


def keystroke_bot_stats(keys: KeystrokeArrays, cfg: GuardConfig = GuardConfig()) -> dict[str, float]:
    """The timing statistics the keystroke bot rule reads (NaN where too few presses)."""
    p = keystroke_presses(keys)
    dd = np.diff(p.down_t) if len(p) > 1 else np.zeros(0)
    nan = math.nan
    out = {"n_intervals": float(dd.size), "robust_cv": nan, "median_dd_ms": nan,
           "median_hold_ms": nan, "hold_cv": nan, "fixed_hold_share": nan, "flat_llr": nan, "hold_flat_llr": nan}
    if dd.size < cfg.min_presses_for_bot_check:
        return out
    med = float(np.median(dd))
    out["median_dd_ms"] = med
    out["robust_cv"] = float(np.median(np.abs(dd - med))) / max(med, 1e-9)
    hold = p.hold[np.isfinite(p.hold)]
    if hold.size >= cfg.min_presses_for_bot_check:
        mh = float(np.median(hold))
        out["median_hold_ms"] = mh
        out["hold_cv"] = float(np.median(np.abs(hold - mh))) / max(mh, 1e-9)
        # Share of holds at the median within the collector's resolution: a script's fixed hold
        # gives ~1; a person's holds on a coarse clock can share the median often (MAD 0), not ~always.
        out["fixed_hold_share"] = float(np.mean(np.abs(hold - mh) <= max(2.0, 0.02 * mh)))
    burst = dd[(dd > 0) & (dd <= cfg.burst_gap_factor * med)]
    if burst.size >= cfg.min_intervals_for_shape and hold.size >= cfg.min_intervals_for_shape:
        out["flat_llr"] = flat_vs_lognormal_llr(burst)
        out["hold_flat_llr"] = flat_vs_lognormal_llr(np.maximum(hold, 0.1))
    return out


def keystroke_bot_reasons(stats: dict[str, float], cfg: GuardConfig = GuardConfig()) -> list[str]:
    """Which keystroke rules fire on :func:`keystroke_bot_stats` (empty: human-like)."""
    out = []
    # A short entry (a PIN) of a steady typist can be very regular: there the holds must be too.
    short = stats["n_intervals"] < cfg.min_intervals_for_shape + 4
    if stats["robust_cv"] < cfg.bot_max_interval_cv and not (short and not stats["hold_cv"] < 0.05):
        out.append("regular_intervals")
    if stats["median_dd_ms"] < cfg.bot_min_median_down_down_ms:
        out.append("too_fast")
    if stats["median_hold_ms"] < cfg.bot_min_median_hold_ms:
        out.append("zero_holds")
    if stats["fixed_hold_share"] >= cfg.bot_min_fixed_hold_share:
        out.append("fixed_holds")
    if stats["flat_llr"] > cfg.bot_max_flat_llr and stats["hold_flat_llr"] > cfg.bot_max_hold_flat_llr:
        out.append("flat_intervals")
    return out  # comparisons with NaN are False: too little evidence flags nothing


def keystroke_bot_like(session: Session, cfg: GuardConfig = GuardConfig()) -> bool:
    """Too regular, too fast, zero or fixed holds, or flat random waits: no human types so."""
    return bool(keystroke_bot_reasons(keystroke_bot_stats(session.keystroke_arrays(), cfg), cfg))


_STRAIGHT = ACTION_FEATURES.index("straightness")
_SPEED_MEAN = ACTION_FEATURES.index("speed_mean")
_N_EVENTS = ACTION_FEATURES.index("n_events")


def pointer_action_bot_like(x: np.ndarray, y: np.ndarray, straightness: float,
                            cfg: GuardConfig = GuardConfig()) -> bool:
    """One movement: a ruler line, or the same step length all along (no speed-up, slow-down)."""
    if straightness >= cfg.bot_min_straightness:
        return True
    step = np.hypot(np.diff(x), np.diff(y))
    step = step[step > 0]
    if step.size < cfg.bot_min_action_events - 1:
        return False
    return bool(step.std() / step.mean() < cfg.bot_max_step_cv)


def pointer_bot_like_arrays(arr: PointerArrays, cfg: GuardConfig = GuardConfig()) -> bool:
    """Every movement of the session bot-like (at least ``min_actions_for_bot_check`` of them)."""
    action_id, actions, _ = mouse_actions(arr)
    moving = np.flatnonzero((actions[:, _N_EVENTS] >= cfg.bot_min_action_events) & (actions[:, _SPEED_MEAN] > 0))
    if moving.size < cfg.min_actions_for_bot_check:
        return False
    is_move = arr.type == 0
    for a in moving:
        sel = (action_id == a) & is_move
        if not pointer_action_bot_like(arr.x[sel], arr.y[sel], float(actions[a, _STRAIGHT]), cfg):
            return False
    return True


def pointer_bot_like(session: Session, cfg: GuardConfig = GuardConfig()) -> bool:
    """Every pointer movement a ruler-straight line or a constant-step path."""
    return pointer_bot_like_arrays(session.pointer_arrays(), cfg)


def bot_like(session: Session, cfg: GuardConfig = GuardConfig()) -> list[str]:
    """Names of the modalities whose timing or paths no human produces."""
    out = []
    if session.keystrokes and keystroke_bot_like(session, cfg):
        out.append("keystrokes")
    if session.pointer and pointer_bot_like(session, cfg):
        out.append("pointer")
    return out

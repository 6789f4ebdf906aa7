"""Guards that need no profile match: bot-like timing and replayed sessions.

Both look only at timing and geometry, never at which key was pressed.

**Replay sketches.** What a profile stores to recognise a replay is a keyed sketch, not
timings: every value is the output of a hash keyed by ``GuardConfig.sketch_key`` (a
deployment secret), cast to float32.

* Keystrokes. Presses in down-time order, each with its own up (paired by press id: a key
  held over others, as a Shift, leaves their holds as they were; ups sorted apart from the
  downs would shift every hold after it in the source but not in a cut that leaves it out).
  Per press ``i`` a signature holds three words. A *fine* 24-bit hash of the shape of the
  3-press window from ``i`` (residuals of a line fitted to its down times, and its centred
  holds, over the fitted tempo), quantized at ``FINE_STEP``: equal only for an exact copy,
  stretched or cut. Two *soft* words: the press's down-down, hold, up-up and two-press
  down-down intervals, each over ``sqrt(tempo * TEMPO_REF_MS)`` (tempo: the mean down-down
  of the next ``SOFT_TEMPO_PRESSES`` presses), quantized together at ``SOFT_STEP`` on
  ``SOFT_OFFSETS`` evenly shifted grids (the second word's an eighth of a cell from the
  first's), each grid's 4-D cell hashed to ``SOFT_BITS``. How many grids agree between two
  presses measures how far apart their values are: +-20 ms of jitter seldom moves them out
  of more than one, another typing by the person usually more. The square root halves what a time stretch (x0.9-1.1) moves a value
  while a fast typist's values stay spread wider than the jitter (over the tempo itself, a
  80 ms typist's jitter fills the cells); a tempo from the presses ahead needs none before
  ``i``, so a cut session has the same words at an index offset.
* Pointer and touch. Timing jitter and stretch leave the path where it was, so the sketch
  is a keyed sample of the session's distinct whole-px positions (a level-sampled set, so
  a replay of any part of a long session is still compared on the same points).

:func:`is_replay` aligns the live sketch with every stored one at every press offset that
puts the live session (but ``replay_edge_presses``) inside the stored one: a replay, whole
or partial, is a part of what was stored. Two exact (fine) matches on one alignment are a
replay. Otherwise per compared press a log-likelihood ratio by how many grids agree, per
value (``replay_soft_llr``, fitted on Aalto users outside the benchmark's), is summed. The
best alignment's sum less the best against the *other* stored sessions (a text typed the
same every time matches all of them; a replay matches its source) must reach
``replay_min_llr``, and per compared press ``replay_min_margin_per_press``; the best sum
itself ``replay_min_llr_per_press``. Pointer and touch: the share of the live positions
found in a stored set. Measured in ``bench/guards.py`` (``bench/results/guards.json``).

Without the key a word tells nothing of the press's timing by itself: a soft code is 6 bits
of a keyed hash of the joint cell of four values (each cell about 110 ms wide at a 200 ms
tempo), a fine word 24 bits of one of a projected window shape. Codes of coarse cells are
still low in entropy (people's values fill few of them), so many sketches under one key
show which codes are common; and whoever holds the key can test a guessed timing against a
sketch (that is what matching does): the key is the secret to keep.

**Bots** (:func:`bot_like`): typing too regular, too fast, with zero or fixed holds, with holds
that keep ending just before the next press but never roll over, or with uniform random
jitter (every wait inside a +-40% band, holds as jittery as the waits, never a rollover, and
a joint flat-vs-log-normal likelihood ratio that says so); pointer movements that are all
ruler-straight or keep one step length (no speed-up and slow-down). With ~15 waits a slow
+-40% script and a regular PIN typist on a touchscreen look alike: there the jitter rule needs
strong evidence and misses about a third of such scripts; on a keyboard people roll over and
vary more, and it needs little (:func:`typed_on_keyboard`, ``GuardConfig``, ``bench/guards.py``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from biometrics.events import KeyClass, KeystrokeArrays, PointerArrays, Session
from biometrics.features.action_tokens import session_mouse_views
from biometrics.features.keystroke import keystroke_presses
from biometrics.features.mouse import ACTION_FEATURES, mouse_actions

#: Most float32 values in one signature (1 KB). Keystroke signatures are a header and
#: ``KEY_WORDS`` words per press, so any prefix of one is a valid, shorter signature.
SIGNATURE_LEN = 256
#: Header values (never a hash: hashes are >= 0) naming the sketch format. -21: the two-word
#: sketch of coarse 6-press hashes before, ignored now (it would be misread).
KEY_SKETCH_V = -22.0
PATH_SKETCH_V = -31.0
#: Fine words: presses per window, quantization step (tempo units), random projections.
FINE_W, FINE_STEP, FINE_PROJ = 3, 0.004, 4
#: Soft words: values per press (down-down, hold, up-up, two-press down-down), the values
#: each word hashes together (both all four, on grids an eighth of a cell apart), grids per
#: word and bits per grid's code (4 x 6 = 24 bits).
SOFT_VALUES, SOFT_GROUPS = 4, ((0, 1, 2, 3), (0, 1, 2, 3))
SOFT_OFFSETS, SOFT_BITS = 4, 6
#: Cell width of the soft grids in units of ``sqrt(tempo * TEMPO_REF_MS)`` (0.65: 113 ms at a
#: 200 ms tempo), and the presses ahead whose mean down-down is the press's tempo.
SOFT_STEP, TEMPO_REF_MS, SOFT_TEMPO_PRESSES = 0.65, 150.0, 3
KEY_WORDS = 1 + len(SOFT_GROUPS)  # per press: fine, soft, soft
#: Distinct positions a pointer/touch sketch keeps at most.
PATH_CAPACITY = 126
#: Key of the sketches when the caller gives none (tests, benches). Deployments set their own
#: (``GuardConfig(sketch_key=...)``); a sketch made under one key matches nothing under another.
DEV_SKETCH_KEY = b"biometrics-dev-replay-sketch-key"

_MISSING = -1  # a soft word where the press has no tempo (the last presses)


@dataclass(frozen=True)
class JitterRule:
    """The evidence the uniform-jitter bot rule needs on one kind of keyboard (``GuardConfig``)."""

    min_waits: int
    min_hold_spread: float
    min_llr: float


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
    # this 0.05%; +-40% bots with fixed holds caught 94.8% (the others are cut at the next press).
    bot_min_median_hold_ms: float = 15.0
    bot_min_fixed_hold_share: float = 0.8
    # Scheduled releases: a script that lets go of each key just before the next goes down
    # leaves holds that end in the last 10% of the interval to the next press but never past
    # it; people whose holds come that close roll over about as often (45% of such pairs in
    # Aalto users 0-299). Flagged: no rollover, and at least this many such holds, on at least
    # this share of the burst's intervals (Aalto sentences 0.11%, login-sized chunks 0.53%).
    bot_near_release: float = 0.9
    bot_min_near_releases: int = 4
    bot_min_near_release_share: float = 0.15
    # Uniform jitter: a script drawing each wait from base x U(1-j, 1+j) keeps all its waits
    # (down-down, or up-down for press-then-sleep scripts) inside a band of (1+j)/(1-j), flat
    # within it, with holds drawn as independently and never rolling over. A script with a base of
    # its own in each field keeps each field's waits in the band: where a masked field marks the
    # move, each field is judged on its own scale (``_burst_waits``: the rig's Playwright bots
    # 72.5% -> 95% caught by typing alone). Flagged, over at
    # least ``JitterRule.min_waits`` waits within bursts: no rollover, every wait within
    # ``bot_max_wait_band`` (+-40%), holds spread (log-sd) at least ``min_hold_spread`` x the
    # waits' (people's holds are steadier than their intervals) and a joint log-likelihood
    # ratio (flat vs log-normal waits, flat vs log-normal holds, no rollover vs the rollovers
    # a person would make with these holds) of at least ``min_llr``. How much evidence that
    # takes depends on the keyboard (:func:`typed_on_keyboard`):
    # * a touchscreen: one thumb taps a keypad, never rolls over and can be as regular as a
    #   script. Without the LLR the rule flags 25% of StrokePIN sessions of three PIN entries in
    #   a row (18 taps); 7 nats is the least whole LLR with at most 1% of them flagged in the
    #   first half of StrokePIN's users (0.9%; the other half 0.3%), and +-40% scripts are then
    #   caught only ~60% of the time;
    # * a physical keyboard: people roll over and vary their waits more (of login-sized runs of
    #   12-30 presses of Aalto users 0-299, 0.4% pass the band, spread and rollover tests at
    #   all). Chosen there against +-40% scripts of their own seed (``bench/guards.py`` measures
    #   other users and other scripts): 10 waits, spread 0.9 and an LLR of 0 flag 0.98% of the
    #   runs and catch 99.25% of the scripts (12 waits, spread 1.0 and 7 nats: 0.5%, 60%).
    min_intervals_for_shape: int = 12  # a shorter entry (a PIN) needs regular holds as well
    burst_gap_factor: float = 3.0  # an interval over this x the median is a pause, not rhythm
    field_gap_factor: float = 2.0  # ... and the longest, over this x, is a move to the next field
    bot_max_wait_band: float = 2.33
    jitter_touchscreen: JitterRule = JitterRule(min_waits=12, min_hold_spread=1.0, min_llr=7.0)
    jitter_keyboard: JitterRule = JitterRule(min_waits=10, min_hold_spread=0.9, min_llr=0.0)
    # Pointer: a human path bows and speeds up then slows down; a scripted one is a ruler line
    # or keeps a constant step along its path.
    min_actions_for_bot_check: int = 2
    bot_min_straightness: float = 0.9995
    bot_max_step_cv: float = 0.2
    bot_min_action_events: int = 6
    # Replay, keystrokes. Exact copies: this many fine (3-press) matches on one alignment.
    replay_min_fine_matches: int = 2
    # Soft evidence: per soft word, the log-likelihood ratio of a press by how many of its
    # SOFT_OFFSETS grids agree (0..4), a replay jittered by +-20 ms and stretched x0.9-1.1
    # against another session of the person at any offset (fitted by ``bench/replay_fit.py``
    # on Aalto users 0-299, outside the benchmark's).
    replay_soft_llr: tuple[tuple[float, ...], ...] = (
        (-3.8, -0.1, 2.1, 3.3, 4.8), (-3.8, -0.1, 2.2, 3.5, 4.9))
    # The best alignment's LLR sum less the best against the other stored sessions (0 when
    # lower) must reach ``replay_min_llr`` and ``replay_min_margin_per_press`` per compared
    # press, the best alignment's own sum ``replay_min_llr_per_press`` per compared press, and
    # the live session must have ``replay_min_presses`` presses with soft words. Chosen on
    # Aalto users 150-299 (LLR fitted on 0-119): none of their sessions flagged, against one
    # other or all their others; jittered replays caught 100%, jittered and stretched 99.8%,
    # jittered halves 99.1%, thirds 96%; the synthetic login users (username + their same
    # password) 2 of 1120 against their others. The per-press sum is for a text typed the
    # same every time, which its practised owner can repeat within the jitter (CMU's
    # password typed twice as one login, ``bench/guards.py``: 19.6% of pairs and 14.8%
    # against the 19 other logins flagged without it, 10.4% and 11.5% with it; the two-word
    # sketch before: 17% and 63%), and for Aalto (0.3% of users 150-229 against their
    # others without it); a jittered copy sums >= 3.2 per press in 99% of cases there.
    replay_min_llr: float = 6.0
    replay_min_margin_per_press: float = 1.0
    replay_min_llr_per_press: float = 2.0
    replay_min_presses: int = 3
    # Soft evidence only against stored sessions with at least this many presses with soft
    # words: a short fixed text (a password alone) retyped by its practised owner repeats its
    # rhythm within +-20 ms (CMU), so only exact copies (fine matches) are flagged there.
    replay_min_stored_presses: int = 10
    # The live session may stick out of the stored one by this many presses at either end
    # (the first and last presses of a cut differ: an up whose down was cut is not replayed).
    replay_edge_presses: int = 2
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
    path_k: np.ndarray  # uint64 [3]
    soft_u: np.ndarray  # [SOFT_VALUES] grid offsets (in grid spacings)
    soft_k: np.ndarray  # uint64 [groups, SOFT_OFFSETS, group size + 1]


@lru_cache(maxsize=16)
def _keys(secret: bytes) -> _Keys:
    seed = int.from_bytes(hashlib.blake2b(secret, digest_size=16, person=b"bm-replay-v2").digest(), "little")
    rng = np.random.default_rng(seed)
    u64 = lambda *s: rng.integers(1, 2**63, size=s, dtype=np.uint64) | np.uint64(1)
    fine = rng.standard_normal((2 * FINE_W, FINE_PROJ)), rng.uniform(0, FINE_STEP, FINE_PROJ), u64(FINE_PROJ + 1)
    # The draws of the retired coarse tables (sketch -21), kept so that the path key drawn
    # after them, and so every stored pointer and touch sketch, stays what it was.
    rng.standard_normal(96), rng.uniform(size=8), u64(4, 3)
    return _Keys(*fine, u64(3), rng.uniform(0, 1, SOFT_VALUES),
                 u64(len(SOFT_GROUPS), SOFT_OFFSETS, len(SOFT_GROUPS[0]) + 1))


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


def _soft_values(down: np.ndarray, up: np.ndarray) -> np.ndarray:
    """``[n_down, SOFT_VALUES]``: per press its down-down, hold, up-up and two-press down-down
    intervals over ``sqrt(tempo * TEMPO_REF_MS)``; NaN for the last presses (no tempo ahead)."""
    lag = SOFT_TEMPO_PRESSES
    out = np.full((down.size, SOFT_VALUES), np.nan)
    n = min(down.size - lag, up.size - 1)  # presses with a tempo ahead and a next up
    if n < 1:
        return out
    tempo = np.maximum((down[lag: lag + n] - down[:n]) / lag, 1.0)  # ms per press
    out[:n] = np.stack([down[1: n + 1] - down[:n], up[:n] - down[:n], up[1: n + 1] - up[:n],
                        down[2: n + 2] - down[:n]], 1) / np.sqrt(tempo * TEMPO_REF_MS)[:, None]
    return out


def _soft_words(x: np.ndarray, k: _Keys) -> np.ndarray:
    """``[n, groups]`` soft words of ``x [n, SOFT_VALUES]`` (``_MISSING`` where a value is NaN):
    per group of values and grid, the ``SOFT_BITS``-bit keyed code of the group's joint cell.
    A code of one value's cell alone is a function of the few cells people's values fall in,
    so some of its bits follow the value (|r| up to 0.8 over the test typists; the two-word
    sketch before: 0.4); of the joint cell of all four, 0.25."""
    ok = np.isfinite(x).all(1)
    x = np.where(ok[:, None], x, 0.0) / SOFT_STEP  # in cells
    groups, values = len(SOFT_GROUPS), np.array(SOFT_GROUPS)  # [groups, group size]
    # Word g's grids lie g / groups of a grid spacing on from word 0's.
    shift = (np.arange(SOFT_OFFSETS)[None, :, None] + np.arange(groups)[:, None, None] / groups
             + k.soft_u[values][:, None, :]) / SOFT_OFFSETS  # [groups, grids, group size]
    cell = np.floor(x[:, values][:, :, None, :] + shift).astype(np.int64)  # [n, groups, grids, size]
    with np.errstate(over="ignore"):  # keyed hash of each joint cell (as _hash_rows, all at once)
        acc = np.broadcast_to(k.soft_k[..., 0], cell.shape[:-1]).astype(np.uint64)
        for j in range(values.shape[1]):
            acc = _mix(acc ^ (cell[..., j].view(np.uint64) * k.soft_k[..., j + 1]))
    code = (acc >> np.uint64(64 - SOFT_BITS)).astype(np.int64)
    words = (code << (SOFT_BITS * np.arange(SOFT_OFFSETS))).sum(2)  # [n, groups]
    return np.where(ok[:, None], words, _MISSING)


def keystroke_sketch(keys: KeystrokeArrays, key: bytes = DEV_SKETCH_KEY) -> np.ndarray:
    """Keyed replay sketch of key events: ``[KEY_SKETCH_V, fine_0, soft_0, soft'_0, fine_1, ...]``.

    ``KEY_WORDS`` words (float32 integers below 2**24; soft ones -1 for the last presses) per
    press with a full 3-press window, at most ``(SIGNATURE_LEN - 1) // KEY_WORDS`` presses;
    ``[]`` when there are fewer than 3 presses.
    """
    p = keystroke_presses(keys)
    o = np.argsort(p.down_t, kind="stable")
    down, up = p.down_t[o], p.up_t[o]
    k = _keys(bytes(key))
    fine_x = _window_shapes(down, up, FINE_W)
    n = min(fine_x.shape[0], (SIGNATURE_LEN - 1) // KEY_WORDS)
    if n == 0:
        return np.zeros(0, np.float32)
    qf = np.floor((fine_x[:n] @ k.fine_a + k.fine_b) / FINE_STEP)
    fine = (_hash_rows(qf, k.fine_k) >> np.uint64(40)).astype(np.int64)
    words = np.c_[fine, _soft_words(_soft_values(down, up)[:n], k)]
    return np.r_[KEY_SKETCH_V, words.ravel()].astype(np.float32)


def _key_words(sig: np.ndarray) -> np.ndarray | None:
    """``[presses, KEY_WORDS]`` words of a keystroke sketch; None for another format (e.g. an
    older release's): not comparable."""
    sig = np.asarray(sig, np.float32)
    if sig.size < 1 + KEY_WORDS or sig[0] != KEY_SKETCH_V:
        return None
    n = (sig.size - 1) // KEY_WORDS
    return sig[1: 1 + KEY_WORDS * n].astype(np.intp).reshape(n, KEY_WORDS)


#: Agreeing grids in 12 bits of the XOR of two soft words (its fields that are 0).
_AGREE12 = sum(((np.arange(4096) >> (SOFT_BITS * r)) & ((1 << SOFT_BITS) - 1)) == 0
               for r in range(12 // SOFT_BITS)).astype(np.intp)


def _agreeing(x: np.ndarray) -> np.ndarray:
    """Grids (0..SOFT_OFFSETS) on which two soft words agree, from their XOR ``x`` (intp)."""
    return _AGREE12[x & 4095] + _AGREE12[(x >> 12) & 4095]


@dataclass(frozen=True)
class KeystrokeReplayScore:
    """What :func:`is_replay` reads of a live keystroke sketch against a stored set."""

    fine: int  # most exact (fine) matches on one alignment whose soft LLR sum is not negative
    llr: float  # best soft LLR sum over the alignments that put the live sketch inside a stored one
    margin: float  # ``llr`` less the best against the other stored sketches (when that is above 0)
    compared: int  # presses compared on the best alignment
    presses: int  # presses of the live sketch with soft words


def keystroke_replay_score(sig: np.ndarray, stored: list[np.ndarray],
                           cfg: GuardConfig = GuardConfig()) -> KeystrokeReplayScore | None:
    """Best alignment of ``sig`` with the stored keystroke sketches; None when none compares.

    An alignment puts live press ``i`` on press ``i + o`` of one stored sketch. The offsets
    compared are those that put the live sketch inside the stored one (but
    ``replay_edge_presses`` at either end) or the stored one inside the live one (for the
    other sessions' score): all stored sketches and offsets at once, as one gather.
    """
    q = _key_words(sig)
    words = [w for w in map(_key_words, stored) if w is not None]
    if q is None or not words:
        return None
    m, cap, edge = q.shape[0], (SIGNATURE_LEN - 1) // KEY_WORDS, cfg.replay_edge_presses
    size = np.array([w.shape[0] for w in words])
    body = np.concatenate(words + [np.full((1, KEY_WORDS), -2, np.intp)])  # last: none, never a code
    start = np.r_[0, np.cumsum(size)[:-1]]
    # A sketch cut at capacity went on: the live one may run past its end.
    lo = np.minimum(-edge, size - m - edge)
    hi = np.where(size == cap, size - 1, np.maximum(size - m + edge, edge))
    n_al = hi - lo + 1
    blk = np.repeat(np.arange(len(words)), n_al)  # alignment -> stored sketch
    o = np.arange(n_al.sum()) - np.repeat(np.cumsum(n_al) - n_al - lo, n_al)
    pos = o[:, None] + np.arange(m)
    s = body[np.where((pos >= 0) & (pos < size[blk, None]), start[blk, None] + pos, len(body) - 1)]
    live = q[:, 1] >= 0
    both = live & (s[..., 1] >= 0)  # [alignments, m]: press compared
    lut = np.asarray(cfg.replay_soft_llr, np.float32)
    llr = np.zeros(both.shape, np.float32)
    for g in range(len(SOFT_GROUPS)):  # intp indices: numpy gathers with them far faster than int32
        llr += np.take(lut[g], _agreeing(q[:, 1 + g] ^ s[..., 1 + g]), mode="clip")
    total, compared = (llr * both).sum(1), both.sum(1)
    # Exact matches count where the soft words do not contradict them: a person on a coarse
    # clock (Aalto: ~11 ms ticks) can repeat a 3-press shape to the tick, never a whole rhythm.
    fine = int(np.where(total >= 0, (q[:, 0] == s[..., 0]).sum(1), 0).max())
    tail = np.r_[np.cumsum(live[::-1])[::-1], 0]  # tail[t]: live presses with soft words from t on
    past = np.where(size[blk] == cap, tail[np.clip(size[blk] - o, 0, m)], 0)
    n_live, n_stored = int(live.sum()), np.array([int((w[:, 1] >= 0).sum()) for w in words])
    usable = (compared > 0) & (n_stored[blk] >= cfg.replay_min_stored_presses)
    inside = usable & ((compared >= n_live - edge) | (  # past a cut end: given enough compared
        (compared + past >= n_live - edge) & (compared >= cfg.replay_min_stored_presses)))
    if not inside.any():
        return KeystrokeReplayScore(fine, -math.inf, -math.inf, 0, n_live)
    best = int(np.argmax(np.where(inside, total, -np.inf)))
    # The other stored sessions, aligned either way (the shorter inside the longer): a text the
    # person types the same every time matches all of them about as well.
    others = usable & (blk != blk[best]) & (inside | (compared >= n_stored[blk] - edge))
    other = float(total[others].max()) if others.any() else 0.0
    return KeystrokeReplayScore(fine, float(total[best]), float(total[best]) - max(other, 0.0),
                                int(compared[best]), n_live)


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
    # Distinct positions: one 64-bit key per (x, y) pair (the contract bounds both by MAX_COORD).
    px = np.round(np.asarray(x, float)).astype(np.int64)
    py = np.round(np.asarray(y, float)).astype(np.int64)
    pairs = np.unique((px << 32) + (py + (1 << 31)))
    if pairs.size == 0:
        return np.zeros(0, np.float32)
    xy = np.stack([pairs >> 32, (pairs & 0xFFFFFFFF) - (1 << 31)], 1)
    k = _keys(bytes(key))
    h = _hash_rows(xy, k.path_k)
    low = (h & np.uint64(0xFFFF)).astype(np.int64)
    # Level: trailing zero bits above the tag, at most 15 (the lowest set bit's exponent; a power
    # of two below 2**48 is exact in float64).
    v = (h >> np.uint64(16)) & np.uint64(0xFFFF)
    lowest = (v & (~v + np.uint64(1))).astype(np.float64)
    level = np.where(v == 0, 15, np.log2(np.maximum(lowest, 1.0))).astype(np.int64)
    # The smallest level that leaves at most ``capacity`` positions.
    at_least = np.cumsum(np.bincount(level, minlength=16)[::-1])[::-1]
    lv = int(np.argmax(at_least <= capacity)) if (at_least <= capacity).any() else 16
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
        stored_entries = s[2:].astype(np.int64)  # sorted, as path_sketch writes them (exact in float32)
        at = np.minimum(np.searchsorted(stored_entries, qq), stored_entries.size - 1)
        share = float(np.mean(stored_entries[at] == qq)) if stored_entries.size else 0.0
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


#: How a signature repeats a stored one: ``"exact"``, a copy (whole, cut or stretched) to the
#: quantization step, or pointer and touch positions found again; ``"similar"``, keystroke
#: timings within a replay's jitter of one stored session's (the soft words) and nothing exact.
ReplayEvidence = Literal["exact", "similar"]


def replay_evidence(signature: np.ndarray, stored: list[np.ndarray], cfg: GuardConfig = GuardConfig(),
                    modality: str = "keystrokes") -> ReplayEvidence | None:
    """How the signature repeats (a part of) a stored one of the same modality; None: it does not.

    ``"similar"`` is what a jittered replay of typing gives, and also what a practised owner
    retyping the same text can give (CMU's password typists: about one pair of sessions in ten,
    ``bench/results/guards.json``): the scorer leaves it to the policy (``possible_replay``).
    """
    if not stored:
        return None
    if modality == "keystrokes":
        r = keystroke_replay_score(signature, stored, cfg)
        if r is None:
            return None
        if r.fine >= cfg.replay_min_fine_matches:
            return "exact"
        soft = (r.presses >= cfg.replay_min_presses and r.margin >= cfg.replay_min_llr
                and r.margin >= cfg.replay_min_margin_per_press * r.compared
                and r.llr >= cfg.replay_min_llr_per_press * r.compared)
        return "similar" if soft else None
    share, n = path_replay_share(signature, stored)
    return "exact" if n >= cfg.replay_min_points and share >= cfg.replay_min_containment else None


def is_replay(signature: np.ndarray, stored: list[np.ndarray], cfg: GuardConfig = GuardConfig(),
              modality: str = "keystrokes") -> bool:
    """True when the signature repeats (a part of) a stored one of the same modality, exactly or
    within a replay's jitter (:func:`replay_evidence`)."""
    return replay_evidence(signature, stored, cfg, modality) is not None


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


def _median(x: np.ndarray) -> float:
    """``np.median`` of a short 1-D array without its wrapper's cost (the same value)."""
    s = np.sort(x)
    n = s.size
    return float(s[(n - 1) // 2] + s[n // 2]) / 2


def _burst(x: np.ndarray, cfg: GuardConfig) -> np.ndarray:
    """Waits within bursts: positive and at most ``burst_gap_factor`` x the median (longer ones
    are pauses)."""
    med = _median(x)
    return x[(x > 0) & (x <= cfg.burst_gap_factor * med)]


def _burst_waits_unmarked(waits: np.ndarray, cfg: GuardConfig) -> np.ndarray:
    """Waits within bursts, less the longest when over ``field_gap_factor`` x the median (a move to
    the next field that no masked key marks)."""
    b = _burst(waits, cfg)
    if b.size and b.max() > cfg.field_gap_factor * _median(waits):
        b = np.delete(b, np.argmax(b))
    return b


def _burst_waits(waits: np.ndarray, same_field: np.ndarray, cfg: GuardConfig) -> np.ndarray:
    """Waits within bursts. Where the fields are known (``same_field`` false where masked keys meet
    unmasked ones: a move to another field), each field's bursts over their midrange: a script
    may wait about another base delay in each field, and the pooled waits then lie within the
    band of the widest field's (a field of fewer than 3 has no scale to go by and is left out).
    Else :func:`_burst_waits_unmarked`."""
    if same_field.all():
        return _burst_waits_unmarked(waits, cfg)
    # Fields are runs of presses, so each field's waits are contiguous: per-field reductions at
    # the runs' starts, in time order (the order the per-field loop this replaces produced).
    field = np.cumsum(~same_field)[same_field]
    w = waits[same_field]
    if w.size == 0:
        return w
    start = np.flatnonzero(np.r_[True, field[1:] != field[:-1]])
    count = np.diff(np.r_[start, w.size])
    group = np.repeat(np.arange(start.size), count)
    s = w[np.lexsort((w, field))]
    med = (s[start + (count - 1) // 2] + s[start + count // 2]) / 2
    burst = (w > 0) & (w <= cfg.burst_gap_factor * med[group])
    hi = np.maximum.reduceat(np.where(burst, w, 0.0), start)  # burst waits are > 0
    lo = np.minimum.reduceat(np.where(burst, w, np.inf), start)
    keep = burst & (np.add.reduceat(burst, start) >= 3)[group]
    return w[keep] / (0.5 * (hi + lo))[group[keep]]


def _jitter_test(b: np.ndarray, log_hold_sd: float, cfg: GuardConfig) -> tuple[float, float, float, int]:
    """Band (max / min), hold spread (log-sd of holds / of waits), flat LLR and count of some
    waits within bursts (band inf below the fewest waits either jitter rule reads)."""
    if b.size < min(cfg.jitter_keyboard.min_waits, cfg.jitter_touchscreen.min_waits) or b.min() <= 0:
        return math.inf, 0.0, -math.inf, int(b.size)
    return (float(b.max() / b.min()), log_hold_sd / max(float(np.log(b).std()), 1e-9),
            flat_vs_lognormal_llr(b), int(b.size))


def keystroke_bot_stats(keys: KeystrokeArrays, cfg: GuardConfig = GuardConfig()) -> dict[str, float]:
    """The timing statistics the keystroke bot rule reads (NaN where too few presses)."""
    p = keystroke_presses(keys)
    dd = np.diff(p.down_t) if len(p) > 1 else np.zeros(0)
    nan = math.nan
    out = {"n_intervals": float(dd.size), "robust_cv": nan, "median_dd_ms": nan,
           "median_hold_ms": nan, "hold_cv": nan, "fixed_hold_share": nan, "burst_intervals": nan,
           "rollovers": nan, "near_releases": nan, "expected_rollovers": nan, "wait_band": nan,
           "hold_spread": nan, "jitter_llr": nan, "jitter_waits": nan}
    if dd.size < cfg.min_presses_for_bot_check:
        return out
    med = _median(dd)
    out["median_dd_ms"] = med
    out["robust_cv"] = _median(np.abs(dd - med)) / max(med, 1e-9)
    hold = p.hold[np.isfinite(p.hold)]
    if hold.size >= cfg.min_presses_for_bot_check:
        mh = _median(hold)
        out["median_hold_ms"] = mh
        out["hold_cv"] = _median(np.abs(hold - mh)) / max(mh, 1e-9)
        # Share of holds at the median within the collector's resolution: a script's fixed hold
        # gives ~1; a person's holds on a coarse clock can share the median often (MAD 0), not ~always.
        out["fixed_hold_share"] = float(np.mean(np.abs(hold - mh) <= max(2.0, 0.02 * mh)))
    else:
        return out
    # Rollover and jitter statistics on presses with a release, a chord (a press released
    # inside the one before it, as a held Shift and its key) counted as one press.
    released = np.isfinite(p.hold)
    down, up, masked = p.down_t[released], p.up_t[released], p.key_class[released] == KeyClass.MASKED
    outer = np.r_[True, up[1:] > np.maximum.accumulate(up)[:-1]]
    down, up, masked = down[outer], up[outer], masked[outer]
    if down.size < cfg.min_presses_for_bot_check + 1:
        return out
    gap, h = np.diff(down), np.maximum(up - down, 0.1)
    burst = (gap > 0) & (gap <= cfg.burst_gap_factor * med)
    reach = h[:-1] / np.maximum(gap, 1e-9)  # > 1: the next key went down before this one came up
    bd = np.sort(_burst_waits_unmarked(gap, cfg))  # fields aside: all the typing's bursts
    out["burst_intervals"] = float(bd.size)
    out["rollovers"] = float(np.sum(reach > 1))
    out["near_releases"] = float(np.sum(burst & (reach >= cfg.bot_near_release) & (reach <= 1)))
    # Rollovers a person would make with these holds and intervals paired at random (people's
    # holds hardly depend on the next interval): no rollover has probability ~exp(-expected).
    out["expected_rollovers"] = float(np.searchsorted(bd, h, side="left").sum()) / max(h.size, 1)
    lsd = float(np.log(h).std())
    # A script waits either between presses (down-down) or after each release (up-down). Where a
    # masked (sensitive) field's keys meet unmasked ones the typist moved to another field: no rhythm.
    same_field = masked[1:] == masked[:-1]
    tests = [_jitter_test(_burst_waits(w, same_field, cfg), lsd, cfg) for w in (gap, gap - h[:-1])]
    band, spread, llr, n_waits = min(tests)
    out["wait_band"], out["hold_spread"], out["jitter_waits"] = band, spread, float(n_waits)
    if math.isfinite(band):
        out["jitter_llr"] = llr + flat_vs_lognormal_llr(h) + (out["expected_rollovers"] if not out["rollovers"] else 0.0)
    return out


def keystroke_bot_reasons(stats: dict[str, float], cfg: GuardConfig = GuardConfig(),
                          keyboard: bool = False) -> list[str]:
    """Which keystroke rules fire on :func:`keystroke_bot_stats` (empty: human-like); ``keyboard``:
    typed on a physical keyboard (:func:`typed_on_keyboard`), else a touchscreen's rule."""
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
    no_rollover = stats["rollovers"] == 0
    if no_rollover and stats["near_releases"] >= max(cfg.bot_min_near_releases,
                                                     cfg.bot_min_near_release_share * stats["burst_intervals"]):
        out.append("releases_before_next_key")
    rule = cfg.jitter_keyboard if keyboard else cfg.jitter_touchscreen
    if (no_rollover and stats["jitter_waits"] >= rule.min_waits and stats["wait_band"] <= cfg.bot_max_wait_band
            and stats["hold_spread"] >= rule.min_hold_spread and stats["jitter_llr"] >= rule.min_llr):
        out.append("uniform_jitter")
    return out  # comparisons with NaN are False: too little evidence flags nothing


def typed_on_keyboard(session: Session) -> bool:
    """Whether the session's keys came from a physical keyboard: a desktop; or no touch input, with
    a mouse moved or the device type left out (a script claiming a phone but moving a mouse, or
    naming no device, gets the keyboard's rule)."""
    if session.meta.device_type == "desktop":
        return True
    return not session.touch and (session.meta.device_type == "unknown" or bool(session.pointer))


def keystroke_bot_like(session: Session, cfg: GuardConfig = GuardConfig()) -> bool:
    """Too regular, too fast, zero or fixed holds, or flat random waits: no human types so."""
    stats = keystroke_bot_stats(session.keystroke_arrays(), cfg)
    return bool(keystroke_bot_reasons(stats, cfg, keyboard=typed_on_keyboard(session)))


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
    return _movements_bot_like(arr, action_id, actions, cfg)


def _movements_bot_like(arr: PointerArrays, action_id: np.ndarray, actions: np.ndarray, cfg: GuardConfig) -> bool:
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
    """Every pointer movement a ruler-straight line or a constant-step path (on the session's
    action segmentation, shared with the pointer scorer)."""
    _, action_id, actions = session_mouse_views(session)
    return _movements_bot_like(session.pointer_arrays(), action_id, actions, cfg)


def bot_like(session: Session, cfg: GuardConfig = GuardConfig()) -> list[str]:
    """Names of the modalities whose timing or paths no human produces."""
    out = []
    if session.keystrokes and keystroke_bot_like(session, cfg):
        out.append("keystrokes")
    if session.pointer and pointer_bot_like(session, cfg):
        out.append("pointer")
    return out

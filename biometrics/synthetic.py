"""Seeded synthetic login sessions: genuine users, impostors, bots and replays.

Every simulated person has a latent :class:`UserStyle` drawn from a population:

* **typing**: speed (median down-down latency), a consistent per-digraph rhythm (a fixed
  log-offset per key pair on top of a keyboard-geometry population effect), hold-time
  mean and spread per key, a rollover habit (per key pair, the probability that the next
  key goes down before the previous one is up), shift-release habit, hesitations, typos;
* **mouse**: Fitts-law movement time ``a + b * log2(1 + D / W)``, path curvature,
  velocity-profile skew, overshoot and corrective sub-movement, tremor, pauses, dwell
  before a click, click hold time, scrolling habit;
* **touch**: swipe length, speed, direction preference, curvature, acceleration, start
  position, pressure and contact area, tap duration.

Sessions vary around the style (per-session drift is small, with a slight practice
effect). Impostors are other styles typing the victim's password on the victim's page;
bots type and point with near-constant timing at superhuman speed along straight,
constant-velocity paths; replays copy a stored genuine session with +-1-3 ms jitter.

Everything is driven by an explicit :class:`numpy.random.Generator`; no global random
state is touched. :func:`generate_dataset` derives one generator per user and per session
from ``(seed, kind, index)``, so the same seed gives identical sessions, and adding users
or sessions does not change the earlier ones.

Run ``python -m biometrics.synthetic --out sample_data --users 20 --seed 7`` to write
``sessions.jsonl`` (one labelled session per line) and a README describing it.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from biometrics.events import SCHEMA_VERSION, KeyClass, Session, key_class_of_code
from biometrics.features.keystroke import keystroke_presses, password_run

Label = Literal["genuine", "impostor", "bot", "replay"]
Split = Literal["enroll", "test"]
Device = Literal["desktop", "mobile"]

#: The generator's revision: a change to what a seed generates bumps it, so caches of generated
#: data (the synthetic data module's) are not reused across it. 2: timing and movement
#: statistics fitted to Aalto, Balabit and Serwadda (bench/generator_fit.py). 3: each account
#: has a login name typed every session, and the spread of a person's timing over repeats of
#: the same text is fitted to CMU's.
GENERATOR_VERSION = 3

DEMO_PASSWORD: tuple[str, ...] = (
    "Period", "KeyT", "KeyI", "KeyE", "Digit5", "ShiftRight", "KeyR",
    "KeyO", "KeyA", "KeyN", "KeyL", "Enter",
)
"""CMU's ``.tie5Roanl`` followed by Enter, as browser ``KeyboardEvent.code`` presses."""

DEMO_USERNAME: tuple[str, ...] = (
    "KeyA", "KeyL", "KeyE", "KeyX", "Digit7", "ShiftRight", "Digit2", "KeyM", "KeyA", "KeyI", "KeyL",
    "Period", "KeyC", "KeyO", "KeyM",
)
"""``alex7@mail.com`` as presses: the login name every user types where one is shared."""

# --------------------------------------------------------------------------------------
# Keyboard vocabulary and geometry (QWERTY, touch-typing finger assignment)
# --------------------------------------------------------------------------------------

# code -> (column x, row y, finger); fingers 0-3 left pinky..index, 4/5 thumbs, 6-9 right
# index..pinky.
_KEYBOARD: dict[str, tuple[float, float, int]] = {
    "Backquote": (0.0, 0, 0), "Digit1": (1.0, 0, 0), "Digit2": (2.0, 0, 1),
    "Digit3": (3.0, 0, 2), "Digit4": (4.0, 0, 3), "Digit5": (5.0, 0, 3),
    "Digit6": (6.0, 0, 6), "Digit7": (7.0, 0, 6), "Digit8": (8.0, 0, 7),
    "Digit9": (9.0, 0, 8), "Digit0": (10.0, 0, 9), "Minus": (11.0, 0, 9),
    "Equal": (12.0, 0, 9), "Backspace": (13.5, 0, 9),
    "KeyQ": (1.5, 1, 0), "KeyW": (2.5, 1, 1), "KeyE": (3.5, 1, 2), "KeyR": (4.5, 1, 3),
    "KeyT": (5.5, 1, 3), "KeyY": (6.5, 1, 6), "KeyU": (7.5, 1, 6), "KeyI": (8.5, 1, 7),
    "KeyO": (9.5, 1, 8), "KeyP": (10.5, 1, 9), "BracketLeft": (11.5, 1, 9),
    "BracketRight": (12.5, 1, 9), "Backslash": (13.5, 1, 9),
    "KeyA": (1.75, 2, 0), "KeyS": (2.75, 2, 1), "KeyD": (3.75, 2, 2), "KeyF": (4.75, 2, 3),
    "KeyG": (5.75, 2, 3), "KeyH": (6.75, 2, 6), "KeyJ": (7.75, 2, 6), "KeyK": (8.75, 2, 7),
    "KeyL": (9.75, 2, 8), "Semicolon": (10.75, 2, 9), "Quote": (11.75, 2, 9),
    "Enter": (13.25, 2, 9),
    "ShiftLeft": (0.5, 3, 0), "KeyZ": (2.25, 3, 0), "KeyX": (3.25, 3, 1),
    "KeyC": (4.25, 3, 2), "KeyV": (5.25, 3, 3), "KeyB": (6.25, 3, 3), "KeyN": (7.25, 3, 6),
    "KeyM": (8.25, 3, 6), "Comma": (9.25, 3, 7), "Period": (10.25, 3, 8),
    "Slash": (11.25, 3, 9), "ShiftRight": (13.0, 3, 9),
    "Space": (6.5, 4, 5),
}
KEY_CODES: tuple[str, ...] = tuple(_KEYBOARD)
"""Every browser key code the generator can press."""
_KEY_INDEX: dict[str, int] = {c: i for i, c in enumerate(KEY_CODES)}
_N_KEYS = len(KEY_CODES)
_SHIFT_IDX = np.array([_KEY_INDEX["ShiftLeft"], _KEY_INDEX["ShiftRight"]])

_LETTER_FREQ: dict[str, float] = {
    "E": 12.7, "T": 9.1, "A": 8.2, "O": 7.5, "I": 7.0, "N": 6.7, "S": 6.3, "H": 6.1,
    "R": 6.0, "D": 4.3, "L": 4.0, "C": 2.8, "U": 2.8, "M": 2.4, "W": 2.4, "F": 2.2,
    "G": 2.0, "Y": 2.0, "P": 1.9, "B": 1.5, "V": 1.0, "K": 0.8, "J": 0.15, "X": 0.15,
    "Q": 0.1, "Z": 0.07,
}
_LETTERS = tuple("Key" + c for c in _LETTER_FREQ)
_LETTER_P = np.array(list(_LETTER_FREQ.values())) / sum(_LETTER_FREQ.values())
_PASSWORD_PUNCT = ("Period", "Comma", "Minus", "Slash", "Semicolon")

_DESKTOP_SCREENS = ((1920, 1080), (1536, 864), (1440, 900), (1366, 768), (2560, 1440))
_MOBILE_SCREENS = ((390, 844), (412, 915), (375, 667), (360, 800), (393, 852))


@functools.lru_cache(maxsize=1)
def _population_tables() -> tuple[np.ndarray, np.ndarray]:
    """Population log-offsets of down-down latency per key pair [K, K] and of hold per key [K]."""
    xy = np.array([(v[0], v[1]) for v in _KEYBOARD.values()])
    finger = np.array([v[2] for v in _KEYBOARD.values()])
    hand = np.where(finger <= 4, 0, 1)
    thumb = (finger == 4) | (finger == 5)
    dist = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=-1)
    same_hand = (hand[:, None] == hand[None, :]) & ~thumb[:, None] & ~thumb[None, :]
    same_finger = (finger[:, None] == finger[None, :]) & (dist > 0)
    fixed = np.random.default_rng(20240531)  # a constant of the synthetic population
    dd = (
        np.where(same_hand, 0.10, -0.10)
        + np.where(same_finger, 0.25, 0.0)
        + 0.035 * dist
        + fixed.normal(0.0, 0.07, (_N_KEYS, _N_KEYS))
    )
    dd[_SHIFT_IDX, :] -= 0.25  # a shift is pressed just ahead of its letter
    dd -= dd.mean()
    hold = fixed.normal(0.0, 0.05, _N_KEYS)
    hold[finger == 0] += 0.04
    hold[finger == 9] += 0.04
    hold[_KEY_INDEX["Space"]] += 0.08
    hold[_KEY_INDEX["Enter"]] += 0.06
    for arr in (dd, hold):
        arr.setflags(write=False)
    return dd, hold


# --------------------------------------------------------------------------------------
# Latent styles, accounts, page layout
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class UserStyle:
    """A simulated person's latent behaviour: typing rhythm, mouse and touch habits."""

    # typing
    dd_median_ms: float  # median down-down latency (overall speed)
    dd_sigma: float  # within-user log-normal spread of down-down latencies
    hold_median_ms: float
    hold_sigma: float
    p_rollover: float  # base probability that the next key goes down before this one is up
    rollover_frac: float  # fraction of the hold elapsed when the next key goes down, on rollover
    shift_release: float  # shift released after this fraction of the shifted key's hold
    p_hesitation: float  # per-key probability of a thinking pause
    hesitation_ms: float
    typo_rate: float  # per-letter probability of a wrong key + Backspace in the login name
    drift_sigma: float  # session-to-session log spread of speed and hold
    digraph_offset: np.ndarray  # float32 [K, K] log-offset of down-down latency per key pair
    hold_offset: np.ndarray  # float32 [K] log-offset of hold per key
    rollover_logit_offset: np.ndarray  # float32 [K, K] per key pair
    # mouse
    fitts_a_ms: float
    fitts_b_ms: float  # ms per bit
    curvature: float  # mean signed bow of a path, as a fraction of its length
    curvature_sd: float
    velocity_skew: float  # < 1: the speed peak comes early
    p_overshoot: float
    overshoot_frac: float
    tremor_px: float
    dwell_ms: float  # pause on a target before clicking
    pause_ms: float  # pause between actions
    click_hold_ms: float
    mouse_sample_ms: float  # the user's browser/mouse event interval
    p_scroll: float
    p_remember: float  # clicks the "remember me" box
    p_drift: float  # the pointer wanders slowly before a movement is aimed
    p_hesitate: float  # a movement stops part-way, then goes on
    hesitate_ms: float
    # touch
    swipe_length_px: float
    swipe_speed: float  # px per ms
    swipe_angle_deg: float  # preferred direction (-90 = up)
    p_swipe_reverse: float
    swipe_curvature: float
    swipe_accel: float  # exponent of the along-path time (> 1: the speed peak comes late)
    swipe_liftoff: float  # the finger lifts at this fraction of a full speed-up-slow-down profile
    swipe_x_frac: float  # preferred horizontal start position (thumb side)
    pressure_mean: float
    pressure_sd: float
    area_mean: float
    area_sd_frac: float
    tap_ms: float


def sample_style(rng: np.random.Generator) -> UserStyle:
    """Draw one person's latent behaviour from the synthetic population."""
    k = _N_KEYS

    def logn(median: float, sigma: float) -> float:
        return float(median * math.exp(rng.normal(0.0, sigma)))

    hand_bias = rng.normal(0.0, 0.08)  # one hand slower than the other
    finger = np.array([v[2] for v in _KEYBOARD.values()])
    to_left = np.where(finger <= 3, hand_bias, -hand_bias)
    # Fitted to CMU's 51 typists of one password (bench/generator_fit.py, "same_text"): a
    # person's log down-down at one position of the text varies by 0.26-0.33 over repeats (the
    # generator: 0.31 with rollovers and pauses; hold 0.14-0.16, here 0.15), and people's
    # per-position offsets from their own mean differ by 0.25 (here 0.26; hold 0.17, here 0.17).
    digraph = rng.normal(0.0, 0.11, (k, k)) + to_left[None, :]
    return UserStyle(
        # Fitted to Aalto's desktop typists (bench/generator_fit.py): per user, median
        # down-down 190 ms with between-user log SD 0.35, median hold 100 ms (SD 0.22),
        # rollover 17% of presses (SD 0.16).
        dd_median_ms=float(np.clip(logn(190.0, 0.35), 70.0, 700.0)),
        dd_sigma=float(rng.uniform(0.08, 0.22)),
        hold_median_ms=float(np.clip(logn(100.0, 0.22), 45.0, 250.0)),
        hold_sigma=float(rng.uniform(0.10, 0.20)),
        p_rollover=float(rng.beta(0.8, 5.2)),
        rollover_frac=float(rng.uniform(0.35, 0.85)),
        shift_release=float(rng.uniform(0.3, 1.6)),
        p_hesitation=float(rng.uniform(0.003, 0.03)),
        hesitation_ms=logn(250.0, 0.4),
        typo_rate=float(rng.uniform(0.0, 0.06)),
        drift_sigma=float(rng.uniform(0.02, 0.05)),
        digraph_offset=digraph.astype(np.float32),
        hold_offset=rng.normal(0.0, 0.18, k).astype(np.float32),
        rollover_logit_offset=rng.normal(0.0, 1.2, (k, k)).astype(np.float32),
        # Movement shape fitted towards Balabit's people (bench/generator_fit.py): peak
        # speeds near 2 px/ms, paths bowed about 10% of their length, pauses in a movement.
        fitts_a_ms=float(rng.uniform(30.0, 120.0)),
        fitts_b_ms=float(rng.uniform(50.0, 140.0)),
        curvature=float(rng.normal(0.0, 0.15)),
        curvature_sd=float(rng.uniform(0.05, 0.15)),
        velocity_skew=float(rng.uniform(0.75, 1.05)),
        p_overshoot=float(rng.beta(2.0, 4.0)),
        overshoot_frac=float(rng.uniform(0.03, 0.12)),
        tremor_px=float(rng.uniform(0.2, 1.2)),
        dwell_ms=logn(150.0, 0.4),
        pause_ms=logn(450.0, 0.4),
        click_hold_ms=float(np.clip(logn(105.0, 0.25), 40.0, 300.0)),
        mouse_sample_ms=float(rng.choice([8.0, 16.0, 16.7])),
        p_scroll=float(rng.uniform(0.0, 0.6)),
        p_remember=float(rng.uniform(0.0, 0.6)),
        p_drift=float(rng.uniform(0.1, 0.7)),
        p_hesitate=float(rng.uniform(0.05, 0.5)),
        hesitate_ms=float(np.clip(logn(700.0, 0.35), 300.0, 3000.0)),
        # Swipes fitted towards Serwadda's people (bench/generator_fit.py): shorter, bowed,
        # speeding up then slowing down, lifted off while still moving.
        swipe_length_px=float(np.clip(logn(200.0, 0.4), 60.0, 700.0)),
        swipe_speed=float(np.clip(logn(1.3, 0.3), 0.4, 5.0)),
        swipe_angle_deg=float(rng.normal(-90.0, 20.0)),
        p_swipe_reverse=float(rng.uniform(0.0, 0.3)),
        swipe_curvature=float(rng.normal(0.0, 0.15)),
        swipe_accel=float(rng.uniform(0.8, 1.3)),
        swipe_liftoff=float(rng.uniform(0.55, 1.0)),
        swipe_x_frac=float(rng.uniform(0.3, 0.8)),
        pressure_mean=float(rng.uniform(0.15, 0.85)),
        pressure_sd=float(rng.uniform(0.01, 0.06)),
        area_mean=float(np.clip(logn(160.0, 0.3), 40.0, 800.0)),
        area_sd_frac=float(rng.uniform(0.03, 0.12)),
        tap_ms=float(np.clip(logn(95.0, 0.3), 30.0, 300.0)),
    )


@dataclass(frozen=True)
class Account:
    """An account as the login page sees it: owner id, device, screen, password presses."""

    user_id: str
    device: Device
    screen_width: int
    screen_height: int
    password: tuple[str, ...]  # browser key codes pressed, Enter last
    username: tuple[str, ...] = ()  # the login name's key codes (an e-mail address), every session


@dataclass(frozen=True)
class Target:
    """A clickable box on the page (centre ``x``, ``y``; size ``w`` x ``h``, CSS pixels)."""

    x: float
    y: float
    w: float
    h: float


def random_password(rng: np.random.Generator) -> tuple[str, ...]:
    """A 10-12 press password: letters, 1-2 digits, maybe a punctuation, one capital, Enter."""
    n_chars = int(rng.integers(8, 11))
    chars = list(rng.choice(_LETTERS, size=n_chars, p=_LETTER_P))
    n_digits = int(rng.integers(1, 3))
    slots = rng.permutation(n_chars)
    for s in slots[:n_digits]:
        chars[s] = f"Digit{int(rng.integers(0, 10))}"
    if rng.random() < 0.5:
        chars[slots[n_digits]] = str(rng.choice(_PASSWORD_PUNCT))
    letter_slots = [i for i, c in enumerate(chars) if c.startswith("Key")]
    cap = int(rng.choice(letter_slots))
    shift = "ShiftRight" if _KEYBOARD[chars[cap]][2] <= 3 else "ShiftLeft"
    presses = chars[:cap] + [shift] + chars[cap:] + ["Enter"]
    return tuple(str(c) for c in presses)


def random_username(rng: np.random.Generator) -> tuple[str, ...]:
    """An e-mail address as pressed: name (maybe with digits), Shift + 2 for @, domain, dot, suffix."""
    def letters(lo: int, hi: int) -> list[str]:
        return [str(c) for c in rng.choice(_LETTERS, size=int(rng.integers(lo, hi)), p=_LETTER_P)]

    name = letters(4, 11)
    if rng.random() < 0.5:
        name += [f"Digit{int(d)}" for d in rng.integers(0, 10, int(rng.integers(1, 4)))]
    return tuple(name + ["ShiftRight", "Digit2"] + letters(4, 9) + ["Period"] + letters(2, 4))


def make_account(
    user_id: str,
    rng: np.random.Generator,
    device: Device | None = None,
    password: Sequence[str] | None = None,
    username: Sequence[str] | None = None,
) -> Account:
    """An account with a screen for ``device``, ``password`` and login name ``username`` (each
    drawn if None)."""
    if device is None:
        device = "mobile" if rng.random() < 0.4 else "desktop"
    screens = _MOBILE_SCREENS if device == "mobile" else _DESKTOP_SCREENS
    w, h = screens[int(rng.integers(len(screens)))]
    pw = tuple(password) if password is not None else random_password(rng)
    unknown = [c for c in pw if c not in _KEY_INDEX]
    if unknown:
        raise ValueError(f"password holds key codes the generator does not know: {unknown}")
    name = random_username(rng) if username is None else tuple(username)
    return Account(user_id=user_id, device=device, screen_width=w, screen_height=h, password=pw,
                   username=name)


def page_layout(account: Account) -> dict[str, Target]:
    """The login form's boxes on this account's screen: username, password, remember, submit."""
    w, h = account.screen_width, account.screen_height
    if account.device == "mobile":
        fw = w - 40.0
        return {
            "username": Target(w / 2, 0.40 * h, fw, 44.0),
            "password": Target(w / 2, 0.40 * h + 64, fw, 44.0),
            "remember": Target(34.0, 0.40 * h + 116, 24.0, 24.0),
            "submit": Target(w / 2, 0.40 * h + 170, fw, 48.0),
        }
    cx, cy = w / 2, h * 0.45
    return {
        "username": Target(cx, cy - 70, 320.0, 40.0),
        "password": Target(cx, cy - 10, 320.0, 40.0),
        "remember": Target(cx - 150, cy + 40, 18.0, 18.0),
        "submit": Target(cx, cy + 95, 320.0, 44.0),
    }


# --------------------------------------------------------------------------------------
# Keystrokes
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Keyboard:
    """How a device's keyboard scales a typing style."""

    dd: float
    hold: float
    rollover: float


_KEYBOARDS: dict[str, _Keyboard] = {
    "desktop": _Keyboard(dd=1.0, hold=1.0, rollover=1.0),
    "mobile": _Keyboard(dd=1.45, hold=0.8, rollover=0.45),
}


def _codes_to_index(codes: Sequence[str]) -> np.ndarray:
    return np.array([_KEY_INDEX[c] for c in codes], dtype=np.int64)


def _human_press_times(
    idx: np.ndarray,
    style: UserStyle,
    rng: np.random.Generator,
    speed: float,
    hold_scale: float,
    noise_scale: float,
    kb: _Keyboard,
) -> tuple[np.ndarray, np.ndarray]:
    """Down and up times (ms from the first down) of the presses ``idx`` typed by ``style``."""
    n = idx.size
    pop_dd, pop_hold = _population_tables()
    prev, nxt = idx[:-1], idx[1:]
    log_hold = (
        math.log(style.hold_median_ms * hold_scale * kb.hold)
        + pop_hold[idx]
        + style.hold_offset[idx]
        + rng.normal(0.0, style.hold_sigma * noise_scale, n)
    )
    hold = np.exp(log_hold)
    log_dd = (
        math.log(style.dd_median_ms * speed * kb.dd)
        + pop_dd[prev, nxt]
        + style.digraph_offset[prev, nxt]
        + rng.normal(0.0, style.dd_sigma * noise_scale, n - 1)
    )
    dd = np.exp(log_dd)
    p_roll = kb.rollover / (1.0 + np.exp(-(_logit(style.p_rollover) + style.rollover_logit_offset[prev, nxt])))
    is_shift = np.isin(prev, _SHIFT_IDX)
    roll = (rng.random(n - 1) < p_roll) & (prev != nxt) & ~is_shift
    frac = np.clip(rng.normal(style.rollover_frac, 0.08, n - 1), 0.15, 0.95)
    dd = np.where(roll, np.maximum(hold[:-1] * frac, 15.0), dd)
    pause = rng.random(n - 1) < style.p_hesitation
    dd = dd + np.where(pause, rng.exponential(style.hesitation_ms, n - 1), 0.0)
    dd = np.maximum(dd, 20.0)
    same = prev == nxt  # a key cannot go down again before it is up
    hold[:-1] = np.where(same, np.minimum(hold[:-1], dd - 8.0), hold[:-1])
    down = np.concatenate([[0.0], np.cumsum(dd)])
    # a shift stays down over its letter, released after a habitual part of the letter's hold
    shift_pos = np.flatnonzero(is_shift)
    if shift_pos.size:
        r = np.clip(rng.normal(style.shift_release, 0.12, shift_pos.size), 0.1, None)
        hold[shift_pos] = dd[shift_pos] + hold[shift_pos + 1] * r
    return down, down + np.maximum(hold, 8.0)


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _with_typos(codes: Sequence[str], rng: np.random.Generator, typo_rate: float) -> list[str]:
    """``codes`` as typed by someone who hits a wrong letter (fixed by Backspace) at ``typo_rate``."""
    typo = rng.random(len(codes)) < typo_rate
    out: list[str] = []
    for code, wrong in zip(codes, typo):
        if wrong and code.startswith("Key"):
            out.extend([str(rng.choice(_LETTERS)), "Backspace"])
        out.append(code)
    return out


@dataclass
class _Timeline:
    """Event columns of one session under construction."""

    key_t: list[np.ndarray]
    key_down: list[np.ndarray]
    key_idx: list[np.ndarray]
    key_sensitive: list[np.ndarray]  # typed into a sensitive field (the password): masked on the wire
    ptr: list[tuple[np.ndarray, ...]]  # (t, x, y, type, button, delta_y)
    tch: list[tuple[np.ndarray, ...]]  # (t, x, y, type, pressure, area)

    @classmethod
    def empty(cls) -> _Timeline:
        return cls([], [], [], [], [], [])

    def add_presses(self, t0: float, idx: np.ndarray, down: np.ndarray, up: np.ndarray,
                    sensitive: bool = False) -> float:
        n = idx.size
        self.key_t.append(np.concatenate([t0 + down, t0 + up]))
        self.key_down.append(np.concatenate([np.ones(n, bool), np.zeros(n, bool)]))
        self.key_idx.append(np.concatenate([idx, idx]))
        self.key_sensitive.append(np.full(2 * n, sensitive))
        return float(t0 + up.max())

    def press_ids(self) -> np.ndarray:
        """Press id per key event: presses numbered in the order they were added (down order)."""
        sizes = [a.size // 2 for a in self.key_idx]
        starts = np.cumsum([0, *sizes[:-1]])
        return np.concatenate([np.tile(np.arange(n) + s0, 2) for n, s0 in zip(sizes, starts)])


#: The contract's key class of every key the generator types (index as in KEY_CODES).
_KEY_CLASSES = np.array([int(key_class_of_code(c)) for c in KEY_CODES], dtype=np.int64)


def _round_t(t: np.ndarray) -> np.ndarray:
    return np.round(np.maximum(t, 0.0), 1)


def _build_session(tl: _Timeline, account: Account, rng: np.random.Generator) -> Session:
    """Assemble and validate a :class:`Session` from the timeline columns."""
    keys: list[dict] = []
    if tl.key_t:
        t = _round_t(np.concatenate(tl.key_t))
        down = np.concatenate(tl.key_down)
        idx = np.concatenate(tl.key_idx)
        cls = np.where(np.concatenate(tl.key_sensitive), int(KeyClass.MASKED), _KEY_CLASSES[idx])
        press = tl.press_ids()
        order = np.lexsort((down, t))  # at a tie, the up goes first
        keys = [{"t": float(t[i]), "type": "down" if down[i] else "up", "press": int(press[i]),
                 "key_class": int(cls[i])} for i in order]
    pointer: list[dict] = []
    if tl.ptr:
        cols = [np.concatenate(c) for c in zip(*tl.ptr)]
        t, x, y, typ, btn, dy = cols
        t = _round_t(t)
        order = np.argsort(t, kind="stable")
        pointer = []
        for i in order:
            ev = {"t": float(t[i]), "type": _PTR_TYPES[typ[i]], "x": float(x[i]), "y": float(y[i])}
            if btn[i]:
                ev["button"] = _PTR_BUTTONS[btn[i]]
            if dy[i]:
                ev["delta_y"] = float(dy[i])
            pointer.append(ev)
    touch: list[dict] = []
    if tl.tch:
        cols = [np.concatenate(c) for c in zip(*tl.tch)]
        t, x, y, typ, pr, ar = cols
        t = _round_t(t)
        order = np.argsort(t, kind="stable")
        touch = [
            {
                "t": float(t[i]), "type": _TOUCH_TYPES[typ[i]], "x": float(x[i]), "y": float(y[i]),
                "pressure": float(pr[i]), "area": float(ar[i]),
            }
            for i in order
        ]
    meta = {
        "device_type": account.device,
        "screen_width": account.screen_width,
        "screen_height": account.screen_height,
    }
    return Session.model_validate({"schema_version": SCHEMA_VERSION, "session_id": _session_id(rng),
                                   "keystrokes": keys, "pointer": pointer, "touch": touch, "meta": meta})


def _session_id(rng: np.random.Generator) -> str:
    """A random (seeded) UUID, as the collector makes one per session."""
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))


_PTR_TYPES = ("move", "down", "up", "wheel")
_PTR_BUTTONS = ("none", "left", "right", "middle")
_TOUCH_TYPES = ("start", "move", "end")

# --------------------------------------------------------------------------------------
# Mouse
# --------------------------------------------------------------------------------------


def _min_jerk(tau: np.ndarray) -> np.ndarray:
    return tau**3 * (10.0 - 15.0 * tau + 6.0 * tau**2)


def _bezier(p0: np.ndarray, p1: np.ndarray, bow: float, s: np.ndarray) -> np.ndarray:
    """Points at progress ``s`` on a quadratic curve from p0 to p1 bowed by ``bow`` x length."""
    d = p1 - p0
    perp = np.array([-d[1], d[0]])
    ctrl = (p0 + p1) / 2.0 + perp * bow
    s = s[:, None]
    return (1 - s) ** 2 * p0 + 2 * (1 - s) * s * ctrl + s**2 * p1


def _sample_times(duration: float, step: float, rng: np.random.Generator | None) -> np.ndarray:
    """Event times in (0, duration] at about every ``step`` ms (exactly, when rng is None)."""
    n = max(2, round(duration / step))
    if rng is None:
        return np.arange(1, n + 1) * (duration / n)
    dt = step * np.exp(rng.normal(0.0, 0.12, n))
    t = np.cumsum(dt)
    return t * (duration / t[-1])


def _screen_clip(pts: np.ndarray, account: Account) -> np.ndarray:
    lim = np.array([account.screen_width - 1, account.screen_height - 1], dtype=float)
    return np.clip(pts, 0.0, lim)


def _human_move(
    tl: _Timeline, t0: float, p0: np.ndarray, aim: np.ndarray, width: float,
    style: UserStyle, rng: np.random.Generator, account: Account, speed: float,
) -> float:
    """Move the pointer p0 -> aim like ``style`` (a slow drift first, Fitts timing, bow,
    a hesitation part-way, overshoot and correction); returns the end time."""
    dist = float(np.linalg.norm(aim - p0))
    if dist < 2.0:
        return t0
    segments: list[tuple[np.ndarray, np.ndarray, float, float, float]] = []  # from, to, ms, bow, gap before
    if rng.random() < style.p_drift:
        wander = p0 + rng.normal(0.0, 30.0, 2)
        segments.append((p0, wander, float(np.exp(rng.normal(math.log(450.0), 0.4))), rng.normal(0.0, 0.3), 0.0))
        p0 = wander
        dist = max(float(np.linalg.norm(aim - p0)), 2.0)
    mt = (style.fitts_a_ms + style.fitts_b_ms * math.log2(1.0 + dist / width)) * speed
    mt *= math.exp(rng.normal(0.0, 0.1))
    bow = rng.normal(style.curvature, style.curvature_sd)
    start = p0
    if rng.random() < style.p_hesitate:  # stops part-way, looks, goes on
        f = rng.uniform(0.3, 0.7)
        mid = np.round(_bezier(p0, aim, bow, np.array([f]))[0])
        segments.append((p0, mid, mt * f, bow, 0.0))
        start, mt = mid, mt * (1.0 - f) + style.fitts_a_ms * speed
        bow = rng.normal(style.curvature, style.curvature_sd)
        gap = style.hesitate_ms * math.exp(rng.normal(0.0, 0.3))
    else:
        gap = 0.0
    if rng.random() < style.p_overshoot:
        d = float(np.linalg.norm(aim - start)) or 1.0
        u = (aim - start) / d
        over = d * style.overshoot_frac * math.exp(rng.normal(0.0, 0.3))
        end = aim + u * over + np.array([-u[1], u[0]]) * rng.normal(0.0, over * 0.3)
        segments.append((start, end, mt, bow, gap))
        corr = (0.5 * style.fitts_a_ms + style.fitts_b_ms * math.log2(1.0 + over / width)) * speed
        # the corrective sub-movement starts after a short reaction
        segments.append((end, aim, corr, rng.normal(0.0, 0.05), float(np.exp(rng.normal(math.log(60.0), 0.3)))))
    else:
        segments.append((start, aim, mt, bow, gap))
    t = t0
    for a, b, dur, bw, gap in segments:
        t += gap
        ts = _sample_times(dur, style.mouse_sample_ms, rng)
        s = _min_jerk((ts / dur) ** style.velocity_skew)
        pts = _bezier(a, b, bw, s)
        pts += rng.normal(0.0, style.tremor_px, pts.shape) * np.sin(np.pi * ts / dur)[:, None]
        pts = np.round(_screen_clip(pts, account))
        keep = np.concatenate([[True], np.any(np.diff(pts, axis=0) != 0, axis=1)])
        _add_pointer(tl, t + ts[keep], pts[keep], "move")
        t += dur
    return t


def _add_pointer(
    tl: _Timeline, t: np.ndarray, pts: np.ndarray, kind: str, button: str = "none",
    delta_y: np.ndarray | None = None,
) -> None:
    n = t.size
    tl.ptr.append((
        np.asarray(t, float), pts[:, 0].astype(float), pts[:, 1].astype(float),
        np.full(n, _PTR_TYPES.index(kind)), np.full(n, _PTR_BUTTONS.index(button)),
        np.zeros(n) if delta_y is None else np.asarray(delta_y, float),
    ))


def _click(tl: _Timeline, t: float, pos: np.ndarray, hold: float) -> float:
    pts = np.repeat(pos[None, :], 1, axis=0)
    _add_pointer(tl, np.array([t]), pts, "down", "left")
    _add_pointer(tl, np.array([t + hold]), pts, "up", "left")
    return t + hold


def _aim_point(target: Target, rng: np.random.Generator) -> np.ndarray:
    """Where a person lands in a box: around the centre, Fitts' effective-width scatter."""
    p = np.array([target.x, target.y]) + rng.normal(0.0, 1.0, 2) * np.array([target.w, target.h]) / 6.0
    lo = np.array([target.x - target.w / 2 + 1, target.y - target.h / 2 + 1])
    hi = np.array([target.x + target.w / 2 - 1, target.y + target.h / 2 - 1])
    return np.round(np.clip(p, lo, hi))


# --------------------------------------------------------------------------------------
# Touch
# --------------------------------------------------------------------------------------


def _add_touch(
    tl: _Timeline, t: np.ndarray, pts: np.ndarray, pressure: np.ndarray, area: np.ndarray,
) -> None:
    n = t.size
    typ = np.ones(n, dtype=int)
    typ[0], typ[-1] = 0, 2
    tl.tch.append((
        np.asarray(t, float), np.round(pts[:, 0], 1), np.round(pts[:, 1], 1), typ,
        np.round(np.clip(pressure, 0.0, 1.0), 3), np.round(np.clip(area, 1.0, 5000.0), 1),
    ))


def _human_swipe(
    tl: _Timeline, t0: float, style: UserStyle, rng: np.random.Generator, account: Account,
) -> float:
    """One scrolling swipe like ``style``; returns its end time."""
    w, h = account.screen_width, account.screen_height
    angle = math.radians(style.swipe_angle_deg + rng.normal(0.0, 8.0))
    if rng.random() < style.p_swipe_reverse:
        angle += math.pi
    length = min(style.swipe_length_px * math.exp(rng.normal(0.0, 0.18)), 0.8 * h)
    u = np.array([math.cos(angle), math.sin(angle)])
    start = np.array([
        w * style.swipe_x_frac + rng.normal(0.0, 0.05 * w),
        h / 2 - u[1] * length / 2 + rng.normal(0.0, 0.05 * h),
    ])
    end = _screen_clip((start + u * length)[None, :], account)[0]
    start = _screen_clip(start[None, :], account)[0]
    length = float(np.linalg.norm(end - start))
    dur = float(np.clip(length / (style.swipe_speed * math.exp(rng.normal(0.0, 0.15))), 60.0, 1500.0))
    ts = np.concatenate([[0.0], _sample_times(dur, 16.7, rng)])
    tau = ts / dur
    lift = min(1.0, style.swipe_liftoff * math.exp(rng.normal(0.0, 0.08)))
    s = _min_jerk(tau ** (style.swipe_accel * math.exp(rng.normal(0.0, 0.08))) * lift) / _min_jerk(np.float64(lift))
    bow = rng.normal(style.swipe_curvature, 0.06)
    pts = _screen_clip(_bezier(start, end, bow, s) + rng.normal(0.0, 0.4, (ts.size, 2)), account)
    shape = 0.85 + 0.15 * np.sin(np.pi * tau)
    pressure = style.pressure_mean * shape + rng.normal(0.0, style.pressure_sd, ts.size)
    area = style.area_mean * shape * (1.0 + rng.normal(0.0, style.area_sd_frac, ts.size))
    _add_touch(tl, t0 + ts, pts, pressure, area)
    return t0 + dur


def _human_tap(
    tl: _Timeline, t0: float, target: Target, style: UserStyle, rng: np.random.Generator,
) -> float:
    """A tap on ``target``: start, 0-2 tiny moves, end; returns its end time."""
    dur = style.tap_ms * math.exp(rng.normal(0.0, 0.2))
    n_moves = int(rng.integers(0, 3))
    ts = np.concatenate([[0.0], np.sort(rng.uniform(0.2, 0.9, n_moves)) * dur, [dur]])
    p = _aim_point(target, rng)
    pts = p + np.cumsum(rng.normal(0.0, 0.7, (ts.size, 2)), axis=0) * (ts > 0)[:, None]
    pressure = style.pressure_mean * 0.95 + rng.normal(0.0, style.pressure_sd, ts.size)
    area = style.area_mean * 0.9 * (1.0 + rng.normal(0.0, style.area_sd_frac, ts.size))
    _add_touch(tl, t0 + ts, pts, pressure, area)
    return t0 + dur


# --------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------


def _human_session(
    style: UserStyle, account: Account, rng: np.random.Generator, session_index: int,
    unfamiliarity: float,
) -> Session:
    """A person with ``style`` logging in to ``account`` (``unfamiliarity`` > 1: slower, noisier)."""
    kb = _KEYBOARDS[account.device]
    practice = (1.0 + session_index) ** -0.02
    speed = math.exp(rng.normal(0.0, style.drift_sigma)) * practice * unfamiliarity
    hold_scale = math.exp(rng.normal(0.0, style.drift_sigma * 0.7))
    noise = math.sqrt(unfamiliarity)
    layout = page_layout(account)
    tl = _Timeline.empty()

    def type_codes(t0: float, codes: Sequence[str], sensitive: bool = False) -> float:
        idx = _codes_to_index(codes)
        down, up = _human_press_times(idx, style, rng, speed, hold_scale, noise, kb)
        return tl.add_presses(t0, idx, down, up, sensitive)

    def react() -> float:
        return float(np.exp(rng.normal(math.log(280.0), 0.3)))

    def pause() -> float:
        return float(style.pause_ms * math.exp(rng.normal(0.0, 0.35)))

    t = float(rng.uniform(200.0, 900.0))
    username = _with_typos(account.username, rng, style.typo_rate)
    if account.device == "mobile":
        for _ in range(int(rng.integers(1, 4))):
            t = _human_swipe(tl, t, style, rng, account) + pause()
        t = _human_tap(tl, t, layout["username"], style, rng) + react()
        t = type_codes(t, username) + pause()
        if rng.random() < 0.5:
            t = _human_swipe(tl, t, style, rng, account) + pause()
        t = _human_tap(tl, t, layout["password"], style, rng) + react()
        type_codes(t, account.password, sensitive=True)
        return _build_session(tl, account, rng)

    pos = np.round(rng.uniform([0.1, 0.1], [0.9, 0.9]) * [account.screen_width, account.screen_height])
    if rng.random() < style.p_scroll:
        n = int(rng.integers(1, 5))
        ts = t + np.cumsum(np.exp(rng.normal(math.log(45.0), 0.3, n)))
        _add_pointer(tl, ts, np.repeat(pos[None, :], n, axis=0), "wheel",
                     delta_y=np.full(n, float(rng.choice([53.0, 100.0, 120.0]))))
        t = float(ts[-1]) + pause()

    def go_click(t: float, pos: np.ndarray, target: Target) -> tuple[float, np.ndarray]:
        aim = _aim_point(target, rng)
        t = _human_move(tl, t, pos, aim, min(target.w, target.h), style, rng, account, speed)
        t += style.dwell_ms * math.exp(rng.normal(0.0, 0.3))
        hold = style.click_hold_ms * math.exp(rng.normal(0.0, 0.15)) * hold_scale
        return _click(tl, t, aim, hold), aim

    t, pos = go_click(t, pos, layout["username"])
    t = type_codes(t + react(), username) + pause()
    if rng.random() < style.p_remember:
        t, pos = go_click(t, pos, layout["remember"])
        t += pause()
    t, pos = go_click(t, pos, layout["password"])
    type_codes(t + react(), account.password, sensitive=True)
    return _build_session(tl, account, rng)


def genuine_session(
    style: UserStyle, account: Account, rng: np.random.Generator, session_index: int = 0,
) -> Session:
    """The account owner (``style``) logging in: login name, password + Enter, mouse or touch."""
    return _human_session(style, account, rng, session_index, unfamiliarity=1.0)


def impostor_session(victim: Account, attacker_style: UserStyle, rng: np.random.Generator) -> Session:
    """Another person typing the victim's login name and password on the victim's page (a little
    unfamiliar)."""
    unfamiliarity = float(np.clip(math.exp(rng.normal(math.log(1.08), 0.08)), 0.9, 1.5))
    return _human_session(attacker_style, victim, rng, session_index=0, unfamiliarity=unfamiliarity)


def bot_session(rng: np.random.Generator, victim: Account | None = None) -> Session:
    """A script logging in: constant superhuman key timing, straight constant-speed paths, perfect swipes."""
    if victim is None:
        victim = make_account("bot-target", rng, device="desktop", password=DEMO_PASSWORD)
    layout = page_layout(victim)
    tl = _Timeline.empty()
    dd = float(rng.uniform(8.0, 45.0))
    hold = float(rng.uniform(0.2, 0.8)) * dd  # released before the next key goes down
    jitter = float(rng.choice([0.0, 0.0, 0.5, 1.0]))  # some scripts add a little uniform noise
    step = float(rng.choice([10.0, 16.0]))
    speed = float(rng.uniform(2.0, 10.0))  # px per ms
    delay = float(rng.uniform(20.0, 120.0))  # constant wait between actions

    def type_codes(t0: float, codes: Sequence[str], sensitive: bool) -> float:
        idx = _codes_to_index(codes)
        n = idx.size
        down = np.arange(n) * dd + rng.uniform(-jitter, jitter, n)
        down = np.maximum.accumulate(np.maximum(down, 0.0))
        up = down + hold + rng.uniform(-jitter, jitter, n) * 0.5
        return tl.add_presses(t0, idx, down, up, sensitive)

    text = list(victim.username) or random_username(rng)
    t = delay
    if victim.device == "mobile":
        w, h = victim.screen_width, victim.screen_height
        for _ in range(int(rng.integers(1, 3))):
            start, end = np.array([w / 2, 0.75 * h]), np.array([w / 2, 0.25 * h])
            dur = float(np.linalg.norm(end - start)) / speed * 4.0
            ts = np.concatenate([[0.0], _sample_times(dur, step, None)])
            pts = start + (end - start) * (ts / dur)[:, None]
            _add_touch(tl, t + ts, pts, np.full(ts.size, 1.0), np.full(ts.size, 100.0))
            t += dur + delay
        for name, codes in (("username", text), ("password", victim.password)):
            tgt = layout[name]
            pts = np.array([[tgt.x, tgt.y], [tgt.x, tgt.y]])
            _add_touch(tl, np.array([t, t + hold]), pts, np.full(2, 1.0), np.full(2, 100.0))
            t = type_codes(t + hold + delay, codes, name == "password") + delay
        return _build_session(tl, victim, rng)

    pos = np.array([0.0, 0.0])
    for name, codes in (("username", text), ("password", victim.password)):
        tgt = layout[name]
        aim = np.round(np.array([tgt.x, tgt.y]))
        dur = float(np.linalg.norm(aim - pos)) / speed
        ts = _sample_times(dur, step, None)
        pts = np.round(pos + (aim - pos) * (ts / dur)[:, None])
        _add_pointer(tl, t + ts, pts, "move")
        t = _click(tl, t + dur, aim, hold)
        pos = aim
        t = type_codes(t + delay, codes, name == "password") + delay
    return _build_session(tl, victim, rng)


def replay_session(session: Session, rng: np.random.Generator, max_jitter_ms: float = 3.0) -> Session:
    """A stored session replayed: every timestamp moved by at most ``max_jitter_ms`` (order kept)."""
    amp = float(rng.uniform(min(1.0, max_jitter_ms), max_jitter_ms))

    def jitter(events: list) -> list[dict]:
        if not events:
            return []
        t = np.array([e.t for e in events])
        # a running max keeps the stream ordered and each time within +-amp of its source
        new_t = _round_t(np.maximum.accumulate(np.maximum(t + rng.uniform(-amp, amp, t.size), 0.0)))
        new_t = np.clip(new_t, t - max_jitter_ms, t + max_jitter_ms)
        new_t = np.maximum.accumulate(new_t)
        return [e.model_dump() | {"t": float(v)} for e, v in zip(events, new_t)]

    return Session.model_validate({
        "schema_version": SCHEMA_VERSION,
        "session_id": _session_id(rng),  # a replayer sends a fresh id: a reused one is refused (409)
        "keystrokes": jitter(session.keystrokes),
        "pointer": jitter(session.pointer),
        "touch": jitter(session.touch),
        "meta": session.meta.model_dump(),
    })


# --------------------------------------------------------------------------------------
# Fixed-text timing vector (CMU-style) for baselines and checks
# --------------------------------------------------------------------------------------


def key_presses(session: Session) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Complete key presses (down_t, up_t, key_class) in down order (see
    :func:`biometrics.features.keystroke_presses`, which pairs them)."""
    p = keystroke_presses(session.keystroke_arrays())
    return p.down_t, p.up_t, p.key_class.astype(np.int64)


def _timing_vector(down: np.ndarray, up: np.ndarray) -> np.ndarray:
    return np.concatenate([up - down, np.diff(down), down[1:] - up[:-1]])


def password_timing_vector(session: Session) -> np.ndarray:
    """CMU-style timings of the session's last run of masked presses (the password field):
    holds [n], down-down [n-1], up-down [n-1].

    Raises ValueError when the session holds no masked presses.
    """
    p = keystroke_presses(session.keystroke_arrays())
    run = password_run(p)
    if run.size == 0:
        raise ValueError("the session holds no masked (sensitive-field) key presses")
    return _timing_vector(p.down_t[run], p.up_t[run])


# --------------------------------------------------------------------------------------
# Labelled dataset
# --------------------------------------------------------------------------------------


class LabelledSession(BaseModel):
    """One generated session with its ground truth.

    ``user_id`` is the account the session claims; ``attacker_id`` names the impostor
    (a dataset user or an outside ``x...`` person); ``replay_of`` the replayed session.
    ``password_presses`` is how many key presses at the end of the session type the
    account's password (Enter included), as a collector that knows the field would say.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: str
    label: Label
    split: Split
    device: Device
    session_id: str
    replay_of: str | None = None
    attacker_id: str | None = None
    password_presses: int
    session: Session

    def to_json(self) -> str:
        """One compact, deterministic JSON line (event fields at their defaults are left out)."""
        head = self.model_dump(mode="json", exclude={"session"})
        head["session"] = self.session.model_dump(mode="json", exclude_defaults=True)
        return json.dumps(head, separators=(",", ":"))


def generate_dataset(
    n_users: int = 20,
    sessions_per_user: int = 14,
    n_impostor: int = 60,
    n_bot: int = 20,
    n_replay: int = 20,
    seed: int = 0,
    *,
    n_enroll: int = 8,
    mobile_fraction: float = 0.4,
    password: Sequence[str] | None = None,
    username: Sequence[str] | None = None,
) -> list[LabelledSession]:
    """Labelled sessions of ``n_users`` simulated users plus impostor, bot and replay attacks.

    Each user's first ``n_enroll`` genuine sessions are split "enroll", the rest "test";
    every attack is "test" and carries the attacked account's ``user_id``. Each user has
    an own random password and login name unless ``password`` (e.g. :data:`DEMO_PASSWORD`) or
    ``username`` (:data:`DEMO_USERNAME`) is shared.
    """
    if n_users < 2:
        raise ValueError(f"n_users must be at least 2 (impostors need another user), got {n_users}")
    if not 0 < n_enroll < sessions_per_user:
        raise ValueError(
            f"n_enroll must be in 1..sessions_per_user-1 so each user has test sessions; "
            f"got n_enroll={n_enroll}, sessions_per_user={sessions_per_user}"
        )
    if min(n_impostor, n_bot, n_replay) < 0 or not 0.0 <= mobile_fraction <= 1.0:
        raise ValueError("attack counts must be >= 0 and mobile_fraction in [0, 1]")

    n_mobile = round(n_users * mobile_fraction)
    mobile = set(np.random.default_rng([seed, 0]).permutation(n_users)[:n_mobile].tolist())
    styles: list[UserStyle] = []
    accounts: list[Account] = []
    for i in range(n_users):
        rng = np.random.default_rng([seed, 1, i])
        styles.append(sample_style(rng))
        device: Device = "mobile" if i in mobile else "desktop"
        accounts.append(make_account(f"u{i:03d}", rng, device=device, password=password, username=username))

    records: list[LabelledSession] = []
    enrolled: dict[int, list[LabelledSession]] = {}
    for i, (style, acc) in enumerate(zip(styles, accounts)):
        for j in range(sessions_per_user):
            rng = np.random.default_rng([seed, 2, i, j])
            rec = LabelledSession(
                user_id=acc.user_id, label="genuine", split="enroll" if j < n_enroll else "test",
                device=acc.device, session_id=f"{acc.user_id}-g{j:02d}",
                password_presses=len(acc.password),
                session=genuine_session(style, acc, rng, session_index=j),
            )
            records.append(rec)
            if j < n_enroll:
                enrolled.setdefault(i, []).append(rec)

    for k in range(n_impostor):
        rng = np.random.default_rng([seed, 3, k])
        v = k % n_users
        if rng.random() < 0.5:
            a = (v + 1 + int(rng.integers(n_users - 1))) % n_users
            attacker, attacker_id = styles[a], accounts[a].user_id
        else:
            attacker, attacker_id = sample_style(np.random.default_rng([seed, 4, k])), f"x{k:03d}"
        records.append(LabelledSession(
            user_id=accounts[v].user_id, label="impostor", split="test", device=accounts[v].device,
            session_id=f"imp{k:03d}", attacker_id=attacker_id,
            password_presses=len(accounts[v].password),
            session=impostor_session(accounts[v], attacker, rng),
        ))

    for k in range(n_bot):
        rng = np.random.default_rng([seed, 5, k])
        acc = accounts[(k * 7 + 3) % n_users]
        records.append(LabelledSession(
            user_id=acc.user_id, label="bot", split="test", device=acc.device,
            session_id=f"bot{k:03d}", password_presses=len(acc.password),
            session=bot_session(rng, acc),
        ))

    for k in range(n_replay):
        rng = np.random.default_rng([seed, 6, k])
        v = (k * 3 + 1) % n_users
        src = enrolled[v][int(rng.integers(len(enrolled[v])))]
        records.append(LabelledSession(
            user_id=src.user_id, label="replay", split="test", device=src.device,
            session_id=f"rep{k:03d}", replay_of=src.session_id,
            password_presses=src.password_presses,
            session=replay_session(src.session, rng),
        ))
    return records


def save_sessions(records: Sequence[LabelledSession], path: str | Path) -> None:
    """Write labelled sessions as JSON lines."""
    with Path(path).open("w", encoding="utf-8") as f:
        f.writelines(rec.to_json() + "\n" for rec in records)


def load_sample_sessions(path: str | Path) -> list[LabelledSession]:
    """Read labelled sessions from a JSON-lines file (or a folder holding ``sessions.jsonl``)."""
    p = Path(path)
    if p.is_dir():
        p = p / "sessions.jsonl"
    if not p.is_file():
        raise FileNotFoundError(
            f"no sessions file at {p}; generate one with `python -m biometrics.synthetic --out DIR`"
        )
    out: list[LabelledSession] = []
    with p.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    out.append(LabelledSession.model_validate_json(line))
                except ValueError as err:
                    raise ValueError(f"{p}, line {n}: not a valid labelled session: {err}") from err
    return out


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------


def _readme(records: Sequence[LabelledSession], args: argparse.Namespace, size: int) -> str:
    counts = Counter((r.label, r.split, r.device) for r in records)
    devices = Counter(r.device for r in records if r.session_id.endswith("-g00"))
    n_ev = Counter()
    for r in records:
        for m in ("keystrokes", "pointer", "touch"):
            n_ev[m] += len(getattr(r.session, m))
    rows = "\n".join(f"| {lab} | {sp} | {dev} | {n} |" for (lab, sp, dev), n in sorted(counts.items()))
    cmd = (
        f"python -m biometrics.synthetic --out {args.out} --users {args.users} --seed {args.seed} "
        f"--sessions-per-user {args.sessions_per_user} --enroll {args.enroll} "
        f"--impostors {args.impostors} --bots {args.bots} --replays {args.replays} "
        f"--mobile-fraction {args.mobile_fraction}" + (" --shared-password" if args.shared_password else "")
    )
    password = (
        "All users share the password `.tie5Roanl` + Enter (`DEMO_PASSWORD`)."
        if args.shared_password
        else "Each user has an own random password of 10-12 presses ending in Enter."
    )
    return f"""# Synthetic sample sessions

Small, fully synthetic login sessions made by the project's own generator,
`biometrics/synthetic.py`. No real person's data is in here.

## Regenerate

```
{cmd}
```

The same command writes a byte-identical `sessions.jsonl` (everything is seeded).

## What is there

`sessions.jsonl`: {len(records)} labelled sessions, one JSON object per line,
{size / 1e6:.2f} MB ({n_ev["keystrokes"]} key, {n_ev["pointer"]} pointer and {n_ev["touch"]} touch events).
Load it with `biometrics.synthetic.load_sample_sessions("{args.out}")`.

```
{{"user_id": "u003", "label": "genuine|impostor|bot|replay", "split": "enroll|test",
 "device": "desktop|mobile", "session_id": "u003-g00", "replay_of": null,
 "attacker_id": null, "password_presses": 12, "session": {{...}}}}
```

- `session` is a `biometrics.events.Session`; event fields at their default values
  (`button: "none"`, `delta_y: 0`, `pointer_id: 0`) are left out of the file.
- {args.users} users: {devices["desktop"]} desktop (keystrokes + mouse) and {devices["mobile"]} mobile (keystrokes + touch).
  Each has {args.sessions_per_user} genuine sessions: the first {args.enroll} are `enroll`, the rest `test`.
- A session: (mobile: 1-3 scrolling swipes,) click or tap the first field, type the
  account's login name (an e-mail address, the same every session; typos fixed with
  Backspace), (desktop: maybe tick "remember me"; mobile: maybe swipe,) click or tap
  the password field, type the password.
- {password}
  The password's presses are the session's last `password_presses` presses:
  `tail_timing_vector(session, record.password_presses)` gives their hold, down-down
  and up-down times.
- `impostor`: another person types the victim's login name and password on the victim's page;
  `user_id` is the attacked account, `attacker_id` the person (another dataset
  user `u...` for about half, an outside person `x...` for the rest).
- `bot`: a script with near-constant, superhuman key timing and straight,
  constant-velocity pointer paths or perfect swipes, typing the victim's password.
- `replay`: an enrolled genuine session (`replay_of`) sent again with every
  timestamp moved by at most 3 ms.
- Sessions follow the session contract v2 (`schema_version` 2, a random `session_id`):
  key events carry only the key class of `biometrics.events.KeyClass`, and the
  password's presses carry `masked` (7), as a collector sends a sensitive field.

| label | split | device | sessions |
|---|---|---|---|
{rows}

## How sessions are made

Each user has a latent style drawn from a population: typing speed, a consistent
per-key-pair rhythm, hold time mean and spread, rollover habit; Fitts-law mouse timing
`a + b*log2(1 + D/W)`, path bow, overshoot and correction, pauses, click hold; swipe
length, speed, direction, curvature, pressure and area. Sessions vary around the style
with a small drift. A scaled-Manhattan detector on the password timings, trained on
the enroll sessions, separates users from impostors with an equal error rate of
roughly 5-10%.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write ``sessions.jsonl`` and ``README.md`` under ``--out``."""
    ap = argparse.ArgumentParser(prog="python -m biometrics.synthetic", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="sample_data", help="output folder")
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sessions-per-user", type=int, default=14)
    ap.add_argument("--enroll", type=int, default=8, help="genuine sessions per user in the enroll split")
    ap.add_argument("--impostors", type=int, default=60)
    ap.add_argument("--bots", type=int, default=20)
    ap.add_argument("--replays", type=int, default=20)
    ap.add_argument("--mobile-fraction", type=float, default=0.4)
    ap.add_argument("--shared-password", action="store_true", help="every user types .tie5Roanl")
    args = ap.parse_args(argv)
    records = generate_dataset(
        n_users=args.users, sessions_per_user=args.sessions_per_user, n_impostor=args.impostors,
        n_bot=args.bots, n_replay=args.replays, seed=args.seed, n_enroll=args.enroll,
        mobile_fraction=args.mobile_fraction, password=DEMO_PASSWORD if args.shared_password else None,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "sessions.jsonl"
    save_sessions(records, path)
    size = path.stat().st_size
    (out / "README.md").write_text(_readme(records, args, size), encoding="utf-8")
    print(json.dumps({"path": str(path), "sessions": len(records), "bytes": size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

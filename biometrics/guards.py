"""Guards that need no profile match: bot-like timing and replayed sessions.

Both look only at timing and geometry, never at which key was pressed. A replay
signature holds a session's inter-event intervals (and pointer/touch displacements) per
modality, so a stored signature reveals rhythm and motion, not text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biometrics.events import Session
from biometrics.features.keystroke import keystroke_presses
from biometrics.features.mouse import ACTION_FEATURES, mouse_actions

SIGNATURE_LEN = 128


@dataclass(frozen=True)
class GuardConfig:
    """Thresholds of the bot and replay guards (documented in the README)."""

    # Keystrokes: humans vary their down-down intervals by tens of percent (robust CV:
    # median absolute deviation / median); scripts barely at all.
    min_presses_for_bot_check: int = 8
    bot_max_interval_cv: float = 0.08
    bot_min_median_down_down_ms: float = 40.0
    # Pointer: a human path bows; a scripted one is a ruler line, every time.
    min_actions_for_bot_check: int = 2
    bot_min_straightness: float = 0.9995
    # Replay: a signature matching a stored one within these mean absolute differences. Typing
    # intervals of one person differ by tens of ms between sessions; pointer and touch steps
    # are a few px, so a replay must repeat the path almost exactly as well as the rhythm.
    replay_max_mean_abs_ms: float = 4.0
    replay_max_mean_abs_px: float = 0.25
    replay_min_intervals: int = 10


def signatures(session: Session) -> dict[str, np.ndarray]:
    """Per modality, at most ``SIGNATURE_LEN`` float32 values that a replay reproduces.

    Keystrokes: the inter-event intervals (ms). Pointer and touch: per step the interval and
    the x, y displacement (ms, px), because those devices report at a fixed rate, so their
    intervals alone match between any two sessions.
    """
    out = {}
    if len(session.keystrokes) > 1:
        t = np.fromiter((e.t for e in session.keystrokes[: SIGNATURE_LEN + 1]), dtype=np.float64)
        out["keystrokes"] = np.diff(t).astype(np.float32)
    for name, events in (("pointer", session.pointer), ("touch", session.touch)):
        if len(events) > 1:
            head = events[: SIGNATURE_LEN // 3 + 1]
            txy = np.array([(e.t, e.x, e.y) for e in head], dtype=np.float64)
            out[name] = np.diff(txy, axis=0).ravel().astype(np.float32)
    return out


def is_replay(signature: np.ndarray, stored: list[np.ndarray], cfg: GuardConfig = GuardConfig(),
              modality: str = "keystrokes") -> bool:
    """True when the signature repeats a stored one of the same modality within tolerance."""
    for s in stored:
        n = min(signature.size, s.size)
        if modality != "keystrokes":
            n -= n % 3
        if n < cfg.replay_min_intervals:
            continue
        diff = np.abs(signature[:n] - s[:n])
        if modality == "keystrokes":
            if diff.mean() <= cfg.replay_max_mean_abs_ms:
                return True
        else:
            steps = diff.reshape(-1, 3)  # (dt, dx, dy) per step
            if steps[:, 0].mean() <= cfg.replay_max_mean_abs_ms and steps[:, 1:].mean() <= cfg.replay_max_mean_abs_px:
                return True
    return False


def keystroke_bot_like(session: Session, cfg: GuardConfig = GuardConfig()) -> bool:
    """Too regular or too fast typing for a human."""
    p = keystroke_presses(session.keystroke_arrays())
    dd = p.down_down[~p.first]
    if dd.size < cfg.min_presses_for_bot_check:
        return False
    med = float(np.median(dd))
    robust_cv = float(np.median(np.abs(dd - med))) / max(med, 1e-9)
    return bool(robust_cv < cfg.bot_max_interval_cv or med < cfg.bot_min_median_down_down_ms)


_STRAIGHT = ACTION_FEATURES.index("straightness")
_SPEED_MEAN = ACTION_FEATURES.index("speed_mean")
_N_EVENTS = ACTION_FEATURES.index("n_events")


def pointer_bot_like(session: Session, cfg: GuardConfig = GuardConfig()) -> bool:
    """Every pointer movement a ruler-straight line."""
    _, actions, _ = mouse_actions(session.pointer_arrays())
    moving = actions[(actions[:, _N_EVENTS] >= 4) & (actions[:, _SPEED_MEAN] > 0)]
    if moving.shape[0] < cfg.min_actions_for_bot_check:
        return False
    return bool(np.all(moving[:, _STRAIGHT] >= cfg.bot_min_straightness))


def bot_like(session: Session, cfg: GuardConfig = GuardConfig()) -> list[str]:
    """Names of the modalities whose timing or paths no human produces."""
    out = []
    if session.keystrokes and keystroke_bot_like(session, cfg):
        out.append("keystrokes")
    if session.pointer and pointer_bot_like(session, cfg):
        out.append("pointer")
    return out
